// SMMUv3 nested translation (STE.Config = 0b111, IHI 0070 3.3.2): CD fetches and stage-1 walks whose
// addresses are IPAs translated by the STE's stage 2, and the fault records that name the stage
// (7.3.12-7.3.15: S2, CLASS, IPA, TTRnW). The walk itself is the translation core's nested walk.
#include <tlm>

#include "models/common/sim_time.h"
#include "models/iommu/core/nested_probe.h"
#include "models/iommu/smmuv3/smmuv3.h"

namespace iommusim::smmuv3 {
namespace {

uint64_t low_bits(uint64_t a, unsigned shift) { return a & ((uint64_t{1} << shift) - 1); }

// Event type of a walk fault. An input address beyond a stage's range is a translation fault of that
// stage (Arm ARM D8.1.x: the IPA beyond VTCR.T0SZ too); address-size faults are about output addresses,
// which the model does not check against CD.IPS / STE.S2PS.
uint8_t event_of(WalkFault f) {
  switch (f) {
    case WalkFault::AccessFlag: return evt::F_ACCESS;
    case WalkFault::ExternalAbort: return evt::F_WALK_EABT;
    case WalkFault::Permission: return evt::F_PERMISSION;
    default: return evt::F_TRANSLATION;
  }
}

}  // namespace

bool SmmuV3::dbg_read64(uint64_t pa, uint64_t& v) {
  tlm::tlm_generic_payload gp;
  gp.set_command(tlm::TLM_READ_COMMAND);
  gp.set_address(pa);
  gp.set_data_ptr(reinterpret_cast<unsigned char*>(&v));
  gp.set_data_length(8);
  gp.set_streaming_width(8);
  return mem->transport_dbg(gp) == 8;
}

bool SmmuV3::cd_ipa_to_pa(const StreamConfig& c, uint64_t ipa, uint64_t& pa, sc_core::sc_time& t, Event& ev) {
  // The stage-2 translation of a CD fetch is an ordinary stage-2 lookup of the VMID: it may hit (and
  // fill) the IOTLB's stage-2 entries, which TLBI_S2_IPA removes.
  WalkResult w;
  const TlbEntry* e = nullptr;
  if ((ipa >> c.s2fmt.input_bits()) == 0) e = core_.translate(c.s2tag, true, c.s2fmt, c.s2root, ipa, t, w);
  else w.fault = WalkFault::Translation;
  if (e && e->perm.r) {
    pa = e->pa | low_bits(ipa, e->shift);
    return true;
  }
  // A stage-2 fault on the CD fetch: the stage-2 fault type with S2 = 1 and CLASS = CD, IPA the CD
  // address (7.3.12); recorded only with STE.S2R.
  ev.type = e ? evt::F_PERMISSION : event_of(w.fault);
  ev.s2 = true;
  ev.cls = evt::CLASS_CD;
  ev.ttrnw = false;
  ev.ipa = ipa & ~uint64_t{7};
  cfg_fault_silent_ = !c.s2_record;
  return false;
}

bool SmmuV3::nested_dma(tlm::tlm_generic_payload& gp, const PcieExt* x, const StreamConfig& c, uint64_t va,
                        sc_core::sc_time& t, sc_core::sc_time now, sc_core::sc_time& delay, uint64_t& pa,
                        bool& retry) {
  // Two stages on one walker; the IOTLB holds the combined VA -> PA entry tagged {VMID, ASID}.
  const TlbEntry* e = nullptr;
  if ((va >> c.fmt.input_bits()) == 0) {
    e = core_.translate_nested(c.tag, c.fmt, c.root, c.s2tag, c.s2fmt, c.s2root, va, t, nested_walk_);
  } else {
    nested_walk_ = NestedWalkResult{};
    nested_walk_.fault = WalkFault::Translation;
    nested_walk_.stage = NestedStage::Stage1;
  }
  if (e && (gp.is_write() ? e->perm.w : e->perm.r) && (e->perm.user || (x && x->pmr))) {
    pa = e->pa | low_bits(va, e->shift);
    return true;
  }
  retry = !nested_fault(gp, x, c, e, va, t, now, delay);
  return false;
}

bool SmmuV3::nested_fault(tlm::tlm_generic_payload& gp, const PcieExt* x, const StreamConfig& c, const TlbEntry* e,
                          uint64_t va, sc_core::sc_time& t, sc_core::sc_time now, sc_core::sc_time& delay) {
  const bool write = gp.is_write();
  const bool priv = x && x->pmr;
  Event ev;
  bool s2 = false;
  uint8_t cls = evt::CLASS_IN;
  uint64_t ipa = 0;
  if (e) {
    // The combined entry holds the AND of both stages' rights: the walk is read again to name the stage.
    const NestedProbe np = probe_nested(c.fmt, c.root, c.s2fmt, c.s2root, va,
                                        [this](uint64_t pa, uint64_t& v) { return dbg_read64(pa, v); });
    const bool s1_denies = !np.ok || (write ? !np.s1.w : !np.s1.r) || (!priv && !np.s1.user);
    ev.type = evt::F_PERMISSION;
    if (!s1_denies) {
      s2 = true;
      ipa = np.ipa;
    }
  } else {
    const NestedWalkResult& n = nested_walk_;
    ev.type = event_of(n.fault);
    if (n.stage == NestedStage::Stage2Table) {
      // Stage 2 of a stage-1 descriptor fetch: CLASS = TT, IPA = the descriptor's IPA, TTRnW = read.
      s2 = true;
      cls = evt::CLASS_TT;
      ipa = n.gpa + c.fmt.entry_offset(va, n.s1_level);
      ev.ttrnw = true;
    } else if (n.stage == NestedStage::Stage2Output) {
      s2 = true;
      ipa = n.gpa;
    }
    if (n.fault == WalkFault::ExternalAbort) ipa = n.entry_pa;  // F_WALK_EABT: FetchAddr, the PA read
  }
  ++faults_;
  ev.sid = x ? x->rid : 0;
  ev.ssv = x && x->pasid_valid;
  ev.ssid = ev.ssv ? x->pasid : 0;
  ev.rnw = !write;
  ev.pnu = priv;
  ev.cls = cls;
  ev.input_addr = va;
  ev.s2 = s2;
  if (s2 || ev.type == evt::F_WALK_EABT) ev.ipa = ipa & ~uint64_t{7};
  // Stage-1 faults stall as in a stage-1-only stream (CD.S); stage-2 stalls (STE.S2S) are not modelled.
  if (!s2 && c.stall) {
    switch (stall(ev, t)) {
      case StallOutcome::Retry: delay = t - sim_now(); return false;
      case StallOutcome::Abort:
        delay = t - sim_now();
        fail(gp, IoStatus::Aborted);
        return true;
      case StallOutcome::NotStalled: break;
    }
    ev.stall = false;
    ev.stag = 0;
  }
  if (s2 ? c.s2_record : c.record) record_event(ev, t);
  delay = t - now;
  fail(gp, ev.type == evt::F_PERMISSION ? IoStatus::PermissionFault : IoStatus::TranslationFault);
  return true;
}

}  // namespace iommusim::smmuv3
