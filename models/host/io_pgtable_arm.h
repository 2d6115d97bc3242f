// Builds and edits VMSAv8-64 translation tables in simulated memory, as Linux's io-pgtable-arm
// does for SMMU domains: largest page size that fits alignment, tables allocated on demand.
// An empty table where a block is wanted is freed and replaced, as Linux does (the caller
// then flushes walk caches). Not modelled: freeing tables emptied by unmap, splitting blocks on partial unmap (refused),
// contiguous-hint entries, dirty tracking.
#pragma once
#include <cstdint>
#include <optional>

#include "models/host/phys_alloc.h"
#include "models/host/phys_mem.h"
#include "models/pgtable/vmsav8.h"

namespace iommusim::host {

struct IoProt {
  bool read = true, write = true, priv = false;
};

class IoPgtableArm {
 public:
  struct Work {
    unsigned ptes = 0;          // entries written
    unsigned tables = 0;        // table pages allocated
    unsigned tables_freed = 0;  // empty tables replaced by a block: the caller must flush walk caches
  };

  IoPgtableArm(PhysMem& mem, PhysAlloc& alloc, pgtable::Granule g, unsigned ias, bool stage2);
  uint64_t root() const { return root_; }
  const pgtable::Geometry& geometry() const { return g_; }
  // Bitmap of supported leaf sizes (page and block sizes of this granule).
  uint64_t pgsize_bitmap() const { return pgsizes_; }

  // Maps [iova, iova+size) to [pa, pa+size) with the largest leaves no bigger than max_page.
  // Throws std::invalid_argument on misalignment, range overflow or an existing mapping.
  Work map(uint64_t iova, uint64_t pa, uint64_t size, IoProt prot, uint64_t max_page = ~uint64_t{0});
  // Clears the leaves covering exactly [iova, iova+size); leaf_size is the largest leaf cleared
  // (the granule the caller invalidates by). Throws if a leaf straddles the range.
  Work unmap(uint64_t iova, uint64_t size, uint64_t& leaf_size);
  // Software walk of the tables as written in memory.
  std::optional<uint64_t> iova_to_phys(uint64_t iova);

 private:
  uint64_t new_table(unsigned level, Work& w);
  // True if the table at `level` (and every table below it) holds no valid leaf.
  bool table_empty(uint64_t table, unsigned level);
  void free_table(uint64_t table, unsigned level, Work& w);
  PhysMem& mem_;
  PhysAlloc& alloc_;
  pgtable::Geometry g_;
  bool stage2_;
  uint64_t root_ = 0;
  uint64_t pgsizes_ = 0;
};

}  // namespace iommusim::host
