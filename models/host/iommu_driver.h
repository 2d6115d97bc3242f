// The small interface each architecture's host driver implements for the architecture-free
// IOMMU core (dma-iommu, later SVA and iommufd), following Linux's iommu_ops/iommu_domain_ops.
#pragma once
#include <algorithm>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "models/host/io_pgtable.h"

namespace iommusim::host {

class IommuDomain;

// A PCI function as the IOMMU drivers see it (the parts of Linux's pci_dev and iommu master they use).
struct PciDevice {
  std::string name;
  uint16_t rid = 0;
  bool ats_cap = false;     // the function has an ATS capability
  unsigned ats_qdep = 32;   // its Invalidate Queue Depth (0 in the capability means 32)
  bool ats_enabled = false; // ATS Control.Enable as the kernel last wrote it
  // Writes the function's ATS Control register (pci_enable_ats / pci_disable_ats).
  std::function<void(bool enable, unsigned stu)> ats_control;
  IommuDomain* domain = nullptr;  // the RID's current domain
  void set_ats(bool on, unsigned stu) {
    if (ats_control) ats_control(on, stu);
    ats_enabled = on;
  }
  // Drops the membership in the current domain (before the device object goes away).
  inline void leave_domain();
};

class IommuDomain {
 public:
  IommuDomain() = default;
  IommuDomain(const IommuDomain&) = delete;
  IommuDomain& operator=(const IommuDomain&) = delete;
  virtual ~IommuDomain() {
    for (PciDevice* d : devices_)
      if (d->domain == this) d->domain = nullptr;
  }
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

  // Devices attached to this domain (drivers invalidate their ATCs); kept by IommuDriver::move_device.
  const std::vector<PciDevice*>& devices() const { return devices_; }
  bool any_ats() const {
    for (const PciDevice* d : devices_)
      if (d->ats_enabled) return true;
    return false;
  }

 private:
  friend class IommuDriver;
  friend struct PciDevice;
  std::vector<PciDevice*> devices_;
};

inline void PciDevice::leave_domain() {
  if (!domain) return;
  auto& v = domain->devices_;
  v.erase(std::remove(v.begin(), v.end(), this), v.end());
  domain = nullptr;
}

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
  // Attach the device to the domain (RID / PASID-less attach), replacing its current domain.
  // Thread context.
  virtual void attach(IommuDomain& d, PciDevice& dev) = 0;

 protected:
  // Moves dev's membership from its current domain to d (drivers call this from attach).
  static void move_device(PciDevice& dev, IommuDomain& d) {
    dev.leave_domain();
    d.devices_.push_back(&dev);
    dev.domain = &d;
  }
};

}  // namespace iommusim::host
