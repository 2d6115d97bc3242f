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
// ILLEGAL_COMMAND_ERROR, COMMAND_HARDWARE_ERROR, IOTLB_INV_TIMEOUT, INVALID_DEVICE_REQUEST,
// INVALID_PPR_REQUEST) with overflow, and interrupt remapping of writes to 0xFEE0_0000-0xFEEF_FFFF
// through 32-bit IRTEs when DTE.IV = 1.
// ATS (IOTLBSup, DTE.I): Translation Requests answered from the same DTE, IOTLB and walk as a DMA, with the
// leaf's size and the permissions narrowed by DTE.IR/IW (a missing translation is answered R = W = 0 and
// logged as IO_PAGE_FAULT with TR unless DTE.SA); translated requests passed to memory without a lookup;
// both refused (Translation Request: Unsupported Request; translated: target abort) with
// INVALID_DEVICE_REQUEST when the DTE does not allow ATS. INVALIDATE_IOTLB_PAGES sends an Invalidate
// Request to the device (MaxPend = its queue depth); a later COMPLETION_WAIT waits for its completion and
// logs IOTLB_INV_TIMEOUT for a device that does not answer in time, then completes anyway.
// PRI (PPRSup, EPHSup): a PCIe Page Request from a device whose DTE has V and PPR, with Control.PPREn, is
// written as a PAGE_SERVICE_REQUEST entry into the PPR log in memory, one request at a time: ppr_latency,
// then the entry's write; Tail, Status.PPRInt and the PPR interrupt follow once it has landed. Stop
// markers are logged like any request unless BlkStopMrkEn (with BlkStopMrkSup) drops them. A full log
// sets PPROverflow, drops the request and stops PPR logging (PPRLogRun = 0) until PPRLogEn is set again.
// Without DTE.PPR (or V) or PPREn the request is logged as INVALID_PPR_REQUEST (the PPR entry's layout
// with event code 9) and not answered: the device's own PRI time-out is its only way out. With the IOMMU
// disabled, page requests are dropped. COMPLETE_PPR_REQUEST sends the device a PRG Response through the
// ATS agent: Status is the PCIe response code, GN sends the PASID.
//
// Nested (`guest_nested`, amdvi_nested.cpp): a DTE with GV = 1 and Mode 1..6 translates the GCR3 table's
// levels, the guest CR3 and every v2 table address as GPAs through the v1 host table, and the guest output
// too, on the core's nested walk; combined IOTLB entries are tagged (DomainID, PASID). A guest-level fault
// is IO_PAGE_FAULT with GN = 1 (PASID, guest address), a host-level one GN = 0 (DomainID, the GPA).
//
// Not modelled yet: PPR auto response (PprAutoRspEn), the PPR early overflow warning, DTE.GPRP (GN alone
// decides whether a response carries the PASID), checks of a page request's PASID against PASmax (RZ is
// never set), Control.InvTimeOut (the ATS agent's time-out parameter stands for it), special handling of
// Translation Requests for the interrupt range (answered from the tables like any address), nested
// translation without `guest_nested` (v2 output is then a system physical address whatever DTE.Mode says),
// of nested: host-level faults of guest-table or GCR3 fetches beyond the IO_PAGE_FAULT record (GN = 0, the
// GPA), a way to find combined entries by GPA (a GN = 0 page invalidation of a nested domain drops the
// whole domain's IOTLB and walk-cache entries), the exclusion range, SE (suppress repeated page-fault events; SA is honoured), hardware A/D updates
// (HA/HD), 128-bit IRTEs / guest virtual APIC, the IOMMU's own MSI (sc_events stand in for the event-log,
// completion-wait and PPR interrupts), dual event and PPR logs, performance counters, SNP/RMP checks, port
// I/O and system-management ranges, PREFETCH_IOMMU_PAGES (reported unsupported: an illegal command),
// COMPLETION_WAIT's flush bit beyond ordering (commands already execute in order), segmented device
// tables, device table entries above the programmed size beyond an ILLEGAL_DEV_TABLE_ENTRY event.
#pragma once
#include <systemc>
#include <tlm>
#include <tlm_utils/multi_passthrough_target_socket.h>
#include <tlm_utils/simple_initiator_socket.h>
#include <tlm_utils/simple_target_socket.h>

