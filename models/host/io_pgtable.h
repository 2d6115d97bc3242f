// The host's page-table editor for any radix format (Linux io-pgtable): map with the largest leaf
// the alignment allows, allocate tables on demand, unmap exact leaves, walk in software. A small
// codec per format (io_pgtable_arm.h, io_pgtable_x86.h) supplies geometry and entry encodings.
// An empty table where a block is wanted is freed and replaced, as Linux does (the caller then
// flushes walk caches). Not modelled: freeing tables emptied by unmap, splitting blocks on partial
// unmap (refused), contiguous hints, dirty tracking.
#pragma once
#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <optional>
#include <stdexcept>
#include <string>

#include "models/host/phys_alloc.h"
#include "models/host/phys_mem.h"

namespace iommusim::host {

struct IoProt {
  bool read = true, write = true, priv = false;
  // Instruction fetch: honoured by the process page tables (mm.h); the DMA codecs always set XD/XN.
  bool exec = false;
};

struct PgWork {
  unsigned ptes = 0;          // entries written
  unsigned tables = 0;        // table pages allocated
  unsigned tables_freed = 0;  // empty tables replaced by a block: the caller must flush walk caches
};

// What a codec decodes an entry to, for the editor's purposes.
struct PgEntry {
  enum class Kind : uint8_t { Invalid, Table, Leaf } kind = Kind::Invalid;
  uint64_t addr = 0;
};

template <class Codec>
class IoPgtable {
 public:
  using Work = PgWork;
  IoPgtable(PhysMem& mem, PhysAlloc& alloc, const Codec& c) : mem_(mem), alloc_(alloc), c_(c) {
    for (unsigned l = c_.start_level(); l <= c_.last_level(); ++l)
      if (c_.leaf_allowed(l)) pgsizes_ |= c_.entry_span(l);
    Work w;
    root_ = new_table(c_.start_level(), w);
  }
  uint64_t root() const { return root_; }
  const Codec& codec() const { return c_; }
  uint64_t pgsize_bitmap() const { return pgsizes_; }

  // Maps [iova, iova+size) to [pa, pa+size) with the largest leaves no bigger than max_page.
  // Throws std::invalid_argument on misalignment, range overflow or an existing mapping.
  Work map(uint64_t iova, uint64_t pa, uint64_t size, IoProt prot, uint64_t max_page = ~uint64_t{0}) {
    Work w;
    const uint64_t gran = c_.granule();
    if ((iova | pa | size) & (gran - 1)) throw std::invalid_argument("io-pgtable: map not aligned to the granule");
    if (size == 0 || !c_.in_range(iova) || !c_.in_range(iova + size - 1))
      throw std::invalid_argument("io-pgtable: IOVA beyond the input address size");
    while (size) {
      unsigned level = c_.last_level();
      for (unsigned l = c_.start_level(); l <= c_.last_level(); ++l) {
        const uint64_t span = c_.entry_span(l);
        if ((pgsizes_ & span) && span <= max_page && span <= size && ((iova | pa) & (span - 1)) == 0) {
          level = l;
          break;
        }
      }
      uint64_t table = root_;
      for (unsigned l = c_.start_level(); l < level; ++l) {
        const uint64_t slot = table + uint64_t{c_.index(iova, l)} * 8;
        const PgEntry e = c_.decode(mem_.read64(slot), l);
        if (e.kind == PgEntry::Kind::Table) {
          table = e.addr;
        } else if (e.kind == PgEntry::Kind::Invalid) {
          const uint64_t next = new_table(l + 1, w);
          mem_.write64(slot, c_.encode_table(next, l));
          ++w.ptes;
          table = next;
        } else {
          throw std::invalid_argument("io-pgtable: IOVA " + hex(iova) + " already mapped by a block");
        }
      }
      const uint64_t slot = table + uint64_t{c_.index(iova, level)} * 8;
      const PgEntry old = c_.decode(mem_.read64(slot), level);
      if (old.kind != PgEntry::Kind::Invalid) {
        if (old.kind != PgEntry::Kind::Table || !table_empty(old.addr, level + 1))
          throw std::invalid_argument("io-pgtable: IOVA " + hex(iova) + " already mapped at level " + std::to_string(level));
        free_table(old.addr, level + 1, w);
      }
      mem_.write64(slot, c_.encode_leaf(pa, level, prot));
      ++w.ptes;
      const uint64_t span = c_.entry_span(level);
      iova += span;
      pa += span;
      size -= span;
    }
    return w;
  }

