// The host's AMD-Vi driver, after Linux amd_iommu for DMA domains: builds the device table, command
// buffer and event log, attaches domains (v1 host tables, mode 4, one DomainID that is valid on
// every AMD IOMMU), and invalidates per R2.4: INVALIDATE_IOMMU_PAGES over the power-of-two span
// covering the range, then COMPLETION_WAIT whose semaphore store the CPU polls.
//
// ATS devices (IOTLBSup and the device's capability) get DTE.I, ATS enabled after the DTE is
// flushed, and one INVALIDATE_IOTLB_PAGES each (MaxPend = their queue depth) before the wait of
// every flush on their IOMMU.
//
// Not modelled yet: v2 (GCR3) PASID tables and SVA, interrupt remapping set-up, event-log servicing
// beyond counting, parallel flushes of a domain (flushes go to every AMD IOMMU the domain is
// attached through, one after the other).
#pragma once
#include <systemc>

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "models/common/stats.h"
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

class AmdViDriver final : public IommuDriver {
 public:
  // iotlb_sup: the IOMMU's capability header reports IOTLBSup (devices may use ATS).
  AmdViDriver(std::string name, const HostParams& p, PhysMem& mem, PhysAlloc& alloc, Cpu& cpu, Mmio& mmio,
              KernelIds& ids, StatGroup& parent, bool iotlb_sup = false);
  const std::string& name() const override { return name_; }
  void probe() override;
  std::unique_ptr<IommuDomain> alloc_paging_domain() override;
  void attach(IommuDomain& d, PciDevice& dev) override;
  std::vector<ResvRegion> reserved_regions() const override { return {{0xFEE00000, 0x100000}, {0xFD00000000ull, 0x300000000ull}}; }  // R4.4: the MSI range and the HyperTransport reserved range
  int check_attach(const IommuDomain& d, std::string& why) const override;

  // R2.4 on one IOMMU: INVALIDATE_IOMMU_PAGES covering the range (pde: also table entries), one
  // INVALIDATE_IOTLB_PAGES per ATS device given, then a wait. size 0: everything.
  void flush_pages(uint16_t domain, uint64_t iova, uint64_t size, bool pde,
                   const std::vector<const PciDevice*>& ats_devs = {});
  // Writes the commands followed by COMPLETION_WAIT and polls its semaphore store.
  void submit(const std::vector<amdvi::Cmd>& cmds);

 private:
  std::string name_;
  KernelIds& ids_;
  const HostParams& p_;
  PhysMem& mem_;
  PhysAlloc& alloc_;
  Cpu& cpu_;
  Mmio& mmio_;
  uint64_t efr_ = 0;
  bool iotlb_sup_ = false;
  uint64_t devtab_ = 0, cmdbuf_ = 0, evtlog_ = 0, sem_ = 0;
  unsigned cmd_len_ = 9;  // 512 commands (R2.4)
  uint32_t tail_ = 0, head_ = 0;
  uint64_t seq_ = 0;
  StatGroup stats_;
  Counter& cmds_;
  Counter& waits_;
  Counter& iotlb_invs_;
  Histogram& wait_ns_;
};

}  // namespace iommusim::host
