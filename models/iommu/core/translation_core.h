// The architecture-free translation engine every IOMMU model is built on: IOTLB, walk caches and
// a bounded pool of page-table walkers whose every table read is a timed memory transaction.
//
// Not modelled: walk merging (two misses to one page walk twice), speculative prefetch, TLB
// conflict aborts, hardware access/dirty flag updates, nested (stage-1 + stage-2) walks.
#pragma once
#include <systemc>

#include <cstdint>

#include "models/common/occupancy.h"
#include "models/common/params.h"
#include "models/common/stats.h"
#include "models/iommu/core/table_format.h"
#include "models/iommu/core/tlb.h"
#include "models/iommu/core/walk_cache.h"

namespace iommusim {

// A timed 64-bit read of simulated memory at absolute time t (advanced to the data's arrival).
class MemReader {
 public:
  virtual ~MemReader() = default;
  virtual bool read64(uint64_t pa, uint64_t& value, sc_core::sc_time& t) = 0;
};

struct TranslationCoreParams {
  CacheParams iotlb{128, 0};
  CacheParams walk_cache{32, 0};
  uint64_t walkers = 4;
  Time tlb_latency = Time::ns(5);      // IOTLB lookup in the translation pipeline
  // F&S (SOSP'24) measured 197 ns per IOMMU page-walk memory read on Cascade Lake; with 90 ns
  // DRAM the IOMMU's own path to memory accounts for the other 107 ns.
  Time walk_read_latency = Time::ns(107);

  void visit(ParamVisitor& v) {
    v.group("iotlb", iotlb, "IOTLB: leaf translations tagged by domain and address space");
    v.group("walk_cache", walk_cache, "walk cache, one of this size per non-leaf table level");
    v.count("walkers", walkers, "page-table walkers that can walk concurrently", 1, 1024);
    v.time("tlb_latency", tlb_latency, "IOTLB lookup latency, paid by every translation");
    v.time("walk_read_latency", walk_read_latency, "added to each table read's memory latency (IOMMU to memory fabric)");
  }
};

enum class WalkFault : uint8_t { None, Translation, AccessFlag, AddressSize, ExternalAbort };

struct WalkResult {
  WalkFault fault = WalkFault::None;
  unsigned level = 0;  // where the walk stopped
  unsigned reads = 0;
  TlbEntry entry;
};

class TranslationCore {
 public:
  TranslationCore(const TranslationCoreParams& p, MemReader& mem, uint64_t seed, StatGroup& parent);

  // Hot path: returns the IOTLB entry for va in space `tag`, walking (format f, table root) on a
  // miss. t is the absolute time of the request, advanced past the lookup and any walk.
  // On a fault returns nullptr and fills `fault`.
  const TlbEntry* translate(TlbTag tag, bool stage2, const TableFormat& f, uint64_t root, uint64_t va,
                            sc_core::sc_time& t, WalkResult& fault) {
    t += tlb_latency_;
    if (const TlbEntry* e = iotlb_.lookup(tag, va)) return e;
    return miss(tag, stage2, f, root, va, t, fault);
  }

  // One walk without the IOTLB (also used by tests and by ATS later).
  WalkResult walk(TlbTag tag, bool stage2, const TableFormat& f, uint64_t root, uint64_t va, sc_core::sc_time& t);

  Iotlb& iotlb() { return iotlb_; }
  WalkCache& walk_cache() { return wc_; }
  StatGroup& stats() { return stats_; }

 private:
  const TlbEntry* miss(TlbTag tag, bool stage2, const TableFormat& f, uint64_t root, uint64_t va,
                       sc_core::sc_time& t, WalkResult& fault);
  MemReader& mem_;
  StatGroup stats_;
  Iotlb iotlb_;
  WalkCache wc_;
  ServerPool walkers_;
  sc_core::sc_time tlb_latency_, walk_read_latency_;
  Counter& walks_;
  Counter& walk_reads_;
  Counter& faults_;
  Histogram& walk_ns_;
  Histogram& walker_wait_ns_;
  TlbEntry last_;  // result storage when the IOTLB is disabled
};

}  // namespace iommusim
