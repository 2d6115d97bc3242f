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

  // Hot path: probe each page size present; no allocation. A repeat of the last hit's lookup (same
  // tag, same page of the smallest size present: streaming DMA) is answered from a memo: the array
  // has not changed since (inserts and invalidations clear the memo, every other hit replaces it),
  // so find() would return the same entry; it is touched just as find() would.
  const TlbEntry* lookup(TlbTag tag, uint64_t va) {
    ++lookups_;
    if (memo_ && (va >> memo_shift_) == memo_page_ && tag == memo_tag_) {
      ++hits_;
      return arr_.refresh(memo_);
    }
    for (uint32_t m = shifts_present_; m; m &= m - 1) {
      const unsigned shift = static_cast<unsigned>(__builtin_ctz(m));
      const uint64_t base = va >> shift << shift;
      TlbEntry* e = arr_.find(index(base, shift), [&](const TlbEntry& x) {
        return x.shift == shift && x.va == base && x.tag.domain == tag.domain && (x.global || x.tag.space == tag.space);
      });
      if (e) {
        ++hits_;
        memo_ = e;
        memo_tag_ = tag;
        memo_shift_ = static_cast<unsigned>(__builtin_ctz(shifts_present_));
        memo_page_ = va >> memo_shift_;
        return e;
      }
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
  // Every invalidation passes here.
  uint64_t count_inv(uint64_t n) {
    memo_ = nullptr;
    invalidated_ += n;
    return n;
  }
  SetAssoc<TlbEntry> arr_;
  uint32_t shifts_present_ = 0;
  TlbEntry* memo_ = nullptr;  // last hit, for lookups of memo_tag_ and page memo_page_
  TlbTag memo_tag_;
  uint64_t memo_page_ = 0;
  unsigned memo_shift_ = 0;
  StatGroup stats_;
  Counter& lookups_;
  Counter& hits_;
  Counter& misses_;
  Counter& fills_;
  Counter& evictions_;
  Counter& invalidated_;
};

}  // namespace iommusim
