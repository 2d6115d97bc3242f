// SMMUv3 ATS: Translation Requests answered from the translation tables, translated transactions
// checked against STE.EATS and passed without a walk, Invalidate Completions handed to the agent.
#include <cstring>

#include "models/common/sim_time.h"
#include "models/iommu/smmuv3/smmuv3.h"
#include "models/pcie/ats_defs.h"

namespace iommusim::smmuv3 {

void SmmuV3::ats_transport(tlm::tlm_generic_payload& gp, PcieExt& x, sc_core::sc_time& delay) {
  if (AtsPort::upstream_message(
          gp, x, delay, p_.pri,  // page requests only with IDR0.PRI
          [this](const PcieExt& m, sc_core::sc_time at) { ats_.completion(m.rid, m.itag_or_prg, m.cc, at); },
          [&] { page_request(gp, x, delay); }))
    return;
  const sc_core::sc_time now = sim_now();
  sc_core::sc_time t = now + delay;
  ++transactions_;
  const uint32_t sid = x.rid;
  if (!(cr0_ & cr0::SMMUEN)) {
    // With the SMMU disabled there is no translation agent: ATS traffic is Unsupported Request.
    ++ats_rejected_;
    delay = t - now;
    return fail(gp, IoStatus::ConfigFault);
  }
  Event& ev = fault_ev_;
  const StreamConfig* c = config(sid, x.pasid_valid, x.pasid_valid ? x.pasid : 0, t, ev);
  if (!c) {
    ++faults_;
    ++ats_rejected_;
    if (!cfg_fault_silent_) record_event(ev, t);
    delay = t - now;
    return fail(gp, IoStatus::ConfigFault);
  }
  if (!c->ats) {
    // F_BAD_ATS_TREQ for a Translation Request, F_TRANSL_FORBIDDEN for a translated transaction,
    // both answered with an error the device sees as UR.
    Event e;
    e.type = x.at == AddrType::TranslationRequest ? evt::F_BAD_ATS_TREQ : evt::F_TRANSL_FORBIDDEN;
    e.sid = sid;
    e.ssv = x.pasid_valid;
    e.ssid = x.pasid;
    e.rnw = !gp.is_write();
    e.input_addr = gp.get_address();
    ++faults_;
    ++ats_rejected_;
    record_event(e, t);
    delay = t - now;
    return fail(gp, IoStatus::ConfigFault);
  }
  if (x.at == AddrType::TranslationRequest) {
    translation_request(gp, x, c, t);
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

void SmmuV3::translation_request(tlm::tlm_generic_payload& gp, PcieExt& x, const StreamConfig* c,
                                 sc_core::sc_time& t) {
  ++ats_treqs_;
  if (!gp.is_read() || gp.get_data_length() < 8) {
    gp.set_response_status(tlm::TLM_GENERIC_ERROR_RESPONSE);
    x.status = IoStatus::ConfigFault;
    return;
  }
  const uint64_t va = gp.get_address() & ~uint64_t{0xFFF};
  ats::Translation tr;  // R=W=0 unless a translation grants access
  switch (c->mode) {
    case StreamConfig::Mode::Abort: break;
    case StreamConfig::Mode::Bypass:
      tr.addr = va;
      tr.r = tr.w = true;
      tr.exe = tr.priv = true;
      break;
    case StreamConfig::Mode::Stage1:
    case StreamConfig::Mode::Stage2:
    case StreamConfig::Mode::Nested: {
      const bool s2 = c->mode == StreamConfig::Mode::Stage2;
      WalkResult& wr = fault_walk_;
      const TlbEntry* e = nullptr;
      // Nested: the completion carries the combined translation (VA to PA), as for EATS = 0b01.
      if ((va >> c->fmt.input_bits()) != 0) e = nullptr;
      else if (c->mode == StreamConfig::Mode::Nested)
        e = core_.translate_nested(c->tag, c->fmt, c->root, c->s2tag, c->s2fmt, c->s2root, va, t, nested_walk_);
      else e = core_.translate(c->tag, s2, c->fmt, c->root, va, t, wr);
      // Translation faults of Translation Requests are answered to the device (R=W=0), not recorded
      // as events: the device may then use PRI.
      if (!e) break;
      const bool priv = x.pmr;
      const bool user_ok = s2 || priv || e->perm.user;
      tr.size = uint64_t{1} << e->shift;
      tr.addr = e->pa & ~(tr.size - 1);
      tr.r = e->perm.r && user_ok;
      tr.w = e->perm.w && user_ok;
      tr.priv = priv;
      tr.exe = false;  // execute requests are not modelled
      tr.global = e->global;
      break;
    }
  }
  const uint64_t entry = ats::encode_completion(tr);
  std::memcpy(gp.get_data_ptr(), &entry, 8);
  gp.set_response_status(tlm::TLM_OK_RESPONSE);
}

}  // namespace iommusim::smmuv3
