// Intel VT-d (rev 4.x) DMA and interrupt remapping model on the shared translation core.
//
// Models: the register file (VER, CAP, ECAP, GCMD/GSTS with TE/SRTP/QIE/IRE/SIRTP/CFI acknowledged at once,
// RTADDR with its translation-table mode, register-based CCMD and IOTLB invalidation, FSTS, FECTL,
// NFR fault recording registers at CAP.FRO with F/PFO/FRI semantics, IQA/IQH/IQT/ICS/IECTL/IQERCD, IRTA);
// legacy-mode root and context entries (second stage or pass-through per TT, DID, AW checked against
// SAGAW); scalable-mode root, context, PASID-directory and PASID-table entries (PGTT first stage 4/5-level,
// second stage, pass-through; RID_PASID and RID_PRIV for requests without PASID; SRE and WPE); nested
// translation (PGTT 011b with ECAP.NEST: every first-stage table address and the output address translated
// through the second stage, one IOTLB entry per combined translation tagged {DID, PASID}, stage-specific
// fault reasons 74h-76h); a context cache per source-id and a PASID cache per (source-id, PASID) tagged
// with the DID; the core's IOTLB tagged {DID, PASID} and its walk caches standing for the paging-structure
// caches; x86 checks (rights ANDed over every level: write to a read-only page, user access to a
// supervisor page; first-stage canonical addresses, second-stage address width, reserved bits); faults
// recorded with the architectural reason codes, source-id, PASID and address, raising the fault event; the
// invalidation queue in simulated memory (128/256-bit descriptors, timed fetches, every descriptor type but
// executed with a cost, IQH advancing only when a descriptor has completed,
// invalidation waits with status write / IWC event, IQE with IQERCD on a bad tail, fetch error, unknown
// type or reserved granularity, the queue stopped until FSTS.IQE is cleared); ATS with ECAP.DT (vtd_ats.cpp):
// Translation Requests and translated requests allowed by a legacy context entry with TT 01b or a scalable one
// with DTE, else Unsupported Request with fault 0Dh / 44h recorded; a Translation Request translated through
// the DMA path (PASID entry, IOTLB, walk caches; first, second, nested stage or pass-through as identity with
// R = W = 1) without touching the page, answered with the leaf's size and accumulated rights, page-level faults
// answered R = W = 0 without a record, table read errors Completer Abort; translated requests passed to memory
// without lookup; device-TLB and PASID-based device-TLB descriptors sent as Invalidate Requests through the
// shared ATS agent (MIP as the device's queue depth; no ATS device at the SID: done at once), invalidation
// waits completing only after every earlier Invalidate Completion; ITE on a time-out (the wait aborted: no
// status write or IWC, IQH left on it, the queue stopped until FSTS.ITE is cleared, ITESID, fault event) and
// ICE on a completion naming no outstanding invalidation (ICESID, fault event); with ECAP.PRS (param
// page_requests, vtd_prq.cpp, VT-d 7.4-7.10): PCIe Page Requests checked against the scalable-mode context entry
// (PRE, PASIDE, PASID range, RID_PASID) and PASID-table entry (Table 30: faults 32h in legacy mode, 47h PRE clear,
// 45h/46h/48h, the entry fetch faults; recorded as page-request faults, FPD honoured), the implicit IOTLB
// invalidation of Table 27, then written one at a time as 32-byte page request descriptors (type 01h) at PQT with
// a timed memory write, PQT advanced once it landed, PRS.PPR set and the page request event (PECTL IM/IP, an
// sc_event) raised when PPR and PRO were both clear; a full queue sets PRO, and while PRO is set requests are
// dropped silently; a dropped request with LPIG set (not a stop marker) is answered by the hardware itself,
// Success for overflow or a full queue and Invalid Request for a table fault (Table 31); page group response
// descriptors (type 09h, 256-bit queues only) sent as PRG Responses through the ATS agent after pgr_latency, in
// queue order with device-TLB invalidations; invalidation waits with PD completing only once every page request
// received before them has been written to the queue (or dropped);
// interrupt remapping of writes to 0xFEE0_0000-0xFEEF_FFFF (remappable format: handle/subhandle, IRTE
// read from the IRTA table through the interrupt entry cache, present/reserved/source-id checks, reasons
// 20h-26h; compatibility format passed or blocked per GSTS.CFIS), delivering a compatibility-format MSI
// write into a configurable window.
//
// Not modelled yet: of nested translation, first-stage A/D updates through the second stage (77h), the
// distinct access-error reason for the first-stage root (73h: reported as 70h like any first-stage entry) and
// a cache of its own for second-stage translations of first-stage table addresses (stage-1 walk-cache entries
// hold the translated table address instead); nested translations are tagged by first-stage address, so a
// page-selective IOTLB invalidation of a DID that ever had a nested PASID entry is performed domain-selectively;
// of ATS, time-outs detected before a wait (they surface at the next wait), the N bit of Translation
// Completions (always 0), translated requests into the interrupt window (passed to memory like any other);
// of page requests, private data (qwords 2-3 written as zero, no PDP), page requests when ECAP.PRS is off
// (answered with an error, the page group response descriptor raises IQE), the Execute Requested bit beyond
// copying it, abort-DMA mode page requests (dropped without a record), a queue-write error (the request is
// dropped), and the page request event as an MSI write; access/dirty flag updates; execute requests (ECAP.ERS = 0: treated as reads); memory types
// and snoop attributes; advanced fault logging; protected memory regions; posted interrupts; caching mode
// (CAP.CM); fault compression; fault and invalidation events as MSIs (an sc_event stands in for each); the
// CPU interrupt model (remapped interrupts are plain memory writes); reserved-field checks beyond the ones
// named above; descriptor width versus TTM checks; performance monitoring. The core reports every
// malformed or non-present entry alike: the model re-reads the walked path untimed to tell reserved-bit
// faults from non-present ones.
#pragma once
#include <systemc>
#include <tlm>
#include <tlm_utils/multi_passthrough_target_socket.h>
#include <tlm_utils/simple_initiator_socket.h>
#include <tlm_utils/simple_target_socket.h>

