// VT-d ATS: Invalidate Completions handed to the agent, Translation Requests answered from the tables a DMA
// would use, translated requests checked against the context entry (legacy TT 01b, scalable DTE) and passed to
// memory without a lookup.
#include <cstring>

#include "models/common/sim_time.h"
#include "models/iommu/vtd/vtd.h"
#include "models/pcie/ats_defs.h"

namespace iommusim::vtd {

void VtdIommu::ats_transport(tlm::tlm_generic_payload& gp, PcieExt& x, sc_core::sc_time& delay) {
  if (AtsPort::upstream_message(
          gp, x, delay, p_.page_requests,  // page requests only with ECAP.PRS
          [this](const PcieExt& m, sc_core::sc_time at) { inv_completion(m, at); },
          [&] { page_request(gp, x, delay); }))
    return;
  ++transactions_;
  const sc_core::sc_time now = sim_now();  // nothing below waits
  sc_core::sc_time t = now + delay;
  const bool treq = x.at == AddrType::TranslationRequest;
  if (!(gsts_ & gsts::TES)) {
    // Translation disabled: nothing to translate with, a Translation Request is unsupported; a translated
    // request passes, as every request does.
    if (treq) {
      ++ats_rejected_;
      gp.set_response_status(tlm::TLM_GENERIC_ERROR_RESPONSE);
      x.status = IoStatus::ConfigFault;
      return;
    }
    ++bypassed_;
    x.walked = false;
    mem->b_transport(gp, delay);
    return;
  }
  // ATS needs a context entry allowing it: legacy TT = 01b (Translation Requests and translated requests),
  // scalable DTE = 1. A present entry that does not is fault 0Dh / 44h; other context faults keep their reason.
  Fault& f = fault_scratch_;
  bool scalable = false;
  const CtxCacheEntry* c = root_mode(scalable, f) ? context_entry(x.rid, scalable, t, f) : nullptr;
  if (c && !c->ats)
    f = Fault{c->scalable ? fr::SM_CTX_DTE : fr::TT_BLOCKED, c->scalable ? c->sm.fpd : c->legacy.fpd,
              IoStatus::ConfigFault, 0};
  if (!c || !c->ats) {
    ats_reject(gp, x, f, t);
    delay = t - now;
    return;
  }
  if (treq) {
    translation_request(gp, x, t);
    timeline::span(tl_, timeline::Cat::Translate, "translation request", now + delay, t, gp.get_address(), x.rid,
                   x.pasid);
    delay = t - now;
    return;
  }
  // Translated: the device already holds the translation; no walk and no IOTLB lookup.
  ++ats_translated_;
  x.walked = false;
  delay = t - now;
  mem->b_transport(gp, delay);
}

// Unsupported Request, with the fault recorded when it has a reason.
void VtdIommu::ats_reject(tlm::tlm_generic_payload& gp, PcieExt& x, Fault& f, sc_core::sc_time t) {
  ++ats_rejected_;
  f.info = gp.get_address() & kPageMask;
  if (f.reason) record(gp, &x, f, t);
  gp.set_response_status(tlm::TLM_GENERIC_ERROR_RESPONSE);
  x.status = IoStatus::ConfigFault;
}

// The page's translation through the path a DMA takes (PASID entry, IOTLB, walk caches, walk), without
// touching the page. Non-recoverable faults (PASID-entry level) are Unsupported Request and recorded; a
// failed table read is Completer Abort and recorded; page-level faults (not present, rights, reserved bits,
// address width) are a successful completion with R = W = 0 and no record, so the device may use PRI.
void VtdIommu::translation_request(tlm::tlm_generic_payload& gp, PcieExt& x, sc_core::sc_time& t) {
  ++ats_treqs_;
  Fault& f = fault_scratch_;
  if (!gp.is_read() || gp.get_data_length() < 8) {
    f = Fault{};
    return ats_reject(gp, x, f, t);
  }
  const bool pv = x.pasid_valid;
  const uint32_t pasid = pv ? x.pasid : 0;
  const uint64_t va = gp.get_address() & kPageMask;
  const Resolved r = resolve(x.rid, pv, pasid, t, f);
  if (!r.x) return ats_reject(gp, x, f, t);
  const DevXlate& d = *r.x;
  const bool priv = pv ? x.pmr : r.rid_priv;
  ats::Translation tr;  // R = W = 0 unless a translation grants access
  if (d.mode == DevXlate::Mode::PassThrough) {
    tr.addr = va;  // identity: every page alike, 4 KiB is as good as any size
    tr.r = tr.w = true;
  } else {
    const bool nested = d.mode == DevXlate::Mode::Nested;
    const bool fs = d.mode == DevXlate::Mode::FirstStage || nested;
    if (fs && priv && !d.sre) {  // a PASID-table entry check (5Dh), not a page-level one
      f = Fault{fr::SM_PTE_SRE, d.fpd, IoStatus::ConfigFault, 0};
      return ats_reject(gp, x, f, t);
    }
    const TlbEntry* e = nullptr;
    bool abort = false;
    if (d.fmt.input_ok(va)) {
      if (nested) {
        e = core_.translate_nested(d.tag, d.fmt, d.root, d.tag, d.s2fmt, d.s2root, va, t, nested_fault_);
        abort = !e && nested_fault_.fault == WalkFault::ExternalAbort;
      } else {
        e = core_.translate(d.tag, !fs, d.fmt, d.root, va, t, walk_fault_);
        abort = !e && walk_fault_.fault == WalkFault::ExternalAbort;
      }
    }
    if (abort) {
      ++ats_rejected_;
      const uint8_t reason = nested ? nested_reason(d, nested_fault_)
                             : fs   ? fr::SM_FS_ACCESS
                             : d.scalable ? fr::SM_SS_ACCESS
                                          : fr::PTE_ACCESS;
      record(gp, &x, Fault{reason, d.fpd, IoStatus::Aborted, va}, t);
      return fail(gp, IoStatus::Aborted);
    }
    if (e) {
      // The leaf's size and the rights accumulated over every level (and both stages); a user request gets
      // nothing from a supervisor page; WPE = 0 lets supervisor requests write first-stage read-only pages.
      // NW does not reduce W.
      const bool user_ok = !fs || priv || e->perm.user;
      tr.size = uint64_t{1} << e->shift;
      tr.addr = e->pa & ~(tr.size - 1);
      tr.r = user_ok && e->perm.r;
      tr.w = user_ok && (e->perm.w || (fs && priv && !d.wpe && (!nested || nested_s2_writable(d, va))));
      tr.global = fs && e->global && (tr.r || tr.w);
    }
  }
  // Priv only exists for requests with PASID; Exe stays 0 (ECAP.ERS = 0); N = 0: snoop attributes are not
  // modelled, every access snoops.
  tr.priv = pv && x.pmr;
  const uint64_t entry = ats::encode_completion(tr);
  std::memcpy(gp.get_data_ptr(), &entry, 8);
  gp.set_response_status(tlm::TLM_OK_RESPONSE);
}

// An Invalidate Completion for no outstanding invalidation (unknown source-id or ITag) is ICE, with the
// sender's source-id in IQERCD.ICESID (kept from the first error until software clears ICE); the queue goes on.
void VtdIommu::inv_completion(const PcieExt& x, sc_core::sc_time t) {
  if (ats_.completion(x.rid, x.itag_or_prg, x.cc, t) == 0) return;
  ++inv_ice_;
  if (fsts_ & fsts::ICE) return;
  fsts_ |= fsts::ICE;
  iqercd_ = iqercd::ICESID.put(iqercd_, x.rid);
  fault_event(sim_now());
}

}  // namespace iommusim::vtd
