// io-pgtable for VMSAv8-64 (SMMU) tables: the codec binding the generic editor to pgtable/vmsav8.
#pragma once
#include "models/host/io_pgtable.h"
#include "models/pgtable/vmsav8.h"

namespace iommusim::host {

class ArmCodec {
 public:
  ArmCodec(pgtable::Granule g, unsigned ias, bool stage2) : g_(pgtable::Geometry::make(g, ias)), stage2_(stage2) {}
  const pgtable::Geometry& geometry() const { return g_; }
  unsigned start_level() const { return g_.start_level; }
  unsigned last_level() const { return g_.last_level; }
  uint64_t granule() const { return uint64_t{1} << g_.shift; }
  bool in_range(uint64_t va) const { return g_.input_bits >= 64 || (va >> g_.input_bits) == 0; }
  uint64_t entry_span(unsigned l) const { return g_.entry_span(l); }
  unsigned index(uint64_t va, unsigned l) const { return g_.index(va, l); }
  unsigned entries(unsigned l) const { return g_.entries(l); }
  unsigned table_bytes(unsigned l) const { return g_.table_bytes(l); }
  bool leaf_allowed(unsigned l) const { return l == g_.last_level || g_.block_allowed(l); }
  PgEntry decode(uint64_t d, unsigned l) const {
    const pgtable::Decoded x = pgtable::decode(d, l, g_, stage2_);
    switch (x.kind) {
      case pgtable::Kind::Invalid: return {};
      case pgtable::Kind::Table: return {PgEntry::Kind::Table, x.addr};
      default: return {PgEntry::Kind::Leaf, x.addr};
    }
  }
  uint64_t encode_table(uint64_t pa, unsigned /*level*/) const { return pgtable::encode_table(pa, g_); }
  uint64_t encode_leaf(uint64_t pa, unsigned l, IoProt prot) const;

 private:
  pgtable::Geometry g_;
  bool stage2_;
};

class IoPgtableArm : public IoPgtable<ArmCodec> {
 public:
  IoPgtableArm(PhysMem& mem, PhysAlloc& alloc, pgtable::Granule g, unsigned ias, bool stage2)
      : IoPgtable<ArmCodec>(mem, alloc, ArmCodec(g, ias, stage2)) {}
  const pgtable::Geometry& geometry() const { return codec().geometry(); }
};

}  // namespace iommusim::host
