// The host's AMD-Vi driver, after Linux amd_iommu (iommu.c, pasid.c, ppr.c): builds the device
// table, command buffer, event log and PPR log, attaches DMA domains (v1 host tables, mode 4, one
// DomainID that is valid on every AMD IOMMU), and invalidates per R2.4: INVALIDATE_IOMMU_PAGES over
// the power-of-two span covering the range, then COMPLETION_WAIT whose semaphore store the CPU polls.
//
// ATS devices (IOTLBSup and the device's capability) get DTE.I, ATS enabled after the DTE is
// flushed, and one INVALIDATE_IOTLB_PAGES each (MaxPend = their queue depth) before the wait of
// every flush on their IOMMU.
//
// SVA (EFR.GTSup, GIoSup, PPRSup and EPHSup, as Linux's amd_iommu_pasid_supported asks; x86-64
// process tables, 5-level only with EFR.GATS = 5): an SVA domain is the process's tables and may be
// attached through any AMD IOMMU (R7.4). A device's first PASID gives it a GCR3 table of its own
// (GLX from min(device, IOMMU) PASIDs, its own DomainID, which its DTE then carries: Linux's
// per-device GCR3 DomainID), DTE.GV, the guest paging mode of the process's tables and, with PRI,
// DTE.PPR; the DTE is rewritten and flushed (INVALIDATE_DEVTAB_ENTRY + COMPLETION_WAIT). The
// device's DMA domain keeps serving requests without a PASID through the v1 table (DMA-domain
// flushes then also name the device's GCR3 DomainID, which tags those entries now). PASID, ATS and
// PRI are enabled in that order (ATS off while PASID Enable changes); PRI only with ATS, asking for
// 32 outstanding requests (R3.2). Each GCR3 entry write (set or clear) is followed by the whole
// PASID's flush; invalidations of an SVA domain run per (device, PASID): INVALIDATE_IOMMU_PAGES with
// the device's GCR3 DomainID, GN and the PASID, INVALIDATE_IOTLB_PAGES with the PASID for ATS
// devices, then a COMPLETION_WAIT on that device's IOMMU (R2.4), so AMD invalidates per device even
// with a shared domain. Detaching a PASID clears its GCR3 entry and flushes it; the table stays.
//
// PPR log (EFR.PPRSup): 512 entries (R3.1), Control.PPREn, PPRLogEn and PPRIntEn set at probe. A
// servicing thread, woken by the model's PPR interrupt when the platform hands it over
// (set_ppr_irq; the interrupt is latched), else polling the entry at Head every
// ppr_service().poll_interval (the poll stands for the interrupt line and costs no CPU time),
// clears Status.PPRInt/PPROverflow, reads the entries between Head and Tail (zeroing each, moving
// Head), restarts logging after an overflow, ignores entries of another type or an unknown
// DeviceID, answers FAILURE at once for requests without a PASID (GN = 0), with the malformed flag,
// or with PASID 0 or beyond the device's limit, and reports the rest to the fault core.
// page_response queues COMPLETE_PPR_REQUEST without a wait, as Linux does.
//
// Interrupt remapping: amdvi_irq.cpp. Not modelled yet: event-log servicing beyond counting, parallel
// flushes of a domain (flushes go to every AMD IOMMU the domain is attached through, one after the
// other), v2 DMA domains and identity default domains for PASID-capable devices (Linux gives such
// devices an identity domain; here they keep their v1 DMA domain beside the GCR3 table), the PRG
// Response PASID Required bit (responses to requests with a PASID always carry it; PciDevice does
// not report the bit), the PPR log's hardware-erratum spin on a zero entry, freeing GCR3 tables,
// dirty tracking.
#pragma once
#include <systemc>

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "models/common/params.h"
#include "models/common/stats.h"
#include "models/common/timeline.h"
#include "models/host/cpu.h"
#include "models/host/host_params.h"
#include "models/host/io_pgtable_amd.h"
#include "models/host/iommu_driver.h"
#include "models/host/mmio.h"
#include "models/iommu/amdvi/amdvi_defs.h"

