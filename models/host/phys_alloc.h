// The kernel's physical page allocator, reduced to what the model needs: aligned allocations from
// one region, with freed blocks reused by size.
#pragma once
#include <cstdint>
#include <map>
#include <stdexcept>
#include <vector>

namespace iommusim::host {

class PhysAlloc {
 public:
  PhysAlloc(uint64_t base, uint64_t size) : next_(base), end_(base + size) {}
  // Returns a block of `size` bytes aligned to `align` (a power of two); throws when out of memory.
  uint64_t alloc(uint64_t size, uint64_t align = 4096) {
    auto& fl = free_[size];
    for (size_t i = fl.size(); i-- > 0;) {
      if (fl[i] % align == 0) {
        const uint64_t pa = fl[i];
        fl.erase(fl.begin() + static_cast<long>(i));
        return pa;
      }
    }
    const uint64_t pa = (next_ + align - 1) & ~(align - 1);
    if (pa + size > end_ || pa + size < pa) throw std::runtime_error("host: out of kernel memory for allocations");
    next_ = pa + size;
    return pa;
  }
  void free(uint64_t pa, uint64_t size) { free_[size].push_back(pa); }
  uint64_t high_water() const { return next_; }

 private:
  uint64_t next_, end_;
  std::map<uint64_t, std::vector<uint64_t>> free_;
};

}  // namespace iommusim::host
