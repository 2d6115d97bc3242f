// The host CPU's functional view of memory: what the kernel's loads and stores to its own page
// tables and queues do. Timing of these CPU accesses is charged as CPU cost by the caller.
#pragma once
#include <cstddef>
#include <cstdint>

namespace iommusim::host {

class PhysMem {
 public:
  virtual ~PhysMem() = default;
  virtual void read(uint64_t pa, void* dst, size_t len) = 0;
  virtual void write(uint64_t pa, const void* src, size_t len) = 0;
  uint64_t read64(uint64_t pa) {
    uint64_t v = 0;
    read(pa, &v, 8);
    return v;
  }
  void write64(uint64_t pa, uint64_t v) { write(pa, &v, 8); }
  void zero(uint64_t pa, size_t len);
};

}  // namespace iommusim::host
