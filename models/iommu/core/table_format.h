// What the generic page-table walker needs to know of a table format; each format's codec
// (models/pgtable) provides an adapter. One virtual call per level keeps the walker format-free.
#pragma once
#include <cstdint>

#include "models/iommu/core/tlb.h"

namespace iommusim {

struct WalkStep {
  static constexpr uint8_t kNextLevel = 0xFF;  // "the level below": the usual case
  enum class Kind : uint8_t { Invalid, Table, Leaf } kind = Kind::Invalid;
  uint64_t addr = 0;   // next table PA, or leaf output base
  uint8_t shift = 12;  // leaf: log2 of the bytes it maps
  bool access_flag = true;
  bool global = false;
  Perm perm;  // leaf: the access it grants
  // Table only. Formats whose table entries skip levels (AMD v1) say where the walk continues,
  // and which VA bits the skipped levels would have indexed (they must be zero).
  uint8_t next_level = kNextLevel;
  uint64_t va_zero_mask = 0;
  // Table only: formats whose permissions apply at every level (AMD v1, x86) narrow the leaf's.
  Perm limit{true, true, true, true};
};

class TableFormat {
 public:
  virtual ~TableFormat() = default;
  virtual unsigned start_level() const = 0;
  virtual unsigned last_level() const = 0;
  virtual unsigned input_bits() const = 0;
  // Byte offset of the entry for va in a table of `level`.
  virtual uint64_t entry_offset(uint64_t va, unsigned level) const = 0;
  // log2 of the bytes one entry of `level` maps (the VA bits above it select the entry).
  virtual unsigned level_shift(unsigned level) const = 0;
  virtual WalkStep decode(uint64_t desc, unsigned level) const = 0;
};

}  // namespace iommusim
