// Uniform parameters shared by every IOMMU cache (IOTLB, walk caches, configuration caches).
#pragma once
#include "models/common/params.h"

namespace iommusim {

enum class Replacement { Lru = 0, Fifo = 1, Random = 2 };

struct CacheParams {
  uint64_t entries = 64;
  uint64_t ways = 0;  // 0 = fully associative
  Replacement replacement = Replacement::Lru;

  CacheParams() = default;
  CacheParams(uint64_t e, uint64_t w) : entries(e), ways(w) {}
  void visit(ParamVisitor& v) {
    v.count("entries", entries, "number of entries (0 disables the cache)", 0, 1u << 20);
    v.count("ways", ways, "associativity; 0 = fully associative; must divide entries", 0, 1u << 20);
    v.choice_enum("replacement", replacement, {"lru", "fifo", "random"}, "victim choice within a set");
  }
};

}  // namespace iommusim
