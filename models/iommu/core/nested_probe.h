// Untimed two-stage probe of the tables behind a combined (nested) IOTLB entry: the entry holds the AND
// of both stages' rights, so an access it denies is walked again, with debug reads, to name the stage
// whose leaf refuses it. Fault path only; no statistics, no time.
#pragma once
#include <cstdint>

#include "models/iommu/core/table_format.h"

namespace iommusim {

struct NestedProbe {
  bool ok = false;  // both leaves found
  Perm s1, s2;      // each stage's rights, narrowed by its table levels
  uint64_t ipa = 0;  // the stage-1 output address (IPA / GPA)
};

namespace nested_probe_detail {
inline Perm both(const Perm& a, const Perm& b) { return Perm{a.r && b.r, a.w && b.w, a.x && b.x, a.user && b.user}; }

// One stage's leaf for `in`; `table_pa` maps each table address to where it is read.
template <class Read, class TablePa>
bool leaf(const TableFormat& f, uint64_t root, uint64_t in, Read& read, TablePa&& table_pa, uint64_t& out,
          Perm& perm) {
  if (f.input_bits() < 64 && (in >> f.input_bits())) return false;
  uint64_t table = root;
  Perm limit{true, true, true, true};
  for (unsigned l = f.start_level(); l <= f.last_level();) {
    uint64_t pa = 0, d = 0;
    if (!table_pa(table + f.entry_offset(in, l), pa) || !read(pa, d)) return false;
    const WalkStep s = f.decode(d, l);
    if (s.kind == WalkStep::Kind::Invalid) return false;
    if (s.kind == WalkStep::Kind::Table) {
      limit = both(limit, s.limit);
      table = s.addr;
      l = s.next_level == WalkStep::kNextLevel ? l + 1 : s.next_level;
      continue;
    }
    out = s.addr | (in & ((uint64_t{1} << s.shift) - 1));
    perm = both(s.perm, limit);
    return true;
  }
  return false;
}
}  // namespace nested_probe_detail

// read(pa, value) -> bool: an untimed 64-bit read.
template <class Read>
NestedProbe probe_nested(const TableFormat& s1, uint64_t s1_root, const TableFormat& s2, uint64_t s2_root,
                         uint64_t va, Read&& read) {
  using nested_probe_detail::leaf;
  NestedProbe np;
  auto phys = [](uint64_t a, uint64_t& pa) {
    pa = a;
    return true;
  };
  auto via_s2 = [&](uint64_t ipa, uint64_t& pa) {
    Perm p;
    return leaf(s2, s2_root, ipa, read, phys, pa, p);
  };
  if (!leaf(s1, s1_root, va, read, via_s2, np.ipa, np.s1)) return np;
  uint64_t pa = 0;
  np.ok = leaf(s2, s2_root, np.ipa, read, phys, pa, np.s2);
  return np;
}

}  // namespace iommusim
