// AMD-Vi (AMD I/O Virtualization Technology, spec 48882) IOMMU model on the shared translation core.
//
// Models: the register file (Device Table Base, Command Buffer / Event Log / PPR Log base, head and tail,
// Control, Status, Extended Feature), the device table in memory with a DTE cache, v1 host page tables
// (Mode 1..6, level skipping, Next Level 7 page sizes, IR/IW narrowed per level), v2 guest tables (x86-64,
// 4/5 level) rooted in the GCR3 table for requests with a PASID when DTE.GV = 1 (and for requests without
// one when GIoV = 1: PASID 0), the IOTLB and page-directory (walk) caches of the core tagged (DomainID,
// PASID), the command buffer fetched from memory and executed with a cost per command (Head advances only
// once a command is done at its simulated time), COMPLETION_WAIT with its store and interrupt, the event
// log in memory (IO_PAGE_FAULT, ILLEGAL_DEV_TABLE_ENTRY, DEV_TAB/PAGE_TAB_HARDWARE_ERROR,
// ILLEGAL_COMMAND_ERROR, COMMAND_HARDWARE_ERROR) with overflow, and interrupt remapping of writes to
// 0xFEE0_0000-0xFEEF_FFFF through 32-bit IRTEs when DTE.IV = 1.
//
// Not modelled yet: ATS (INVALIDATE_IOTLB_PAGES completes at once, counted) and PPR (the PPR log
// registers exist, COMPLETE_PPR_REQUEST is counted), nested translation (v2 guest output through the v1
// host table: v2 output is a system physical address here), the exclusion range, SE (suppress repeated
// page-fault events; SA is honoured), hardware A/D updates (HA/HD), 128-bit IRTEs / guest virtual APIC,
// the IOMMU's own MSI (sc_events stand in for the event-log and completion-wait interrupts), dual event
// and PPR logs, performance counters, SNP/RMP checks, port I/O and system-management ranges,
// PREFETCH_IOMMU_PAGES (reported unsupported: an illegal command), COMPLETION_WAIT's flush bit beyond
// ordering (commands already execute in order), segmented device tables, device table entries above
// the programmed size beyond an ILLEGAL_DEV_TABLE_ENTRY event.
#pragma once
#include <systemc>
#include <tlm>
#include <tlm_utils/multi_passthrough_target_socket.h>
#include <tlm_utils/simple_initiator_socket.h>
#include <tlm_utils/simple_target_socket.h>

#include <array>

#include "models/common/payload_pool.h"
#include "models/common/stats.h"
#include "models/iommu/amdvi/amd_v1_format.h"
#include "models/iommu/amdvi/amd_v2_format.h"
#include "models/iommu/amdvi/amdvi_defs.h"
#include "models/iommu/amdvi/amdvi_params.h"
#include "models/iommu/core/set_assoc.h"
#include "models/iommu/core/translation_core.h"

namespace iommusim::amdvi {

// A device's decoded DTE and the table formats it selects.
struct DevConfig {
  uint16_t devid = 0;
  Dte dte;
  AmdV1Format v1;
  AmdV2Format v2;
};

// A (DeviceID, PASID)'s guest CR3 from the GCR3 table.
struct GuestConfig {
  uint16_t devid = 0;
  uint32_t pasid = 0;
  uint16_t domain = 0;
  uint64_t cr3 = 0;
};

struct IrteEntry {
  uint16_t devid = 0;
  uint16_t index = 0;
  uint32_t raw = 0;
};

class AmdVi : public sc_core::sc_module, public HasStats, private MemReader {
 public:
  tlm_utils::multi_passthrough_target_socket<AmdVi> upstream;  // DMA from the PCIe root ports
  tlm_utils::simple_initiator_socket<AmdVi> mem;    // to memory: DMA, walks, buffers, logs, stores
  tlm_utils::simple_target_socket<AmdVi> regs;      // MMIO from the host CPU

  AmdVi(sc_core::sc_module_name name, const AmdViParams& p, uint64_t seed = 1);
  SC_HAS_PROCESS(AmdVi);

  // Raised when an event-log entry is written with Control.EventIntEn set (stands for the MSI).
  sc_core::sc_event& event_irq() { return event_irq_; }
  // Raised when a COMPLETION_WAIT with i = 1 completes and Control.ComWaitIntEn is set.
  sc_core::sc_event& comp_wait_irq() { return comp_wait_irq_; }
  StatGroup& stats() override { return stats_; }
  TranslationCore& core() { return core_; }
  uint64_t extended_features() const { return efr_; }

