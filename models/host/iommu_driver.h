// The small interface each architecture's host driver implements for the architecture-free
// IOMMU core (dma-iommu, later SVA and iommufd), following Linux's iommu_ops/iommu_domain_ops.
#pragma once
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "models/host/io_pgtable.h"

namespace iommusim::host {

class IommuDomain {
 public:
  virtual ~IommuDomain() = default;
  virtual PgWork map(uint64_t iova, uint64_t pa, uint64_t size, IoProt prot, uint64_t max_page) = 0;
  virtual PgWork unmap(uint64_t iova, uint64_t size, uint64_t& leaf_size) = 0;
  // Invalidate the IOMMU's caches for [iova, iova+size) mapped with leaves of leaf_size, and wait.
  virtual void flush_range(uint64_t iova, uint64_t size, uint64_t leaf_size) = 0;
  // Invalidate cached table pointers (walk caches) for [iova, iova+size) after tables were freed.
  virtual void flush_walk(uint64_t iova, uint64_t size) = 0;
  // Invalidate everything cached for this domain, and wait.
  virtual void flush_all() = 0;
  virtual uint64_t granule() const = 0;
  virtual unsigned ias_bits() const = 0;
  virtual std::optional<uint64_t> iova_to_phys(uint64_t iova) = 0;
};

// Identifier spaces the kernel shares across IOMMU instances (one per host, so runs stay independent).
struct KernelIds {
  uint16_t asid = 1;        // SMMUv3 ASIDs: global across SMMU instances (R1.6)
  uint16_t amd_domain = 1;  // AMD DomainIDs: one allocator for every AMD IOMMU
};

// An IOVA range a DMA domain must never hand out (Linux's reserved regions).
struct ResvRegion {
  uint64_t start, size;
};

class IommuDriver {
 public:
  virtual ~IommuDriver() = default;
  // R4.1/R4.4: MSI windows and other ranges the DMA API keeps out of its IOVA space.
  virtual std::vector<ResvRegion> reserved_regions() const { return {}; }
  // R7: can this IOMMU use domain d (allocated by any driver)? 0, or EINVAL with the reason.
  virtual int check_attach(const IommuDomain& d, std::string& why) const = 0;
  virtual const std::string& name() const = 0;
  // Discover features, build the in-memory structures, enable translation. Thread context.
  virtual void probe() = 0;
  virtual std::unique_ptr<IommuDomain> alloc_paging_domain() = 0;
  // Attach the device with requester ID rid to the domain (RID / PASID-less attach). Thread context.
  virtual void attach(IommuDomain& d, uint32_t rid) = 0;
};

}  // namespace iommusim::host
