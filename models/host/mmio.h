// A CPU's timed register access to one device (uncached loads and stores through the fabric).
#pragma once
#include <cstdint>

namespace iommusim::host {

class Mmio {
 public:
  virtual ~Mmio() = default;
  virtual uint64_t read(uint64_t off, unsigned len) = 0;
  virtual void write(uint64_t off, uint64_t v, unsigned len) = 0;
  uint32_t read32(uint64_t off) { return static_cast<uint32_t>(read(off, 4)); }
  void write32(uint64_t off, uint32_t v) { write(off, v, 4); }
  void write64(uint64_t off, uint64_t v) { write(off, v, 8); }
};

}  // namespace iommusim::host
