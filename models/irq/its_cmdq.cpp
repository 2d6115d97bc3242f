// ITS command queue: fetch from simulated memory, execute with the table updates it implies.
#include "models/irq/its.h"

#include <vector>

#include "models/common/sim_time.h"

namespace iommusim::its {

void Its::cmdq_thread() {
  for (;;) {
    wait(kick_);
    sc_core::sc_time t = sc_core::sc_time_stamp();
    // GITS_CREADR moves past a command only once it completed at its simulated time, so software
    // polling CREADR never sees a command done early.
    while ((ctlr_ & ctlr::ENABLED) && (cbaser_ & cbaser::VALID) && !stalled_ && creadr_ != cwriter_) {
      busy_ = true;
      const uint64_t q = queue_bytes();
      if (cwriter_ >= q) break;  // CWRITER beyond the queue: UNPREDICTABLE, nothing is processed
      uint64_t raw[4] = {};
      const bool fetched = mem_access(false, (cbaser::PA.get(cbaser_) << 12) + creadr_, raw, cq::CMD_BYTES, t);
      // A command takes effect only once its fetch's data has arrived.
      if (t > sc_core::sc_time_stamp()) wait(t - sc_core::sc_time_stamp());
      const Cmd c = decode_cmd(raw);
      const uint32_t e = fetched ? execute(c, t) : err::MEMORY;
      t += cmd_cost_;
      if (t > sc_core::sc_time_stamp()) wait(t - sc_core::sc_time_stamp());
      ++commands_;
      if (e) {
        ++cmd_errors_;
        ++errors_by_code_[e];
        last_error_ = e;
        if (p_.stall_on_error) {
          stalled_ = true;  // CREADR stays on the failed command; CWRITER.Retry resumes with it
          break;
        }
      }
      creadr_ = (creadr_ + cq::CMD_BYTES) % q;
    }
    busy_ = false;
  }
}

uint32_t Its::execute(const Cmd& c, sc_core::sc_time& t) {
  switch (c.opcode) {
    case op::MAPD: return cmd_mapd(c, t);
    case op::MAPC: return cmd_mapc(c, t);
    case op::MAPTI:
    case op::MAPI: return cmd_mapti(c, t);
    case op::MOVI: return cmd_movi(c, t);
    case op::INT:
    case op::CLEAR:
    case op::INV:
    case op::DISCARD: return cmd_event(c, t);
    case op::INVALL: return cmd_invall(c, t);
    case op::SYNC:
      // Commands run one at a time, so every earlier command's effects are visible already.
      ++cmd_syncs_;
      return 0;
    default: return err::UNSUPPORTED;
  }
}

uint32_t Its::cmd_mapd(const Cmd& c, sc_core::sc_time& t) {
  if (c.device_id >= dt_entries()) return err::MAPD_DEVICE_OOR;
  if (c.valid && c.size + 1u > p_.event_id_bits) return err::MAPD_ITTSIZE_OOR;
  Dte d;
  d.valid = c.valid;
  if (c.valid) {
    d.size = c.size;
    d.itt = c.itt_addr;
  }
  if (!write_entry(dt_base() + uint64_t{c.device_id} * kDteBytes, encode(d), kDteBytes, t)) return err::MEMORY;
  // The ITT of the old mapping no longer applies: its cached entries go with the DTE.
  const uint32_t dev = c.device_id;
  dte_cache_.invalidate_if([&](const DteSlot& x) { return x.devid == dev; });
  ite_cache_.invalidate_if([&](const IteSlot& x) { return x.devid == dev; });
  return 0;
}

uint32_t Its::cmd_mapc(const Cmd& c, sc_core::sc_time& t) {
  if (c.icid >= ct_entries()) return err::MAPC_COLLECTION_OOR;
  if (c.valid && c.rdbase >= p_.max_processors) return err::MAPC_PROCNUM_OOR;
  Cte e;
  e.valid = c.valid;
  e.target = c.valid ? static_cast<uint32_t>(c.rdbase) : 0;
  if (!write_entry(ct_base() + uint64_t{c.icid} * kCteBytes, encode(e), kCteBytes, t)) return err::MEMORY;
  const uint16_t icid = c.icid;
  cte_cache_.invalidate_if([&](const CteSlot& x) { return x.icid == icid; });
  return 0;
}

uint32_t Its::cmd_mapti(const Cmd& c, sc_core::sc_time& t) {
  if (c.device_id >= dt_entries()) return err::MAPTI_DEVICE_OOR;
  Dte d;
  if (!get_dte(c.device_id, t, d)) return err::MEMORY;
  if (!d.valid) return err::MAPTI_UNMAPPED_DEVICE;
  if (c.icid >= ct_entries()) return err::MAPTI_COLLECTION_OOR;
  if (c.event_id >= d.event_count() || c.event_id >= (uint64_t{1} << p_.event_id_bits)) return err::MAPTI_ID_OOR;
  const uint32_t intid = c.opcode == op::MAPI ? c.event_id : c.pintid;
  if (intid < kLpiBase || intid >= (uint64_t{1} << p_.intid_bits)) return err::MAPTI_PHYSICALID_OOR;
  const Ite e{true, intid, c.icid};
  if (!write_entry(itt_entry_addr(d, c.event_id), encode(e), static_cast<unsigned>(p_.itt_entry_size), t))
    return err::MEMORY;
  const uint32_t dev = c.device_id, ev = c.event_id;
  ite_cache_.invalidate_if([&](const IteSlot& x) { return x.devid == dev && x.eventid == ev; });
  return 0;
}

uint32_t Its::cmd_movi(const Cmd& c, sc_core::sc_time& t) {
  Dte d;
  if (!get_dte(c.device_id, t, d) || !d.valid) return err::MOVI_UNMAPPED_DEVICE;
  Ite e;
  if (!get_ite(c.device_id, d, c.event_id, t, e) || !e.valid) return err::MOVI_UNMAPPED_INTERRUPT;
  if (c.icid >= ct_entries()) return err::MOVI_COLLECTION_OOR;
  Cte from, to;
  if (!get_cte(e.icid, t, from) || !from.valid || !get_cte(c.icid, t, to) || !to.valid)
    return err::MOVI_UNMAPPED_COLLECTION;
  e.icid = c.icid;
  if (!write_entry(itt_entry_addr(d, c.event_id), encode(e), static_cast<unsigned>(p_.itt_entry_size), t))
    return err::MEMORY;
  const uint32_t dev = c.device_id, ev = c.event_id;
  ite_cache_.invalidate_if([&](const IteSlot& x) { return x.devid == dev && x.eventid == ev; });
  // A pending LPI moves with its ITE to the new target.
  auto h = held_.find(e.pintid);
  if (h != held_.end()) {
    h->second.target = to.target;
    h->second.icid = c.icid;
  }
  return 0;
}

uint32_t Its::cmd_event(const Cmd& c, sc_core::sc_time& t) {
  uint32_t no_dev = err::INV_UNMAPPED_DEVICE, no_int = err::INV_UNMAPPED_INTERRUPT;
  switch (c.opcode) {
    case op::INT: no_dev = err::INT_UNMAPPED_DEVICE, no_int = err::INT_UNMAPPED_INTERRUPT; break;
    case op::CLEAR: no_dev = err::CLEAR_UNMAPPED_DEVICE, no_int = err::CLEAR_UNMAPPED_INTERRUPT; break;
    case op::DISCARD: no_dev = err::DISCARD_UNMAPPED_DEVICE, no_int = err::DISCARD_UNMAPPED_INTERRUPT; break;
    default: break;
  }
  Dte d;
  if (!get_dte(c.device_id, t, d) || !d.valid) return no_dev;
  Ite e;
  if (!get_ite(c.device_id, d, c.event_id, t, e) || !e.valid) return no_int;
  const uint32_t intid = e.pintid;
  switch (c.opcode) {
    case op::INT: {
      Cte cte;
      if (!get_cte(e.icid, t, cte) || !cte.valid) return 0;  // unmapped collection: the interrupt is dropped
      raise(e, cte, nullptr, t);
      return 0;
    }
    case op::CLEAR:
      cleared_ += held_.erase(intid);
      return 0;
    case op::INV:
      // Software changed this LPI's configuration in memory: the cached copy goes, and a pending
      // LPI is delivered if the configuration now enables it.
      ++cmd_invs_;
      cfg_cache_.invalidate_if([&](const CfgSlot& x) { return x.intid == intid; });
      reevaluate(intid, t);
      return 0;
    case op::DISCARD: {
      if (!write_entry(itt_entry_addr(d, c.event_id), encode(Ite{}), static_cast<unsigned>(p_.itt_entry_size), t))
        return err::MEMORY;
      const uint32_t dev = c.device_id, ev = c.event_id;
      ite_cache_.invalidate_if([&](const IteSlot& x) { return x.devid == dev && x.eventid == ev; });
      // DISCARD also removes the pending state and makes cached configuration consistent.
      cfg_cache_.invalidate_if([&](const CfgSlot& x) { return x.intid == intid; });
      cleared_ += held_.erase(intid);
      return 0;
    }
    default: return 0;
  }
}

uint32_t Its::cmd_invall(const Cmd& c, sc_core::sc_time& t) {
  ++cmd_invs_;
  if (c.icid >= ct_entries()) return err::INVALL_COLLECTION_OOR;
  Cte cte;
  if (!get_cte(c.icid, t, cte) || !cte.valid) return err::INVALL_UNMAPPED_COLLECTION;
  // The cache is not indexed by collection: dropping every entry is a permitted superset.
  cfg_cache_.invalidate_if([](const CfgSlot&) { return true; });
  std::vector<uint32_t> mine;
  for (const auto& [intid, h] : held_)
    if (h.icid == c.icid) mine.push_back(intid);
  for (uint32_t intid : mine) reevaluate(intid, t);
  return 0;
}

}  // namespace iommusim::its
