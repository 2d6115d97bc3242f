// IOVA allocator implementation: top-down first fit among the gaps of a sorted range map.
#include "models/host/iova_alloc.h"

#include <algorithm>
#include <bit>
#include <iterator>

namespace iommusim::host {

std::optional<uint64_t> IovaAllocator::alloc(uint64_t size, uint64_t max) {
  if (size == 0) return std::nullopt;
  size = (size + granule_ - 1) / granule_ * granule_;
  const uint64_t align = std::bit_ceil(size);
  if (max > limit_) max = limit_;
  // Walk the gaps from the top down; each gap is [end of the range below, hi).
  uint64_t hi = max == UINT64_MAX ? UINT64_MAX : max + 1;
  auto it = ranges_.lower_bound(hi);
  for (;;) {
    uint64_t lo = granule_;  // IOVA 0 is never used
    if (it != ranges_.begin()) {
      const auto prev = std::prev(it);
      if (prev->second > lo) lo = prev->second;
    }
    if (lo < hi && hi - lo >= size) {
      const uint64_t start = (hi - size) & ~(align - 1);
      if (start >= lo) {
        ranges_.emplace(start, start + size);
        return start;
      }
    }
    if (it == ranges_.begin()) return std::nullopt;
    --it;
    hi = std::min(hi, it->first);
  }
}

bool IovaAllocator::reserve(uint64_t start, uint64_t size) {
  auto it = ranges_.lower_bound(start);
  if (it != ranges_.end() && it->first < start + size) return false;
  if (it != ranges_.begin() && std::prev(it)->second > start) return false;
  ranges_.emplace(start, start + size);
  return true;
}

bool IovaAllocator::free(uint64_t iova) { return ranges_.erase(iova) == 1; }

}  // namespace iommusim::host
