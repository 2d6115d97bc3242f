// The architecture-free SVA core, after Linux iommu-sva.c (R1): binds a device to a process address
// space (Mm) at the mm's PASID, sharing SVA domains by the configured policy, and keeps one mmu
// notifier per SVA domain so every domain is invalidated independently (R2.1).
//
//  - PASIDs come from one global allocator over [1, max_pasids - 1], max_pasids being the smaller
//    of the device's PASID width and its IOMMU's limit (R1.2); the mm keeps its PASID until it dies,
//    even after every unbind; a later bind of a device whose limit is below it fails EOVERFLOW.
//  - Bind (R1.3): the same device bound to the same mm again takes a reference; bound to another mm
//    -> EBUSY. `per_mm`: the mm's existing domains are tried in list order, the first the device's
//    IOMMU accepts wins; when none does, a new domain is allocated and put at the list head.
//    `per_device`: always a new domain.
//  - Unbind (R1.5): drop the reference; at zero the PASID is detached (the driver's teardown); the
//    domain is freed with its last user (its notifier removed first).
//  - Exit: the notifier's release stands for the driver's mm release: the whole PASID invalidated
//    once per domain; the domains stay until their devices are unbound, later faults fail.
//
// Not modelled: IOMMU groups of several devices (a group is its one device), iommu_sva handles
// beyond (device, mm) pairs, the global lock's contention (binds run on one CPU), PASID
// allocation by the mm's owner outside SVA (ENQCMD).
#pragma once
#include <cstdint>
#include <map>
#include <memory>
#include <vector>

#include "models/common/stats.h"
#include "models/host/cpu.h"
#include "models/host/host_params.h"
#include "models/host/iommu_driver.h"
#include "models/host/mm.h"

namespace iommusim::host {

class Sva {
 public:
  Sva(Cpu& cpu, const SvaParams& p, StatGroup& parent);
  ~Sva();

  // R1.3: binds dev (behind drv) to mm. 0 and the PASID in `pasid`, or a negative errno: -ENODEV
  // (no IOMMU), -EOPNOTSUPP (no PASID support), -ENOSPC, -EOVERFLOW, -EBUSY, or the driver's error.
  // Thread context.
  int bind(PciDevice& dev, IommuDriver& drv, Mm& mm, uint32_t& pasid);
  // R1.5. 0, or -ENOENT when dev is not bound to mm. Thread context.
  int unbind(PciDevice& dev, Mm& mm);

  // The mm a fault at (rid, pasid) on drv belongs to (R3.3: the handler of the PASID attach), or
  // nullptr.
  Mm* find_mm(const IommuDriver& drv, uint16_t rid, uint32_t pasid) const;
  // The mm's PASID (0 = none yet).
  uint32_t pasid_of(const Mm& mm) const;
  // SVA domains of mm, list order (newest first).
  std::vector<const SvaDomain*> domains_of(const Mm& mm) const;
  const SvaDomain* domain_of(const PciDevice& dev, const Mm& mm) const;
  uint64_t domains_allocated() const { return domains_allocated_.v; }

 private:
  struct Dom {
    std::unique_ptr<SvaDomain> d;
    IommuDriver* drv;
    Mm::NotifierHandle notifier = 0;
  };
  struct MmState {
    uint32_t pasid = 0;
    std::vector<Dom> domains;  // list order: newest first
  };
  struct Bond {
    PciDevice* dev;
    IommuDriver* drv;
    Mm* mm;
    SvaDomain* dom;
    uint32_t pasid;
    unsigned refs;
  };
  uint32_t alloc_pasid(uint32_t max_pasids);
  void free_domain(MmState& st, SvaDomain* d);

  Cpu& cpu_;
  SvaParams p_;
  std::map<Mm*, MmState> mms_;  // by address: only looked up, never iterated for results
  std::vector<Bond> bonds_;
  std::vector<bool> pasid_used_;  // index = PASID

  StatGroup stats_;
  Counter& binds_;
  Counter& bind_errors_;
  Counter& unbinds_;
  Counter& domains_allocated_;
  Counter& domains_shared_;
  Counter& attach_refused_;
  Counter& notifier_calls_;
};

}  // namespace iommusim::host