namespace iommusim::host {

class AmdViDriver;

class AmdViDomain final : public IommuDomain {
 public:
  AmdViDomain(AmdViDriver& drv, uint16_t id, std::unique_ptr<IoPgtableAmd> pgt)
      : drv_(drv), id_(id), pgt_(std::move(pgt)) {}
  PgWork map(uint64_t iova, uint64_t pa, uint64_t size, IoProt prot, uint64_t max_page) override {
    return pgt_->map(iova, pa, size, prot, max_page);
  }
  PgWork unmap(uint64_t iova, uint64_t size, uint64_t& leaf) override { return pgt_->unmap(iova, size, leaf); }
  void flush_range(uint64_t iova, uint64_t size, uint64_t leaf_size) override;
  void flush_walk(uint64_t iova, uint64_t size) override;
  void flush_all() override;
  uint64_t granule() const override { return 4096; }
  unsigned ias_bits() const override { return 12 + 9 * pgt_->codec().mode(); }
  std::optional<uint64_t> iova_to_phys(uint64_t iova) override { return pgt_->iova_to_phys(iova); }
  uint16_t id() const { return id_; }
  unsigned mode() const { return pgt_->codec().mode(); }
  uint64_t root() const { return pgt_->root(); }
  // Records which AMD IOMMU dev sits behind; every IOMMU with a device of this domain gets its flushes.
  void note_device(const PciDevice& dev, AmdViDriver& d) {
    for (auto& [x, drv] : behind_)
      if (x == &dev) {
        drv = &d;
        return;
      }
    behind_.emplace_back(&dev, &d);
  }

 private:
  void flush(uint64_t iova, uint64_t size, bool pde);
  AmdViDriver& drv_;
  std::vector<std::pair<const PciDevice*, AmdViDriver*>> behind_;
  uint16_t id_;
  std::unique_ptr<IoPgtableAmd> pgt_;
};

// An SVA domain: a process's x86-64 tables, attachable through every AMD IOMMU (R7.4). It holds no
// hardware state of its own: the GCR3 entries and DomainIDs belong to the devices.
class AmdViSvaDomain final : public SvaDomain {
 public:
  AmdViSvaDomain(AmdViDriver& owner, Mm& mm) : SvaDomain(mm), owner_(owner) {}
  const IommuDriver& owner() const override;
  // R2.4 per attached (device, PASID), each on its own IOMMU.
  void invalidate(uint64_t start, uint64_t end) override;

 private:
  friend class AmdViDriver;
  void attached(PciDevice& dev, uint32_t pasid, AmdViDriver& through);
  void detached(const PciDevice& dev, uint32_t pasid);
  AmdViDriver& owner_;
  std::vector<std::pair<const PciDevice*, AmdViDriver*>> behind_;  // the IOMMU of each attached device
};

class AmdViDriver final : public IommuDriver {
 public:
  // Interrupt remapping: one 32-bit-IRTE table of 2^kIrteLog2 entries per device (Linux's
  // MAX_IRQS_PER_TABLE 512, DTE.IntTabLen 9), allocated at the device's first IRQ.
  static constexpr unsigned kIrteLog2 = 9;
  // What servicing the PPR log costs (from HostParams::cost.prq_entry) and how often it polls when
  // no interrupt is wired (platforms wire it; hand-built testbenches may not): set before probe.
  struct PprService {
    Time entry_cost = Time::ns(50);     // read, zero and decode one 16-byte entry, move Head
    Time poll_interval = Time::us(1);   // without set_ppr_irq: how often the entry at Head is checked
  };

