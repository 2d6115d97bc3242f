// Parameters of the host software model: DMA-API policy and the CPU cost of each software step.
#pragma once
#include "models/common/params.h"

namespace iommusim::host {

enum class DmaMode { Strict = 0, Lazy = 1 };

// CPU time of the process memory model (mm.h): faults, mmap/munmap/mprotect, exit. Not from
// published measurements: order-of-magnitude costs of Linux's anonymous-memory paths on a ~3 GHz
// core (an anonymous fault incl. zeroing 4 KiB is ~0.5-1 us with the trap, which IOPFs do not take).
struct MmCosts {
  Time fault = Time::ns(500);      // handle_mm_fault mapping a new page: VMA lookup, alloc, zero, PTE
  Time fault_nop = Time::ns(100);  // a fault that maps nothing: spurious, or refused (no VMA, access)
  Time syscall = Time::ns(500);    // fixed part of mmap, munmap, mprotect and exit_mmap
  Time zap_page = Time::ns(30);    // clear one PTE and free its page (munmap, exit)

  void visit(ParamVisitor& v) {
    v.time("fault", fault, "page fault that maps a new anonymous page (allocate, zero, set the PTE)");
    v.time("fault_nop", fault_nop, "page fault that maps nothing (already present, no VMA, access refused)");
    v.time("syscall", syscall, "fixed cost of mmap, munmap, mprotect and process exit");
    v.time("zap_page", zap_page, "clear one present page-table entry and free its page");
  }
};

// CPU time of the GICv3 ITS driver (its_driver.h) besides command writes (cmd_build) and MMIO.
struct ItsCosts {
  // Linux's its_wait_for_range_completion (and its_allocate_entry on a full queue) re-reads
  // GITS_CREADR with udelay(1) between reads.
  Time poll_interval = Time::us(1);
  // Not measured: order-of-magnitude costs of the Linux paths on a ~3 GHz core.
  Time device_alloc = Time::ns(300);  // its_create_device: its_device, ITT allocation, event map
  Time lpi_alloc = Time::ns(100);     // find and claim a free LPI in the LPI bitmap
  Time prop_write = Time::ns(20);     // update one LPI configuration byte and make it visible (dsb)

  void visit(ParamVisitor& v) {
    v.time("poll_interval", poll_interval, "delay between GITS_CREADR reads while waiting for commands "
                                           "(Linux: udelay(1))", Time::ns(1));
    v.time("device_alloc", device_alloc, "allocate an ITS device and its ITT (its_create_device)");
    v.time("lpi_alloc", lpi_alloc, "allocate one LPI from the LPI bitmap");
    v.time("prop_write", prop_write, "update one LPI configuration table byte");
  }
};

// CPU time charged for each step the kernel takes. No published per-step figures exist for most of
// these; defaults are order-of-magnitude costs of the corresponding Linux paths on a ~3 GHz core.
struct CpuCosts {
  Time iova_alloc = Time::ns(60);     // rcache hit; the rbtree slow path is not modelled separately
  Time iova_free = Time::ns(40);
  Time map_call = Time::ns(80);       // iommu_map entry, locking, page-size selection
  Time unmap_call = Time::ns(80);
  Time pte_write = Time::ns(5);       // one table entry written (cached store)
  Time table_alloc = Time::ns(300);   // allocate and zero a table page
  Time cmd_build = Time::ns(10);      // build and copy one command into the queue
  // Not measured: reading and decoding one page-request queue entry (VT-d PRQ descriptor, AMD PPR
  // log entry) and moving the head, a few cache-missing loads and stores.
  Time prq_entry = Time::ns(50);
  Time fq_push = Time::ns(20);        // queue an unmapped IOVA on the flush queue
  Time sync_poll = Time::ns(0);       // extra cost per wake-up while waiting for a sync
  Time poll_interval = Time::ns(10);  // spin-loop granularity while polling a status word in memory
  MmCosts mm;                         // process address spaces (SVA, I/O page faults)
  ItsCosts its;                       // the GICv3 ITS driver

