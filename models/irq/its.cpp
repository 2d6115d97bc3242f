// ITS translation path: GITS_TRANSLATER writes -> DTE, ITE, CTE, LPI configuration -> IrqSink.
#include "models/irq/its.h"

#include <algorithm>
#include <cstring>
#include <stdexcept>

#include "models/common/sim_time.h"
#include "models/iommu/core/mem_access.h"

namespace iommusim::its {

Its::Its(sc_core::sc_module_name name, const ItsParams& p, uint64_t seed)
    : sc_module(name),
      regs("regs"),
      doorbell("doorbell"),
      mem("mem"),
      p_(p),
      dte_cache_(p.device_cache, seed, "device_cache"),
      ite_cache_(p.ite_cache, seed, "ite_cache"),
      cte_cache_(p.collection_cache, seed, "collection_cache"),
      cfg_cache_(p.lpi_config_cache, seed, "lpi_config_cache"),
      latency_(to_sc(p.translation_latency)),
      cmd_cost_(to_sc(p.cmd_cost)),
      mmio_latency_(to_sc(p.mmio_latency)),
      stats_(this->name()),
      writes_(stats_.counter("doorbell_writes", "writes to GITS_TRANSLATER")),
      delivered_(stats_.counter("delivered", "LPIs delivered to the CPU interrupt model")),
      lost_device_(stats_.counter("lost_unmapped_device", "writes dropped: DeviceID unmapped or beyond the table")),
      lost_event_(stats_.counter("lost_unmapped_event", "writes dropped: EventID unmapped or beyond the ITT")),
      lost_collection_(stats_.counter("lost_unmapped_collection",
                                      "writes dropped: the ITE's collection unmapped (reported as unmapped_event)")),
      lost_disabled_(stats_.counter("lost_disabled", "writes dropped: GITS_CTLR.Enabled clear (as unmapped_device)")),
      not_doorbell_(stats_.counter("not_doorbell", "accesses to the translation frame other than a TRANSLATER write")),
      held_count_(stats_.counter("held", "LPIs made pending because their configuration said disabled")),
      coalesced_(stats_.counter("coalesced", "writes for an LPI already pending in the ITS (merged with it)")),
      released_(stats_.counter("released", "pending LPIs delivered after INV/INVALL found them enabled")),
      cleared_(stats_.counter("cleared", "pending LPIs removed by CLEAR or DISCARD")),
      dte_reads_(stats_.counter("dte_reads", "device table entries read from memory")),
      ite_reads_(stats_.counter("ite_reads", "ITT entries read from memory")),
      cte_reads_(stats_.counter("cte_reads", "collection table entries read from memory")),
      cfg_reads_(stats_.counter("lpi_config_reads", "LPI configuration bytes read from memory")),
      dte_hits_(stats_.counter("device_cache_hits", "DTE lookups answered by the device cache")),
      ite_hits_(stats_.counter("ite_cache_hits", "ITE lookups answered by the ITE cache")),
      cte_hits_(stats_.counter("collection_cache_hits", "CTE lookups answered by the collection cache")),
      cfg_hits_(stats_.counter("lpi_config_cache_hits", "LPI configuration lookups answered by the cache")),
      commands_(stats_.counter("commands", "commands executed (errors included)")),
      cmd_errors_(stats_.counter("cmd_errors", "commands that failed with a command error")),
      cmd_syncs_(stats_.counter("cmd_sync", "SYNC commands")),
      cmd_invs_(stats_.counter("cmd_inv", "INV and INVALL commands")),
      latency_ns_(stats_.histogram("latency", "ns", "TRANSLATER write to LPI delivery")) {
  if (p.itt_entry_size < 8) throw std::invalid_argument(std::string(this->name()) + ": itt_entry_size below 8 bytes");
  regs.register_b_transport(this, &Its::regs_b_transport);
  doorbell.register_b_transport(this, &Its::doorbell_b_transport);
  // BASER Type and Entry_Size are read-only: the device table and the collection table.
  baser_[0] = baser::TYPE.make(baser::TYPE_DEVICE) | baser::ENTRY_SIZE.make(kDteBytes - 1);
  baser_[1] = baser::TYPE.make(baser::TYPE_COLLECTION) | baser::ENTRY_SIZE.make(kCteBytes - 1);
  SC_THREAD(cmdq_thread);
}

bool Its::mem_access(bool write, uint64_t pa, void* data, unsigned len, sc_core::sc_time& t) {
  return iommu_mem_access(*mem.operator->(), pool_, write, pa, data, len, t);
}

bool Its::write_entry(uint64_t pa, uint64_t w, unsigned bytes, sc_core::sc_time& t) {
  uint8_t buf[16] = {};
  std::memcpy(buf, &w, 8);
  return mem_access(true, pa, buf, bytes, t);
}

uint64_t Its::dt_entries() const {
  if (!(baser_[0] & baser::VALID)) return 0;
  const uint64_t bytes = (baser::SIZE.get(baser_[0]) + 1) * baser::page_bytes(baser::PAGE_SIZE.get(baser_[0]));
  return std::min(bytes / kDteBytes, uint64_t{1} << p_.device_id_bits);
}

uint64_t Its::ct_entries() const {
  if (!(baser_[1] & baser::VALID)) return 0;
  const uint64_t bytes = (baser::SIZE.get(baser_[1]) + 1) * baser::page_bytes(baser::PAGE_SIZE.get(baser_[1]));
  return std::min<uint64_t>(bytes / kCteBytes, 1u << 16);  // GITS_TYPER.CIL = 0: 16-bit ICIDs
}

bool Its::get_dte(uint32_t devid, sc_core::sc_time& t, Dte& e) {
  if (devid >= dt_entries()) return false;
  if (const DteSlot* s = dte_cache_.find(devid, [&](const DteSlot& x) { return x.devid == devid; })) {
    ++dte_hits_;
    e = s->e;
    return true;
  }
  uint64_t w = 0;
  ++dte_reads_;
  if (!mem_access(false, dt_base() + uint64_t{devid} * kDteBytes, &w, 8, t)) return false;
  e = decode_dte(w);
  if (e.valid) dte_cache_.insert(devid, DteSlot{devid, e}, [&](const DteSlot& x) { return x.devid == devid; });
  return true;
}

bool Its::get_ite(uint32_t devid, const Dte& d, uint32_t eventid, sc_core::sc_time& t, Ite& e) {
  if (eventid >= d.event_count() || eventid >= (uint64_t{1} << p_.event_id_bits)) return false;
  const uint64_t idx = ite_index(devid, eventid);
  auto same = [&](const IteSlot& x) { return x.devid == devid && x.eventid == eventid; };
  if (const IteSlot* s = ite_cache_.find(idx, same)) {
    ++ite_hits_;
    e = s->e;
    return true;
  }
  uint64_t w = 0;
  ++ite_reads_;
  // The first 8 bytes hold the whole entry; the read still moves the full ITE size.
  uint8_t buf[16] = {};
  if (!mem_access(false, itt_entry_addr(d, eventid), buf, static_cast<unsigned>(p_.itt_entry_size), t)) return false;
  std::memcpy(&w, buf, 8);
  e = decode_ite(w);
  if (e.valid) ite_cache_.insert(idx, IteSlot{devid, eventid, e}, same);
  return true;
}

bool Its::get_cte(uint16_t icid, sc_core::sc_time& t, Cte& e) {
  if (icid >= ct_entries()) return false;
  auto same = [&](const CteSlot& x) { return x.icid == icid; };
  if (const CteSlot* s = cte_cache_.find(icid, same)) {
    ++cte_hits_;
    e = s->e;
    return true;
  }
  uint64_t w = 0;
  ++cte_reads_;
  if (!mem_access(false, ct_base() + uint64_t{icid} * kCteBytes, &w, 8, t)) return false;
  e = decode_cte(w);
  if (e.valid) cte_cache_.insert(icid, CteSlot{icid, e}, same);
  return true;
}

bool Its::lpi_enabled(uint32_t intid, sc_core::sc_time& t, bool use_cache) {
  if (propbaser_ == 0) return true;  // no configuration table programmed: every LPI counts as enabled
  auto same = [&](const CfgSlot& x) { return x.intid == intid; };
  if (use_cache) {
    if (const CfgSlot* s = cfg_cache_.find(intid, same)) {
      ++cfg_hits_;
      return s->prop & lpi_prop::ENABLE;
    }
  }
  const uint64_t ids = uint64_t{1} << (propbaser::IDBITS.get(propbaser_) + 1);
  if (intid >= ids) return false;  // beyond the configuration table: treated as disabled
  uint8_t prop = 0;
  ++cfg_reads_;
  if (!mem_access(false, (propbaser::PA.get(propbaser_) << 12) + (intid - kLpiBase), &prop, 1, t)) return false;
  cfg_cache_.insert(intid, CfgSlot{intid, prop}, same);
  return prop & lpi_prop::ENABLE;
}

Its::Xlate Its::translate(uint32_t devid, uint32_t eventid, sc_core::sc_time& t, Ite& ite, Cte& cte) {
  Dte d;
  if (!get_dte(devid, t, d) || !d.valid) return Xlate::NoDevice;
  if (!get_ite(devid, d, eventid, t, ite) || !ite.valid) return Xlate::NoEvent;
  if (!get_cte(ite.icid, t, cte) || !cte.valid) return Xlate::NoCollection;
  return Xlate::Ok;
}

void Its::raise(const Ite& ite, const Cte& cte, const MsiTag* tag, sc_core::sc_time t) {
  auto h = held_.find(ite.pintid);
  if (h != held_.end()) {
    ++coalesced_;  // the LPI is already pending: a second edge merges with it
    return;
  }
  if (!lpi_enabled(ite.pintid, t)) {
    ++held_count_;
    Held x{cte.target, ite.icid, tag != nullptr, {}};
    if (tag) x.tag = *tag;
    held_.emplace(ite.pintid, x);
    return;
  }
  t += latency_;
  ++delivered_;
  if (tag) latency_ns_.record(static_cast<uint64_t>(to_ns(t - tag->issued)));
  if (sink_) sink_->deliver(cte.target, ite.pintid, tag, t);
}

void Its::reevaluate(uint32_t intid, sc_core::sc_time& t) {
  auto h = held_.find(intid);
  if (h == held_.end()) return;
  if (!lpi_enabled(intid, t)) return;
  const Held x = h->second;
  held_.erase(h);
  ++released_;
  ++delivered_;
  const sc_core::sc_time at = t + latency_;
  if (sink_) sink_->deliver(x.target, intid, x.tagged ? &x.tag : nullptr, at);
}

void Its::doorbell_b_transport(int, tlm::tlm_generic_payload& gp, sc_core::sc_time& delay) {
  gp.set_response_status(tlm::TLM_OK_RESPONSE);  // posted: the write completes whatever happens to it
  const uint64_t a = gp.get_address();
  const uint64_t frame = p_.base + reg::TRANSLATION_FRAME;
  const uint64_t off = a < reg::FRAME_SIZE ? a : a - frame;
  const unsigned len = gp.get_data_length();
  const MsiTag* tag = gp.get_extension<MsiTag>();
  sc_core::sc_time t = sim_now() + delay;
  if (!gp.is_write()) {
    std::memset(gp.get_data_ptr(), 0, len);  // GITS_TRANSLATER is write-only; the frame reads as zero
    return;
  }
  if ((a >= reg::FRAME_SIZE && (a < frame || a - frame >= reg::FRAME_SIZE)) || off != reg::TRANSLATER ||
      (len != 2 && len != 4)) {
    ++not_doorbell_;
    if (sink_) sink_->lost(IrqLoss::NotDoorbell, tag, t);
    return;
  }
  ++writes_;
  uint32_t eventid = 0;
  std::memcpy(&eventid, gp.get_data_ptr(), len);
  const PcieExt* x = gp.get_extension<PcieExt>();
  const uint32_t devid = x ? x->rid : 0;
  if (!(ctlr_ & ctlr::ENABLED)) {
    ++lost_disabled_;
    if (sink_) sink_->lost(IrqLoss::UnmappedDevice, tag, t);
    return;
  }
  Ite ite;
  Cte cte;
  switch (translate(devid, eventid, t, ite, cte)) {
    case Xlate::Ok: raise(ite, cte, tag, t); return;
    case Xlate::NoDevice:
      ++lost_device_;
      if (sink_) sink_->lost(IrqLoss::UnmappedDevice, tag, t);
      return;
    case Xlate::NoEvent:
      ++lost_event_;
      if (sink_) sink_->lost(IrqLoss::UnmappedEvent, tag, t);
      return;
    case Xlate::NoCollection:
      ++lost_collection_;
      if (sink_) sink_->lost(IrqLoss::UnmappedEvent, tag, t);
      return;
  }
}

}  // namespace iommusim::its