  // iotlb_sup: the IOMMU's capability header reports IOTLBSup (devices may use ATS).
  AmdViDriver(std::string name, const HostParams& p, PhysMem& mem, PhysAlloc& alloc, Cpu& cpu, Mmio& mmio,
              KernelIds& ids, StatGroup& parent, bool iotlb_sup = false);
  const std::string& name() const override { return name_; }
  void probe() override;
  std::unique_ptr<IommuDomain> alloc_paging_domain() override;
  void attach(IommuDomain& d, PciDevice& dev) override;
  // R4.4: the MSI range and the HyperTransport reserved range
  std::vector<ResvRegion> reserved_regions() const override {
    return {{0xFEE00000, 0x100000, ResvType::Msi}, {0xFD00000000ull, 0x300000000ull, ResvType::Reserved}};
  }
  int check_attach(const IommuDomain& d, std::string& why) const override;

  // ---- SVA and the PPR log (amdvi_sva.cpp, amdvi_ppr.cpp) ----
  // R1.2: (1 << (PASmax + 1)) - 1 with EFR.GTSup, else 0.
  uint32_t max_pasids() const override;
  std::unique_ptr<SvaDomain> alloc_sva_domain(Mm& mm, std::string& why) override;
  int set_dev_pasid(SvaDomain& d, PciDevice& dev, uint32_t pasid, std::string& why) override;
  void remove_dev_pasid(SvaDomain& d, PciDevice& dev, uint32_t pasid) override;
  void page_response(const IoPageFault& f, PageResponse code) override;
  // The model's PPR-log interrupt (AmdVi::ppr_irq()); call before the simulation starts. Without
  // it the servicing thread polls.
  void set_ppr_irq(sc_core::sc_event* irq) { ppr_irq_ = irq; }
  // Interrupt remapping (amdvi_irq.cpp).
  void enable_irq_remapping() override { ir_ = true; }
  bool remaps_interrupts() const override { return ir_; }
  int irq_remap_alloc(PciDevice& dev, uint32_t apic, uint8_t vector, MsiMsg& out, uint32_t& handle) override;
  void irq_remap_free(PciDevice& dev, uint32_t handle) override;
  PprService& ppr_service() { return ppr_svc_; }

  // R2.4 on one IOMMU: INVALIDATE_IOMMU_PAGES covering the range (pde: also table entries) for the
  // domain's DomainID and the GCR3 DomainIDs its devices' DTEs carry here, one
  // INVALIDATE_IOTLB_PAGES per ATS device given, then a wait. size 0: everything.
  void flush_pages(const AmdViDomain& dom, uint64_t iova, uint64_t size, bool pde,
                   const std::vector<const PciDevice*>& ats_devs = {});
  // R2.4 for one (device, PASID) behind this IOMMU: [start, end) (end == Mm::kWholeMm: all pages).
  void flush_pasid(const PciDevice& dev, uint32_t pasid, uint64_t start, uint64_t end);
  // Writes the commands followed by COMPLETION_WAIT and polls its semaphore store.
  void submit(const std::vector<amdvi::Cmd>& cmds);

  // What the driver set up, for testbenches that decode the structures in memory.
  uint64_t device_table() const { return devtab_; }
  uint64_t command_buffer() const { return cmdbuf_; }
  unsigned command_buffer_log2() const { return cmd_len_; }
  uint32_t command_tail() const { return tail_; }  // byte offset of the next command
  uint64_t ppr_log() const { return ppr_; }
  struct DevState {
    PciDevice* dev = nullptr;
    AmdViDomain* dma = nullptr;  // the RID domain: its v1 table serves requests without a PASID
    uint64_t gcr3 = 0;           // GCR3 root table, 0 until the first PASID
    uint16_t gcr3_domid = 0;     // the device's own DomainID, in its DTE once it has a GCR3 table
    uint8_t glx = 0;             // GCR3 levels - 1
    uint8_t gpm = 0;             // guest paging mode (dte::GPM_4LEVEL / GPM_5LEVEL)
    uint32_t max_pasids = 0;     // min(device, IOMMU)
    unsigned pasids = 0;         // PASIDs attached
    bool ppr = false;            // DTE.PPR
    uint64_t irt = 0;            // interrupt remapping table (amdvi_irq.cpp), 0 until the first IRQ
    std::vector<bool> irte_used;
    uint16_t dte_domain() const { return gcr3 ? gcr3_domid : dma->id(); }
  };
  const DevState* device_state(uint16_t rid) const {
    const auto it = devs_.find(rid);
    return it == devs_.end() ? nullptr : &it->second;
  }

