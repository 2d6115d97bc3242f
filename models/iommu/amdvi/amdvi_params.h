// Parameters of the AMD-Vi model: Extended Feature register contents, caches, walkers, ATS and command timing.
#pragma once
#include "models/common/params.h"
#include "models/iommu/core/ats_port.h"
#include "models/iommu/core/cache_params.h"
#include "models/iommu/core/translation_core.h"

namespace iommusim::amdvi {

struct AmdViParams {
  TranslationCoreParams core;         // iotlb, walk_cache (the page-directory caches), walkers, latencies
  // Decoded DTEs by DeviceID. AMD publishes no size; like the SMMUv3 configuration cache (64) it is large
  // enough that a handful of devices never miss once warm.
  CacheParams devtab_cache{64, 0};
  // GCR3 table entries (guest CR3) by (DeviceID, PASID): the same reasoning and size.
  CacheParams gcr3_cache{64, 0};
  // Interrupt remapping table entries by (DeviceID, index).
  CacheParams irte_cache{64, 0};

  // ---- Extended Feature register (MMIO 0x30), read by the host driver as Linux reads it ----
  // Defaults follow a Zen 3/4 EPYC IOMMU as Linux reports it: PPR, GT, GIo, IA supported, 6-level host
  // tables, 4-level guest tables, 16-bit PASIDs (PASmax 15), no HA/HD (Linux's dirty tracking needs HD).
  uint64_t pas_max = 15;               // EFR.PASmax: PASID width - 1
  bool gt_sup = true;                  // EFR.GTSup: guest (v2, GCR3) translation
  bool gio_sup = true;                 // EFR.GIoSup: guest I/O protection (v2 tables for non-PASID requests)
  // Nested guest translation: a DTE with GV = 1 and a host table (Mode 1..6) translates the GCR3 table,
  // the guest tables and the guest output as GPAs through that host table (48882, "nested" two-level
  // translation). Off: the v2 output is a system physical address whatever Mode says, which the host
  // model's SVA on v1 DMA domains relies on (Linux instead allows SVA only with v2 or identity domains).
  bool guest_nested = false;
  uint64_t host_levels = 6;            // EFR.HATS: deepest host (v1) table, 4..6 levels
  uint64_t guest_levels = 4;           // EFR.GATS: deepest guest (v2) table, 4 or 5 levels
  // EFR.PPRSup: PCIe page requests go to the PPR log. EFR.EPHSup follows it, since the model requires
  // DTE.PPR per device as the spec does when EPHSup = 1.
  bool ppr_sup = true;
  // EFR.BlkStopMrkSup: Control.BlkStopMrkEn then drops stop markers instead of logging them.
  bool blk_stop_mrk_sup = false;
  bool hd_sup = false;                 // EFR.HDSup: host dirty-bit update (not performed by the model)
  bool ha_sup = false;                 // EFR.HASup: host access-bit update (not performed by the model)
  bool ia_sup = true;                  // EFR.IASup: INVALIDATE_IOMMU_ALL
  bool nx_sup = false;                 // EFR.NXSup: no-execute protection (execute requests not modelled)
  // Capability header IOTLBSup: devices may use ATS (DTE.I). Without it DTE.I is ignored and every ATS
  // request is refused.
  bool iotlb_support = true;
  // The agent sending INVALIDATE_IOTLB_PAGES to devices as ATS Invalidate Requests. Its time-out stands
  // for Control.InvTimeOut, which the model does not read.
  AtsPortParams ats;
  // Host page sizes the walker accepts, a bitmask of log2 sizes (bit n = 2^n bytes). v1 tables can encode
  // any power of two from 4 KiB (Next Level 7); Linux's AMD driver advertises every size (~0xFFF), so the
  // default accepts 4 KiB .. 2^51.
  uint64_t page_sizes = 0x000F'FFFF'FFFF'F000ull;
  // ---- timing ----
  // No public per-command figure exists for AMD IOMMUs; the costs are the SMMUv3's (calibrated on CMD_SYNC's
  // measured 240-250 ns on Kunpeng 920, docs/calibration.md), so a lone COMPLETION_WAIT costs the same:
  // Tail write 40 ns + 16 B fetch ~91 ns + 20 ns + the store landing ~90 ns.
  Time mmio_latency = Time::ns(40);        // uncached register access
  Time devtab_inv_latency = Time::ns(20);  // INVALIDATE_DEVTAB_ENTRY, like CFGI_STE
  Time pages_inv_latency = Time::ns(30);   // INVALIDATE_IOMMU_PAGES, like TLBI_*
  Time all_inv_latency = Time::ns(30);     // INVALIDATE_IOMMU_ALL, like TLBI_*_ALL
  Time iotlb_inv_latency = Time::ns(10);   // INVALIDATE_IOTLB_PAGES: IOMMU side, before the request is sent
  Time irt_inv_latency = Time::ns(20);     // INVALIDATE_INTERRUPT_TABLE, like the VT-d IEC invalidation
  Time other_cmd_latency = Time::ns(10);   // COMPLETE_PPR_REQUEST, before its PRG Response is sent
  // Accepting a page request and building its PPR log entry, before the entry's memory write. No
  // published figure exists; the same order as INVALIDATE_DEVTAB_ENTRY's internal work.
  Time ppr_latency = Time::ns(20);
  Time wait_latency = Time::ns(20);        // COMPLETION_WAIT once every earlier command completed
  // Linux gives up on a COMPLETION_WAIT after 100 ms (timing-anchors.md); the model never needs that
  // long, the parameter is reported for host drivers that want the same bound.
  Time wait_timeout = Time::ms(100);
  uint64_t cmd_fetch_batch = 4;            // commands fetched per buffer read: one 64 B line
  // Remapped interrupts are written as compatibility-format MSIs into this window (the CPU interrupt
  // model comes later; 0xFEE0_0000 lands in memory for now).
  uint64_t irq_delivery_base = 0xFEE00000ull;