  void visit(ParamVisitor& v) {
    v.time("iova_alloc", iova_alloc, "allocate an IOVA range");
    v.time("iova_free", iova_free, "free an IOVA range");
    v.time("map_call", map_call, "fixed cost of one iommu_map call");
    v.time("unmap_call", unmap_call, "fixed cost of one iommu_unmap call");
    v.time("pte_write", pte_write, "write one page-table entry");
    v.time("table_alloc", table_alloc, "allocate and zero one page-table page");
    v.time("cmd_build", cmd_build, "build one invalidation command in the queue");
    v.time("prq_entry", prq_entry, "read and decode one page-request queue / PPR log entry and move the head");
    v.time("fq_push", fq_push, "add an entry to the lazy-mode flush queue");
    v.time("sync_poll", sync_poll, "CPU time per wake-up while waiting for a sync");
    v.time("poll_interval", poll_interval, "how often a spinning CPU re-reads a status word it waits on",
           Time::ns(1));
    v.group("mm", mm, "process memory: page faults, mmap, munmap");
    v.group("its", its, "GICv3 ITS driver");
  }
};

enum class SvaSharing { PerMm = 0, PerDevice = 1 };
enum class CpuArch { X86_64 = 0, X86_64_La57 = 1, Arm64 = 2 };
// VT-d translation-table mode (Linux intel_iommu=sm_on / sm_off). auto: scalable when the unit
// reports scalable mode, second-stage support and device-TLB support (Linux binds SVA only to ATS
// devices, which need ECAP.DT), else legacy.
enum class VtdMode { Auto = 0, Legacy = 1, Scalable = 2 };

// Which VT-d stage DMA (paging) domains use (R7.2). Auto follows Linux 6.x (first_level_by_default in
// drivers/iommu/intel/iommu.c): legacy mode has only the second stage; in scalable mode the first stage
// when the unit supports it (ECAP.FSTS), else the second.
enum class VtdDmaStage { Auto = 0, First = 1, Second = 2 };

// SVA binding and I/O page-fault handling (R1, R3).
struct SvaParams {
  // R1.3: since the 2023 "share sva domains" series one domain per mm per compatible IOMMU;
  // before it, one per device.
  SvaSharing sharing = SvaSharing::PerMm;
  // R3.4: iopf group handling measured on Kunpeng 920 (timing-anchors.md), without the mm fault.
  Time iopf_group = Time::us(2);
  uint64_t iopf_workers = 1;           // groups a per-IOMMU workqueue handles at once
  // Not measured: order-of-magnitude costs of the bind/unbind paths and a notifier call.
  Time bind = Time::us(2);             // iommu_sva_bind_device without the driver's own work
  Time unbind = Time::us(1);
  Time notifier = Time::ns(100);       // one arch_invalidate_secondary_tlbs call, before the driver's work

  void visit(ParamVisitor& v) {
    v.choice_enum("sharing", sharing, {"per_mm", "per_device"},
                  "SVA domain sharing (R1.3): one domain per mm per compatible IOMMU, or one per device");
    v.time("iopf_group", iopf_group, "CPU time to handle one I/O page-fault group, without the mm fault");
    v.count("iopf_workers", iopf_workers, "fault groups one IOMMU's workqueue handles at once", 1, 64);
    v.time("bind", bind, "CPU cost of an SVA bind besides the driver's table writes and invalidations");
    v.time("unbind", unbind, "CPU cost of an SVA unbind besides the driver's work");
    v.time("notifier", notifier, "CPU cost of one mmu-notifier invalidation call per SVA domain");
  }
};

// What the kernel does with a device's MSI doorbell mapping when the device's RID domain changes
// after its IRQs were allocated (seed 001; R4.2, R4.3). linux: nothing (the MSI keeps the old
// domain's IOVA); shared_tables: the new domain gets the same MSI mappings (the seed's option 1);
// ordered: attaching a new domain after request_irq is refused with EBUSY (option 2: drivers must
// attach first); iommufd_sw_msi: every doorbell page has one context-global IOVA in the SW_MSI
// window, installed into each domain on attach (R4.3).
enum class MsiPolicy { Linux = 0, SharedTables = 1, Ordered = 2, IommufdSwMsi = 3 };

struct MsiParams {
  MsiPolicy policy = MsiPolicy::Linux;
  uint64_t irte_log2 = 16;             // x86: IRTEs per remapping table (Linux INTR_REMAP_TABLE_ENTRIES)
  uint64_t sw_msi_base = 0x8000000;    // R4.1: IOMMU_RESV_SW_MSI on Arm
  uint64_t sw_msi_size = 0x100000;
  // Not measured: request_irq's own path (irq descriptor, vector or LPI allocation) besides the
  // table writes and invalidations the drivers charge; an order-of-magnitude estimate.
  Time request_irq = Time::us(1);
  Time free_irq = Time::ns(500);
  uint64_t first_vector = 0x21;        // x86: FIRST_EXTERNAL_VECTOR + 1 (0x20 is taken by the ISA IRQ 0)

