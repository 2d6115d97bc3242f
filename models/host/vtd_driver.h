// The host's VT-d driver, after Linux intel-iommu in legacy (non-scalable) mode: probes CAP/ECAP,
// builds the root and context tables, attaches DMA domains (second-stage tables, one domain ID per
// IOMMU) and invalidates per R2.2: page-selective IOTLB invalidation with the address mask widened
// until its aligned block covers the range, domain-selective above CAP.MAMV, in submissions of up
// to qi_batch descriptors each followed by an invalidation wait whose status write the CPU polls.
//
// Not modelled yet: scalable mode and first-stage (SVA) domains, PASIDs, device-TLB invalidation
// (no ATS), interrupt remapping set-up, fault-register servicing beyond counting, caching mode.
#pragma once
#include <systemc>

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "models/common/stats.h"
#include "models/host/cpu.h"
#include "models/host/host_params.h"
#include "models/host/io_pgtable_x86.h"
#include "models/host/iommu_driver.h"
#include "models/host/mmio.h"
#include "models/iommu/vtd/vtd_defs.h"

namespace iommusim::host {

class VtdDriver;

class VtdDomain final : public IommuDomain {
 public:
  VtdDomain(VtdDriver& drv, uint16_t did, std::unique_ptr<IoPgtableX86> pgt, unsigned aw)
      : drv_(drv), did_(did), aw_(aw), pgt_(std::move(pgt)) {}
  PgWork map(uint64_t iova, uint64_t pa, uint64_t size, IoProt prot, uint64_t max_page) override {
    return pgt_->map(iova, pa, size, prot, max_page);
  }
  PgWork unmap(uint64_t iova, uint64_t size, uint64_t& leaf) override { return pgt_->unmap(iova, size, leaf); }
  void flush_range(uint64_t iova, uint64_t size, uint64_t leaf_size) override;
  void flush_walk(uint64_t iova, uint64_t size) override;
  void flush_all() override;
  uint64_t granule() const override { return 4096; }
  unsigned ias_bits() const override { return pgt_->codec().geometry().input_bits(); }
  std::optional<uint64_t> iova_to_phys(uint64_t iova) override { return pgt_->iova_to_phys(iova); }
  uint16_t did() const { return did_; }
  unsigned aw() const { return aw_; }
  uint64_t root() const { return pgt_->root(); }
  bool uses_1g() const { return pgt_->codec().geometry().leaf_1g; }

 private:
  VtdDriver& drv_;
  uint16_t did_;
  unsigned aw_;
  std::unique_ptr<IoPgtableX86> pgt_;
};

class VtdDriver final : public IommuDriver {
 public:
  VtdDriver(std::string name, const HostParams& p, PhysMem& mem, PhysAlloc& alloc, Cpu& cpu, Mmio& mmio,
            StatGroup& parent);
  const std::string& name() const override { return name_; }
  void probe() override;
  std::unique_ptr<IommuDomain> alloc_paging_domain() override;
  void attach(IommuDomain& d, uint32_t rid) override;
  std::vector<ResvRegion> reserved_regions() const override { return {{0xFEE00000, 0x100000}}; }  // R4.4: interrupt requests, never translated
  int check_attach(const IommuDomain& d, std::string& why) const override;

  // R2.2 range invalidation of one domain (ih: leaf-only hint); returns after the wait completed.
  void iotlb_flush_range(uint16_t did, uint64_t iova, uint64_t size, bool ih);
  void iotlb_flush_domain(uint16_t did);
  // Queues the descriptors in submissions of qi_batch, each followed by a wait, and waits for each.
  void submit(const std::vector<vtd::Desc>& descs);

 private:
  void submit_batch(const vtd::Desc* d, size_t n);
  uint64_t context_table(uint8_t bus);

  std::string name_;
  const HostParams& p_;
  PhysMem& mem_;
  PhysAlloc& alloc_;
  Cpu& cpu_;
  Mmio& mmio_;
  uint64_t cap_ = 0, ecap_ = 0;
  unsigned aw_ = 2, mamv_ = 0;
  bool leaf_2m_ = false, leaf_1g_ = false;
  uint32_t gcmd_ = 0;
  uint64_t root_ = 0, iq_ = 0, status_ = 0;
  uint32_t iq_entries_ = 0, tail_ = 0;
  uint32_t seq_ = 0;
  std::vector<uint64_t> ctx_tables_;  // per bus, 0 = not allocated
  uint16_t next_did_ = 1;             // DID 0 is reserved when caching mode is reported; skip it always
  StatGroup stats_;
  Counter& descs_;
  Counter& waits_;
  Counter& psi_;
  Counter& dsi_;
  Histogram& wait_ns_;
};

}  // namespace iommusim::host
