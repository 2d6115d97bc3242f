// Arm SMMUv3 model on the shared translation core.
//
// Models: the register file (IDR/CR0/GBPA/GERROR/queue registers), linear and 2-level stream
// tables, STE configs abort/bypass/stage-1/stage-2, linear and 2-level CD tables, VMSAv8-64 tables
// with 4K/16K/64K granules, a configuration cache, the IOTLB and walk caches of the core, a
// command queue in simulated memory fetched and executed with a cost per command, CMD_SYNC
// completing when every earlier command has (signalled by SEV and/or an MSI write), and an event
// queue in simulated memory for translation and configuration faults. ATS (IDR0.ATS, STE.EATS =
// 0b01): Translation Requests answered from the tables with the leaf's size and permissions (faults
// answered R=W=0, not recorded), translated transactions passed to memory without a walk, both
// refused with F_BAD_ATS_TREQ / F_TRANSL_FORBIDDEN when the stream has no ATS; CMD_ATC_INV sends an
// Invalidate Request to the device and a later CMD_SYNC waits for its completion, stopping the queue
// with CERROR_ATC_INV_SYNC on a time-out.
//
// Stall model (IDR0.STALL_MODEL 0b00 with the `stall` parameter): a stage-1 fault of a stream whose
// CD has S set (STE.S1STALLD clear) holds the transaction and records the event with Stall and a
// STAG; CMD_RESUME retries or aborts it, CMD_STALL_TERM aborts every stalled one of a stream.
//
// PRI (IDR0.PRI with the `pri` parameter, smmuv3_pri.cpp, IHI 0070 chapter 8): PCIe Page Requests
// written one at a time as 16-byte PRI queue entries at PRIQ_PROD (StreamID = RequesterID, SSV and
// SubstreamID from the PASID prefix, Priv/Exec only with it) with a timed memory write, PROD advanced
// once it landed; stop markers (a PASID, Last, R = W = 0) queued like any entry but never answered. A
// full queue toggles PRIQ_PROD.OVFLG; while the overflow is unacknowledged (CONS.OVACKFLG differs)
// every request is discarded and one with Last set is answered Success by the SMMU itself (IDR3.PPS
// = 1: with the request's PASID); with PRIQEN or SMMUEN clear, or PRIQ_ABT_ERR active (also raised by
// a failed entry write), requests are discarded and last ones answered Response Failure without a
// PASID (8.2). CMD_PRI_RESP sends the PRG Response through the ATS agent (Resp 0b00 Response Failure,
// 0b01 Invalid Request, 0b10 Success, 0b11 ILLEGAL; ignored with SMMUEN clear).
//
// Nested (STE.Config 0b111 with IDR0.S1P and S2P, smmuv3_nested.cpp): S1ContextPtr, L1 CD descriptors,
// CDs and every stage-1 table address are IPAs translated by the STE's stage 2 (VMID-tagged); the IOTLB
// holds combined VA -> PA entries tagged {VMID, ASID} with the AND of both stages' rights, stage-2-only
// entries (CD fetches, S2 streams) are tagged {VMID, kS2Space}. Faults name the stage: S2 = 1 with CLASS =
// CD (CD fetch), TT (stage-1 descriptor fetch, TTRnW = 1, IPA of the descriptor) or IN (output IPA);
// STE.S2R decides recording of stage-2 faults, CD.R of stage-1 ones; stage-1 faults stall as with stage 1
// alone. TLBI_NH_VA / NH_ASID remove combined entries by VA / ASID; TLBI_S2_IPA removes stage-2-only
// entries by IPA (and, non-leaf, the VMID's walk caches) but not combined entries nor stage-1 walk-cache
// entries holding translated table addresses: the architecture does not require it of caches that
// combine the stages (Arm ARM TLBI IPAS2E1 note), and software follows it with TLBI_NH_ALL (Linux does for
// a nesting parent) or uses TLBI_S12_VMALL, which removes everything of the VMID.
//
// Not modelled yet: split-stage ATS (EATS 0b10), of nested: stage-2 stalls (S2S), S2PS / CD.IPS output
// address-size checks, STE.S2PTW, separate caching of stage-2 translations of stage-1 tables; of PRI: the
// STE.PPAR check (IDR3.PPS is reported as 1), Secure streams, PRIQ_IRQ_CFG MSIs (stored only; an
// sc_event stands for the PRI queue interrupt) and without `pri` PCIe PRI altogether (page request
// messages are refused; PRI_RESP is accepted and ignored); stage-2 stalls (S2S), event
// queue back-pressure for stall events (a full queue terminates instead of stalling), secure
// state, TBI, HTTU, hypervisor (EL2) regimes, MSIs for the PRI-queue and GERROR interrupts (an
// sc_event stands in; the event queue interrupt is an MSI of EVENTQ_IRQ_CFG0/1 when
// IRQ_CTRL.EVENTQ_IRQEN is set, else the event), ECMDQ, broadcast TLB maintenance, speculative prefetch.
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
#include "models/iommu/smmuv3/smmuv3_defs.h"
#include "models/iommu/smmuv3/smmuv3_params.h"
#include "models/iommu/smmuv3/vmsa_format.h"