#include <array>
#include <deque>
#include <utility>
#include <vector>

#include "models/common/payload_pool.h"
#include "models/common/pcie_ext.h"
#include "models/common/stats.h"
#include "models/common/timeline.h"
#include "models/iommu/amdvi/amd_v1_format.h"
#include "models/iommu/amdvi/amd_v2_format.h"
#include "models/iommu/amdvi/amdvi_defs.h"
#include "models/iommu/amdvi/amdvi_params.h"
#include "models/iommu/core/ats_port.h"
#include "models/iommu/core/set_assoc.h"
#include "models/iommu/core/translation_core.h"

namespace iommusim::amdvi {

// A device's decoded DTE and the table formats it selects.
struct DevConfig {
  uint16_t devid = 0;
  bool nested = false;  // guest_nested, GV = 1 and a host table: guest addresses are GPAs
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
  // Raised when a PPR log entry has been written, or the log overflowed, with Control.PPRIntEn set.
  sc_core::sc_event& ppr_irq() { return ppr_irq_; }
  StatGroup& stats() override { return stats_; }
  TranslationCore& core() { return core_; }
  uint64_t extended_features() const { return efr_; }
  // Capability header IOTLBSup: the host may set DTE.I for ATS-capable devices.
  bool iotlb_supported() const { return p_.iotlb_support; }
  // The ATS invalidation agent: the platform binds ats().down to the root ports below and names each
  // device with ats().add_device(rid, port).
  AtsPort& ats() { return ats_; }

 private:
  // Data path (amdvi.cpp)
  void up_b_transport(int port, tlm::tlm_generic_payload& gp, sc_core::sc_time& delay);
  void fail(tlm::tlm_generic_payload& gp, IoStatus st);
  bool remap_interrupt(const DevConfig& c, tlm::tlm_generic_payload& gp, sc_core::sc_time& t);
  // Where a request's translation comes from; checks no permission. Shared by DMA and ATS.
  struct Found {
    enum Kind : uint8_t { Entry, Identity, PageFault, HwError } kind = Entry;
    const TlbEntry* e = nullptr;  // Entry
    bool gn = false;              // guest (PASID) address space
    bool pr = false, rz = false;  // PageFault: entry present / malformed
    // PageFault of a nested translation at the host level: the host table failed translating the GPA
    // `gpa` (a GCR3 or guest table address, or the guest output); pe: it denies the access.
    bool host = false, pe = false;
    uint64_t gpa = 0;
  };
  // HwError: `ev` holds the complete event. PageFault: the caller builds IO_PAGE_FAULT from gn/pr/rz.
  Found find_translation(const DevConfig& c, bool pasid_valid, uint32_t pasid, uint64_t va, bool write,
                         sc_core::sc_time& t, Event& ev);
  // ATS (amdvi_ats.cpp): messages, Translation Requests and translated requests.
  void ats_transport(tlm::tlm_generic_payload& gp, PcieExt& x, sc_core::sc_time& delay);
  void translation_request(tlm::tlm_generic_payload& gp, PcieExt& x, const DevConfig& c, sc_core::sc_time& t);
  static void unsupported_request(tlm::tlm_generic_payload& gp, PcieExt& x);
  // COMPLETION_WAIT's wait for earlier INVALIDATE_IOTLB_PAGES; logs IOTLB_INV_TIMEOUT per silent device.
  void drain_ats(sc_core::sc_time& t);
  // PRI (amdvi_ppr.cpp): page requests queued by the sender's call, handled in order by ppr_thread.
  struct PageRequestMsg {
    PprEntry entry;  // as it will be logged
    bool stop_marker = false;
    sc_core::sc_time arrived;
  };
  void page_request(tlm::tlm_generic_payload& gp, const PcieExt& x, const sc_core::sc_time& delay);
  void ppr_thread();
  void handle_page_request(const PageRequestMsg& m);
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
  // Nested (amdvi_nested.cpp): a GCR3-table GPA through the host table; a fault leaves f (host) or ev
  // (hardware error, f.kind HwError) filled and returns false.
  bool gcr3_gpa(const DevConfig& c, uint64_t gpa, uint64_t& spa, sc_core::sc_time& t, Found& f, Event& ev);
  Found find_nested(const DevConfig& c, const GuestConfig& g, uint32_t pasid, uint64_t va, bool write,
                    sc_core::sc_time& t, Event& ev);
  // A combined entry denies the access: the stage whose leaf refuses it (untimed probe).
  Found nested_denied(const DevConfig& c, uint32_t pasid, uint64_t va, bool write, bool priv);
  bool dbg_read64(uint64_t pa, uint64_t& v);
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
  void log_event(uint8_t code, const uint64_t rec[EVENT_QWORDS], sc_core::sc_time t);
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
  timeline::Track tl_ = timeline::track(timeline::Kind::Iommu, name());
  StatGroup inv_stats_;  // standard names: inv.commands, inv.waits, ...
  StatGroup evt_stats_;
  PayloadPool pool_;
  TranslationCore core_;
  AtsPort ats_;
  SetAssoc<DevConfig> dev_cache_;
  SetAssoc<GuestConfig> gcr3_cache_;
  SetAssoc<IrteEntry> irte_cache_;
  const DevConfig* last_dev_ = nullptr;
  Event fault_ev_;         // scratch event of the transaction being translated
  WalkResult fault_walk_;
  NestedWalkResult nested_walk_;
  std::vector<bool> nested_doms_ = std::vector<bool>(65536, false);  // DomainIDs of nested DTEs seen
  bool host_fault_ = false;  // the last guest_config failure is a host-level (GN = 0) page fault in ev
  sc_core::sc_time mmio_latency_, devtab_inv_latency_, pages_inv_latency_, all_inv_latency_, iotlb_inv_latency_,
      irt_inv_latency_, other_latency_, wait_latency_, ppr_latency_;

