// Parameters of the VT-d model: capability-register features, caches, walkers and invalidation timing.
#pragma once
#include "models/common/params.h"
#include "models/iommu/core/ats_port.h"
#include "models/iommu/core/cache_params.h"
#include "models/iommu/core/translation_core.h"

namespace iommusim::vtd {

struct VtdParams {
  TranslationCoreParams core;         // iotlb, walk_cache, walkers, tlb_latency, walk_read_latency
  // Decoded-entry caches. No public sizes exist; like the SMMUv3 configuration cache (64) they are
  // large enough that a handful of devices and PASIDs never miss once warm.
  CacheParams context_cache{64, 0};   // root + context entry per source-id (bus, devfn)
  CacheParams pasid_cache{64, 0};     // PASID-table entry per (source-id, PASID), tagged with its DID
  CacheParams irte_cache{64, 0};      // interrupt entry cache (IEC): IRTEs by interrupt index

  // ---- capabilities (CAP / ECAP), read by the host driver as Linux reads them ----
  // 48-bit input, 4-level second stage: what Linux's default DMA domains use (AW 2); 3-level (AW 1)
  // and 5-level (AW 3) are optional (CAP.SAGAW bits 1 and 3).
  uint64_t mgaw_bits = 48;            // CAP.MGAW + 1
  uint64_t sagaw = 0x4;               // CAP.SAGAW bitmask: bit 1 3-level, bit 2 4-level, bit 3 5-level
  uint64_t haw_bits = 46;             // host address width (ACPI DMAR HAW): MAXPHYADDR of Xeon Scalable parts
  uint64_t nd = 6;                    // CAP.ND: 2^(4 + 2*ND) domain IDs; 6 = 16-bit DIDs as Linux expects
  bool fs_5level = false;             // CAP.FL5LP: optional; the baseline platform is 4-level
  bool fs_1g = true;                  // CAP.FL1GP: 1 GiB first-stage pages
  bool ss_2m = true;                  // CAP.SLLPS bit 0
  bool ss_1g = true;                  // CAP.SLLPS bit 1
  bool psi = true;                    // CAP.PSI: page-selective IOTLB invalidation
  uint64_t mamv = 18;                 // CAP.MAMV: largest address mask (2^18 pages = 1 GiB); beyond it Linux
                                      // uses domain-selective invalidation (R2.2)
  uint64_t fault_records = 8;         // CAP.NFR + 1: fault recording registers
  bool scalable_mode = true;          // ECAP.SMTS (VT-d 3.0+)
  bool first_stage = true;            // ECAP.FSTS (FLTS before 4.0)
  bool second_stage = true;           // ECAP.SSTS (SLTS before 4.0)
  // ECAP.NEST: nested translation (PGTT 011b), reported only with both stages; without it a PGTT 011b
  // PASID-table entry is invalid (5Bh).
  bool nested = true;
  bool pass_through = true;           // ECAP.PT
  uint64_t pasid_bits = 20;           // ECAP.PSS + 1: the PCIe PASID width
  bool snoop_control = true;          // ECAP.SC
  bool coherent = true;               // ECAP.C / ECAP.SMPWCS: page walks snoop CPU caches
  bool device_tlb = false;            // ECAP.DT: ATS (Translation Requests, translated requests, device-TLB
                                      // invalidations sent to the device)
  // ECAP.PRS: page requests into the page request queue, page group responses (needs scalable_mode
  // and device_tlb). Off by default, as before it was modelled.
  bool page_requests = false;
  bool interrupt_remapping = true;    // ECAP.IR
  bool x2apic = true;                 // ECAP.EIM: extended (32-bit destination) interrupt mode
  // ---- timing ----
  // A lone invalidation wait: IQT write (40 ns), 16 B descriptor fetch (~91 ns with the default memory),
  // wait execution (20 ns), status write landing in memory (~90 ns) = ~240 ns, ~330 ns once the polling
  // CPU's cache miss on the status word is added: the >800 cycles (at 2.5 GHz) that batching saves per
  // qi_submit_sync (timing-anchors.md, Intel DSA 2024 LKML). The per-descriptor costs are the SMMUv3
  // command costs, calibrated on CMD_SYNC's measured 240-250 ns (docs/calibration.md).
  Time mmio_latency = Time::ns(40);        // uncached register access, as for the SMMUv3
  Time cc_inv_latency = Time::ns(20);      // context-cache invalidation, like CFGI_*
  Time pc_inv_latency = Time::ns(20);      // PASID-cache invalidation, like CFGI_CD
  Time iotlb_inv_latency = Time::ns(30);   // IOTLB / PASID-IOTLB invalidation, like TLBI_*
  Time devtlb_inv_latency = Time::ns(10);  // device-TLB descriptor: IOMMU side, before its Invalidate Request leaves
  Time iec_inv_latency = Time::ns(20);     // interrupt entry cache invalidation
  Time wait_latency = Time::ns(20);        // invalidation wait once every earlier descriptor completed
  uint64_t desc_fetch_batch = 4;           // descriptors per queue read: one 64 B line of 128-bit ones
  // Accepting a page request (checks done, implicit invalidation) before its descriptor's memory
  // write. No published figure exists; the same order as a context-cache invalidation (20 ns), as
  // for AMD-Vi's ppr_latency.
  Time prq_latency = Time::ns(20);
  // Page group response descriptor: IOMMU-side time before its PRG Response leaves, like a
  // device-TLB descriptor's before its Invalidate Request (10 ns).
  Time pgr_latency = Time::ns(10);
  // Remapped interrupts are written as compatibility-format MSIs into this window. The CPU interrupt
  // model comes later: the default is the architectural 0xFEE0_0000, which lands in memory for now.
  uint64_t irq_delivery_base = 0xFEE00000ull;
  AtsPortParams ats;                       // the ATS invalidation agent (device-TLB descriptors)

