// The host's VT-d driver, after Linux intel-iommu in legacy (non-scalable) mode: probes CAP/ECAP,
// builds the root and context tables, attaches DMA domains (second-stage tables) and invalidates
// per R2.2 through the domain's cache tags: one IOTLB tag per (IOMMU, DID) shared by the devices
// behind that IOMMU, one device-TLB tag per ATS device. A flush turns each tag into a descriptor
// (page-selective IOTLB with the address mask widened until its aligned block covers the range,
// domain-selective above CAP.MAMV; device-TLB over the same block), batched per IOMMU up to
// qi_batch descriptors, each batch followed by an invalidation wait whose status write the CPU polls.
// A domain may span VT-d units; each unit gives it its own domain ID.
//
// Not modelled yet: scalable mode and first-stage (SVA) domains, PASIDs, interrupt remapping set-up,
// fault-register servicing beyond counting, caching mode, recovery from invalidation time-outs (ITE
// is logged and the run stops).
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
  // R2.2 cache tags: where this domain's translations may be cached.
  struct Tag {
    enum class Type : uint8_t { Iotlb, Devtlb } type;
    VtdDriver* iommu;
    uint16_t did;
    uint16_t sid = 0;    // Devtlb: the device
    uint8_t qdep = 0;    // Devtlb: its invalidate queue depth (0 = 32)
    unsigned users = 1;  // Iotlb: devices sharing it
  };

  VtdDomain(VtdDriver& owner, std::unique_ptr<IoPgtableX86> pgt, unsigned aw)
      : owner_(owner), aw_(aw), pgt_(std::move(pgt)) {}
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
  unsigned aw() const { return aw_; }
  uint64_t root() const { return pgt_->root(); }
  bool uses_1g() const { return pgt_->codec().geometry().leaf_1g; }
  const VtdDriver& owner() const { return owner_; }
  const std::vector<Tag>& tags() const { return tags_; }
  // The domain ID this domain has on iommu (0 if not attached through it).
  uint16_t did_on(const VtdDriver* iommu) const;

 private:
  friend class VtdDriver;
  // size 0: everything. ih: leaf-only hint (the paging-structure caches may be kept).
  void flush(uint64_t iova, uint64_t size, bool ih);
  VtdDriver& owner_;
  unsigned aw_;
  std::unique_ptr<IoPgtableX86> pgt_;
  std::vector<Tag> tags_;  // grouped by IOMMU, IOTLB tag first
};

class VtdDriver final : public IommuDriver {
 public:
  VtdDriver(std::string name, const HostParams& p, PhysMem& mem, PhysAlloc& alloc, Cpu& cpu, Mmio& mmio,
            StatGroup& parent);
  const std::string& name() const override { return name_; }
  void probe() override;
  std::unique_ptr<IommuDomain> alloc_paging_domain() override;
  void attach(IommuDomain& d, PciDevice& dev) override;
  std::vector<ResvRegion> reserved_regions() const override { return {{0xFEE00000, 0x100000}}; }  // R4.4: interrupt requests, never translated
  int check_attach(const IommuDomain& d, std::string& why) const override;

  // Queues the descriptors in submissions of qi_batch, each followed by a wait, and waits for each.
  void submit(const std::vector<vtd::Desc>& descs);
  bool device_tlb() const { return dt_; }

 private:
  friend class VtdDomain;
  void submit_batch(const vtd::Desc* d, size_t n);
  uint64_t context_table(uint8_t bus);
  void write_context(const VtdDomain& dom, uint16_t rid, uint16_t did, bool dev_tlb);
  static void drop_tags(VtdDomain& dom, const VtdDriver* iommu, uint16_t sid);

  std::string name_;
  const HostParams& p_;
  PhysMem& mem_;
  PhysAlloc& alloc_;
  Cpu& cpu_;
  Mmio& mmio_;
  uint64_t cap_ = 0, ecap_ = 0;
  unsigned aw_ = 2, mamv_ = 0;
  bool leaf_2m_ = false, leaf_1g_ = false, dt_ = false;
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
  Counter& devtlb_;
  Histogram& wait_ns_;
};

}  // namespace iommusim::host