namespace iommusim::smmuv3 {

// A stream's decoded configuration (STE plus CD for one SubstreamID).
struct StreamConfig {
  uint32_t sid = 0;
  uint32_t ssid = 0;
  bool ssv = false;
  enum class Mode : uint8_t { Abort, Bypass, Stage1, Stage2, Nested } mode = Mode::Abort;
  bool record = true;  // CD.R / STE.S2R: record faults in the event queue (nested: CD.R for stage 1)
  bool s2_record = true;  // nested: STE.S2R for stage-2 faults
  bool ats = false;    // STE.EATS allows Translation Requests and translated transactions
  bool stall = false;  // CD.S with STE.S1STALLD clear: stage-1 faults stall
  TlbTag tag;
  VmsaFormat fmt;  // nested: stage 1, whose table addresses (root included) are IPAs
  uint64_t root = 0;
  // Nested only: the stage-2 regime of the STE, tagged {VMID, kS2Space}.
  TlbTag s2tag;
  VmsaFormat s2fmt;
  uint64_t s2root = 0;
};

// IOTLB/walk-cache space of stage-2 translations: above every 16-bit ASID, so a stage-2-only entry (IPA
// to PA) never answers a lookup of a stage-1 or nested address space of the same VMID (VA to PA).
inline constexpr uint32_t kS2Space = 1u << 16;

class SmmuV3 : public sc_core::sc_module, public HasStats, private MemReader {
 public:
  tlm_utils::multi_passthrough_target_socket<SmmuV3> upstream;  // DMA from the PCIe root ports
  tlm_utils::simple_initiator_socket<SmmuV3> mem;    // to memory: DMA, walks, queues, MSIs
  tlm_utils::simple_target_socket<SmmuV3> regs;      // MMIO from the host CPU

  SmmuV3(sc_core::sc_module_name name, const SmmuV3Params& p, uint64_t seed = 1);
  SC_HAS_PROCESS(SmmuV3);

  // Raised when a CMD_SYNC with CS=SEV completes (the CPU's WFE wake-up).
  sc_core::sc_event& sev() { return sev_; }
  // Raised when an event record is written (stands for the event queue interrupt).
  sc_core::sc_event& eventq_irq() { return eventq_irq_; }
  // Raised when a PRI queue entry is written (stands for the PRI queue interrupt; `pri` only).
  sc_core::sc_event& priq_irq() { return priq_irq_; }
  StatGroup& stats() override { return stats_; }
  TranslationCore& core() { return core_; }
  // The ATS invalidation agent: the platform binds ats().down to the root ports below.
  AtsPort& ats() { return ats_; }

