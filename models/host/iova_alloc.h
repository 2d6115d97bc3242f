// IOVA allocator following Linux (R5.4): granule-sized units, IOVA 0 never handed out, top-down
// allocation below a limit, each range aligned to its size rounded up to a power of two.
// Not modelled: the per-CPU rcaches (their effect is only on CPU cost, charged as a parameter).
#pragma once
#include <cstdint>
#include <map>
#include <optional>

namespace iommusim::host {

class IovaAllocator {
 public:
  IovaAllocator(uint64_t granule, uint64_t limit) : granule_(granule), limit_(limit) {}
  // Returns an IOVA for `size` bytes ending at or below `max` (inclusive), or nullopt.
  std::optional<uint64_t> alloc(uint64_t size, uint64_t max);
  std::optional<uint64_t> alloc(uint64_t size) { return alloc(size, limit_); }
  // Marks [start, start+size) as never allocatable (reserved regions).
  bool reserve(uint64_t start, uint64_t size);
  // Frees the range starting at iova; false if no such allocation.
  bool free(uint64_t iova);
  size_t allocated() const { return ranges_.size(); }
  uint64_t granule() const { return granule_; }

 private:
  uint64_t granule_, limit_;
  std::map<uint64_t, uint64_t> ranges_;  // start -> end (exclusive)
};

}  // namespace iommusim::host
