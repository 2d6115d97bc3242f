// io-pgtable for x86-64 tables: VT-d first stage (and AMD-Vi v2) and VT-d second stage, binding the
// generic editor to pgtable/x86_64. Leaves carry the attributes Linux's intel-iommu driver sets.
#pragma once
#include "models/host/io_pgtable.h"
#include "models/pgtable/x86_64.h"

namespace iommusim::host {

class X86Codec {
 public:
  enum class Stage : uint8_t { First, Second };
  X86Codec(unsigned levels, Stage s, bool leaf_2m = true, bool leaf_1g = false)
      : g_(pgtable::x86::Geometry::make(levels, leaf_2m, leaf_1g)), stage_(s) {}
  const pgtable::x86::Geometry& geometry() const { return g_; }
  Stage stage() const { return stage_; }
  unsigned start_level() const { return g_.start_level; }
  unsigned last_level() const { return pgtable::x86::kLastLevel; }
  uint64_t granule() const { return 4096; }
  // First-stage IOVAs are canonical; the DMA API only hands out the lower half.
  bool in_range(uint64_t va) const { return g_.in_range(va); }
  uint64_t entry_span(unsigned l) const { return g_.entry_span(l); }
  unsigned index(uint64_t va, unsigned l) const { return g_.index(va, l); }
  unsigned entries(unsigned) const { return pgtable::x86::Geometry::kEntries; }
  unsigned table_bytes(unsigned) const { return pgtable::x86::Geometry::kTableBytes; }
  bool leaf_allowed(unsigned l) const { return g_.leaf_allowed(l); }
  PgEntry decode(uint64_t d, unsigned l) const {
    const auto x = stage_ == Stage::First ? pgtable::x86::decode_fs(d, l, g_) : pgtable::x86::decode_ss(d, l, g_);
    switch (x.kind) {
      case pgtable::x86::Kind::Invalid: return {};
      case pgtable::x86::Kind::Table: return {PgEntry::Kind::Table, x.addr};
      default: return {PgEntry::Kind::Leaf, x.addr};
    }
  }
  uint64_t encode_table(uint64_t pa, unsigned /*level*/) const {
    return stage_ == Stage::First ? pgtable::x86::encode_table(pa, pgtable::x86::FsTableAttrs{})
                                  : pgtable::x86::encode_table(pa, pgtable::x86::SsTableAttrs{});
  }
  uint64_t encode_leaf(uint64_t pa, unsigned l, IoProt prot) const {
    if (stage_ == Stage::First) {
      pgtable::x86::FsLeafAttrs a;
      a.write = prot.write;
      a.user = !prot.priv;
      a.xd = true;
      a.accessed = true;  // Linux pre-sets A/D so the IOMMU never needs to write them
      a.dirty = prot.write;
      return pgtable::x86::encode_leaf(pa, l, g_, a);
    }
    pgtable::x86::SsLeafAttrs a;
    a.read = prot.read;
    a.write = prot.write;
    a.emt = 6;  // write-back
    return pgtable::x86::encode_leaf(pa, l, g_, a);
  }

 private:
  pgtable::x86::Geometry g_;
  Stage stage_;
};

using IoPgtableX86 = IoPgtable<X86Codec>;

}  // namespace iommusim::host
