// Adapter presenting a VMSAv8-64 regime (granule, input size, stage) to the generic walker.
#pragma once
#include "models/iommu/core/table_format.h"
#include "models/pgtable/vmsav8.h"

namespace iommusim::smmuv3 {

class VmsaFormat final : public TableFormat {
 public:
  VmsaFormat() = default;
  VmsaFormat(const pgtable::Geometry& g, bool stage2) : g_(g), stage2_(stage2) {}
  const pgtable::Geometry& geometry() const { return g_; }
  bool stage2() const { return stage2_; }

  unsigned start_level() const override { return g_.start_level; }
  unsigned last_level() const override { return g_.last_level; }
  unsigned input_bits() const override { return g_.input_bits; }
  uint64_t entry_offset(uint64_t va, unsigned level) const override {
    // Concatenated stage-2 start tables index straight on through the extra bits.
    return uint64_t{g_.index(va, level)} * 8u;
  }
  unsigned level_shift(unsigned level) const override { return g_.level_shift(level); }
  WalkStep decode(uint64_t desc, unsigned level) const override {
    const pgtable::Decoded d = pgtable::decode(desc, level, g_, stage2_);
    WalkStep s;
    switch (d.kind) {
      case pgtable::Kind::Invalid: return s;
      case pgtable::Kind::Table:
        s.kind = WalkStep::Kind::Table;
        s.addr = d.addr;
        return s;
      case pgtable::Kind::Block:
      case pgtable::Kind::Page: break;
    }
    s.kind = WalkStep::Kind::Leaf;
    s.addr = d.addr;
    s.shift = static_cast<uint8_t>(g_.level_shift(level));
    if (stage2_) {
      s.access_flag = d.s2.af;
      s.perm.r = d.s2.read;
      s.perm.w = d.s2.write;
      s.perm.x = (d.s2.xn & 2) == 0;
      s.perm.user = true;
    } else {
      s.access_flag = d.s1.af;
      s.global = !d.s1.ng;
      s.perm.r = true;
      s.perm.w = !d.s1.ro;
      s.perm.user = d.s1.user;
      s.perm.x = !(d.s1.user ? d.s1.uxn : d.s1.pxn);
    }
    return s;
  }

 private:
  pgtable::Geometry g_{};
  bool stage2_ = false;
};

}  // namespace iommusim::smmuv3
