// Arm SMMUv3 model on the shared translation core.
//
// Models: the register file (IDR/CR0/GBPA/GERROR/queue registers), linear and 2-level stream
// tables, STE configs abort/bypass/stage-1/stage-2, linear and 2-level CD tables, VMSAv8-64 tables
// with 4K/16K/64K granules, a configuration cache, the IOTLB and walk caches of the core, a
// command queue in simulated memory fetched and executed with a cost per command, CMD_SYNC
// completing when every earlier command has (signalled by SEV and/or an MSI write), and an event
// queue in simulated memory for translation and configuration faults.
//
// Not modelled yet: nested (stage 1 + stage 2) translation, ATS and ATC_INV round trips (ATC_INV
// completes at once), PRI queue and stalls (RESUME/PRI_RESP are accepted and ignored), secure
// state, TBI, HTTU, hypervisor (EL2) regimes, MSIs for queue interrupts (an sc_event stands in),
// ECMDQ, broadcast TLB maintenance, speculative prefetch.
#pragma once
#include <systemc>
#include <tlm>
#include <tlm_utils/multi_passthrough_target_socket.h>
#include <tlm_utils/simple_initiator_socket.h>
#include <tlm_utils/simple_target_socket.h>

#include <array>
#include <memory>

#include "models/common/payload_pool.h"
#include "models/common/stats.h"
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
  enum class Mode : uint8_t { Abort, Bypass, Stage1, Stage2 } mode = Mode::Abort;
  bool record = true;  // CD.R / STE.S2R: record faults in the event queue
  TlbTag tag;
  VmsaFormat fmt;
  uint64_t root = 0;
};

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
  StatGroup& stats() override { return stats_; }
  TranslationCore& core() { return core_; }

 private:
  // Data path
  void up_b_transport(int port, tlm::tlm_generic_payload& gp, sc_core::sc_time& delay);
  void fail(tlm::tlm_generic_payload& gp, IoStatus st);
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
  void record_event(const Event& e, sc_core::sc_time t);
  // Memory accesses issued by the SMMU itself (walks, queues, tables).
  bool mem_access(bool write, uint64_t pa, void* data, unsigned len, sc_core::sc_time& t);
  bool read64(uint64_t pa, uint64_t& value, sc_core::sc_time& t) override {
    return mem_access(false, pa, &value, 8, t);
  }

  SmmuV3Params p_;
  StatGroup stats_;
  StatGroup inv_stats_;  // standard names: inv.commands, inv.syncs, ...
  StatGroup evt_stats_;
  PayloadPool pool_;
  TranslationCore core_;
  SetAssoc<StreamConfig> cfg_cache_;
  const StreamConfig* last_cfg_ = nullptr;
  Event fault_ev_;         // scratch fault record of the transaction being translated
  WalkResult fault_walk_;  // last entry found; cleared by any invalidation or fill
  sc_core::sc_time mmio_latency_, cfgi_latency_, tlbi_latency_, sync_latency_, other_latency_;
  sc_core::sc_time trap_cmd_, trap_sync_;

  // Register state
  uint32_t cr0_ = 0, cr1_ = 0, cr2_ = 0, gbpa_ = 0, irq_ctrl_ = 0, gerror_ = 0, gerrorn_ = 0;
  uint64_t strtab_base_ = 0;
  uint32_t strtab_cfg_ = 0;
  uint64_t cmdq_base_ = 0, eventq_base_ = 0;
  uint32_t cmdq_prod_ = 0, cmdq_cons_ = 0, eventq_prod_ = 0, eventq_cons_ = 0;
  uint64_t eventq_irq_cfg0_ = 0;
  uint32_t idr_[6] = {};

  sc_core::sc_event cmdq_kick_, sev_, eventq_irq_;

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
  std::array<Counter*, 256> events_by_type_{};
};

}  // namespace iommusim::smmuv3
