// Host AMD-Vi driver, PPR log: the servicing thread, validation of page requests (R3.1), reports to
// the fault core and COMPLETE_PPR_REQUEST answers (R3.5).
#include <sysc/kernel/sc_spawn.h>

#include <algorithm>

#include "models/common/log.h"
#include "models/host/amdvi_driver.h"

namespace iommusim::host {

using namespace iommusim::amdvi;

void AmdViDriver::ppr_thread() {
  if (ppr_irq_) {
    // The interrupt is latched, as a pending MSI would be: one that fires while the thread is
    // busy servicing is not lost.
    sc_core::sc_spawn([this] {
      for (;;) {
        sc_core::wait(*ppr_irq_);
        ppr_pending_ = true;
        ppr_wake_.notify(sc_core::SC_ZERO_TIME);
      }
    });
  }
  for (;;) {
    if (ppr_irq_) {
      while (!ppr_pending_) sc_core::wait(ppr_wake_);
      ppr_pending_ = false;
    } else {
      // No interrupt wired: while some device may send page requests, look at the entry at Head
      // every poll interval. A non-zero type means the IOMMU wrote it (consumed entries are zeroed);
      // the look stands for the interrupt line, so it is not charged as CPU time.
      while (pri_devices_ == 0) sc_core::wait(pri_kick_);
      sc_core::wait(to_sc(ppr_svc_.poll_interval));
      uint64_t at_head[PPR_QWORDS];
      mem_.read(ppr_ + ppr_head_, at_head, sizeof at_head);
      if (decode_ppr(at_head).code == 0) continue;
    }
    service_ppr();
  }
}

void AmdViDriver::service_ppr() {
  // As Linux's PPR interrupt thread: acknowledge, drain, restart after an overflow, until Status
  // shows nothing new.
  constexpr uint64_t kMask = status::PPR_INT | status::PPR_OVERFLOW;
  uint32_t st = mmio_.read32(reg::STATUS);
  while (st & kMask) {
    mmio_.write32(reg::STATUS, static_cast<uint32_t>(kMask));
    drain_ppr();
    if (st & status::PPR_OVERFLOW) restart_ppr_log();
    st = mmio_.read32(reg::STATUS);
  }
}

void AmdViDriver::drain_ppr() {
  uint32_t head = mmio_.read32(reg::PPR_LOG_HEAD) & ring::PTR_MASK;
  const uint32_t tail = mmio_.read32(reg::PPR_LOG_TAIL) & ring::PTR_MASK;
  // A tail outside the log (a broken IOMMU) would never be reached: read nothing rather than spin.
  if (tail >= ring::bytes(ppr_len_) || head >= ring::bytes(ppr_len_)) return;
  while (head != tail) {
    uint64_t raw[PPR_QWORDS];
    mem_.read(ppr_ + head, raw, sizeof raw);
    const uint64_t zero[PPR_QWORDS] = {0, 0};
    mem_.write(ppr_ + head, zero, sizeof zero);  // so a stale entry is never taken for a new one
    head = ring::next(head, ppr_len_);
    ppr_head_ = head;
    mmio_.write32(reg::PPR_LOG_HEAD, head);  // the slot is free for the IOMMU before the request is handled
    cpu_.spend(to_sc(ppr_svc_.entry_cost), Cpu::Cat::Other);
    ++ppr_entries_;
    handle_ppr(raw);
  }
}

void AmdViDriver::restart_ppr_log() {
  // amd_iommu_restart_log: only once the IOMMU has stopped logging; PPRLogEn 0 -> 1 restarts it.
  if (mmio_.read32(reg::STATUS) & status::PPR_LOG_RUN) return;
  ++ppr_overflows_;
  if (iopf_) iopf_->discard_partial(*this);  // requests of held partial groups were lost
  log::get(name_)->warn("PPR log overflowed: restarting it");
  control_ &= ~(control::PPR_LOG_EN | control::PPR_INT_EN);
  mmio_.write64(reg::CONTROL, control_);
  mmio_.write32(reg::STATUS, static_cast<uint32_t>(status::PPR_OVERFLOW));
  control_ |= control::PPR_INT_EN;
  mmio_.write64(reg::CONTROL, control_);
  control_ |= control::PPR_LOG_EN;
  mmio_.write64(reg::CONTROL, control_);
}

void AmdViDriver::handle_ppr(const uint64_t raw[PPR_QWORDS]) {
  const PprEntry e = decode_ppr(raw);
  if (e.code != ppr::PAGE_SERVICE_REQUEST) {  // Linux: "Unknown PPR request", nothing answered
    ++ppr_ignored_;
    return;
  }
  const DevState* s = device_state(e.device_id);
  if (!s || !s->dev) {  // no such PCI function: nobody to answer
    ++ppr_ignored_;
    return;
  }
  const uint32_t limit = std::min(s->dev->max_pasids(), max_pasids());
  // R3.1: no PASID (GN = 0), a malformed request, PASID 0 or beyond the device's PASIDs: FAILURE,
  // without the fault core.
  if (!e.gn || e.rz || e.pasid == 0 || e.pasid >= limit || !iopf_) {
    log::get(name_)->debug("PPR from {:#06x} pasid {} gn {} rz {}: refused", e.device_id, e.pasid, e.gn, e.rz);
    ++ppr_refused_;
    complete_ppr(e.device_id, e.pasid, e.gn, e.prg_index, ppr_status::FAILURE);
    return;
  }
  IoPageFault f;
  f.rid = e.device_id;
  f.pasid_valid = true;
  f.pasid = e.pasid;
  f.addr = e.addr & ~uint64_t{0xFFF};
  f.read = e.read;
  f.write = e.write;
  f.exec = e.exec;
  f.priv = !e.us;  // US clear: a privileged (supervisor) request
  f.last = e.last;
  f.grpid = e.prg_index;
  ++ppr_reported_;
  iopf_->report(*this, f);
}

void AmdViDriver::complete_ppr(uint16_t rid, uint32_t pasid, bool pasid_valid, uint16_t tag, uint8_t status) {
  // amd_iommu_complete_ppr: the command is queued, nobody waits for it. GN (the response carries
  // the PASID) follows the request: devices are taken to require it.
  ++ppr_responses_;
  queue({cmd_complete_ppr(rid, pasid, pasid_valid, tag, status)}, false);
}

void AmdViDriver::page_response(const IoPageFault& f, PageResponse code) {
  complete_ppr(f.rid, f.pasid, f.pasid_valid, f.grpid, static_cast<uint8_t>(code));
}

}  // namespace iommusim::host
