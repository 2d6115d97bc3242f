// The IOTLB: leaf translations tagged by (domain, address space) with mixed page sizes, and the
// scoped invalidations every architecture maps its commands onto.
#pragma once
#include <cstdint>

#include "models/common/stats.h"
#include "models/iommu/core/set_assoc.h"

namespace iommusim {

// Domain = VMID (SMMUv3 stage 2) / DID (VT-d) / DomID (AMD); space = ASID / PASID.
struct TlbTag {
  uint32_t domain = 0;
  uint32_t space = 0;
  friend bool operator==(TlbTag a, TlbTag b) { return a.domain == b.domain && a.space == b.space; }
};

struct Perm {
  bool r = false, w = false, x = false, user = true;
};

struct TlbEntry {
  TlbTag tag;
  uint64_t va = 0;  // aligned to 1 << shift
  uint64_t pa = 0;
  uint8_t shift = 12;
  bool global = false;  // matches every space of its domain (SMMU nG=0)
  bool stage2_only = false;
  Perm perm;
};

class Iotlb {
 public:
  Iotlb(const CacheParams& p, uint64_t seed, const char* name, StatGroup& parent);

  // Hot path: probe each page size present; no allocation.
  const TlbEntry* lookup(TlbTag tag, uint64_t va) {
    ++lookups_;
    for (uint32_t m = shifts_present_; m; m &= m - 1) {
      const unsigned shift = static_cast<unsigned>(__builtin_ctz(m));
      const uint64_t base = va >> shift << shift;
      const TlbEntry* e = arr_.find(index(base, shift), [&](const TlbEntry& x) {
        return x.shift == shift && x.va == base && x.tag.domain == tag.domain && (x.global || x.tag.space == tag.space);
      });
      if (e) { ++hits_; return e; }
    }
    ++misses_;
    return nullptr;
  }
  // Returns the stored entry, or nullptr when the IOTLB is disabled.
  const TlbEntry* insert(const TlbEntry& e);

  uint64_t invalidate_all();
  uint64_t invalidate_domain(uint32_t domain);
  // Non-global entries of (domain, space): TLBI by ASID / PASID.
  uint64_t invalidate_space(TlbTag tag);
  // Entries of (domain, space) or global ones overlapping [start, end): TLBI by VA.
  uint64_t invalidate_range(TlbTag tag, uint64_t start, uint64_t end);
  // Stage-2-only entries of domain overlapping [start, end): TLBI by IPA.
  uint64_t invalidate_ipa_range(uint32_t domain, uint64_t start, uint64_t end);
  uint64_t occupancy() const { return arr_.occupancy(); }

 private:
  static uint64_t index(uint64_t base, unsigned shift) { return (base >> shift) ^ (shift * 0x9e37u); }
  uint64_t count_inv(uint64_t n) {
    invalidated_ += n;
    return n;
  }
  SetAssoc<TlbEntry> arr_;
  uint32_t shifts_present_ = 0;
  StatGroup stats_;
  Counter& lookups_;
  Counter& hits_;
  Counter& misses_;
  Counter& fills_;
  Counter& evictions_;
  Counter& invalidated_;
};

}  // namespace iommusim