  // Register state
  uint64_t devtab_base_ = 0, cmd_base_ = 0, event_base_ = 0, ppr_base_ = 0, control_ = 0, efr_ = 0;
  uint64_t excl_base_ = 0, excl_limit_ = 0;
  uint32_t cmd_head_ = 0, cmd_tail_ = 0, event_head_ = 0, event_tail_ = 0, ppr_head_ = 0, ppr_tail_ = 0;
  uint64_t status_ = 0;    // the W1C bits (overflow, interrupts)
  bool cmd_run_ = false;   // Status.CmdBufRun
  bool event_run_ = false; // Status.EventLogRun
  bool ppr_run_ = false;   // Status.PPRLogRun
  uint64_t cmd_pa_ = 0;    // address of the command being executed
  // INVALIDATE_IOTLB_PAGES sent since the last drain: (DeviceID, command address) for IOTLB_INV_TIMEOUT.
  std::vector<std::pair<uint16_t, uint64_t>> ats_sent_;
  std::deque<PageRequestMsg> ppr_queue_;

  sc_core::sc_event cmd_kick_, event_irq_, comp_wait_irq_, ppr_kick_, ppr_irq_;

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
  Counter& cmd_ppr_no_device_;
  Counter& cmd_waits_;
  Counter& cmd_errors_;
  Counter& events_;
  Counter& events_lost_;
  Counter& iotlb_no_device_;
  Counter& iotlb_timeouts_;
  Counter& ats_treqs_;
  Counter& ats_translated_;
  Counter& ats_rejected_;
  StatGroup ppr_stats_;
  Counter& ppr_requests_;
  Counter& ppr_logged_;
  Counter& ppr_stop_markers_;
  Counter& ppr_invalid_;
  Counter& ppr_dropped_;
  Counter& ppr_overflows_;
  std::array<Counter*, 16> events_by_code_{};
};

}  // namespace iommusim::amdvi
