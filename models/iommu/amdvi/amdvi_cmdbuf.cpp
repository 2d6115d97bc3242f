// AMD-Vi command buffer: fetch from simulated memory, execute with a cost, complete COMPLETION_WAIT.
#include "models/iommu/amdvi/amdvi.h"

#include <algorithm>

#include "models/common/sim_time.h"
#include "models/pcie/ats_defs.h"

namespace iommusim::amdvi {

void AmdVi::cmd_thread() {
  for (;;) {
    wait(cmd_kick_);
    sc_core::sc_time t = sc_core::sc_time_stamp();
    // Head advances only once the command before it has completed at its simulated time, so a CPU
    // reading Head never sees a command done early.
    while (cmd_run_ && (control_ & control::CMD_BUF_EN) && !ring::empty(cmd_head_, cmd_tail_)) {
      const unsigned len = static_cast<unsigned>(ring::LEN.get(cmd_base_));
      if (!ring::len_valid(len)) break;
      const uint64_t base = cmd_base_ & ring::BASE_MASK;
      const uint32_t avail = ring::count(cmd_head_, cmd_tail_, len);
      const uint32_t to_end = (ring::bytes(len) - cmd_head_) / ring::ENTRY_BYTES;
      const uint32_t n = std::min({avail, to_end, static_cast<uint32_t>(p_.cmd_fetch_batch)});
      uint64_t buf[CMD_QWORDS * 64];
      ++cmd_fetch_reads_;
      const uint64_t fetch_pa = base + cmd_head_;
      if (!mem_access(false, fetch_pa, buf, n * ring::ENTRY_BYTES, t)) {
        Event ev;
        ev.code = evt::COMMAND_HARDWARE_ERROR;
        ev.type = evt::HWERR_MASTER_ABORT;
        ev.addr = fetch_pa;
        cmd_run_ = false;
        ++cmd_errors_;
        record_event(ev, t);
        break;
      }
      // Commands take effect (and errors show) only once the fetch's data has arrived.
      if (t > sc_core::sc_time_stamp()) wait(t - sc_core::sc_time_stamp());
      for (uint32_t i = 0; i < n && cmd_run_ && (control_ & control::CMD_BUF_EN); ++i) {
        const uint64_t* raw = &buf[CMD_QWORDS * i];
        const Cmd c = decode_cmd(raw);
        if (!cmd_well_formed(raw) || c.opcode == op::PREFETCH_IOMMU_PAGES ||
            (c.opcode == op::INVALIDATE_IOMMU_ALL && !p_.ia_sup) ||
            (c.opcode == op::COMPLETE_PPR_REQUEST && !p_.ppr_sup)) {
          // Head stays on the bad command; processing stops (CmdBufRun = 0) until software re-enables it.
          Event ev;
          ev.code = evt::ILLEGAL_COMMAND_ERROR;
          ev.addr = base + cmd_head_;
          cmd_run_ = false;
          ++cmd_errors_;
          record_event(ev, t);
          break;
        }
        cmd_pa_ = base + cmd_head_;
        // COMPLETION_WAIT first waits for the devices to complete every earlier IOTLB invalidation.
        const sc_core::sc_time t0 = t;
        if (c.opcode == op::COMPLETION_WAIT) drain_ats(t);
        execute(c, t);
        timeline::span(tl_, timeline::Cat::Command, opcode_name(c.opcode), t0, t, cmd_head_ / ring::ENTRY_BYTES,
                       raw[0] >> 32);
        if (t > sc_core::sc_time_stamp()) wait(t - sc_core::sc_time_stamp());
        if (c.opcode == op::COMPLETION_WAIT) complete_wait(c, t);
        if (c.opcode == op::COMPLETION_WAIT)
          timeline::instant(tl_, timeline::Cat::Completion, "COMPLETION_WAIT complete", t,
                            cmd_head_ / ring::ENTRY_BYTES);
        cmd_head_ = ring::next(cmd_head_, len);
      }
    }
  }
}

void AmdVi::execute(const Cmd& c, sc_core::sc_time& t) {
  ++cmd_total_;
  Iotlb& tlb = core_.iotlb();
  WalkCache& wc = core_.walk_cache();
  switch (c.opcode) {
    case op::COMPLETION_WAIT:
      ++cmd_waits_;
      t += wait_latency_;
      return;
    case op::INVALIDATE_DEVTAB_ENTRY:
      ++cmd_devtab_;
      invalidate_dev(c.device_id);
      t += devtab_inv_latency_;
      return;
    case op::INVALIDATE_IOMMU_PAGES: {
      ++cmd_pages_;
      const AddrRange r = inv_range(c.addr, c.s);
      const uint64_t end = r.last == UINT64_MAX ? UINT64_MAX : r.last + 1;
      if (c.gn) {
        // Guest (v2) entries of one PASID; PDE also drops the page-directory entries and the PASID's GCR3.
        const TlbTag tag{c.domain_id, c.pasid};
        tlb.invalidate_range(tag, r.first, end);
        if (c.pde) {
          wc.invalidate_range(tag, false, r.first, end, kV2Shifts);
          gcr3_cache_.invalidate_if(
              [&](const GuestConfig& g) { return g.domain == c.domain_id && g.pasid == c.pasid; });
        }
      } else {
        // Host (v1) entries of the domain: kept apart from guest ones as the core's stage-2 entries.
        tlb.invalidate_ipa_range(c.domain_id, r.first, end);
        if (c.pde) wc.invalidate_range(TlbTag{c.domain_id, 0}, true, r.first, end, kV1Shifts);
        // Nested domains: combined guest entries (tagged by guest address) and guest walk-cache entries
        // holding translated table addresses cannot be found by GPA; the whole domain's go (conservative).
        if (nested_doms_[c.domain_id]) {
          tlb.invalidate_domain(c.domain_id);
          wc.invalidate_domain(c.domain_id);
        }
      }
      t += pages_inv_latency_;
      return;
    }
    case op::INVALIDATE_IOTLB_PAGES: {
      ++cmd_iotlb_pages_;
      t += iotlb_inv_latency_;
      const AddrRange r = inv_range(c.addr, c.s);
      const uint64_t size = r.first == 0 && r.last == UINT64_MAX ? ats::kAllRange : r.last - r.first + 1;
      if (ats_.outstanding() == 0) ats_sent_.clear();  // everything sent before has completed
      // The command has no Global bit; GN makes it PASID-tagged. MaxPend is the device's Invalidate Queue
      // Depth (0 = 32): the agent waits for queue room, and so does this thread.
      if (p_.iotlb_support &&
          ats_.invalidate(c.device_id, c.gn, c.gn ? c.pasid : 0, r.first, size, false, c.maxpend, t)) {
        ats_sent_.emplace_back(c.device_id, cmd_pa_);
      } else {
        ++iotlb_no_device_;  // no ATS device at that DeviceID: nothing to send
      }
      if (sim_now() > t) t = sim_now();
      return;
    }
    case op::INVALIDATE_INTERRUPT_TABLE:
      ++cmd_irt_;
      irte_cache_.invalidate_if([&](const IrteEntry& e) { return e.devid == c.device_id; });
      t += irt_inv_latency_;
      return;
    case op::COMPLETE_PPR_REQUEST:
      ++cmd_ppr_;
      t += other_latency_;
      // The PRG Response leaves once the command has executed; the Completion Tag is the PRG index.
      if (!ats_.prg_response(c.device_id, c.gn, c.gn ? c.pasid : 0, c.tag, ppr_status::response_code(c.status), t))
        ++cmd_ppr_no_device_;
      if (sim_now() > t) t = sim_now();
      return;
    case op::INVALIDATE_IOMMU_ALL:
      ++cmd_all_;
      tlb.invalidate_all();
      wc.invalidate_all();
      last_dev_ = nullptr;
      dev_cache_.invalidate_if([](const DevConfig&) { return true; });
      gcr3_cache_.invalidate_if([](const GuestConfig&) { return true; });
      irte_cache_.invalidate_if([](const IrteEntry&) { return true; });
      t += all_inv_latency_;
      return;
    default:
      t += other_latency_;
      return;
  }
}

void AmdVi::drain_ats(sc_core::sc_time& t) {
  if (ats_.outstanding() == 0) {
    ats_sent_.clear();
    return;
  }
  // A device that does not answer in time gets an IOTLB_INV_TIMEOUT naming the (oldest) invalidation
  // command sent to it since the last wait; the wait then completes, as on hardware.
  for (const uint16_t rid : ats_.drain(t)) {
    ++iotlb_timeouts_;
    Event ev;
    ev.code = evt::IOTLB_INV_TIMEOUT;
    ev.device_id = rid;
    for (const auto& [dev, pa] : ats_sent_) {
      if (dev != rid) continue;
      ev.addr = pa;
      break;
    }
    record_event(ev, t);
  }
  ats_sent_.clear();
}

void AmdVi::complete_wait(const Cmd& c, sc_core::sc_time& t) {
  // Every earlier command has completed (they execute in order): the store and the interrupt happen now.
  if (c.store) {
    uint64_t data = c.store_data;
    mem_access(true, c.store_addr, &data, 8, t);
  }
  if (c.interrupt) {
    status_ |= status::COM_WAIT_INT;
    if (control_ & control::COM_WAIT_INT_EN) comp_wait_irq_.notify(after_now(t));
  }
}

}  // namespace iommusim::amdvi
