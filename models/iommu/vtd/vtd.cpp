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
      aborted_(stats_.counter("aborted", "requests blocked without a fault record (abort-DMA mode, ATS, reads of the "
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
      inv_devtlb_(inv_stats_.counter("dev_tlb", "device-TLB and PASID-based device-TLB descriptors (no ATS yet)")),
      inv_iec_(inv_stats_.counter("iec", "interrupt entry cache invalidation descriptors")),
      inv_waits_(inv_stats_.counter("waits", "invalidation wait descriptors")),
      inv_errors_(inv_stats_.counter("errors", "invalidation queue errors (IQE)")),
      inv_reg_(inv_stats_.counter("register", "register-based invalidations (CCMD, IOTLB_REG)")),
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
          (p.pass_through ? ecap::PT : 0) | (p.snoop_control ? ecap::SC : 0);
  if (p.interrupt_remapping) ecap_ |= ecap::IR | ecap::MHMV.make(0xF) | (p.x2apic ? ecap::EIM : 0);
  if (p.scalable_mode)
    ecap_ |= ecap::SMTS | ecap::PASID | ecap::PSS.make(p.pasid_bits - 1) | ecap::SRS |
             (p.first_stage ? ecap::FSTS : 0) | (p.second_stage ? ecap::SSTS : 0) | (p.coherent ? ecap::SMPWCS : 0);
  SC_THREAD(qi_thread);
}

void VtdIommu::fail(tlm::tlm_generic_payload& gp, IoStatus st) {
  gp.set_response_status(tlm::TLM_ADDRESS_ERROR_RESPONSE);
  if (auto* x = gp.get_extension<PcieExt>()) x->status = st;
}

void VtdIommu::up_b_transport(int /*port*/, tlm::tlm_generic_payload& gp, sc_core::sc_time& delay) {
  ++transactions_;
  const sc_core::sc_time now = sim_now();  // nothing below waits
  sc_core::sc_time t = now + delay;
  const PcieExt* x = gp.get_extension<PcieExt>();
  const uint64_t va = gp.get_address();
  if (msi_in_window(va)) {  // interrupt requests bypass DMA translation
    interrupt(gp, x, t);
    delay = t - now;
    return;
  }
  uint64_t pa = va;
  if (gsts_ & gsts::TES) {
    if (x && x->at != AddrType::Untranslated) {  // ATS is not modelled
      ++aborted_;
      delay = t - now;
      return fail(gp, IoStatus::Aborted);
    }
    Fault& f = fault_scratch_;
    if (!translate(gp, x, pa, t, f)) {
      fault(gp, x, f, t);
      delay = t - now;
      return;
    }
  } else {
    ++bypassed_;
  }
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
  const bool fs = d.mode == DevXlate::Mode::FirstStage;
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
  const TlbEntry* e = core_.translate(d.tag, !fs, d.fmt, d.root, va, t, walk_fault_);
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
  else if (write && !e->perm.w && !(fs && priv && !d.wpe))  // WPE = 0: supervisor writes ignore R/W
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

void VtdIommu::fault(tlm::tlm_generic_payload& gp, const PcieExt* x, const Fault& f, sc_core::sc_time t) {
  if (!f.reason) {
    ++aborted_;
    return fail(gp, f.status);
  }
  ++faults_;
  count_reason(f.reason);
  if (f.fpd) {
    ++faults_suppressed_;
  } else {
    FaultRecord r;
    r.fi = f.info;
    r.sid = x ? x->rid : 0;
    r.pp = x && x->pasid_valid;
    r.pasid = r.pp ? x->pasid : 0;
    r.priv = x && x->pmr;
    r.exe = x && x->er;
    r.at = x ? static_cast<uint8_t>(x->at) : 0;
    set_fault_req_type(r, gp.is_write() ? FaultReqType::Write : FaultReqType::Read);
    r.fr = f.reason;
    record_fault(r, t);
  }
  fail(gp, f.status);
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