  // Clears the leaves covering exactly [iova, iova+size); leaf_size is the largest leaf cleared
  // (the granule the caller invalidates by). Throws if a leaf straddles the range.
  Work unmap(uint64_t iova, uint64_t size, uint64_t& leaf_size) {
    Work w;
    leaf_size = 0;
    while (size) {
      uint64_t table = root_;
      for (unsigned l = c_.start_level();; ++l) {
        const uint64_t slot = table + uint64_t{c_.index(iova, l)} * 8;
        const PgEntry e = c_.decode(mem_.read64(slot), l);
        if (e.kind == PgEntry::Kind::Table) {
          table = e.addr;
          continue;
        }
        if (e.kind == PgEntry::Kind::Invalid) throw std::invalid_argument("io-pgtable: unmap of an unmapped IOVA " + hex(iova));
        const uint64_t span = c_.entry_span(l);
        if ((iova & (span - 1)) || span > size) throw std::invalid_argument("io-pgtable: unmap splits a block");
        mem_.write64(slot, 0);
        ++w.ptes;
        leaf_size = std::max(leaf_size, span);
        iova += span;
        size -= span;
        break;
      }
    }
    return w;
  }

  // Software walk of the tables as written in memory.
  std::optional<uint64_t> iova_to_phys(uint64_t iova) {
    uint64_t table = root_;
    for (unsigned l = c_.start_level(); l <= c_.last_level(); ++l) {
      const PgEntry e = c_.decode(mem_.read64(table + uint64_t{c_.index(iova, l)} * 8), l);
      if (e.kind == PgEntry::Kind::Invalid) return std::nullopt;
      if (e.kind == PgEntry::Kind::Table) {
        table = e.addr;
        continue;
      }
      return e.addr | (iova & (c_.entry_span(l) - 1));
    }
    return std::nullopt;
  }

 private:
  static std::string hex(uint64_t v) {
    char b[24];
    std::snprintf(b, sizeof b, "%#llx", static_cast<unsigned long long>(v));
    return b;
  }
  uint64_t table_alloc_bytes(unsigned level) const {
    return std::max<uint64_t>(std::max<uint64_t>(c_.table_bytes(level), 64), c_.granule());
  }
  uint64_t new_table(unsigned level, Work& w) {
    const uint64_t pa = alloc_.alloc(table_alloc_bytes(level), c_.granule());
    mem_.zero(pa, std::max<uint64_t>(c_.table_bytes(level), 64));
    ++w.tables;
    return pa;
  }
  // True if the table at `level` (and every table below it) holds no valid leaf.
  bool table_empty(uint64_t table, unsigned level) {
    for (unsigned i = 0; i < c_.entries(level); ++i) {
      const PgEntry e = c_.decode(mem_.read64(table + uint64_t{i} * 8), level);
      if (e.kind == PgEntry::Kind::Invalid) continue;
      if (e.kind != PgEntry::Kind::Table || !table_empty(e.addr, level + 1)) return false;
    }
    return true;
  }
  void free_table(uint64_t table, unsigned level, Work& w) {
    for (unsigned i = 0; i < c_.entries(level); ++i) {
      const PgEntry e = c_.decode(mem_.read64(table + uint64_t{i} * 8), level);
      if (e.kind == PgEntry::Kind::Table) free_table(e.addr, level + 1, w);
    }
    alloc_.free(table, table_alloc_bytes(level));
    ++w.tables_freed;
  }

  PhysMem& mem_;
  PhysAlloc& alloc_;
  Codec c_;
  uint64_t root_ = 0;
  uint64_t pgsizes_ = 0;
};

}  // namespace iommusim::host