#include <array>
#include <deque>
#include <memory>
#include <vector>

#include "models/common/payload_pool.h"
#include "models/common/stats.h"
#include "models/common/timeline.h"
#include "models/iommu/core/ats_port.h"
#include "models/iommu/core/set_assoc.h"
#include "models/iommu/core/translation_core.h"
#include "models/iommu/vtd/vtd_defs.h"
#include "models/iommu/vtd/vtd_params.h"
#include "models/iommu/vtd/x86_format.h"

namespace iommusim::vtd {

// Where the model places the registers whose offsets the capabilities report (4 KiB register page).
// The usual Intel placement: fault recording registers at 0x400, IVA/IOTLB_REG at 0x500 (moved up past
// the recording registers when there are more than 16 of them).
inline constexpr uint32_t kFro = 0x40;        // CAP.FRO, in 16-byte units
inline constexpr uint32_t kIro = 0x50;        // ECAP.IRO, in 16-byte units
inline constexpr uint32_t kRegSpace = 0x1000;

// The translation a (source-id, PASID) resolves to: from a legacy context entry or a PASID-table entry.
struct DevXlate {
  enum class Mode : uint8_t { SecondStage, FirstStage, PassThrough, Nested } mode = Mode::PassThrough;
  TlbTag tag;       // {DID, PASID} (legacy mode: PASID 0)
  X86Format fmt;    // nested: the first stage
  uint64_t root = 0;
  X86Format s2fmt;  // nested only: the second stage
  uint64_t s2root = 0;
  bool scalable = false;  // from a scalable-mode PASID-table entry (decides the fault reason codes)
  bool fpd = false;       // fault processing disabled somewhere on the way: faults are not recorded
  bool sre = false;       // first stage: supervisor requests allowed (PASID entry SRE)
  bool wpe = false;       // first stage: supervisor writes honour R/W (PASID entry WPE)
};

// Context cache: the decoded root + context entry of one source-id.
struct CtxCacheEntry {
  uint16_t sid = 0;
  bool scalable = false;
  bool ats = false;      // legacy TT 01b / scalable DTE: Translation Requests and translated requests allowed
  uint16_t did = 0;      // legacy mode
  DevXlate legacy;       // legacy mode: the whole translation
  SmContextEntry sm;     // scalable mode
};

// PASID cache: the decoded PASID-table entry of (source-id, PASID), tagged with its DID.
struct PasidCacheEntry {
  uint16_t sid = 0;
  uint32_t pasid = 0;
  DevXlate x;
};

struct IrteCacheEntry {
  uint32_t index = 0;
  Irte irte;
};

class VtdIommu : public sc_core::sc_module, public HasStats, private MemReader {
 public:
  tlm_utils::multi_passthrough_target_socket<VtdIommu> upstream;  // DMA from the PCIe root ports
  tlm_utils::simple_initiator_socket<VtdIommu> mem;    // to memory: DMA, walks, queues, status and interrupt writes
  tlm_utils::simple_target_socket<VtdIommu> regs;      // MMIO from the host CPU