  void visit(ParamVisitor& v) {
    core.visit(v);
    v.group("devtab_cache", devtab_cache, "device table cache: decoded DTEs by DeviceID");
    v.group("gcr3_cache", gcr3_cache, "GCR3 cache: guest CR3 by (DeviceID, PASID)");
    v.group("irte_cache", irte_cache, "interrupt remapping table entry cache by (DeviceID, index)");
    v.count("pas_max", pas_max, "PASID width - 1 (EFR.PASmax)", 0, 19);
    v.flag("gt_sup", gt_sup, "guest translation (v2 tables via GCR3) supported (EFR.GTSup)");
    v.flag("gio_sup", gio_sup, "guest I/O protection supported (EFR.GIoSup)");
    v.flag("guest_nested", guest_nested,
           "GV = 1 with DTE.Mode 1..6 nests the v2 guest tables in the v1 host table (GCR3, guest tables and "
           "output are GPAs); off: v2 output is a system address");
    v.count("host_levels", host_levels, "deepest host page table supported (EFR.HATS)", 4, 6);
    v.count("guest_levels", guest_levels, "deepest guest page table supported (EFR.GATS)", 4, 5);
    v.flag("ppr_sup", ppr_sup, "peripheral page requests supported: PPR log (EFR.PPRSup, EFR.EPHSup)");
    v.flag("blk_stop_mrk_sup", blk_stop_mrk_sup,
           "stop markers may be dropped by Control.BlkStopMrkEn (EFR.BlkStopMrkSup)");
    v.flag("hd_sup", hd_sup, "host dirty-bit update supported (EFR.HDSup)");
    v.flag("ha_sup", ha_sup, "host access-bit update supported (EFR.HASup)");
    v.flag("ia_sup", ia_sup, "INVALIDATE_IOMMU_ALL supported (EFR.IASup)");
    v.flag("nx_sup", nx_sup, "no-execute protection supported (EFR.NXSup)");
    v.flag("iotlb_support", iotlb_support, "devices may use ATS: DTE.I honoured (capability header IOTLBSup)");
    v.group("ats", ats, "ATS invalidation agent (Invalidate Requests sent by INVALIDATE_IOTLB_PAGES)");
    v.count("page_sizes", page_sizes, "host page sizes accepted, bitmask of log2 sizes (bit 12 = 4 KiB)", 0x1000,
            UINT64_MAX);
    v.time("mmio_latency", mmio_latency, "latency of a register access from the CPU");
    v.time("devtab_inv_latency", devtab_inv_latency, "execution time of INVALIDATE_DEVTAB_ENTRY");
    v.time("pages_inv_latency", pages_inv_latency, "execution time of INVALIDATE_IOMMU_PAGES");
    v.time("all_inv_latency", all_inv_latency, "execution time of INVALIDATE_IOMMU_ALL");
    v.time("iotlb_inv_latency", iotlb_inv_latency,
           "IOMMU-side time of INVALIDATE_IOTLB_PAGES before its Invalidate Request is sent");
    v.time("irt_inv_latency", irt_inv_latency, "execution time of INVALIDATE_INTERRUPT_TABLE");
    v.time("other_cmd_latency", other_cmd_latency, "execution time of COMPLETE_PPR_REQUEST");
    v.time("ppr_latency", ppr_latency,
           "time to accept a page request and build its PPR log entry, before the entry's write");
    v.time("wait_latency", wait_latency, "execution time of COMPLETION_WAIT once all before it completed");
    v.time("wait_timeout", wait_timeout, "completion-wait timeout a host driver applies (Linux: 100 ms)");
    v.count("cmd_fetch_batch", cmd_fetch_batch, "commands fetched from the buffer per memory read", 1, 64);
    v.count("irq_delivery_base", irq_delivery_base, "address remapped interrupts are written to", 0, UINT64_MAX);
  }
};

}  // namespace iommusim::amdvi
