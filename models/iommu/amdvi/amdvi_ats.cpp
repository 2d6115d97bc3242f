// AMD-Vi ATS: Invalidate Completions handed to the agent, Translation Requests answered from the device's
// tables, translated requests checked against DTE.I and passed to memory without a lookup. Page requests
// (PRI) go on to amdvi_ppr.cpp.
#include <cstring>

#include "models/common/sim_time.h"
#include "models/iommu/amdvi/amdvi.h"
#include "models/pcie/ats_defs.h"

namespace iommusim::amdvi {

void AmdVi::unsupported_request(tlm::tlm_generic_payload& gp, PcieExt& x) {
  gp.set_response_status(tlm::TLM_GENERIC_ERROR_RESPONSE);
  x.status = IoStatus::ConfigFault;
}

void AmdVi::ats_transport(tlm::tlm_generic_payload& gp, PcieExt& x, sc_core::sc_time& delay) {
  // Page requests always reach page_request(), which refuses them without PPRSup.
  if (AtsPort::upstream_message(
          gp, x, delay, true,
          [this](const PcieExt& m, sc_core::sc_time at) { ats_.completion(m.rid, m.itag_or_prg, m.cc, at); },
          [&] { page_request(gp, x, delay); }))
    return;
  ++transactions_;
  const sc_core::sc_time now = sim_now();  // nothing below waits
  sc_core::sc_time t = now + delay;
  const bool treq = x.at == AddrType::TranslationRequest;
  if (!(control_ & control::IOMMU_EN)) {
    // No translation agent while disabled: a Translation Request is unsupported; a translated request
    // passes, as every request does.
    if (treq) {
      ++ats_rejected_;
      return unsupported_request(gp, x);
    }
    ++bypassed_;
    x.walked = false;
    mem->b_transport(gp, delay);
    return;
  }
  Event& ev = fault_ev_;
  const DevConfig* c = dev_config(x.rid, t, ev);
  if (!c) {
    if (ev.code == evt::ILLEGAL_DEV_TABLE_ENTRY) {
      ev.addr = gp.get_address();
      ev.rw = gp.is_write();
      ev.tr = treq;
    }
    ++faults_;
    ++ats_rejected_;
    record_event(ev, t);
    delay = t - now;
    if (treq) return unsupported_request(gp, x);
    return fail(gp, IoStatus::ConfigFault);
  }
  const Dte& d = c->dte;
  // DTE.I (with V, and TV for a Translation Request, which needs the tables) allows ATS. Otherwise
  // INVALID_DEVICE_REQUEST; the Translation Request is answered Unsupported Request, the translated
  // request is target-aborted.
  if (!(p_.iotlb_support && d.v && d.i && (!treq || d.tv))) {
    Event e;
    e.code = evt::INVALID_DEVICE_REQUEST;
    e.type = evt::INVREQ_ATS_NOT_ALLOWED;
    e.device_id = x.rid;
    e.gn = x.pasid_valid;
    e.pasid = x.pasid_valid ? x.pasid : 0;
    e.tr = treq;
    e.addr = gp.get_address();
    ++ats_rejected_;
    record_event(e, t);
    delay = t - now;
    if (treq) return unsupported_request(gp, x);
    return fail(gp, IoStatus::Aborted);
  }
  if (treq) {
    translation_request(gp, x, *c, t);
    timeline::span(tl_, timeline::Cat::Translate, "translation request", now + delay, t, gp.get_address(), x.rid,
                   x.pasid);
    delay = t - now;
    return;
  }
  // Translated: the device already holds the translation.
  ++ats_translated_;
  x.walked = false;
  delay = t - now;
  mem->b_transport(gp, delay);
}

void AmdVi::translation_request(tlm::tlm_generic_payload& gp, PcieExt& x, const DevConfig& c, sc_core::sc_time& t) {
  ++ats_treqs_;
  if (!gp.is_read() || gp.get_data_length() < 8) return unsupported_request(gp, x);
  const Dte& d = c.dte;
  const uint64_t va = gp.get_address() & ~uint64_t{0xFFF};
  const uint32_t pasid = x.pasid_valid ? x.pasid : 0;
  Event& ev = fault_ev_;
  ats::Translation tr;  // R = W = 0 unless a translation grants access
  const Found f = find_translation(c, x.pasid_valid, pasid, va, /*write=*/false, t, ev);
  switch (f.kind) {
    case Found::HwError:
      // A table read failed: no answer can be given; the completion carries an error (Completer Abort).
      ev.tr = true;
      ++faults_;
      record_event(ev, t);
      return fail(gp, IoStatus::TranslationFault);
    case Found::PageFault:
      // No translation: answered R = W = 0 so the device may ask for the page (PRI). AMD logs the fault
      // like a DMA's, with TR set; DTE.SA suppresses it.
      ++faults_;
      if (!d.sa) {
        ev = Event{};
        ev.code = evt::IO_PAGE_FAULT;
        ev.device_id = c.devid;
        ev.gn = f.gn && !f.host;  // nested, host level: GN = 0 with the DomainID and the GPA
        if (ev.gn) ev.pasid = pasid;
        else ev.domain_id = d.domain_id;
        ev.nx = x.er;
        ev.us = x.pasid_valid && !x.pmr;
        ev.pr = f.pr;
        ev.pe = f.host && f.pe;
        ev.rz = f.rz;
        ev.tr = true;
        ev.addr = f.host ? f.gpa : va;
        record_event(ev, t);
      }
      break;
    case Found::Identity:
      // Mode 0: the DVA is the address; every page alike, 4 KiB is as good as any size.
      tr.addr = va;
      tr.r = d.ir;
      tr.w = d.iw;
      break;
    case Found::Entry: {
      const TlbEntry* e = f.e;
      // The leaf's (IOTLB entry's) size and rights, narrowed by the DTE; an unprivileged guest request
      // gets nothing from a supervisor page. NW does not reduce W.
      const bool user_ok = !f.gn || x.pmr || e->perm.user;
      tr.size = uint64_t{1} << e->shift;
      tr.addr = e->pa & ~(tr.size - 1);
      tr.r = e->perm.r && d.ir && user_ok;
      tr.w = e->perm.w && d.iw && user_ok;
      break;
    }
  }
  // Priv and Exe only exist for PASID requests; execute follows read (NXSup = 0: no execute control).
  tr.priv = x.pasid_valid && x.pmr;
  tr.exe = x.pasid_valid && x.er && tr.r;
  const uint64_t entry = ats::encode_completion(tr);
  std::memcpy(gp.get_data_ptr(), &entry, 8);
  gp.set_response_status(tlm::TLM_OK_RESPONSE);
}

}  // namespace iommusim::amdvi
