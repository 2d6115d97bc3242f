// The small interface each architecture's host driver implements for the architecture-free
// IOMMU core (dma-iommu, SVA and I/O page faults; iommufd later), following Linux's iommu_ops/iommu_domain_ops.
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
class IommuDriver;
class Mm;

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
  // PASID capability: Max PASID Width (0 = no capability) and Control.Enable as last written.
  unsigned pasid_bits = 0;
  bool pasid_enabled = false;
  std::function<void(bool enable)> pasid_control;
  // PRI capability: Outstanding Page Request Capacity (0 = no capability), the allocation last
  // written with Control.Enable.
  uint32_t pri_capacity = 0;
  uint32_t pri_alloc = 0;
  bool pri_enabled = false;
  std::function<void(bool enable, uint32_t alloc)> pri_control;
  uint32_t max_pasids() const { return pasid_bits ? (uint32_t{1} << pasid_bits) : 0; }
  void set_pasid(bool on) {
    if (pasid_control) pasid_control(on);
    pasid_enabled = on;
  }
  // R3.2: the allocation is min(capacity, what the IOMMU driver asks for).
  void set_pri(bool on, uint32_t requested) {
    const uint32_t alloc = on ? std::min(pri_capacity, requested) : 0;
    if (pri_control) pri_control(on, alloc);
    pri_enabled = on;
    pri_alloc = alloc;
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

// An SVA domain (Linux IOMMU_DOMAIN_SVA): the IOMMU walks the CPU page tables of a process (mm) at
// a PASID. Drivers derive from it; the SVA core (sva.h) allocates, shares and frees them.
class SvaDomain {
 public:
  struct Attachment {
    PciDevice* dev;
    uint32_t pasid;
  };
  explicit SvaDomain(Mm& mm) : mm_(mm) {}
  SvaDomain(const SvaDomain&) = delete;
  SvaDomain& operator=(const SvaDomain&) = delete;
  virtual ~SvaDomain() = default;
  Mm& mm() const { return mm_; }
  virtual const IommuDriver& owner() const = 0;
  // The mmu notifier's arch_invalidate_secondary_tlbs (R2): invalidate [start, end) of the mm (end
  // exclusive; end == Mm::kWholeMm: everything of this address space) in the IOTLB of every IOMMU
  // the domain is attached through, then in the ATC of every ATS device attached, by the
  // architecture's rule (R2.2 VT-d, R2.3 SMMUv3, R2.4 AMD); returns after the last wait. Thread context.
  virtual void invalidate(uint64_t start, uint64_t end) = 0;
  // (device, PASID) pairs this domain is attached at; drivers keep it in set/remove_dev_pasid.
  const std::vector<Attachment>& attachments() const { return att_; }
  unsigned users = 0;  // bind references held by the SVA core (R1.3, R1.5)

 protected:
  void add_attachment(PciDevice& d, uint32_t pasid) { att_.push_back({&d, pasid}); }
  void remove_attachment(const PciDevice& d, uint32_t pasid) {
    att_.erase(std::remove_if(att_.begin(), att_.end(),
                              [&](const Attachment& a) { return a.dev == &d && a.pasid == pasid; }),
               att_.end());
  }

 private:
  Mm& mm_;
  std::vector<Attachment> att_;
};

// One page request (PCIe PRI) or recoverable fault (SMMUv3 stall) as the driver decoded it from its
// queue (Linux's iommu_fault_page_request).
struct IoPageFault {
  uint16_t rid = 0;
  bool pasid_valid = false;
  uint32_t pasid = 0;
  uint64_t addr = 0;  // the page
  bool read = false, write = false, exec = false, priv = false;
  bool last = true;        // closes its group (LAST_PAGE)
  uint16_t grpid = 0;      // PRG index, or the STAG of a stalled transaction
  bool stall = false;      // SMMUv3 stall: a one-fault group answered by CMD_RESUME
};

// PRG response codes (R3.5, PCIe): SUCCESS 0, INVALID 1, FAILURE (Response Failure) 0xF.
enum class PageResponse : uint8_t { Success = 0x0, Invalid = 0x1, Failure = 0xF };

// Where drivers deliver the faults they read from their queues (the host's I/O page-fault core).
class IopfSink {
 public:
  virtual ~IopfSink() = default;
  // Called in the driver's queue-servicing thread, in queue order.
  virtual void report(IommuDriver& from, const IoPageFault& f) = 0;
  // The queue overflowed and requests were lost: partial groups held for `from` can never complete
  // (R3.1, Linux's iopf_queue_discard_partial).
  virtual void discard_partial(const IommuDriver& from) = 0;
};

// Identifier spaces the kernel shares across IOMMU instances (one per host, so runs stay independent).
struct KernelIds {
  uint16_t amd_domain = 1;  // AMD DomainIDs: one allocator for every AMD IOMMU

  // SMMUv3 ASIDs: one pool over [1, 2^16) global across SMMU instances (R1.6); freed ones reused.
  // 0 when none is left below 2^bits (the instance's ASID width).
  uint16_t alloc_asid(unsigned bits) {
    const uint32_t limit = uint32_t{1} << bits;
    for (size_t i = free_asids.size(); i-- > 0;)
      if (free_asids[i] < limit) {
        const uint16_t a = free_asids[i];
        free_asids.erase(free_asids.begin() + static_cast<long>(i));
        return a;
      }
    if (next_asid >= limit) return 0;
    return static_cast<uint16_t>(next_asid++);
  }
  void free_asid(uint16_t a) { free_asids.push_back(a); }
  uint32_t next_asid = 1;
  std::vector<uint16_t> free_asids;
};

// An MSI as a device's vector holds it: the address and data of the write.
struct MsiMsg {
  uint64_t addr = 0;
  uint32_t data = 0;
};

// An IOVA range a DMA domain must never hand out (Linux's reserved regions), with its
// iommu_resv_type: iommufd treats the kinds differently (R6.2: a software MSI window receives the
// doorbell pages, a hardware MSI range is never translated).
enum class ResvType : uint8_t {
  Reserved,  // IOMMU_RESV_RESERVED: never usable for DMA
  Msi,       // IOMMU_RESV_MSI: hardware MSI range, writes go to interrupt remapping untranslated
  SwMsi,     // IOMMU_RESV_SW_MSI: IOVAs where the kernel maps MSI doorbell pages itself
};
struct ResvRegion {
  uint64_t start, size;
  ResvType type = ResvType::Reserved;
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

  // ---- SVA and I/O page faults (R1, R3). The defaults are an IOMMU without SVA. ----
  // PASIDs the IOMMU supports (R1.2: VT-d 2 << ECAP.PSS, AMD (1 << (PASmax + 1)) - 1, SMMUv3
  // 1 << SSIDSIZE); 0 = none.
  virtual uint32_t max_pasids() const { return 0; }
  // A new SVA domain for mm, or nullptr with the reason when this IOMMU cannot share mm's tables
  // (R7.2, R7.3: table format, address width, coherency, features).
  virtual std::unique_ptr<SvaDomain> alloc_sva_domain(Mm& /*mm*/, std::string& why) {
    why = "the IOMMU does not support SVA";
    return nullptr;
  }
  // R1.4, R1.6: attach d to dev at pasid (PASID, ATS and PRI enabled on the device as the driver
  // needs them). 0, or EINVAL with the reason when this IOMMU cannot use d (another driver's or
  // another instance's domain). Thread context.
  virtual int set_dev_pasid(SvaDomain& /*d*/, PciDevice& /*dev*/, uint32_t /*pasid*/, std::string& why) {
    why = "the IOMMU does not support SVA";
    return 22;  // EINVAL
  }
  // R1.5: detach (the PASID blocked) with the architecture's teardown invalidations. Thread context.
  virtual void remove_dev_pasid(SvaDomain& /*d*/, PciDevice& /*dev*/, uint32_t /*pasid*/) {}
  // R3.5: answer the fault group that f closed, to f.rid (VT-d page group response, AMD
  // COMPLETE_PPR_REQUEST, SMMUv3 CMD_RESUME). Thread context.
  virtual void page_response(const IoPageFault& /*f*/, PageResponse /*code*/) {}
  // ---- x86 interrupt remapping (R4.4). The defaults are an IOMMU that does not remap. ----
  // Builds the remapping table and turns remapping on, if the unit can (Linux's
  // intel_setup_irq_remapping / amd_iommu_enable_interrupts). Thread context, after probe().
  virtual void enable_irq_remapping() {}
  // MSIs from devices behind this IOMMU are translated like DMA (Arm, R4.2) rather than
  // intercepted as interrupt requests (x86, R4.4).
  virtual bool msi_translated() const { return false; }
  virtual bool remaps_interrupts() const { return false; }
  // An IRTE for dev's interrupt to `vector` on CPU `apic`: the remappable-format message the device
  // must write, and a handle for irq_remap_free; or a negative errno. Thread context.
  virtual int irq_remap_alloc(PciDevice& /*dev*/, uint32_t /*apic*/, uint8_t /*vector*/, MsiMsg& /*out*/,
                              uint32_t& /*handle*/) {
    return -95;  // EOPNOTSUPP
  }
  virtual void irq_remap_free(PciDevice& /*dev*/, uint32_t /*handle*/) {}
  // The host's fault core; drivers that service a page request queue report into it.
  void set_iopf_sink(IopfSink* s) { iopf_ = s; }

 protected:
  IopfSink* iopf_ = nullptr;
  // Moves dev's membership from its current domain to d (drivers call this from attach).
  static void move_device(PciDevice& dev, IommuDomain& d) {
    dev.leave_domain();
    d.devices_.push_back(&dev);
    dev.domain = &d;
  }
};

}  // namespace iommusim::host
