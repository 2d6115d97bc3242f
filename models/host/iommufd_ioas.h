// The IOVA bookkeeping of one iommufd IOAS (Linux's io_pagetable): the areas userspace mapped,
// the ranges it asked to keep allocatable (IOMMU_IOAS_ALLOW_IOVAS) and the reserved ranges, each
// with the owner that put it there (a device's reserved regions, a domain's aperture), so the owner
// can take its ranges back. Pure bookkeeping: the Iommufd object propagates areas into domains.
// Ranges are [start, last] (inclusive), so the top of the 64-bit space is representable.
// Not modelled: page pinning and the pages' own permissions (EPERM for a writable map of read-only
// memory), access objects (in-kernel users), area splitting (iopt_cut_iova), dirty tracking.
#pragma once
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "models/host/io_pgtable.h"

namespace iommusim::host {

struct IovaRange {
  uint64_t start = 0, last = 0;  // inclusive
};

struct IoasArea {
  uint64_t iova = 0, length = 0, pa = 0;
  IoProt prot;
  uint64_t last() const { return iova + length - 1; }
};

class IoasTable {
 public:
  // Owner keys of reserved ranges: a device (its reserved regions) or an HWPT (its aperture).
  static uint64_t device_owner(unsigned dev) { return (uint64_t{1} << 32) | dev; }
  static uint64_t hwpt_owner(uint32_t id) { return id; }
  struct Reserved {
    IovaRange r;
    uint64_t owner;
  };

  // R6.5 for a fixed IOVA: 0, -EINVAL (misaligned, or a reserved range in the way), -EOVERFLOW,
  // -EEXIST (a mapping in the way); `why` says which.
  int check_fixed(uint64_t iova, uint64_t length, std::string& why) const;
  // First-fit IOVA for `length` bytes inside the allowed ranges (the whole space without any),
  // avoiding areas and reserved ranges, aligned to the IOAS alignment and, up to the length rounded
  // to a power of two, to the PA's own alignment (so large pages can back it): 0 or -ENOSPC.
  int alloc(uint64_t length, uint64_t pa, uint64_t& iova, std::string& why) const;
  void insert(const IoasArea& a) { areas_[a.iova] = a; }
  void erase(uint64_t iova) { areas_.erase(iova); }
  // The first area intersecting [start, last], or nullptr.
  const IoasArea* area_in(uint64_t start, uint64_t last) const;
  const Reserved* reserved_in(uint64_t start, uint64_t last) const;
  // iopt_reserve_iova: -EADDRINUSE if an area or an allowed range intersects.
  int reserve(IovaRange r, uint64_t owner, std::string& why);
  void unreserve(uint64_t owner);
  // iopt_set_allow_iova: replaces the list; -EADDRINUSE (list unchanged) if a reserved range intersects.
  int set_allowed(const std::vector<IovaRange>& ranges, std::string& why);
  // iopt_check_iova_alignment: -EADDRINUSE if an area's IOVA, length or PA is not aligned to `align`.
  int check_alignment(uint64_t align, std::string& why) const;

  const std::map<uint64_t, IoasArea>& areas() const { return areas_; }
  const std::vector<Reserved>& reserved() const { return reserved_; }
  const std::vector<IovaRange>& allowed() const { return allowed_; }
  // IOVA alignment every map must have: 1 without domains, else the largest domain granule.
  uint64_t alignment = 1;

 private:
  std::map<uint64_t, IoasArea> areas_;  // by IOVA; never overlapping
  std::vector<Reserved> reserved_;      // may overlap (owners duplicate ranges)
  std::vector<IovaRange> allowed_;      // sorted by start
};

std::string range_str(uint64_t start, uint64_t last);

}  // namespace iommusim::host
