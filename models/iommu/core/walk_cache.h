// Walk caches: per table level, the address of the next-level table for a VA prefix, so a walk
// can skip the levels above. One uniformly-parameterised cache per non-leaf level.
#pragma once
#include <array>
#include <cstdint>
#include <memory>

#include "models/iommu/core/tlb.h"

namespace iommusim {

struct WalkCacheEntry {
  TlbTag tag;
  bool stage2 = false;
  uint8_t level = 0;
  uint64_t prefix = 0;  // va >> level_shift(level)
  uint64_t next_table = 0;
  uint8_t next_level = 0;  // level of next_table (level + 1 unless the format skips levels)
  Perm limit{true, true, true, true};  // permissions narrowed by the levels above next_table
  uint64_t va_zero_mask = 0;           // VA bits of levels the entry skipped: must be zero to use it
};

class WalkCache {
 public:
  // Table levels 0..5: VMSAv8 uses 0..3, x86 0..4 (5-level), AMD v1 0..5 (6-level); the deepest
  // level of a format holds leaves only and is never cached.
  static constexpr unsigned kLevels = 6;
  WalkCache(const CacheParams& p, uint64_t seed, const char* name, StatGroup& parent);

  // The deepest cached table covering va, at a level in [start, last); returns the level of the
  // cached table's *parent entry* via `level` and the table address, or false.
  bool lookup(TlbTag tag, bool stage2, uint64_t va, unsigned start, unsigned last,
              const unsigned* level_shift, unsigned& level, uint64_t& next_table);
  // The same, returning the whole entry (next level and permission limit included), or nullptr.
  const WalkCacheEntry* find(TlbTag tag, bool stage2, uint64_t va, unsigned start, unsigned last,
                             const unsigned* level_shift);
  void insert(TlbTag tag, bool stage2, unsigned level, uint64_t prefix, uint64_t next_table);
  void insert(const WalkCacheEntry& e);

  uint64_t invalidate_all();
  uint64_t invalidate_domain(uint32_t domain);
  uint64_t invalidate_space(TlbTag tag);
  // Entries whose VA span (prefix << shift of its level) overlaps [start, end).
  uint64_t invalidate_range(TlbTag tag, bool stage2, uint64_t start, uint64_t end, const unsigned* level_shift);

 private:
  std::array<std::unique_ptr<SetAssoc<WalkCacheEntry>>, kLevels> lv_;
  StatGroup stats_;
  Counter& lookups_;
  Counter& hits_;
  Counter& invalidated_;
};

}  // namespace iommusim
