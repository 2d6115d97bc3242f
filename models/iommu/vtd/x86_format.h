// Adapter presenting an x86-64 paging structure (VT-d first stage, 4/5-level, or second stage, 3/4/5-level)
// to the generic walker. Levels follow the codec's numbering (0 PML5E ... 4 PTE): a shorter table starts at
// a later level, so level_shift() is the same for every depth and walk-cache entries line up.
#pragma once
#include "models/iommu/core/table_format.h"
#include "models/pgtable/x86_64.h"

namespace iommusim::vtd {

class X86Format final : public TableFormat {
 public:
  using Geometry = pgtable::x86::Geometry;
  using Stage = pgtable::x86::Stage;

  X86Format() = default;
  X86Format(const Geometry& g, Stage s) : g_(g), stage_(s) {}
  const Geometry& geometry() const { return g_; }
  Stage stage() const { return stage_; }
  bool first_stage() const { return stage_ == Stage::First; }

  unsigned start_level() const override { return g_.start_level; }
  unsigned last_level() const override { return pgtable::x86::kLastLevel; }
  unsigned input_bits() const override { return g_.input_bits(); }
  uint64_t entry_offset(uint64_t va, unsigned level) const override {
    return uint64_t{Geometry::index(va, level)} * 8u;
  }
  unsigned level_shift(unsigned level) const override { return Geometry::level_shift(level); }
  // Input-address check before a walk: first stage sign-extends its top bit (canonical), second stage
  // requires the bits above its width to be zero.
  bool input_ok(uint64_t va) const { return stage_ == Stage::First ? g_.canonical(va) : g_.in_range(va); }

  WalkStep decode(uint64_t desc, unsigned level) const override {
    const pgtable::x86::Decoded d = pgtable::x86::decode(desc, level, g_, stage_);
    WalkStep s;
    switch (d.kind) {
      case pgtable::x86::Kind::Invalid: return s;
      case pgtable::x86::Kind::Table:
        s.kind = WalkStep::Kind::Table;
        s.addr = d.addr;
        s.limit = Perm{d.read, d.write, d.exec, d.user};  // x86 rights are the AND of every level's
        return s;
      case pgtable::x86::Kind::Leaf: break;
    }
    s.kind = WalkStep::Kind::Leaf;
    s.addr = d.addr;
    s.shift = static_cast<uint8_t>(Geometry::level_shift(level));
    s.access_flag = true;  // x86 A/D flags never fault: hardware would set them (not modelled)
    s.global = stage_ == Stage::First && d.global;
    s.perm.r = d.read;
    s.perm.w = d.write;
    s.perm.x = d.exec;
    s.perm.user = d.user;
    return s;
  }

 private:
  Geometry g_{};
  Stage stage_ = Stage::Second;
};

}  // namespace iommusim::vtd
