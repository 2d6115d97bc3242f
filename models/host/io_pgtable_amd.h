// io-pgtable for AMD-Vi v1 host tables (Linux io_pgtable.c): the codec binding the generic editor to
// pgtable/amd_v1. Editor levels count from the root (0) to the 4 KiB level (5), i.e. 6 - spec level,
// as the walker's adapter does. The host never skips levels and uses natural page sizes only.
#pragma once
#include "models/host/io_pgtable.h"
#include "models/pgtable/amd_v1.h"

namespace iommusim::host {

class AmdV1Codec {
 public:
  explicit AmdV1Codec(unsigned mode) : g_(pgtable::amdv1::Geometry::make(mode)) {}
  unsigned mode() const { return g_.mode; }
  unsigned start_level() const { return 6 - g_.mode; }
  unsigned last_level() const { return 5; }
  uint64_t granule() const { return 4096; }
  bool in_range(uint64_t va) const { return g_.va_in_range(va); }
  uint64_t entry_span(unsigned l) const { return pgtable::amdv1::entry_span(6 - l); }
  unsigned index(uint64_t va, unsigned l) const { return pgtable::amdv1::index(va, 6 - l); }
  unsigned entries(unsigned l) const { return g_.entries(6 - l); }
  unsigned table_bytes(unsigned l) const { return g_.entries(6 - l) * 8; }
  // 4 KiB, 2 MiB and 1 GiB pages at spec levels 1-3 (what Linux's v1 tables use for DMA).
  bool leaf_allowed(unsigned l) const { return l >= 3; }
  PgEntry decode(uint64_t d, unsigned l) const {
    const auto x = pgtable::amdv1::decode(d, 6 - l);
    switch (x.kind) {
      case pgtable::amdv1::Kind::Invalid: return {};
      case pgtable::amdv1::Kind::Table: return {PgEntry::Kind::Table, x.addr};
      default: return {PgEntry::Kind::Leaf, x.addr};
    }
  }
  uint64_t encode_table(uint64_t pa, unsigned l) const { return pgtable::amdv1::encode_pde(pa, 6 - l - 1); }
  uint64_t encode_leaf(uint64_t pa, unsigned l, IoProt prot) const {
    return pgtable::amdv1::encode_pte(pa, 6 - l, entry_span(l), prot.read, prot.write);
  }

 private:
  pgtable::amdv1::Geometry g_;
};

using IoPgtableAmd = IoPgtable<AmdV1Codec>;

}  // namespace iommusim::host