 private:
  // Command buffer (amdvi_driver.cpp). Writes the commands (and, with `wait`, a COMPLETION_WAIT
  // storing a fresh token) at Tail and rings it; returns the token (0 without a wait). Waits for
  // room when the ring is full.
  uint64_t queue(const std::vector<amdvi::Cmd>& cmds, bool wait);
  // [iova, iova + size) as the INVALIDATE_*_PAGES builders take it; size 0 means everything.
  static std::pair<uint64_t, uint64_t> inv_span(uint64_t iova, uint64_t size) {
    return size ? std::pair{iova, size} : std::pair{uint64_t{0}, ~uint64_t{0}};
  }
  void write_dte(const DevState& s);
  // SVA (amdvi_sva.cpp)
  const char* sva_unsupported(const Mm& mm) const;
  // Sets the GCR3 entry of `pasid` (allocating the tables above it), 0 clears it.
  void write_gcr3(const DevState& s, uint32_t pasid, uint64_t entry);
  uint64_t gcr3_entry(const DevState& s, uint32_t pasid) const;
  // PPR log (amdvi_ppr.cpp)
  void ppr_thread();
  void service_ppr();
  void drain_ppr();
  void restart_ppr_log();
  void handle_ppr(const uint64_t raw[amdvi::PPR_QWORDS]);
  void complete_ppr(uint16_t rid, uint32_t pasid, bool pasid_valid, uint16_t tag, uint8_t status);

  std::string name_;
  timeline::Track tl_ = timeline::track(timeline::Kind::Host, "host." + name_);
  KernelIds& ids_;
  const HostParams& p_;
  PhysMem& mem_;
  PhysAlloc& alloc_;
  Cpu& cpu_;
  Mmio& mmio_;
  uint64_t efr_ = 0;
  uint64_t control_ = 0;  // what the driver last wrote to Control
  bool iotlb_sup_ = false;
  bool ir_ = false;
  uint64_t devtab_ = 0, cmdbuf_ = 0, evtlog_ = 0, sem_ = 0, ppr_ = 0;
  unsigned cmd_len_ = 9;  // 512 commands (R2.4)
  unsigned ppr_len_ = 9;  // 512 PPR entries (R3.1)
  uint32_t tail_ = 0, head_ = 0;
  uint32_t ppr_head_ = 0;
  uint64_t seq_ = 0;
  std::map<uint16_t, DevState> devs_;  // by RID
  unsigned pri_devices_ = 0;           // devices with PRI enabled through this IOMMU
  sc_core::sc_event pri_kick_;
  sc_core::sc_event* ppr_irq_ = nullptr;
  bool ppr_pending_ = false;    // the interrupt arrived since the servicing thread last looked
  sc_core::sc_event ppr_wake_;
  PprService ppr_svc_;
  StatGroup stats_;
  Counter& cmds_;
  Counter& waits_;
  Counter& iotlb_invs_;
  Histogram& wait_ns_;
  Counter& pasid_attach_;
  Counter& pasid_detach_;
  Counter& gcr3_tables_;
  Counter& pasid_flushes_;
  Counter& ppr_entries_;
  Counter& ppr_reported_;
  Counter& ppr_refused_;
  Counter& ppr_ignored_;
  Counter& ppr_overflows_;
  Counter& ppr_responses_;
};

}  // namespace iommusim::host