 private:
  // Data path
  void up_b_transport(int port, tlm::tlm_generic_payload& gp, sc_core::sc_time& delay);
  [[gnu::always_inline]] bool translate_once(tlm::tlm_generic_payload& gp, sc_core::sc_time& delay);
  void fail(tlm::tlm_generic_payload& gp, IoStatus st);
  // ATS traffic: messages, Translation Requests, translated transactions (smmuv3_ats.cpp).
  void ats_transport(tlm::tlm_generic_payload& gp, PcieExt& x, sc_core::sc_time& delay);
  void translation_request(tlm::tlm_generic_payload& gp, PcieExt& x, const StreamConfig* c, sc_core::sc_time& t);
  // PRI (smmuv3_pri.cpp): page requests accepted by the sender's call, handled in arrival order.
  struct PriMsg {
    PriEntry e;
    bool stop = false;
    sc_core::sc_time arrived;
  };
  void page_request(tlm::tlm_generic_payload& gp, const PcieExt& x, const sc_core::sc_time& delay);
  void priq_thread();
  void handle_page_request(const PriMsg& m);
  void pri_auto_response(const PriEntry& e, bool with_pasid, uint8_t code, sc_core::sc_time t);
  void pri_resp(const Cmd& c, sc_core::sc_time& t);
  bool pri_resp_illegal(const uint64_t* raw) const;
  uint32_t pri_reg_read(uint32_t off) const;
  void pri_reg_write(uint32_t off, uint64_t v, unsigned len);
  // Configuration (smmuv3_config.cpp)
  const StreamConfig* config(uint32_t sid, bool ssv, uint32_t ssid, sc_core::sc_time& t, Event& ev) {
    // Back-to-back DMA from one stream is the common case: the last entry found answers it.
    if (last_cfg_ && last_cfg_->sid == sid && last_cfg_->ssv == ssv && last_cfg_->ssid == ssid) {
      ++cfg_lookups_;
      return last_cfg_;
    }
    return config_lookup(sid, ssv, ssid, t, ev);
  }
  const StreamConfig* config_lookup(uint32_t sid, bool ssv, uint32_t ssid, sc_core::sc_time& t, Event& ev);
  bool fetch_config(StreamConfig& c, sc_core::sc_time& t, Event& ev);
  bool fetch_cd(StreamConfig& c, const Ste& ste, uint32_t ssid, sc_core::sc_time& t, Event& ev);
  // Nested (smmuv3_nested.cpp): the stage-2 translation of a CD-table address (an IPA) for a CD fetch;
  // a fault fills ev (CLASS=CD, S2=1) and returns false.
  bool cd_ipa_to_pa(const StreamConfig& c, uint64_t ipa, uint64_t& pa, sc_core::sc_time& t, Event& ev);
  // A nested stream's DMA, out of line so that the single-stage hit path keeps its inlining: true with
  // pa set when translated; false when the transaction is finished (terminated, or `retry`: a stalled
  // transaction resumed with a retry, to start over).
  bool nested_dma(tlm::tlm_generic_payload& gp, const PcieExt* x, const StreamConfig& c, uint64_t va,
                  sc_core::sc_time& t, sc_core::sc_time now, sc_core::sc_time& delay, uint64_t& pa, bool& retry);
  // A nested transaction's fault (walk fault, or the combined entry e denying the access): builds the
  // event with S2/CLASS/IPA, stalls stage-1 faults when the CD asks for it, records and terminates.
  // Returns false when a stalled transaction is to be retried.
  bool nested_fault(tlm::tlm_generic_payload& gp, const PcieExt* x, const StreamConfig& c, const TlbEntry* e,
                    uint64_t va, sc_core::sc_time& t, sc_core::sc_time now, sc_core::sc_time& delay);
  bool dbg_read64(uint64_t pa, uint64_t& v);  // untimed, for the fault path's probe of both stages
  void invalidate_config(uint32_t sid_first, uint32_t sid_last, bool any_ssid, uint32_t ssid);
  // Registers (smmuv3_regs.cpp)
  void regs_b_transport(tlm::tlm_generic_payload& gp, sc_core::sc_time& delay);
  uint32_t reg_read(uint32_t off) const;
  void reg_write(uint32_t off, uint64_t v, unsigned len, const sc_core::sc_time& delay);
  // Command queue (smmuv3_cmdq.cpp)
  void cmdq_thread();
  void execute(const Cmd& c, sc_core::sc_time& t);
  void complete_sync(const Cmd& c, sc_core::sc_time& t);
  // Event queue
  // Returns false if the record was dropped (queue disabled or full).
  bool record_event(const Event& e, sc_core::sc_time t);
  // Stall model (smmuv3_stall.cpp): records ev as a stall event and holds the caller until RESUME.
  enum class StallOutcome : uint8_t { NotStalled, Retry, Abort };
  StallOutcome stall(Event& ev, sc_core::sc_time& t);
  void resume(uint32_t sid, uint16_t stag, bool retry, const sc_core::sc_time& t);
  void stall_term(uint32_t sid, const sc_core::sc_time& t);
  struct Stalled {
    bool busy = false;
    uint32_t sid = 0;
    uint16_t stag = 0;
    enum class State : uint8_t { Waiting, Retry, Abort } state = State::Waiting;
    std::shared_ptr<sc_core::sc_event> wake = std::make_shared<sc_core::sc_event>();
  };
  std::vector<Stalled> stalls_;
  uint16_t next_stag_ = 0;
  // Memory accesses issued by the SMMU itself (walks, queues, tables).
  bool mem_access(bool write, uint64_t pa, void* data, unsigned len, sc_core::sc_time& t);
  bool read64(uint64_t pa, uint64_t& value, sc_core::sc_time& t) override {
    return mem_access(false, pa, &value, 8, t);
  }

