// VT-d: construction, capability registers, the DMA data path and fault reporting.
#include "models/iommu/core/mem_access.h"
#include "models/iommu/vtd/vtd.h"

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <stdexcept>

#include "models/common/sim_time.h"

namespace iommusim::vtd {

VtdIommu::VtdIommu(sc_core::sc_module_name name, const VtdParams& p, uint64_t seed)
    : sc_module(name),
      upstream("upstream"),
      mem("mem"),
      regs("regs"),
      p_(p),
      stats_(this->name()),
      inv_stats_("inv", &stats_),
      ir_stats_("ir", &stats_),
      reason_stats_("fault_reasons", &stats_),
      core_(p.core, *this, seed, stats_),
      ats_("ats", p.ats, stats_),
      ctx_cache_(p.context_cache, seed, "context_cache"),
      pasid_cache_(p.pasid_cache, seed, "pasid_cache"),
      irte_cache_(p.irte_cache, seed, "irte_cache"),
      mmio_latency_(to_sc(p.mmio_latency)),
      cc_latency_(to_sc(p.cc_inv_latency)),
      pc_latency_(to_sc(p.pc_inv_latency)),
      iotlb_latency_(to_sc(p.iotlb_inv_latency)),
      devtlb_latency_(to_sc(p.devtlb_inv_latency)),
      iec_latency_(to_sc(p.iec_inv_latency)),
      wait_latency_(to_sc(p.wait_latency)),
      frcd_(p.fault_records, std::array<uint64_t, 2>{0, 0}),
      transactions_(stats_.counter("transactions", "requests received (DMA and interrupts)")),
      translated_(stats_.counter("translated", "DMA requests translated through a first- or second-stage table")),
      bypassed_(stats_.counter("bypassed", "DMA requests passed untranslated (translation disabled or pass-through)")),
      aborted_(stats_.counter("aborted", "requests blocked without a fault record (abort-DMA mode, reads of the "
                                         "interrupt window)")),
      faults_(stats_.counter("faults", "requests that faulted (recorded or not)")),
      faults_recorded_(stats_.counter("faults_recorded", "faults written into a fault recording register")),
      faults_lost_(stats_.counter("faults_lost", "faults dropped: recording registers full (PFO)")),
      faults_suppressed_(stats_.counter("faults_suppressed", "faults not recorded because of FPD")),
      ctx_lookups_(stats_.counter("context_lookups", "context cache lookups")),
      ctx_misses_(stats_.counter("context_misses", "context cache misses (root and context entry fetched)")),
      pasid_lookups_(stats_.counter("pasid_lookups", "PASID cache lookups")),
      pasid_misses_(stats_.counter("pasid_misses", "PASID cache misses (PASID directory and table entry fetched)")),
      inv_total_(inv_stats_.counter("commands", "invalidation descriptors executed")),
      inv_fetch_reads_(inv_stats_.counter("fetch_reads", "invalidation-queue memory reads")),
      inv_context_(inv_stats_.counter("context_cache", "context-cache invalidation descriptors")),
      inv_pasid_cache_(inv_stats_.counter("pasid_cache", "PASID-cache invalidation descriptors")),
      inv_iotlb_(inv_stats_.counter("iotlb", "IOTLB invalidation descriptors")),
      inv_iotlb_global_(inv_stats_.counter("iotlb_global", "IOTLB invalidations performed globally")),
      inv_iotlb_domain_(inv_stats_.counter("iotlb_domain", "IOTLB invalidations performed domain-selectively")),
      inv_iotlb_page_(inv_stats_.counter("iotlb_page", "IOTLB invalidations performed page-selectively")),
      inv_piotlb_(inv_stats_.counter("pasid_iotlb", "PASID-based IOTLB invalidation descriptors")),
      inv_devtlb_(inv_stats_.counter("dev_tlb", "device-TLB and PASID-based device-TLB descriptors")),
      inv_devtlb_no_device_(inv_stats_.counter("dev_tlb_no_device",
                                               "device-TLB descriptors naming a source-id with no ATS device: done at once")),
      inv_ite_(inv_stats_.counter("ite", "invalidation time-out errors (FSTS.ITE): a wait stopped by a device-TLB "
                                         "invalidation's time-out")),
      inv_ice_(inv_stats_.counter("ice", "invalidation completion errors (FSTS.ICE): completions naming no outstanding "
                                         "invalidation")),
      inv_iec_(inv_stats_.counter("iec", "interrupt entry cache invalidation descriptors")),
      inv_waits_(inv_stats_.counter("waits", "invalidation wait descriptors")),
      inv_errors_(inv_stats_.counter("errors", "invalidation queue errors (IQE)")),
      inv_reg_(inv_stats_.counter("register", "register-based invalidations (CCMD, IOTLB_REG)")),
      ats_treqs_(stats_.counter("ats_translation_requests", "ATS Translation Requests answered")),
      ats_translated_(stats_.counter("ats_translated", "translated (AT=Translated) requests passed to memory")),
      ats_rejected_(stats_.counter("ats_rejected", "ATS requests refused with Unsupported Request or Completer Abort")),
      ir_requests_(ir_stats_.counter("requests", "writes to the interrupt window")),
      ir_remapped_(ir_stats_.counter("remapped", "interrupts remapped through an IRTE")),
      ir_compat_(ir_stats_.counter("passed", "interrupts delivered as they are (remapping off, compatibility format)")),
      ir_faults_(ir_stats_.counter("faults", "interrupt requests blocked with a fault")),
      ir_iec_lookups_(ir_stats_.counter("iec_lookups", "interrupt entry cache lookups")),
      ir_iec_misses_(ir_stats_.counter("iec_misses", "interrupt entry cache misses (IRTE fetched)")) {
  if ((p.sagaw & 1) || (p.sagaw & ~uint64_t{0xE}) || !p.sagaw)
    throw std::invalid_argument("vtd: sagaw must set only bits 1-3 (3-, 4-, 5-level second stage)");
  if (p.fault_records < 1 || p.fault_records > 128)
    throw std::invalid_argument("vtd: fault_records must be 1-128 (they share the 4 KiB register page)");
  // Page requests exist only in scalable mode (VT-d 7.4) and come from ATS devices (PRE needs DTE).
  if (p.page_requests && (!p.scalable_mode || !p.device_tlb))
    throw std::invalid_argument("vtd: page_requests needs scalable_mode and device_tlb");
  upstream.register_b_transport(this, &VtdIommu::up_b_transport);
  regs.register_b_transport(this, &VtdIommu::regs_b_transport);
  inv_stats_.derived("syncs", "invalidation waits: the standard name for queue synchronisations",
                     [this] { return static_cast<double>(inv_waits_.v); });
  // Walk-cache levels the x86 formats use (0 PML5E .. 3 PDE); any deeper ones hold no x86 entries.
  for (unsigned l = 0; l < WalkCache::kLevels; ++l)
    shifts_[l] = l < pgtable::x86::kLastLevel ? X86Format::Geometry::level_shift(l) : 12;
  const uint32_t iro = std::max<uint32_t>(kIro, kFro + static_cast<uint32_t>(p.fault_records));
  iva_off_ = iro * 16;

  cap_ = cap::ND.make(p.nd) | cap::SAGAW.make(p.sagaw) | cap::MGAW.make(p.mgaw_bits - 1) | cap::FRO.make(kFro) |
         cap::SLLPS.make((p.ss_2m ? 1u : 0u) | (p.ss_1g ? 2u : 0u)) | cap::NFR.make(p.fault_records - 1) |
         (p.psi ? cap::PSI | cap::MAMV.make(p.mamv) : 0) | (p.fs_1g ? cap::FL1GP : 0) |
         (p.fs_5level ? cap::FL5LP : 0) | cap::DWD | cap::DRD;
  ecap_ = ecap::QI | ecap::IRO.make(iro) | (p.coherent ? ecap::C : 0) | (p.device_tlb ? ecap::DT : 0) |
          (p.pass_through ? ecap::PT : 0) | (p.snoop_control ? ecap::SC : 0) | (p.page_requests ? ecap::PRS : 0);
  if (p.interrupt_remapping) ecap_ |= ecap::IR | ecap::MHMV.make(0xF) | (p.x2apic ? ecap::EIM : 0);
  if (p.scalable_mode)
    ecap_ |= ecap::SMTS | ecap::PASID | ecap::PSS.make(p.pasid_bits - 1) | ecap::SRS |
             (p.first_stage ? ecap::FSTS : 0) | (p.second_stage ? ecap::SSTS : 0) | (p.coherent ? ecap::SMPWCS : 0) |
             (p.nested && p.first_stage && p.second_stage ? ecap::NEST : 0);
  SC_THREAD(qi_thread);
  if (p.page_requests) {
    prq_latency_ = to_sc(p.prq_latency);
    pgr_latency_ = to_sc(p.pgr_latency);
    prq_stats_ = std::make_unique<PrqStats>(stats_);
    SC_THREAD(prq_thread);
  }
}

void VtdIommu::fail(tlm::tlm_generic_payload& gp, IoStatus st) {
  gp.set_response_status(tlm::TLM_ADDRESS_ERROR_RESPONSE);
  if (auto* x = gp.get_extension<PcieExt>()) x->status = st;
}

void VtdIommu::up_b_transport(int /*port*/, tlm::tlm_generic_payload& gp, sc_core::sc_time& delay) {
  PcieExt* x = gp.get_extension<PcieExt>();
  if (x && (x->at != AddrType::Untranslated || x->msg != MsgKind::None)) return ats_transport(gp, *x, delay);
  ++transactions_;
  const sc_core::sc_time now = sim_now();  // nothing below waits
  sc_core::sc_time t = now + delay;
  const uint64_t va = gp.get_address();
  if (msi_in_window(va)) {  // interrupt requests bypass DMA translation
    interrupt(gp, x, t);
    delay = t - now;
    return;
  }
  uint64_t pa = va;
  if (gsts_ & gsts::TES) {
    Fault& f = fault_scratch_;
    if (!translate(gp, x, pa, t, f)) {
      fault(gp, x, f, t);
      delay = t - now;
      return;
    }
  } else {
    ++bypassed_;
  }
  timeline::span(tl_, timeline::Cat::Translate, "translate", now + delay, t, va, x ? x->rid : 0, x ? x->pasid : 0);
  gp.set_address(pa);
  delay = t - now;
  mem->b_transport(gp, delay);
  gp.set_address(va);
}

bool VtdIommu::translate(tlm::tlm_generic_payload& gp, const PcieExt* x, uint64_t& pa, sc_core::sc_time& t,
                         Fault& f) {
  const uint16_t sid = x ? x->rid : 0;
  const bool pv = x && x->pasid_valid;
  const uint32_t pasid = pv ? x->pasid : 0;
  const uint64_t va = gp.get_address();
  const Resolved r = resolve(sid, pv, pasid, t, f);
  if (!r.x) {
    f.info = va & kPageMask;  // every DMA fault records the request's page
    return false;
  }
  const DevXlate& d = *r.x;
  if (d.mode == DevXlate::Mode::PassThrough) {
    ++bypassed_;
    return true;
  }
  const bool nested = d.mode == DevXlate::Mode::Nested;
  const bool fs = d.mode == DevXlate::Mode::FirstStage || nested;  // first-stage input and rights checks
  const bool write = gp.is_write();
  const bool priv = pv ? x->pmr : r.rid_priv;
  if (!d.fmt.input_ok(va)) {
    f = Fault{fs ? fr::SM_NOT_CANONICAL : d.scalable ? fr::SM_BEYOND_HW : fr::ADDR_BEYOND_AGAW, d.fpd,
              IoStatus::TranslationFault, va & kPageMask};
    return false;
  }
  if (fs && priv && !d.sre) {
    f = Fault{fr::SM_PTE_SRE, d.fpd, IoStatus::PermissionFault, va & kPageMask};
    return false;
  }
  const TlbEntry* e =
      nested ? translate_nested(d, va, t, f) : core_.translate(d.tag, !fs, d.fmt, d.root, va, t, walk_fault_);
  if (!e && nested) return false;  // f filled
  if (!e) {
    uint8_t reason;
    if (walk_fault_.fault == WalkFault::ExternalAbort) {
      reason = fs ? fr::SM_FS_ACCESS : d.scalable ? fr::SM_SS_ACCESS : fr::PTE_ACCESS;
    } else {
      const bool rsvd = fault_was_reserved(d, va);
      if (fs)
        reason = rsvd ? fr::SM_FS_RSVD : fr::SM_FS_NOT_PRESENT;
      else if (d.scalable)
        reason = rsvd ? fr::SM_SS_RSVD : fr::SM_SS_PERM;
      else  // legacy mode: a second-stage entry without R and W reports the access's missing right
        reason = rsvd ? fr::PTE_RSVD : write ? fr::WRITE : fr::READ;
    }
    f = Fault{reason, d.fpd, IoStatus::TranslationFault, va & kPageMask};
    return false;
  }
  uint8_t reason = 0;
  if (fs && !priv && !e->perm.user)
    reason = fr::SM_FS_US;
  // WPE = 0: supervisor writes ignore the first stage's R/W (nested: the second stage's still applies).
  else if (write && !e->perm.w && !(fs && priv && !d.wpe && (!nested || nested_s2_writable(d, va))))
    reason = d.scalable ? fr::SM_NO_WRITE : fr::WRITE;
  else if (!write && !e->perm.r)
    reason = d.scalable ? fr::SM_NO_READ : fr::READ;
  if (reason) {
    f = Fault{reason, d.fpd, IoStatus::PermissionFault, va & kPageMask};
    return false;
  }
  ++translated_;
  pa = e->pa | (va & ((uint64_t{1} << e->shift) - 1));
  return true;
}

// The core reports every non-present or malformed entry as a translation fault. The reason code tells
// the two apart, so the path is read again untimed (the same words the timed walk just read) to see
// whether the entry that stopped it had a reserved bit or encoding set.
bool VtdIommu::fault_was_reserved(const DevXlate& d, uint64_t va) {
  const X86Format::Geometry& g = d.fmt.geometry();
  uint64_t table = d.root;
  for (unsigned l = d.fmt.start_level(); l <= d.fmt.last_level(); ++l) {
    uint64_t e = 0;
    if (!dbg_read64(table + d.fmt.entry_offset(va, l), e)) return false;
    const pgtable::x86::Decoded dec = pgtable::x86::decode(e, l, g, d.fmt.stage());
    if (dec.kind == pgtable::x86::Kind::Invalid) return dec.reserved;
    if (dec.kind == pgtable::x86::Kind::Leaf) return false;
    table = dec.addr;
  }
  return false;
}

const TlbEntry* VtdIommu::translate_nested(const DevXlate& d, uint64_t va, sc_core::sc_time& t, Fault& f) {
  // Second-stage walk-cache entries take the same {DID, PASID} tag: marked stage 2, they never alias.
  const TlbEntry* e = core_.translate_nested(d.tag, d.fmt, d.root, d.tag, d.s2fmt, d.s2root, va, t, nested_fault_);
  if (!e) f = Fault{nested_reason(d, nested_fault_), d.fpd, IoStatus::TranslationFault, va & kPageMask};
  return e;
}

// Nested faults name the stage: a second-stage fault while fetching a first-stage table is reported as a
// first-stage one (SFS.5-SFS.7) unless reading the second-stage entry failed (78h) or it is malformed (7Ah).
uint8_t VtdIommu::nested_reason(const DevXlate& d, const NestedWalkResult& n) {
  if (n.stage == NestedStage::Stage1) {
    if (n.fault == WalkFault::ExternalAbort) return fr::SM_FS_ACCESS;
    return entry_reserved(d.fmt, n.entry_pa, n.level) ? fr::SM_FS_RSVD : fr::SM_FS_NOT_PRESENT;
  }
  if (n.fault == WalkFault::AddressSize) return fr::SM_NESTED_BEYOND;
  if (n.fault == WalkFault::ExternalAbort) return fr::SM_SS_ACCESS;
  if (n.fault == WalkFault::Translation && entry_reserved(d.s2fmt, n.entry_pa, n.level)) return fr::SM_SS_RSVD;
  if (n.stage == NestedStage::Stage2Table)  // not present or not readable in the second stage
    return n.s1_level == d.fmt.start_level() ? fr::SM_NESTED_FS_ROOT_READ : fr::SM_NESTED_FS_READ;
  return fr::SM_SS_PERM;  // the output address: as a second-stage-only walk reports it
}

bool VtdIommu::entry_reserved(const X86Format& fmt, uint64_t entry_pa, unsigned level) {
  uint64_t e = 0;
  if (!dbg_read64(entry_pa, e)) return false;
  const pgtable::x86::Decoded dec = pgtable::x86::decode(e, level, fmt.geometry(), fmt.stage());
  return dec.kind == pgtable::x86::Kind::Invalid && dec.reserved;
}

// A supervisor write with WPE clear to a page the IOTLB entry marks read-only: allowed when only the first
// stage denies it. The combined entry cannot tell, so both stages are walked again untimed (rare path).
bool VtdIommu::nested_s2_writable(const DevXlate& d, uint64_t va) {
  using pgtable::x86::Kind;
  // Second stage of gpa: its physical address and whether every level allows writes.
  auto s2 = [&](uint64_t gpa, uint64_t& pa, bool& writable) {
    uint64_t table = d.s2root;
    writable = true;
    for (unsigned l = d.s2fmt.start_level(); l <= d.s2fmt.last_level(); ++l) {
      uint64_t e = 0;
      if (!dbg_read64(table + d.s2fmt.entry_offset(gpa, l), e)) return false;
      const pgtable::x86::Decoded dec = pgtable::x86::decode(e, l, d.s2fmt.geometry(), d.s2fmt.stage());
      if (dec.kind == Kind::Invalid) return false;
      writable = writable && dec.write;
      if (dec.kind == Kind::Leaf) {
        pa = pgtable::x86::output_address(dec, gpa);
        return true;
      }
      table = dec.addr;
    }
    return false;
  };
  uint64_t table = d.root;  // guest-physical
  for (unsigned l = d.fmt.start_level(); l <= d.fmt.last_level(); ++l) {
    uint64_t pa = 0, e = 0;
    bool w = false;
    if (!s2(table + d.fmt.entry_offset(va, l), pa, w) || !dbg_read64(pa, e)) return false;
    const pgtable::x86::Decoded dec = pgtable::x86::decode(e, l, d.fmt.geometry(), d.fmt.stage());
    if (dec.kind == Kind::Invalid) return false;
    if (dec.kind == Kind::Leaf) return s2(pgtable::x86::output_address(dec, va), pa, w) && w;
    table = dec.addr;
  }
  return false;
}

void VtdIommu::fault(tlm::tlm_generic_payload& gp, const PcieExt* x, const Fault& f, sc_core::sc_time t) {
  if (!f.reason) {
    ++aborted_;
    return fail(gp, f.status);
  }
  record(gp, x, f, t);
  fail(gp, f.status);
}

// Counts a fault with a reason and writes its record unless FPD suppresses it.
void VtdIommu::record(const tlm::tlm_generic_payload& gp, const PcieExt* x, const Fault& f, sc_core::sc_time t) {
  ++faults_;
  count_reason(f.reason);
  timeline::instant(tl_, timeline::Cat::Fault, fault_reason_name(f.reason), t, gp.get_address(), x ? x->rid : 0,
                    f.reason);
  if (f.fpd) {
    ++faults_suppressed_;
    return;
  }
  FaultRecord r;
  r.fi = f.info;
  r.sid = x ? x->rid : 0;
  r.pp = x && x->pasid_valid;
  r.pasid = r.pp ? x->pasid : 0;
  r.priv = x && x->pmr;
  r.exe = x && x->er;
  r.at = x ? static_cast<uint8_t>(x->at) : 0;
  // (T1, T2) = 01 names a Translation Request (the same encoding as a page request).
  const bool treq = x && x->at == AddrType::TranslationRequest;
  set_fault_req_type(r, treq ? FaultReqType::PageRequest : gp.is_write() ? FaultReqType::Write : FaultReqType::Read);
  r.fr = f.reason;
  record_fault(r, t);
}

void VtdIommu::count_reason(uint8_t reason) {
  if (!by_reason_[reason]) {
    char name[8];
    std::snprintf(name, sizeof name, "0x%02x", reason);
    by_reason_[reason] = &reason_stats_.counter(name, fault_reason_name(reason));
  }
  ++*by_reason_[reason];
}

bool VtdIommu::mem_access(bool write, uint64_t pa, void* data, unsigned len, sc_core::sc_time& t) {
  return iommu_mem_access(*mem[0], pool_, write, pa, data, len, t);
}

bool VtdIommu::dbg_read64(uint64_t pa, uint64_t& value) {
  tlm::tlm_generic_payload gp;
  gp.set_command(tlm::TLM_READ_COMMAND);
  gp.set_address(pa);
  gp.set_data_ptr(reinterpret_cast<unsigned char*>(&value));
  gp.set_data_length(8);
  gp.set_streaming_width(8);
  return mem->transport_dbg(gp) == 8;
}

}  // namespace iommusim::vtd
