// Adapter presenting an AMD-Vi v2 guest page table (x86-64 long mode, 4 or 5 levels, rooted at the guest
// CR3 a GCR3 table entry holds) to the generic walker. Levels follow the x86 codec (0 PML5E .. 4 PTE).
#pragma once
#include "models/iommu/core/table_format.h"
#include "models/pgtable/x86_64.h"

namespace iommusim::amdvi {

class AmdV2Format final : public TableFormat {
 public:
  using Geometry = pgtable::x86::Geometry;

  AmdV2Format() = default;
  explicit AmdV2Format(unsigned levels) : g_(Geometry::make(levels, /*2M*/ true, /*1G*/ true)) {}
  bool canonical(uint64_t va) const { return g_.canonical(va); }

  unsigned start_level() const override { return g_.start_level; }
  unsigned last_level() const override { return pgtable::x86::kLastLevel; }
  unsigned input_bits() const override { return g_.input_bits(); }
  uint64_t entry_offset(uint64_t va, unsigned level) const override { return uint64_t{Geometry::index(va, level)} * 8u; }
  unsigned level_shift(unsigned level) const override { return Geometry::level_shift(level); }

  WalkStep decode(uint64_t desc, unsigned level) const override {
    namespace x86 = pgtable::x86;
    const x86::Decoded d = x86::decode_fs(desc, level, g_);
    WalkStep s;
    if (d.kind == x86::Kind::Invalid) {
      last_reserved_ = d.reserved;
      return s;
    }
    s.addr = d.addr;
    const Perm p{d.read, d.write, true, d.user};  // XD is not honoured: the model reports NXSup = 0
    if (d.kind == x86::Kind::Table) {
      s.kind = WalkStep::Kind::Table;
      s.limit = p;
      return s;
    }
    s.kind = WalkStep::Kind::Leaf;
    s.shift = static_cast<uint8_t>(Geometry::level_shift(level));
    s.access_flag = true;  // A/D updates are not modelled
    s.global = false;      // the IOTLB keeps every guest entry PASID-tagged
    s.perm = p;
    return s;
  }

  bool last_reserved() const { return last_reserved_; }
  void clear_error() const { last_reserved_ = false; }

 private:
  Geometry g_ = Geometry::make(4, true, true);
  mutable bool last_reserved_ = false;
};

// Walker-level shifts of an x86 table, for walk-cache range invalidation (level 5 does not exist).
inline constexpr unsigned kV2Shifts[6] = {48, 39, 30, 21, 12, 12};

}  // namespace iommusim::amdvi
