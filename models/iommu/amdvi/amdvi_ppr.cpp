// AMD-Vi PRI: PCIe Page Requests accepted into the PPR log in memory (Control.PPREn, DTE.V and DTE.PPR)
// or refused with INVALID_PPR_REQUEST. The PRG Response comes later from COMPLETE_PPR_REQUEST
// (amdvi_cmdbuf.cpp).
#include <cstring>

#include "models/common/sim_time.h"
#include "models/iommu/amdvi/amdvi.h"
#include "models/pcie/pri_defs.h"

namespace iommusim::amdvi {

void AmdVi::page_request(tlm::tlm_generic_payload& gp, const PcieExt& x, const sc_core::sc_time& delay) {
  // Without PPRSup the IOMMU has no use for the message.
  if (!p_.ppr_sup || !gp.is_write() || gp.get_data_length() != 8) {
    gp.set_response_status(tlm::TLM_GENERIC_ERROR_RESPONSE);
    return;
  }
  uint64_t body = 0;
  std::memcpy(&body, gp.get_data_ptr(), 8);
  const pri::PageRequest r = pri::decode_page_request(body);
  timeline::instant(tl_, timeline::Cat::PageRequest, "page request received", sim_now() + delay, r.addr, r.prg_index,
                    x.pasid);
  PageRequestMsg m;
  PprEntry& e = m.entry;
  e.code = ppr::PAGE_SERVICE_REQUEST;
  e.device_id = x.rid;
  e.gn = x.pasid_valid;
  e.pasid = x.pasid_valid ? x.pasid : 0;
  e.prg_index = r.prg_index;
  e.last = r.last;
  e.read = r.read;
  e.write = r.write;
  // Privilege and execute exist only in the PASID prefix (as for IO_PAGE_FAULT's US and NX).
  e.us = x.pasid_valid && !x.pmr;
  e.exec = x.pasid_valid && x.er;
  e.addr = r.addr;
  m.stop_marker = r.stop_marker();
  m.arrived = sim_now() + delay;
  ++ppr_requests_;
  if (m.stop_marker) ++ppr_stop_markers_;
  ppr_queue_.push_back(m);
  ppr_kick_.notify(sc_core::SC_ZERO_TIME);
  // A posted message: the sender does not wait for the log.
  gp.set_response_status(tlm::TLM_OK_RESPONSE);
}

void AmdVi::ppr_thread() {
  for (;;) {
    while (ppr_queue_.empty()) wait(ppr_kick_);
    const PageRequestMsg m = ppr_queue_.front();
    ppr_queue_.pop_front();
    handle_page_request(m);
  }
}

void AmdVi::handle_page_request(const PageRequestMsg& m) {
  // Registers are read as they are when the request arrives.
  if (m.arrived > sim_now()) wait(m.arrived - sim_now());
  sc_core::sc_time t = sim_now();
  const PprEntry& e = m.entry;
  if (!(control_ & control::IOMMU_EN)) {
    ++ppr_dropped_;
    return;
  }
  bool accepted = false;
  if (control_ & control::PPR_EN) {
    Event ev;
    const DevConfig* c = dev_config(e.device_id, t, ev);
    if (!c) {
      // The device table's own error, reported as for a DMA from the device.
      if (ev.code == evt::ILLEGAL_DEV_TABLE_ENTRY) {
        ev.addr = e.addr;
        ev.rw = e.write;
      }
      ++ppr_dropped_;
      record_event(ev, t);
      return;
    }
    accepted = c->dte.v && c->dte.ppr;
  }
  if (!accepted) {
    // INVALID_PPR_REQUEST carries the request as the PPR entry would have. Nothing answers the device.
    ++ppr_invalid_;
    PprEntry inv = e;
    inv.code = evt::INVALID_PPR_REQUEST;
    uint64_t rec[PPR_QWORDS];
    encode(inv, rec);
    log_event(inv.code, rec, t);
    return;
  }
  if (m.stop_marker && p_.blk_stop_mrk_sup && (control_ & control::BLK_STOP_MRK_EN)) {
    ++ppr_dropped_;
    return;
  }
  t += ppr_latency_;
  if (t > sim_now()) wait(t - sim_now());
  const unsigned len = static_cast<unsigned>(ring::LEN.get(ppr_base_));
  if (!(control_ & control::PPR_LOG_EN) || !ppr_run_ || !ring::len_valid(len)) {
    ++ppr_dropped_;
    return;
  }
  if (ring::full(ppr_head_, ppr_tail_, len)) {
    // Overflow: the request is lost and logging stops until software sets PPRLogEn again.
    status_ |= status::PPR_OVERFLOW;
    ppr_run_ = false;
    ++ppr_overflows_;
    ++ppr_dropped_;
    if (control_ & control::PPR_INT_EN) ppr_irq_.notify(sc_core::SC_ZERO_TIME);
    return;
  }
  uint64_t rec[PPR_QWORDS];
  encode(e, rec);
  const uint32_t slot = ppr_tail_;
  if (!mem_access(true, (ppr_base_ & ring::BASE_MASK) + slot, rec, sizeof rec, t)) {
    ++ppr_dropped_;  // the write was refused: nothing to point Tail at
    return;
  }
  // Tail moves once the entry has landed, so software polling Tail never reads it early.
  if (t > sim_now()) wait(t - sim_now());
  ppr_tail_ = ring::next(slot, len);
  ++ppr_logged_;
  status_ |= status::PPR_INT;
  if (control_ & control::PPR_INT_EN) ppr_irq_.notify(sc_core::SC_ZERO_TIME);
}

}  // namespace iommusim::amdvi