  void visit(ParamVisitor& v) {
    core.visit(v);
    v.group("context_cache", context_cache, "context cache: decoded root + context entries per source-id");
    v.group("pasid_cache", pasid_cache, "PASID cache: decoded PASID-table entries per (source-id, PASID)");
    v.group("irte_cache", irte_cache, "interrupt entry cache (IEC): IRTEs by interrupt index");
    v.count("mgaw_bits", mgaw_bits, "maximum guest (input) address width (CAP.MGAW + 1)", 39, 57);
    v.count("sagaw", sagaw, "second-stage levels supported, CAP.SAGAW bitmask (2: 3-level, 4: 4-level, 8: 5-level)",
            2, 14);
    v.count("haw_bits", haw_bits, "host (output) address width; table addresses above it are reserved", 32, 52);
    v.count("nd", nd, "number of domains, CAP.ND: 2^(4 + 2*ND) domain IDs", 0, 6);
    v.flag("fs_5level", fs_5level, "5-level first-stage tables supported (CAP.FL5LP)");
    v.flag("fs_1g", fs_1g, "1 GiB first-stage pages supported (CAP.FL1GP)");
    v.flag("ss_2m", ss_2m, "2 MiB second-stage pages supported (CAP.SLLPS bit 0)");
    v.flag("ss_1g", ss_1g, "1 GiB second-stage pages supported (CAP.SLLPS bit 1)");
    v.flag("psi", psi, "page-selective IOTLB invalidation supported (CAP.PSI)");
    v.count("mamv", mamv, "maximum address mask of page-selective invalidation (CAP.MAMV)", 0, 63);
    v.count("fault_records", fault_records, "fault recording registers (CAP.NFR + 1)", 1, 128);
    v.flag("scalable_mode", scalable_mode, "scalable-mode translation supported (ECAP.SMTS)");
    v.flag("first_stage", first_stage, "first-stage translation supported (ECAP.FSTS)");
    v.flag("second_stage", second_stage, "second-stage translation supported (ECAP.SSTS)");
    v.flag("nested", nested, "nested (first stage over second stage) translation supported (ECAP.NEST; "
                             "needs first_stage and second_stage)");
    v.flag("pass_through", pass_through, "pass-through translation type supported (ECAP.PT)");
    v.count("pasid_bits", pasid_bits, "PASID width (ECAP.PSS + 1)", 1, 20);
    v.flag("snoop_control", snoop_control, "snoop control supported (ECAP.SC)");
    v.flag("coherent", coherent, "page walks are coherent (ECAP.C, ECAP.SMPWCS)");
    v.flag("device_tlb", device_tlb, "device-TLB (ATS) supported (ECAP.DT): Translation Requests, translated "
                                     "requests and device-TLB invalidations");
    v.flag("page_requests", page_requests, "page requests supported (ECAP.PRS): the page request queue and page group "
                                           "responses (needs scalable_mode and device_tlb)");
    v.flag("interrupt_remapping", interrupt_remapping, "interrupt remapping supported (ECAP.IR)");
    v.flag("x2apic", x2apic, "extended interrupt mode, 32-bit destinations (ECAP.EIM)");
    v.time("mmio_latency", mmio_latency, "latency of a register access from the CPU");
    v.time("cc_inv_latency", cc_inv_latency, "execution time of a context-cache invalidation descriptor");
    v.time("pc_inv_latency", pc_inv_latency, "execution time of a PASID-cache invalidation descriptor");
    v.time("iotlb_inv_latency", iotlb_inv_latency, "execution time of an IOTLB or PASID-IOTLB invalidation");
    v.time("devtlb_inv_latency", devtlb_inv_latency,
           "execution time of a device-TLB invalidation descriptor before its Invalidate Request is sent");
    v.time("iec_inv_latency", iec_inv_latency, "execution time of an interrupt entry cache invalidation");
    v.time("wait_latency", wait_latency, "execution time of an invalidation wait once all before it completed");
    v.count("desc_fetch_batch", desc_fetch_batch, "descriptors fetched from the queue per memory read", 1, 64);
    v.time("prq_latency", prq_latency, "time to accept a page request before its descriptor is written to the queue");
    v.time("pgr_latency", pgr_latency, "execution time of a page group response descriptor before its PRG Response is "
                                       "sent");
    v.bytes("irq_delivery_base", irq_delivery_base,
            "where remapped interrupts are written (compatibility MSI format); the CPU interrupt model comes later");
    v.group("ats", ats, "ATS invalidation agent (Invalidate Requests sent by device-TLB invalidation descriptors)");
  }
};

}  // namespace iommusim::vtd