  VtdIommu(sc_core::sc_module_name name, const VtdParams& p, uint64_t seed = 1);
  SC_HAS_PROCESS(VtdIommu);

  // Fault event (FECTL): raised when a fault is recorded with none pending, on overflow (PFO) and on IQE.
  sc_core::sc_event& fault_irq() { return fault_irq_; }
  // Invalidation completion event (IECTL): raised when a wait descriptor with IF sets ICS.IWC.
  sc_core::sc_event& inv_irq() { return inv_irq_; }
  // Page request event (PECTL): raised when a descriptor sets PRS.PPR or a full queue sets PRS.PRO
  // with neither set before (ECAP.PRS only).
  sc_core::sc_event& prq_irq() { return prq_irq_; }
  StatGroup& stats() override { return stats_; }
  TranslationCore& core() { return core_; }
  // The ATS invalidation agent: the platform binds ats().down to the root ports below and names each
  // device with ats().add_device(rid, port).
  AtsPort& ats() { return ats_; }
  uint64_t cap() const { return cap_; }
  uint64_t ecap() const { return ecap_; }

 private:
  struct Fault {
    uint8_t reason = 0;   // 0: blocked without a record
    bool fpd = false;
    IoStatus status = IoStatus::TranslationFault;
    uint64_t info = 0;    // FI: page address, or interrupt index << 48
  };
  // The resolved translation for a request, with the privilege of requests without PASID (RID_PRIV).
  struct Resolved {
    const DevXlate* x = nullptr;
    bool rid_priv = false;
  };

