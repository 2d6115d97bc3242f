// The architecture-free translation engine every IOMMU model is built on: IOTLB, walk caches and
// a bounded pool of page-table walkers whose every table read is a timed memory transaction.
// Nested (two-stage) translation walks stage 1 with every table address and the output address
// translated through stage 2, on one walker; the IOTLB holds the combined result.
//
// Not modelled: walk merging (two misses to one page walk twice), speculative prefetch, TLB
// conflict aborts, hardware access/dirty flag updates, a separate cache of stage-2 translations
// for stage-1 table addresses (nested walks reuse the stage-2 walk-cache entries and cache each
// stage-1 table's translated address in the stage-1 walk-cache entry instead).
#pragma once
#include <systemc>

#include <cstdint>

#include "models/common/occupancy.h"
#include "models/common/params.h"
#include "models/common/stats.h"
#include "models/common/timeline.h"
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

// Permission: nested walks only, the stage-2 translation of a stage-1 table denies reads.
enum class WalkFault : uint8_t { None, Translation, AccessFlag, AddressSize, ExternalAbort, Permission };

struct WalkResult {
  WalkFault fault = WalkFault::None;
  unsigned level = 0;  // where the walk stopped
  unsigned reads = 0;
  TlbEntry entry;
};

// Which walk of a nested translation stopped, so that architectures can report stage-specific
// reasons (a stage-2 fault while fetching a stage-1 table differs from one on the output address).
enum class NestedStage : uint8_t {
  None,
  Stage1,        // a stage-1 entry: not present or malformed, or its read failed
  Stage2Table,   // the stage-2 translation of a stage-1 table address (s1_level: that table's level)
  Stage2Output,  // the stage-2 translation of the stage-1 output address
};

struct NestedWalkResult {
  WalkFault fault = WalkFault::None;
  NestedStage stage = NestedStage::None;
  unsigned level = 0;     // where the faulting walk stopped, in its own stage's level numbering
  unsigned s1_level = 0;  // the stage-1 level reached
  uint64_t gpa = 0;       // Stage2Table / Stage2Output: the intermediate address being translated
  uint64_t entry_pa = 0;  // physical address of the last entry read by the faulting walk
  unsigned reads = 0;     // table reads of both stages
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

  // One walk without the IOTLB (also used by tests).
  WalkResult walk(TlbTag tag, bool stage2, const TableFormat& f, uint64_t root, uint64_t va, sc_core::sc_time& t);

  // Nested translation of va: stage 1 (format s1, root s1_root) walked with every table address, the root
  // included, and its output address taken as intermediate addresses and translated through stage 2 (s2,
  // s2_root), all on one walker. The IOTLB entry is tagged `tag`, maps the smaller of the two leaves and
  // grants the AND of both stages' rights. Stage-2 walk-cache entries are tagged `s2_tag` and marked stage 2,
  // so they never alias stage-1 ones; stage-1 entries hold the translated next-table address. A separate
  // entry point, so that translate() carries no nested branch.
  const TlbEntry* translate_nested(TlbTag tag, const TableFormat& s1, uint64_t s1_root, TlbTag s2_tag,
                                   const TableFormat& s2, uint64_t s2_root, uint64_t va, sc_core::sc_time& t,
                                   NestedWalkResult& fault) {
    t += tlb_latency_;
    if (const TlbEntry* e = iotlb_.lookup(tag, va)) return e;
    return miss_nested(tag, s1, s1_root, s2_tag, s2, s2_root, va, t, fault);
  }
  // One nested walk without the IOTLB and the walker pool.
  NestedWalkResult walk_nested(TlbTag tag, const TableFormat& s1, uint64_t s1_root, TlbTag s2_tag,
                               const TableFormat& s2, uint64_t s2_root, uint64_t va, sc_core::sc_time& t);

  Iotlb& iotlb() { return iotlb_; }
  WalkCache& walk_cache() { return wc_; }
  StatGroup& stats() { return stats_; }

 private:
  const TlbEntry* miss(TlbTag tag, bool stage2, const TableFormat& f, uint64_t root, uint64_t va,
                       sc_core::sc_time& t, WalkResult& fault);
  const TlbEntry* miss_nested(TlbTag tag, const TableFormat& s1, uint64_t s1_root, TlbTag s2_tag,
                              const TableFormat& s2, uint64_t s2_root, uint64_t va, sc_core::sc_time& t,
                              NestedWalkResult& fault);
  // The walk loop shared by single-stage and nested walks: `xlate` maps each next-table address to the
  // physical address it is read at (the identity outside nested walks); `entry_pa` is the last entry read.
  template <class TableXlate>
  WalkResult walk_steps(TlbTag tag, bool stage2, const TableFormat& f, uint64_t root, uint64_t va,
                        sc_core::sc_time& t, uint64_t& entry_pa, TableXlate&& xlate);
  MemReader& mem_;
  StatGroup stats_;
  Iotlb iotlb_;
  WalkCache wc_;
  ServerPool walkers_;
  sc_core::sc_time tlb_latency_, walk_read_latency_;
  Counter& walks_;
  Counter& walk_reads_;
  Counter& faults_;
  Counter& nested_walks_;
  Histogram& walk_ns_;
  Histogram& walker_wait_ns_;
  timeline::Track tl_;  // "<iommu>.walker"
  TlbEntry last_;  // result storage when the IOTLB is disabled
};

}  // namespace iommusim