  SmmuV3Params p_;
  StatGroup stats_;
  timeline::Track tl_ = timeline::track(timeline::Kind::Iommu, name());
  StatGroup inv_stats_;  // standard names: inv.commands, inv.syncs, ...
  StatGroup evt_stats_;
  PayloadPool pool_;
  TranslationCore core_;
  AtsPort ats_;
  SetAssoc<StreamConfig> cfg_cache_;
  const StreamConfig* last_cfg_ = nullptr;
  Event fault_ev_;         // scratch fault record of the transaction being translated
  WalkResult fault_walk_;  // last entry found; cleared by any invalidation or fill
  NestedWalkResult nested_walk_;  // scratch fault of a nested walk
  bool cfg_fault_silent_ = false;  // the last configuration fault is a stage-2 one with STE.S2R clear
  sc_core::sc_time mmio_latency_, cfgi_latency_, tlbi_latency_, sync_latency_, other_latency_;
  sc_core::sc_time trap_cmd_, trap_sync_;

  // Register state
  uint32_t cr0_ = 0, cr1_ = 0, cr2_ = 0, gbpa_ = 0, irq_ctrl_ = 0, gerror_ = 0, gerrorn_ = 0;
  uint64_t strtab_base_ = 0;
  uint32_t strtab_cfg_ = 0;
  uint64_t cmdq_base_ = 0, eventq_base_ = 0;
  uint32_t cmdq_prod_ = 0, cmdq_cons_ = 0, eventq_prod_ = 0, eventq_cons_ = 0;
  uint64_t eventq_irq_cfg0_ = 0;
  uint32_t eventq_irq_cfg1_ = 0, eventq_msi_buf_ = 0;
  uint32_t idr_[6] = {};

  sc_core::sc_event cmdq_kick_, sev_, eventq_irq_;

  // PRI queue state (`pri` only).
  uint64_t priq_base_ = 0, priq_irq_cfg0_ = 0;
  uint32_t priq_prod_ = 0, priq_cons_ = 0, priq_irq_cfg1_ = 0, priq_irq_cfg2_ = 0;
  std::deque<PriMsg> pri_in_;
  sc_core::sc_time priq_latency_;
  sc_core::sc_event pri_kick_, priq_irq_;
  struct PriStats {
    StatGroup g;
    Counter& requests;
    Counter& queued;
    Counter& stop_markers;
    Counter& dropped;
    Counter& overflows;
    Counter& auto_success;
    Counter& auto_failure;
    Counter& responses;
    Counter& responses_no_device;
    explicit PriStats(StatGroup& parent);
  };
  std::unique_ptr<PriStats> pri_stats_;

  Counter& transactions_;
  Counter& bypassed_;
  Counter& aborted_;
  Counter& faults_;
  Counter& cfg_lookups_;
  Counter& cfg_misses_;
  Counter& cmd_total_;
  Counter& cmd_fetch_reads_;
  Counter& cmd_cfgi_;
  Counter& cmd_tlbi_;
  Counter& cmd_tlbi_asid_;
  Counter& cmd_tlbi_va_;
  Counter& cmd_sync_;
  Counter& cmd_other_;
  Counter& cmd_errors_;
  Counter& events_;
  Counter& events_lost_;
  Counter& cmd_atc_inv_;
  Counter& atc_inv_dropped_;
  Counter& atc_inv_timeouts_;
  Counter& stalled_;
  Counter& stall_retries_;
  Counter& stall_aborts_;
  Counter& ats_treqs_;
  Counter& ats_translated_;
  Counter& ats_rejected_;
  std::array<Counter*, 256> events_by_type_{};
};

}  // namespace iommusim::smmuv3