 private:
  // Data path (amdvi.cpp)
  void up_b_transport(int port, tlm::tlm_generic_payload& gp, sc_core::sc_time& delay);
  void fail(tlm::tlm_generic_payload& gp, IoStatus st);
  bool remap_interrupt(const DevConfig& c, tlm::tlm_generic_payload& gp, sc_core::sc_time& t);
  // Device table and GCR3 (amdvi_devtab.cpp)
  const DevConfig* dev_config(uint16_t devid, sc_core::sc_time& t, Event& ev) {
    if (last_dev_ && last_dev_->devid == devid) {
      ++dev_lookups_;
      return last_dev_;
    }
    return dev_lookup(devid, t, ev);
  }
  const DevConfig* dev_lookup(uint16_t devid, sc_core::sc_time& t, Event& ev);
  const GuestConfig* guest_config(const DevConfig& c, uint32_t pasid, sc_core::sc_time& t, Event& ev);
  void invalidate_dev(uint16_t devid);
  // Registers (amdvi_regs.cpp)
  void regs_b_transport(tlm::tlm_generic_payload& gp, sc_core::sc_time& delay);
  uint64_t reg_read(uint32_t off) const;
  void reg_write(uint32_t off, uint64_t v, const sc_core::sc_time& delay);
  // Command buffer (amdvi_cmdbuf.cpp)
  void cmd_thread();
  void execute(const Cmd& c, sc_core::sc_time& t);
  void complete_wait(const Cmd& c, sc_core::sc_time& t);
  // Event log
  void record_event(const Event& e, sc_core::sc_time t);
  // Memory accesses issued by the IOMMU itself.
  bool mem_access(bool write, uint64_t pa, void* data, unsigned len, sc_core::sc_time& t);
  bool read64(uint64_t pa, uint64_t& value, sc_core::sc_time& t) override {
    return mem_access(false, pa, &value, 8, t);
  }
  static sc_core::sc_time after_now(const sc_core::sc_time& t) {
    const sc_core::sc_time now = sc_core::sc_time_stamp();
    return t > now ? t - now : sc_core::SC_ZERO_TIME;
  }

  AmdViParams p_;
  StatGroup stats_;
  StatGroup inv_stats_;  // standard names: inv.commands, inv.waits, ...
  StatGroup evt_stats_;
  PayloadPool pool_;
  TranslationCore core_;
  SetAssoc<DevConfig> dev_cache_;
  SetAssoc<GuestConfig> gcr3_cache_;
  SetAssoc<IrteEntry> irte_cache_;
  const DevConfig* last_dev_ = nullptr;
  Event fault_ev_;         // scratch event of the transaction being translated
  WalkResult fault_walk_;
  sc_core::sc_time mmio_latency_, devtab_inv_latency_, pages_inv_latency_, all_inv_latency_, iotlb_inv_latency_,
      irt_inv_latency_, other_latency_, wait_latency_;

  // Register state
  uint64_t devtab_base_ = 0, cmd_base_ = 0, event_base_ = 0, ppr_base_ = 0, control_ = 0, efr_ = 0;
  uint64_t excl_base_ = 0, excl_limit_ = 0;
  uint32_t cmd_head_ = 0, cmd_tail_ = 0, event_head_ = 0, event_tail_ = 0, ppr_head_ = 0, ppr_tail_ = 0;
  uint64_t status_ = 0;    // the W1C bits (overflow, interrupts)
  bool cmd_run_ = false;   // Status.CmdBufRun
  bool event_run_ = false; // Status.EventLogRun

  sc_core::sc_event cmd_kick_, event_irq_, comp_wait_irq_;

  Counter& transactions_;
  Counter& bypassed_;
  Counter& aborted_;
  Counter& faults_;
  Counter& interrupts_;
  Counter& dev_lookups_;
  Counter& dev_misses_;
  Counter& gcr3_lookups_;
  Counter& gcr3_misses_;
  Counter& cmd_total_;
  Counter& cmd_fetch_reads_;
  Counter& cmd_devtab_;
  Counter& cmd_pages_;
  Counter& cmd_iotlb_pages_;
  Counter& cmd_all_;
  Counter& cmd_irt_;
  Counter& cmd_ppr_;
  Counter& cmd_waits_;
  Counter& cmd_errors_;
  Counter& events_;
  Counter& events_lost_;
  std::array<Counter*, 16> events_by_code_{};
};

}  // namespace iommusim::amdvi
