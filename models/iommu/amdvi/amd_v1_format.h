// Adapter presenting an AMD-Vi v1 host page table (DTE Mode 1..6) to the generic walker.
//
// The codec (models/pgtable/amd_v1.h) numbers levels as the spec does, 1 (4 KiB) .. 6; the walker counts
// from the root of a 6-level table, so walker level g = 6 - L: a Mode m table starts at 6 - m and every
// table ends at 5. A PDE's Next Level becomes WalkStep::next_level (levels skipped, whose VA bits must be
// zero: va_zero_mask), its IR/IW narrow every leaf below it (WalkStep::limit), and a Next Level 7 leaf
// reports its encoded page size.
#pragma once
#include "models/iommu/core/table_format.h"
#include "models/pgtable/amd_v1.h"

namespace iommusim::amdvi {

class AmdV1Format final : public TableFormat {
 public:
  static constexpr unsigned kTopLevel = 6;  // spec level of walker level 0

  AmdV1Format() = default;
  explicit AmdV1Format(unsigned mode, uint64_t page_sizes = ~uint64_t{0}) : mode_(static_cast<uint8_t>(mode)),
                                                                              page_sizes_(page_sizes) {}
  unsigned mode() const { return mode_; }
  // VA bits above the top level must be zero (else IO_PAGE_FAULT).
  bool va_in_range(uint64_t va) const { return mode_ >= 6 || (va >> (12 + 9 * mode_)) == 0; }

  unsigned start_level() const override { return kTopLevel - mode_; }
  unsigned last_level() const override { return kTopLevel - 1; }
  unsigned input_bits() const override { return mode_ >= 6 ? 64u : 12u + 9u * mode_; }
  uint64_t entry_offset(uint64_t va, unsigned g) const override {
    return uint64_t{pgtable::amdv1::index(va, kTopLevel - g)} * 8u;
  }
  unsigned level_shift(unsigned g) const override { return pgtable::amdv1::level_shift(kTopLevel - g); }

  WalkStep decode(uint64_t desc, unsigned g) const override {
    namespace v1 = pgtable::amdv1;
    const unsigned lvl = kTopLevel - g;
    const v1::Decoded d = v1::decode(desc, lvl);
    WalkStep s;
    if (d.kind == v1::Kind::Invalid) {
      last_error_ = d.error;
      return s;
    }
    s.addr = d.addr;
    if (d.kind == v1::Kind::Table) {
      s.kind = WalkStep::Kind::Table;
      s.next_level = static_cast<uint8_t>(kTopLevel - d.next_level);
      s.va_zero_mask = v1::skipped_va_mask(lvl, d.next_level);
      s.limit = Perm{d.read, d.write, true, true};
      return s;
    }
    if (!((page_sizes_ >> d.page_shift) & 1)) {  // a page size the IOMMU does not support
      last_error_ = v1::Error::PageSize;
      return WalkStep{};
    }
    s.kind = WalkStep::Kind::Leaf;
    s.shift = d.page_shift;
    s.access_flag = true;  // A/D bits never fault; their hardware update is not modelled
    s.perm = Perm{d.read, d.write, true, true};
    return s;
  }

  // Why the last walk ending in an invalid entry stopped (NotPresent, or a malformed entry: event RZ);
  // None when no entry was invalid (a non-zero skipped-level VA bit). The model clears it per fault.
  pgtable::amdv1::Error last_error() const { return last_error_; }
  void clear_error() const { last_error_ = pgtable::amdv1::Error::None; }

 private:
  uint8_t mode_ = 3;
  uint64_t page_sizes_ = ~uint64_t{0};
  mutable pgtable::amdv1::Error last_error_ = pgtable::amdv1::Error::None;
};

// Walker-level shifts of a v1 table, for walk-cache range invalidation (index = walker level 0..5).
inline constexpr unsigned kV1Shifts[6] = {57, 48, 39, 30, 21, 12};

}  // namespace iommusim::amdvi