  void visit(ParamVisitor& v) {
    v.choice_enum("policy", policy, {"linux", "shared_tables", "ordered", "iommufd_sw_msi"},
                  "MSI doorbell mapping when a device's domain changes after request_irq (seed 001)");
    v.count("irte_log2", irte_log2, "x86: log2 of the interrupt remapping table entries", 1, 16);
    v.bytes("sw_msi_base", sw_msi_base, "Arm: IOVA of the software MSI window (IOMMU_RESV_SW_MSI)");
    v.bytes("sw_msi_size", sw_msi_size, "Arm: size of the software MSI window", 4096, 1u << 30);
    v.time("request_irq", request_irq, "CPU cost of request_irq besides table writes and invalidations");
    v.time("free_irq", free_irq, "CPU cost of free_irq besides table writes and invalidations");
    v.count("first_vector", first_vector, "x86: first CPU vector handed to device interrupts", 0x20, 0xEF);
  }
};

struct HostParams {
  DmaMode dma_mode = DmaMode::Strict;
  uint64_t fq_size = 256;               // R5.3: per-CPU flush queue entries
  Time fq_timeout = Time::ms(10);       // R5.3: flush timer
  uint64_t phys_base = 0x80000000ull;   // kernel memory the host allocates tables and buffers from
  uint64_t phys_size = 1ull << 34;
  uint64_t cmdq_log2 = 8;               // command queue entries the driver allocates (log2)
  uint64_t eventq_log2 = 7;
  uint64_t strtab_split = 8;            // 2-level stream table split (Linux uses 8)
  bool linear_strtab = false;           // force a linear stream table even if 2-level is supported
  uint64_t tlbi_batch = 64;             // R2.3: commands per batch
  uint64_t qi_batch = 16;               // R2.2: VT-d descriptors per submission (plus one wait)
  uint64_t qi_log2 = 8;                 // R2.2: VT-d invalidation queue of 256 descriptors
  // VT-d invalidation time-out (ITE) handling: Linux's qi_check_fault clears ITE and the submission is
  // retried (-EAGAIN) for as long as the device is present; the model bounds the retries so a device
  // that never answers cannot stall the run, then gives up with -ETIMEDOUT as Linux does for a device
  // that is gone.
  uint64_t qi_ite_retries = 3;
  uint64_t prq_order = 4;               // R3.1: VT-d page request queue of 2^4 pages = 2048 descriptors
  uint64_t ias_bits = 48;               // IOVA width of DMA domains
  bool dma_32bit_first = true;          // R5.4: PCI devices try IOVAs below 4 GiB first
  CpuCosts cost;
  // The CPU's page-table format, which SVA domains share: x86-64 4-level, 5-level (LA57), or arm64
  // (VMSAv8-64, 4 KiB granule, 48-bit VA).
  CpuArch cpu_arch = CpuArch::X86_64;
  VtdMode vtd_mode = VtdMode::Auto;
  VtdDmaStage vtd_dma_stage = VtdDmaStage::Auto;
  SvaParams sva;
  MsiParams msi;

  void visit(ParamVisitor& v) {
    v.choice_enum("dma_mode", dma_mode, {"strict", "lazy"}, "DMA-API invalidation policy (R5.1-R5.3)");
    v.count("fq_size", fq_size, "lazy mode: flush-queue entries before a forced flush", 1, 1u << 20);
    v.time("fq_timeout", fq_timeout, "lazy mode: flush timer", Time::ns(1));
    v.bytes("phys_base", phys_base, "start of the kernel memory the host allocates from");
    v.bytes("phys_size", phys_size, "size of that kernel memory", 1u << 20);
    v.count("cmdq_log2", cmdq_log2, "SMMUv3 command queue size the driver programs (log2 entries)", 1, 19);
    v.count("eventq_log2", eventq_log2, "SMMUv3 event queue size (log2 entries)", 1, 19);
    v.count("strtab_split", strtab_split, "2-level stream table: StreamID bits per level-2 table", 1, 24);
    v.flag("linear_strtab", linear_strtab, "use a linear stream table even when 2-level is supported");
    v.count("tlbi_batch", tlbi_batch, "invalidation commands per batch before the driver submits", 1, 4096);
    v.count("qi_batch", qi_batch, "VT-d: invalidation descriptors per submission (each ends with a wait)", 1, 255);
    v.count("qi_log2", qi_log2, "VT-d: invalidation queue size, log2 of 128-bit descriptors", 8, 15);
    v.count("qi_ite_retries", qi_ite_retries, "VT-d: resubmissions of a batch whose wait an invalidation time-out "
            "(ITE) aborted before giving up with -ETIMEDOUT (Linux retries while the device is present)", 0, 1000);
    v.count("prq_order", prq_order, "VT-d: page request queue of 2^n 4 KiB pages (128 descriptors each); also the "
            "PRI allocation asked of devices", 0, 7);
    v.count("ias_bits", ias_bits, "input address bits of DMA domains", 32, 48);
    v.flag("dma_32bit_first", dma_32bit_first, "allocate IOVAs below 4 GiB first, as Linux does for PCI");
    v.group("cost", cost, "CPU cost of each software step");
    v.choice_enum("cpu_arch", cpu_arch, {"x86_64", "x86_64_la57", "arm64"},
                  "CPU page-table format of process address spaces (what SVA domains walk)");
    v.choice_enum("vtd_mode", vtd_mode, {"auto", "legacy", "scalable"},
                  "VT-d translation-table mode: auto = scalable with ECAP.SMTS, SSTS and DT, else legacy");
    v.choice_enum("vtd_dma_stage", vtd_dma_stage, {"auto", "first", "second"},
                  "VT-d: stage of DMA domains' tables: auto = first stage in scalable mode with ECAP.FSTS (as "
                  "Linux 6.x), else second; first needs scalable mode and ECAP.FSTS");
    v.group("sva", sva, "SVA binding and I/O page-fault handling");
    v.group("msi", msi, "MSI set-up: interrupt remapping (x86), doorbell mappings (Arm), the domain-change policy");
  }
};

}  // namespace iommusim::host