  // Data path (vtd.cpp)
  void up_b_transport(int port, tlm::tlm_generic_payload& gp, sc_core::sc_time& delay);
  bool translate(tlm::tlm_generic_payload& gp, const PcieExt* x, uint64_t& pa, sc_core::sc_time& t, Fault& f);
  void fail(tlm::tlm_generic_payload& gp, IoStatus st);
  void fault(tlm::tlm_generic_payload& gp, const PcieExt* x, const Fault& f, sc_core::sc_time t);
  void record(const tlm::tlm_generic_payload& gp, const PcieExt* x, const Fault& f, sc_core::sc_time t);
  bool fault_was_reserved(const DevXlate& d, uint64_t va);
  const TlbEntry* translate_nested(const DevXlate& d, uint64_t va, sc_core::sc_time& t, Fault& f);
  uint8_t nested_reason(const DevXlate& d, const NestedWalkResult& n);
  bool entry_reserved(const X86Format& fmt, uint64_t entry_pa, unsigned level);
  bool nested_s2_writable(const DevXlate& d, uint64_t va);
  // ATS (vtd_ats.cpp): messages, Translation Requests and translated requests.
  void ats_transport(tlm::tlm_generic_payload& gp, PcieExt& x, sc_core::sc_time& delay);
  void translation_request(tlm::tlm_generic_payload& gp, PcieExt& x, sc_core::sc_time& t);
  void ats_reject(tlm::tlm_generic_payload& gp, PcieExt& x, Fault& f, sc_core::sc_time t);
  void inv_completion(const PcieExt& x, sc_core::sc_time t);
  // Page requests (vtd_prq.cpp): accepted by the sender's call, handled in arrival order by prq_thread.
  struct PrqMsg {
    PageRequest r;  // the descriptor it becomes
    sc_core::sc_time arrived;
  };
  void page_request(tlm::tlm_generic_payload& gp, const PcieExt& x, const sc_core::sc_time& delay);
  void prq_thread();
  void handle_page_request(const PrqMsg& m);
  const DevXlate* prq_check(const PageRequest& r, sc_core::sc_time& t, Fault& f);
  void prq_fault(const PageRequest& r, const Fault& f, sc_core::sc_time t);
  void prq_auto_response(const PageRequest& r, uint8_t rc, sc_core::sc_time t);
  void prq_implicit_inv(const DevXlate& d, uint64_t addr);
  void prq_event(uint32_t prs_before, sc_core::sc_time t);
  bool page_group_response(const Desc& d, sc_core::sc_time& t);  // false: reserved field set
  void prq_drain(sc_core::sc_time& t);
  // Context and PASID entries (vtd_context.cpp)
  bool root_mode(bool& scalable, Fault& f) const;
  Resolved resolve(uint16_t sid, bool pv, uint32_t pasid, sc_core::sc_time& t, Fault& f) {
    // Back-to-back DMA from one requester is the common case: the last resolution answers it.
    if (memo_.x && memo_sid_ == sid && memo_pv_ == pv && memo_pasid_ == pasid) {
      ++ctx_lookups_;
      if (memo_.x->scalable) ++pasid_lookups_;
      return memo_;
    }
    return resolve_slow(sid, pv, pasid, t, f);
  }
  Resolved resolve_slow(uint16_t sid, bool pv, uint32_t pasid, sc_core::sc_time& t, Fault& f);
  const CtxCacheEntry* context_entry(uint16_t sid, bool scalable, sc_core::sc_time& t, Fault& f);
  bool fetch_legacy_context(CtxCacheEntry& c, sc_core::sc_time& t, Fault& f);
  bool fetch_sm_context(CtxCacheEntry& c, sc_core::sc_time& t, Fault& f);
  const PasidCacheEntry* pasid_entry(const CtxCacheEntry& c, uint32_t pasid, sc_core::sc_time& t, Fault& f);
  bool second_stage_format(unsigned aw, X86Format& fmt) const;
  void forget_memo() { memo_ = Resolved{}; }
  // Registers (vtd_regs.cpp)
  void regs_b_transport(tlm::tlm_generic_payload& gp, sc_core::sc_time& delay);
  uint32_t reg_read(uint32_t off);
  void reg_write(uint32_t off, uint32_t v, const sc_core::sc_time& delay);
  void gcmd_write(uint32_t v, const sc_core::sc_time& delay);
  void prq_reg_write(uint32_t off, uint32_t v, const sc_core::sc_time& delay);
  void ccmd_execute();
  void iotlb_reg_execute();
  uint32_t fsts_value() const;
  // Fault recording (vtd_regs.cpp)
  void record_fault(const FaultRecord& r, sc_core::sc_time t);
  void fault_event(sc_core::sc_time t);
  // Invalidation queue (vtd_qi.cpp)
  void qi_thread();
  void qi_error(uint8_t iqei, sc_core::sc_time t);
  bool execute(const Desc& d, uint8_t type, sc_core::sc_time& t);  // false: reserved field (IQE)
  void dev_tlb_inv(uint16_t sid, bool pv, uint32_t pasid, bool global, uint8_t mip, uint64_t addr, bool s,
                   sc_core::sc_time& t);
  void inv_timeout(uint16_t sid, sc_core::sc_time t);
  void complete_wait(const WaitDesc& w, sc_core::sc_time& t);
  void inv_context(uint8_t g, uint16_t did, uint16_t sid, uint8_t fm);
  uint8_t inv_iotlb(uint8_t g, uint16_t did, uint8_t am, bool ih, uint64_t addr);  // granularity performed
  void inv_pasid_iotlb(uint8_t g, uint16_t did, uint32_t pasid, uint8_t am, bool ih, uint64_t addr);
  void inv_pasid_cache(uint8_t g, uint16_t did, uint32_t pasid);
  void inv_iec(bool index_selective, uint8_t im, uint16_t iidx);
  // Interrupt remapping (vtd_irq.cpp)
  void interrupt(tlm::tlm_generic_payload& gp, const PcieExt* x, sc_core::sc_time& t);
  // Memory accesses issued by the IOMMU itself (walks, entries, queues, status and interrupt writes).
  bool mem_access(bool write, uint64_t pa, void* data, unsigned len, sc_core::sc_time& t);
  bool read64(uint64_t pa, uint64_t& value, sc_core::sc_time& t) override {
    return mem_access(false, pa, &value, 8, t);
  }
  bool dbg_read64(uint64_t pa, uint64_t& value);
  void count_reason(uint8_t reason);

  VtdParams p_;
  uint64_t cap_ = 0, ecap_ = 0;
  uint32_t iva_off_ = 0;  // ECAP.IRO * 16: IVA, then IOTLB_REG 8 bytes above
  StatGroup stats_;
  timeline::Track tl_ = timeline::track(timeline::Kind::Iommu, name());
  StatGroup inv_stats_;  // standard names: inv.commands, inv.waits (= inv.syncs), ...
  StatGroup ir_stats_;
  StatGroup reason_stats_;
  PayloadPool pool_;
  TranslationCore core_;
  AtsPort ats_;
  SetAssoc<CtxCacheEntry> ctx_cache_;
  SetAssoc<PasidCacheEntry> pasid_cache_;
  SetAssoc<IrteCacheEntry> irte_cache_;
  CtxCacheEntry ctx_scratch_;      // decoded copies when a cache is disabled
  PasidCacheEntry pasid_scratch_;
  Resolved memo_;
  uint16_t memo_sid_ = 0;
  bool memo_pv_ = false;
  uint32_t memo_pasid_ = 0;
  WalkResult walk_fault_;
  NestedWalkResult nested_fault_;
  Fault fault_scratch_;  // filled only on a fault: no per-transaction initialisation
  sc_core::sc_time mmio_latency_, cc_latency_, pc_latency_, iotlb_latency_, devtlb_latency_, iec_latency_,
      wait_latency_;
  unsigned shifts_[WalkCache::kLevels] = {};  // x86 level shifts, for walk-cache range invalidation
  // DIDs that had a nested PASID-table entry decoded: their IOTLB entries are tagged by first-stage address,
  // so a page-selective invalidation by guest-physical address drops the whole domain instead.
  std::vector<bool> nested_dids_ = std::vector<bool>(65536, false);

  // Register state
  uint32_t gsts_ = 0;
  uint64_t rtaddr_ = 0, active_rtaddr_ = 0;
  uint64_t ccmd_ = 0, iva_ = 0, iotlb_reg_ = 0;
  uint32_t fsts_ = 0;  // PFO, IQE, ICE, ITE (PPF and FRI are computed)
  uint32_t fectl_ = ectl::IM, fedata_ = 0, feaddr_ = 0, feuaddr_ = 0;
  uint32_t iectl_ = ectl::IM, iedata_ = 0, ieaddr_ = 0, ieuaddr_ = 0;
  uint64_t iqh_ = 0, iqt_ = 0, iqa_ = 0, iqercd_ = 0;
  uint32_t ics_ = 0;
  uint64_t irta_ = 0, active_irta_ = 0;
  std::vector<std::array<uint64_t, 2>> frcd_;  // fault recording registers
  unsigned fr_next_ = 0;                       // where the next fault is recorded

  sc_core::sc_event qi_kick_, fault_irq_, inv_irq_;

  // Page request queue state (ECAP.PRS only).
  uint64_t pqh_ = 0, pqt_ = 0, pqa_ = 0;
  uint32_t prs_ = 0;  // PPR, PRO
  uint32_t pectl_ = ectl::IM, pedata_ = 0, peaddr_ = 0, peuaddr_ = 0;
  std::deque<PrqMsg> prq_in_;  // received, not yet handled (arrival order)
  uint64_t prq_received_ = 0, prq_handled_ = 0;
  sc_core::sc_time prq_latency_, pgr_latency_;
  sc_core::sc_event prq_kick_, prq_handled_ev_, prq_irq_;
  struct PrqStats {
    StatGroup g;
    Counter& requests;
    Counter& queued;
    Counter& stop_markers;
    Counter& faults;
    Counter& overflows;
    Counter& dropped;
    Counter& auto_success;
    Counter& auto_invalid;
    Counter& implicit_inv;
    Counter& responses;
    Counter& responses_no_device;
    Counter& drains;
    explicit PrqStats(StatGroup& parent);
  };
  std::unique_ptr<PrqStats> prq_stats_;

  Counter& transactions_;
  Counter& translated_;
  Counter& bypassed_;
  Counter& aborted_;
  Counter& faults_;
  Counter& faults_recorded_;
  Counter& faults_lost_;
  Counter& faults_suppressed_;
  Counter& ctx_lookups_;
  Counter& ctx_misses_;
  Counter& pasid_lookups_;
  Counter& pasid_misses_;
  Counter& inv_total_;
  Counter& inv_fetch_reads_;
  Counter& inv_context_;
  Counter& inv_pasid_cache_;
  Counter& inv_iotlb_;
  Counter& inv_iotlb_global_;
  Counter& inv_iotlb_domain_;
  Counter& inv_iotlb_page_;
  Counter& inv_piotlb_;
  Counter& inv_devtlb_;
  Counter& inv_devtlb_no_device_;
  Counter& inv_ite_;
  Counter& inv_ice_;
  Counter& inv_iec_;
  Counter& inv_waits_;
  Counter& inv_errors_;
  Counter& inv_reg_;
  Counter& ats_treqs_;
  Counter& ats_translated_;
  Counter& ats_rejected_;
  Counter& ir_requests_;
  Counter& ir_remapped_;
  Counter& ir_compat_;
  Counter& ir_faults_;
  Counter& ir_iec_lookups_;
  Counter& ir_iec_misses_;
  std::array<Counter*, 256> by_reason_{};
};

}  // namespace iommusim::vtd
