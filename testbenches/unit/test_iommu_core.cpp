// Unit tests of the architecture-free IOMMU core: SetAssoc replacement and indexing, the IOTLB
// (mixed page sizes, tags, every invalidation scope, counters), the walk cache, and the
// TranslationCore walker (reads per walk, exact walk latency, walker-pool contention, faults).
//
// The walker is driven through a table format written here (4 KiB granule, 48-bit input, levels
// 0-3, VMSAv8-64 descriptor bit positions decoded by hand) over a std::map of hand-written raw
// descriptors with a fixed latency per read, so every expectation is computed in the test.
#include <gtest/gtest.h>
#include <systemc>

#include <cstdint>
#include <map>
#include <set>
#include <stdexcept>
#include <vector>

#include "models/common/rng.h"
#include "models/common/stats.h"
#include "models/iommu/core/set_assoc.h"
#include "models/iommu/core/table_format.h"
#include "models/iommu/core/tlb.h"
#include "models/iommu/core/translation_core.h"
#include "models/iommu/core/walk_cache.h"
#include "testbenches/sim_fixture.h"

namespace iommusim {
namespace {

using sc_core::sc_time;
using sc_core::SC_NS;
using sc_core::SC_PS;

double stat(const StatGroup& g, const char* path) {
  double v = -1;
  EXPECT_TRUE(g.find(path, v)) << path;
  return v;
}

// ---- SetAssoc -----------------------------------------------------------------------------------

struct E {
  uint64_t key = 0;
  int val = 0;
};

CacheParams cp(uint64_t entries, uint64_t ways, Replacement r = Replacement::Lru) {
  CacheParams p(entries, ways);
  p.replacement = r;
  return p;
}

// Inserts key with set index = key (so the set is key % sets).
E* put(SetAssoc<E>& c, uint64_t key, bool* evicted = nullptr) {
  return c.insert(key, E{key, static_cast<int>(key)}, [&](const E& x) { return x.key == key; }, evicted);
}
bool has(SetAssoc<E>& c, uint64_t key) {
  return c.find(key, [&](const E& x) { return x.key == key; }) != nullptr;
}

TEST(SetAssoc, WaysMustDivideEntries) {
  EXPECT_THROW(SetAssoc<E>(cp(6, 4), 1, "c"), std::invalid_argument);
  EXPECT_THROW(SetAssoc<E>(cp(8, 3), 1, "c"), std::invalid_argument);
  SetAssoc<E> fa(cp(8, 0), 1, "c");  // 0 = fully associative
  EXPECT_EQ(fa.sets(), 1u);
  EXPECT_EQ(fa.ways(), 8u);
  SetAssoc<E> clamp(cp(8, 16), 1, "c");  // more ways than entries: fully associative
  EXPECT_EQ(clamp.sets(), 1u);
  EXPECT_EQ(clamp.ways(), 8u);
  SetAssoc<E> sa(cp(8, 2), 1, "c");
  EXPECT_EQ(sa.sets(), 4u);
  EXPECT_EQ(sa.ways(), 2u);
  SetAssoc<E> off(cp(0, 0), 1, "c");
  EXPECT_FALSE(off.enabled());
  EXPECT_EQ(put(off, 1), nullptr);
  EXPECT_FALSE(has(off, 1));
}

TEST(SetAssoc, SetIndexingIsIndexModSets) {
  SetAssoc<E> c(cp(8, 2), 1, "c");  // 4 sets of 2
  bool ev = true;
  put(c, 1, &ev);
  EXPECT_FALSE(ev);
  put(c, 5, &ev);  // set 1
  EXPECT_FALSE(ev);
  put(c, 2, &ev);  // set 2
  EXPECT_FALSE(ev);
  put(c, 9, &ev);  // set 1 again: full, evicts the LRU one (key 1)
  EXPECT_TRUE(ev);
  EXPECT_FALSE(has(c, 1));
  EXPECT_TRUE(has(c, 5));
  EXPECT_TRUE(has(c, 9));
  EXPECT_TRUE(has(c, 2));  // another set is untouched
  EXPECT_EQ(c.occupancy(), 3u);
  // A lookup with the right key but probing the wrong set finds nothing.
  EXPECT_EQ(c.find(7, [](const E& x) { return x.key == 2; }), nullptr);
  // Re-inserting a present key replaces it in place: no eviction.
  put(c, 9, &ev);
  EXPECT_FALSE(ev);
  EXPECT_EQ(c.occupancy(), 3u);
  EXPECT_EQ(c.invalidate_if([](const E& x) { return x.key % 4 == 1; }), 2u);
  EXPECT_EQ(c.occupancy(), 1u);
}

TEST(SetAssoc, LruRefreshesOnHitFifoDoesNot) {
  for (Replacement r : {Replacement::Lru, Replacement::Fifo}) {
    SetAssoc<E> f(cp(2, 2, r), 1, "c");
    put(f, 10);
    put(f, 20);
    EXPECT_TRUE(has(f, 10));  // a hit on the oldest entry
    put(f, 30);
    if (r == Replacement::Lru) {
      EXPECT_TRUE(has(f, 10));
      EXPECT_FALSE(has(f, 20));
    } else {
      EXPECT_FALSE(has(f, 10));
      EXPECT_TRUE(has(f, 20));
    }
    EXPECT_TRUE(has(f, 30));
  }
  // Longer LRU sequence in one set of 4: victims are least recently used.
  SetAssoc<E> l(cp(4, 4), 1, "c");
  for (uint64_t k : {0, 1, 2, 3}) put(l, k);
  has(l, 0);
  has(l, 2);
  put(l, 4);  // evicts 1
  EXPECT_FALSE(has(l, 1));
  put(l, 5);  // LRU order now 3, 0, 2, 4 -> evicts 3
  EXPECT_FALSE(has(l, 3));
  for (uint64_t k : {0, 2, 4, 5}) EXPECT_TRUE(has(l, k)) << k;
  // FIFO: insertion order only.
  SetAssoc<E> q(cp(4, 4, Replacement::Fifo), 1, "c");
  for (uint64_t k : {0, 1, 2, 3}) put(q, k);
  for (int i = 0; i < 3; ++i) has(q, 0);
  put(q, 4);
  EXPECT_FALSE(has(q, 0));
  put(q, 5);
  EXPECT_FALSE(has(q, 1));
}

// Random replacement: the victim way is the seeded per-cache generator's below(ways); invalid
// ways fill first in way order. Reproduced here with an independent Rng of the same seed/name.
std::vector<uint64_t> random_victims(uint64_t seed, int rounds) {
  SetAssoc<E> c(cp(4, 4, Replacement::Random), seed, "rnd");
  std::vector<uint64_t> way_key = {0, 1, 2, 3};
  for (uint64_t k : way_key) put(c, k);
  Rng ref(seed, "rnd");
  std::vector<uint64_t> victims;
  for (int i = 0; i < rounds; ++i) {
    const uint64_t nk = 100 + static_cast<uint64_t>(i);
    const uint64_t w = ref.below(4);
    bool ev = false;
    put(c, nk, &ev);
    EXPECT_TRUE(ev);
    EXPECT_FALSE(has(c, way_key[w])) << "round " << i;
    victims.push_back(way_key[w]);
    way_key[w] = nk;
    for (uint64_t k : way_key) EXPECT_TRUE(has(c, k)) << "round " << i;
  }
  EXPECT_EQ(c.occupancy(), 4u);
  return victims;
}

TEST(SetAssoc, RandomReplacementIsSeededAndDeterministic) {
  const auto a = random_victims(7, 64);
  const auto b = random_victims(7, 64);
  const auto c = random_victims(8, 64);
  EXPECT_EQ(a, b);
  EXPECT_NE(a, c);
}

// ---- IOTLB --------------------------------------------------------------------------------------

TlbEntry te(uint32_t dom, uint32_t space, uint64_t va, uint64_t pa, unsigned shift, bool global = false,
            bool s2 = false) {
  TlbEntry e;
  e.tag = {dom, space};
  e.va = va;
  e.pa = pa;
  e.shift = static_cast<uint8_t>(shift);
  e.global = global;
  e.stage2_only = s2;
  e.perm.r = e.perm.w = true;
  return e;
}

class IotlbTest : public ::testing::Test {
 protected:
  StatGroup root{"root"};
  Iotlb tlb{CacheParams(64, 0), 1, "iotlb", root};
  bool hit(uint32_t d, uint32_t s, uint64_t va) { return tlb.lookup({d, s}, va) != nullptr; }
};

TEST_F(IotlbTest, MixedPageSizesInOneIotlb) {
  tlb.insert(te(1, 1, 0x1000, 0x50000, 12));
  tlb.insert(te(1, 1, 0x200000, 0x40000000, 21));
  const TlbEntry* e = tlb.lookup({1, 1}, 0x1ABC);
  ASSERT_NE(e, nullptr);
  EXPECT_EQ(e->shift, 12);
  EXPECT_EQ(e->pa, 0x50000u);
  e = tlb.lookup({1, 1}, 0x3FFFFF);  // last byte of the 2 MiB page
  ASSERT_NE(e, nullptr);
  EXPECT_EQ(e->shift, 21);
  EXPECT_EQ(e->pa, 0x40000000u);
  e = tlb.lookup({1, 1}, 0x200000);
  ASSERT_NE(e, nullptr);
  EXPECT_EQ(e->shift, 21);
  EXPECT_FALSE(hit(1, 1, 0x2000));    // neighbouring 4K page
  EXPECT_FALSE(hit(1, 1, 0x400000));  // neighbouring 2M page
  EXPECT_FALSE(hit(1, 1, 0x0FFF));
  EXPECT_EQ(stat(root, "iotlb.lookups"), 6);
  EXPECT_EQ(stat(root, "iotlb.hits"), 3);
  EXPECT_EQ(stat(root, "iotlb.misses"), 3);
  EXPECT_EQ(stat(root, "iotlb.fills"), 2);
  EXPECT_DOUBLE_EQ(stat(root, "iotlb.hit_rate"), 0.5);
}

TEST_F(IotlbTest, TagMatchingAndGlobalEntries) {
  tlb.insert(te(1, 1, 0x1000, 0xA000, 12));
  tlb.insert(te(1, 1, 0x2000, 0xB000, 12, /*global=*/true));
  EXPECT_TRUE(hit(1, 1, 0x1000));
  EXPECT_FALSE(hit(1, 2, 0x1000));  // other space
  EXPECT_FALSE(hit(2, 1, 0x1000));  // other domain
  EXPECT_TRUE(hit(1, 1, 0x2000));
  EXPECT_TRUE(hit(1, 2, 0x2000));   // global: every space of its domain
  EXPECT_TRUE(hit(1, 99, 0x2000));
  EXPECT_FALSE(hit(2, 1, 0x2000));  // but not another domain
}

TEST_F(IotlbTest, InvalidateAllAndDomain) {
  tlb.insert(te(1, 1, 0x1000, 0, 12));
  tlb.insert(te(1, 2, 0x1000, 0, 12, true));
  tlb.insert(te(1, 0, 0x8000, 0, 12, false, true));  // stage-2-only entry of domain 1
  tlb.insert(te(2, 1, 0x1000, 0, 12));
  EXPECT_EQ(tlb.occupancy(), 4u);
  EXPECT_EQ(tlb.invalidate_domain(1), 3u);
  EXPECT_FALSE(hit(1, 1, 0x1000));
  EXPECT_FALSE(hit(1, 0, 0x8000));
  EXPECT_TRUE(hit(2, 1, 0x1000));
  EXPECT_EQ(tlb.invalidate_domain(3), 0u);
  tlb.insert(te(3, 3, 0x3000, 0, 12));
  EXPECT_EQ(tlb.invalidate_all(), 2u);
  EXPECT_EQ(tlb.occupancy(), 0u);
  EXPECT_EQ(stat(root, "iotlb.invalidated"), 5);
}

TEST_F(IotlbTest, InvalidateSpaceKeepsGlobalAndStage2Entries) {
  tlb.insert(te(1, 1, 0x1000, 0, 12));
  tlb.insert(te(1, 1, 0x200000, 0, 21));
  tlb.insert(te(1, 1, 0x2000, 0, 12, /*global=*/true));
  tlb.insert(te(1, 2, 0x1000, 0, 12));
  tlb.insert(te(2, 1, 0x1000, 0, 12));
  tlb.insert(te(1, 0, 0x5000, 0, 12, false, /*s2=*/true));
  EXPECT_EQ(tlb.invalidate_space({1, 1}), 2u);
  EXPECT_FALSE(hit(1, 1, 0x1000));
  EXPECT_FALSE(hit(1, 1, 0x200000));
  EXPECT_TRUE(hit(1, 1, 0x2000));  // global survives TLBI by ASID
  EXPECT_TRUE(hit(1, 2, 0x1000));
  EXPECT_TRUE(hit(2, 1, 0x1000));
  EXPECT_EQ(tlb.invalidate_space({1, 0}), 0u);  // stage-2-only entries are not in any ASID
  EXPECT_TRUE(hit(1, 0, 0x5000));
  EXPECT_EQ(stat(root, "iotlb.invalidated"), 2);
}

TEST_F(IotlbTest, InvalidateRangeOverlaps) {
  for (uint64_t va = 0x1000; va <= 0x8000; va += 0x1000) tlb.insert(te(1, 1, va, va, 12));
  tlb.insert(te(1, 1, 0x200000, 0x600000, 21));
  tlb.insert(te(1, 7, 0x9000, 0, 12, /*global=*/true));
  tlb.insert(te(1, 2, 0x3000, 0, 12));               // other ASID
  tlb.insert(te(1, 0, 0x3000, 0, 12, false, true));  // stage-2-only, same domain
  tlb.insert(te(2, 1, 0x3000, 0, 12));               // other domain
  // [0x3000, 0x5000): exactly the two pages inside, end exclusive.
  EXPECT_EQ(tlb.invalidate_range({1, 1}, 0x3000, 0x5000), 2u);
  EXPECT_TRUE(hit(1, 1, 0x2000));
  EXPECT_FALSE(hit(1, 1, 0x3000));
  EXPECT_FALSE(hit(1, 1, 0x4000));
  EXPECT_TRUE(hit(1, 1, 0x5000));
  EXPECT_TRUE(hit(1, 2, 0x3000));
  EXPECT_TRUE(hit(1, 0, 0x3000));
  EXPECT_TRUE(hit(2, 1, 0x3000));
  // An unaligned range touching one byte of a page removes that page.
  EXPECT_EQ(tlb.invalidate_range({1, 1}, 0x5FFF, 0x6001), 2u);  // 0x5000 and 0x6000
  EXPECT_TRUE(hit(1, 1, 0x7000));
  // Partial overlap with the 2M entry removes all of it.
  EXPECT_EQ(tlb.invalidate_range({1, 1}, 0x3FF000, 0x400000), 1u);
  EXPECT_FALSE(hit(1, 1, 0x200000));
  // A global entry is removed by a VA invalidation of any ASID of its domain.
  EXPECT_EQ(tlb.invalidate_range({1, 1}, 0x9000, 0xA000), 1u);
  EXPECT_FALSE(hit(1, 5, 0x9000));
  // Empty and non-overlapping ranges.
  EXPECT_EQ(tlb.invalidate_range({1, 1}, 0x7000, 0x7000), 0u);
  EXPECT_EQ(tlb.invalidate_range({1, 1}, 0x10000, 0x20000), 0u);
  EXPECT_EQ(tlb.invalidate_range({1, 1}, 0x8000 + 0x1000, 0x100000), 0u);
  EXPECT_EQ(stat(root, "iotlb.invalidated"), 6);
}

TEST_F(IotlbTest, InvalidateIpaRangeOnlyStage2Entries) {
  tlb.insert(te(3, 0, 0x10000, 0x1000, 12, false, true));
  tlb.insert(te(3, 0, 0x400000, 0x800000, 21, false, true));
  tlb.insert(te(3, 1, 0x10000, 0x2000, 12));  // stage 1 entry, same domain and VA
  tlb.insert(te(4, 0, 0x10000, 0x3000, 12, false, true));
  EXPECT_EQ(tlb.invalidate_ipa_range(3, 0x10000, 0x11000), 1u);
  EXPECT_FALSE(hit(3, 0, 0x10000));
  EXPECT_TRUE(hit(3, 1, 0x10000));
  EXPECT_TRUE(hit(4, 0, 0x10000));
  EXPECT_EQ(tlb.invalidate_ipa_range(3, 0x5FF000, 0x600000), 1u);  // last page of the 2M entry
  EXPECT_FALSE(hit(3, 0, 0x400000));
  EXPECT_EQ(tlb.invalidate_ipa_range(3, 0, ~uint64_t{0}), 0u);
  // The stage-2 invalidation by VA scope does not touch stage-2 entries either.
  EXPECT_EQ(tlb.invalidate_range({4, 0}, 0, ~uint64_t{0}), 0u);
  EXPECT_TRUE(hit(4, 0, 0x10000));
}

TEST(Iotlb, EvictionsCounted) {
  StatGroup root("root");
  Iotlb tlb(CacheParams(2, 0), 1, "iotlb", root);
  tlb.insert(te(1, 1, 0x1000, 0, 12));
  tlb.insert(te(1, 1, 0x2000, 0, 12));
  tlb.insert(te(1, 1, 0x1000, 0x9000, 12));  // same key: replaced in place
  EXPECT_EQ(stat(root, "iotlb.evictions"), 0);
  tlb.insert(te(1, 1, 0x3000, 0, 12));
  EXPECT_EQ(stat(root, "iotlb.evictions"), 1);
  EXPECT_EQ(stat(root, "iotlb.fills"), 4);
  EXPECT_EQ(tlb.occupancy(), 2u);
  StatGroup r2("root");
  Iotlb off(CacheParams(0, 0), 1, "iotlb", r2);
  EXPECT_EQ(off.insert(te(1, 1, 0x1000, 0, 12)), nullptr);
  EXPECT_EQ(off.lookup({1, 1}, 0x1000), nullptr);
}

// ---- Walk cache ---------------------------------------------------------------------------------

const unsigned kShifts4K[4] = {39, 30, 21, 12};

TEST(WalkCache, DeepestLevelHitAndScopes) {
  StatGroup root("root");
  WalkCache wc(CacheParams(16, 0), 1, "walk_cache", root);
  const uint64_t va = 0x0000008080604000ull;  // L0 1, L1 2, L2 3, L3 4
  unsigned level = 99;
  uint64_t table = 0;
  EXPECT_FALSE(wc.lookup({1, 1}, false, va, 0, 3, kShifts4K, level, table));
  wc.insert({1, 1}, false, 0, va >> 39, 0x2000);
  wc.insert({1, 1}, false, 1, va >> 30, 0x3000);
  ASSERT_TRUE(wc.lookup({1, 1}, false, va, 0, 3, kShifts4K, level, table));
  EXPECT_EQ(level, 1u);
  EXPECT_EQ(table, 0x3000u);
  wc.insert({1, 1}, false, 2, va >> 21, 0x4000);
  ASSERT_TRUE(wc.lookup({1, 1}, false, va, 0, 3, kShifts4K, level, table));
  EXPECT_EQ(level, 2u);  // the deepest cached table
  EXPECT_EQ(table, 0x4000u);
  // A VA in another 2 MiB region of the same 1 GiB region: the level-1 entry.
  ASSERT_TRUE(wc.lookup({1, 1}, false, va + 0x200000, 0, 3, kShifts4K, level, table));
  EXPECT_EQ(level, 1u);
  EXPECT_EQ(table, 0x3000u);
  // A walk that starts below level 0 never uses a level-0 entry.
  EXPECT_FALSE(wc.lookup({1, 1}, false, va + 0x40000000, 1, 3, kShifts4K, level, table));
  ASSERT_TRUE(wc.lookup({1, 1}, false, va + 0x40000000, 0, 3, kShifts4K, level, table));
  EXPECT_EQ(level, 0u);
  // Tags and stage must match.
  EXPECT_FALSE(wc.lookup({1, 2}, false, va, 0, 3, kShifts4K, level, table));
  EXPECT_FALSE(wc.lookup({2, 1}, false, va, 0, 3, kShifts4K, level, table));
  EXPECT_FALSE(wc.lookup({1, 1}, true, va, 0, 3, kShifts4K, level, table));
  EXPECT_EQ(stat(root, "walk_cache.lookups"), 9);
  EXPECT_EQ(stat(root, "walk_cache.hits"), 4);
}

TEST(WalkCache, Invalidations) {
  StatGroup root("root");
  WalkCache wc(CacheParams(16, 0), 1, "walk_cache", root);
  unsigned level;
  uint64_t table;
  // ASID 1: level-1 entry for [0, 1G), level-2 entries for [2M, 4M) and [4M, 6M).
  wc.insert({1, 1}, false, 1, 0, 0x3000);
  wc.insert({1, 1}, false, 2, 1, 0x4000);
  wc.insert({1, 1}, false, 2, 2, 0x5000);
  wc.insert({1, 2}, false, 2, 1, 0x6000);
  wc.insert({1, 0}, true, 2, 1, 0x7000);  // stage 2, domain 1
  wc.insert({2, 0}, true, 2, 1, 0x8000);  // stage 2, domain 2
  // Range [4M, 4M+4K) of ASID 1: the covering level-2 entry and the level-1 entry above it.
  EXPECT_EQ(wc.invalidate_range({1, 1}, false, 0x400000, 0x401000, kShifts4K), 2u);
  ASSERT_TRUE(wc.lookup({1, 1}, false, 0x200000, 1, 3, kShifts4K, level, table));
  EXPECT_EQ(table, 0x4000u);
  EXPECT_FALSE(wc.lookup({1, 1}, false, 0x400000, 1, 3, kShifts4K, level, table));
  EXPECT_TRUE(wc.lookup({1, 2}, false, 0x200000, 1, 3, kShifts4K, level, table));
  // Stage-2 range ignores the space and leaves other domains alone.
  EXPECT_EQ(wc.invalidate_range({1, 5}, true, 0x200000, 0x201000, kShifts4K), 1u);
  EXPECT_TRUE(wc.lookup({2, 0}, true, 0x200000, 1, 3, kShifts4K, level, table));
  // Space: stage-1 entries of (1, 1) only.
  EXPECT_EQ(wc.invalidate_space({1, 1}), 1u);
  EXPECT_TRUE(wc.lookup({1, 2}, false, 0x200000, 1, 3, kShifts4K, level, table));
  // Domain, then all.
  wc.insert({1, 0}, true, 2, 1, 0x7000);
  EXPECT_EQ(wc.invalidate_domain(1), 2u);  // (1,2) stage 1 and (1,0) stage 2
  EXPECT_TRUE(wc.lookup({2, 0}, true, 0x200000, 1, 3, kShifts4K, level, table));
  EXPECT_EQ(wc.invalidate_all(), 1u);
  EXPECT_FALSE(wc.lookup({2, 0}, true, 0x200000, 1, 3, kShifts4K, level, table));
  EXPECT_EQ(stat(root, "walk_cache.invalidated"), 7);
}

// ---- TranslationCore ----------------------------------------------------------------------------

// VMSAv8-64 descriptor bits, from the architecture.
constexpr uint64_t kValid = 1ull << 0, kType = 1ull << 1, kUser = 1ull << 6, kRo = 1ull << 7, kAf = 1ull << 10,
                   kNg = 1ull << 11;
constexpr uint64_t kOaMask = 0x0000FFFFFFFFF000ull;
uint64_t tbl(uint64_t next) { return next | kValid | kType; }
uint64_t page(uint64_t pa, uint64_t extra = kAf | kNg | kUser) { return pa | kValid | kType | extra; }
uint64_t block(uint64_t pa, uint64_t extra = kAf | kNg | kUser) { return pa | kValid | extra; }

// 4 KiB granule, 48-bit input, levels 0-3; decoded here independently of models/pgtable.
class Fmt4K final : public TableFormat {
 public:
  unsigned start_level() const override { return 0; }
  unsigned last_level() const override { return 3; }
  unsigned input_bits() const override { return 48; }
  unsigned level_shift(unsigned l) const override { return 12 + 9 * (3 - l); }
  uint64_t entry_offset(uint64_t va, unsigned l) const override { return ((va >> level_shift(l)) & 511) * 8; }
  WalkStep decode(uint64_t d, unsigned l) const override {
    WalkStep s;
    if (!(d & kValid)) return s;
    if (l < 3 && (d & kType)) {
      s.kind = WalkStep::Kind::Table;
      s.addr = d & kOaMask;
      return s;
    }
    if (l == 3 && !(d & kType)) return s;
    if (l == 0) return s;  // no level-0 blocks with 4 KiB
    const uint64_t span = uint64_t{1} << level_shift(l);
    s.kind = WalkStep::Kind::Leaf;
    s.addr = d & kOaMask & ~(span - 1);
    s.shift = static_cast<uint8_t>(level_shift(l));
    s.access_flag = d & kAf;
    s.global = !(d & kNg);
    s.perm.r = true;
    s.perm.w = !(d & kRo);
    s.perm.user = d & kUser;
    return s;
  }
};

class MapMem final : public MemReader {
 public:
  explicit MapMem(sc_time lat) : lat_(lat) {}
  bool read64(uint64_t pa, uint64_t& v, sc_time& t) override {
    ++reads;
    t += lat_;
    if (abort_at.count(pa)) return false;
    auto it = m.find(pa);
    v = it == m.end() ? 0 : it->second;
    return true;
  }
  std::map<uint64_t, uint64_t> m;
  std::set<uint64_t> abort_at;
  unsigned reads = 0;

 private:
  sc_time lat_;
};

// Tables: root (L0) 0x1000 -> L1 0x2000 -> L2 0x3000 -> L3 0x4000 for VA 0x80_8060_0000 + 4K*i
// (L0 index 1, L1 index 2, L2 index 3). L2 index 4 is a 2 MiB block; L2 index 5 -> L3 0x5000;
// L2 index 6 is invalid; L3 0x4000 index 8 has AF = 0; index 9 is a global page.
constexpr uint64_t kRoot = 0x1000;
constexpr uint64_t kVa = 0x0000008080600000ull;
constexpr uint64_t kPaBase = 0x90000000ull;
constexpr uint64_t kBlockPa = 0xA0000000ull;

void build_tables(MapMem& mm) {
  mm.m[kRoot + 1 * 8] = tbl(0x2000);
  mm.m[0x2000 + 2 * 8] = tbl(0x3000);
  mm.m[0x3000 + 3 * 8] = tbl(0x4000);
  for (uint64_t i = 0; i < 8; ++i) mm.m[0x4000 + i * 8] = page(kPaBase + i * 0x1000);
  mm.m[0x4000 + 8 * 8] = page(0x98000000, kNg | kUser);  // AF clear
  mm.m[0x4000 + 9 * 8] = page(0x99000000, kAf | kUser);  // nG clear: global
  mm.m[0x3000 + 4 * 8] = block(kBlockPa);
  mm.m[0x3000 + 5 * 8] = tbl(0x5000);
  mm.m[0x5000 + 0 * 8] = page(0xB0000000);
}

class CoreTest : public test::SimTest {
 protected:
  static constexpr double kL = 90;    // ns per table read
  static constexpr double kTlb = 5;   // ns
  TranslationCoreParams params(uint64_t walkers, uint64_t wc_entries = 32) {
    TranslationCoreParams p;
    p.iotlb = CacheParams(64, 0);
    p.walk_cache = CacheParams(wc_entries, 0);
    p.walkers = walkers;
    p.tlb_latency = Time::ns(kTlb);
    p.walk_read_latency = Time::ns(0);
    return p;
  }
  Fmt4K fmt;
  StatGroup root{"root"};
};

TEST_F(CoreTest, ColdWalkReadsEveryLevelAndCostsReadsTimesLatency) {
  MapMem mm(sc_time(kL, SC_NS));
  build_tables(mm);
  TranslationCore core(params(1), mm, 1, root);
  const TlbTag tag{1, 7};
  WalkResult f;
  const sc_time t0(1000, SC_NS);
  sc_time t = t0;
  const TlbEntry* e = core.translate(tag, false, fmt, kRoot, kVa + 0x123, t, f);
  ASSERT_NE(e, nullptr);
  EXPECT_EQ(mm.reads, 4u);
  EXPECT_EQ(t, t0 + sc_time(kTlb + 4 * kL, SC_NS));
  EXPECT_EQ(e->pa, kPaBase);
  EXPECT_EQ(e->va, kVa);
  EXPECT_EQ(e->shift, 12);
  EXPECT_FALSE(e->global);
  EXPECT_EQ(stat(root, "walk.walks"), 1);
  EXPECT_EQ(stat(root, "walk.reads"), 4);
  EXPECT_EQ(stat(root, "iotlb.misses"), 1);

  // IOTLB hit: the lookup latency only, no reads.
  sc_time t1 = t;
  e = core.translate(tag, false, fmt, kRoot, kVa + 0xFF8, t, f);
  ASSERT_NE(e, nullptr);
  EXPECT_EQ(t, t1 + sc_time(kTlb, SC_NS));
  EXPECT_EQ(mm.reads, 4u);
  EXPECT_EQ(stat(root, "iotlb.hits"), 1);

  // Neighbouring page in the same last-level table: the walk cache gives the L3 table, 1 read.
  t1 = t;
  e = core.translate(tag, false, fmt, kRoot, kVa + 0x1000, t, f);
  ASSERT_NE(e, nullptr);
  EXPECT_EQ(mm.reads, 5u);
  EXPECT_EQ(t, t1 + sc_time(kTlb + kL, SC_NS));
  EXPECT_EQ(e->pa, kPaBase + 0x1000);
  EXPECT_EQ(stat(root, "walk_cache.hits"), 1);

  // Next 2 MiB region (L2 index 5): the L2 table is cached, 2 reads.
  t1 = t;
  e = core.translate(tag, false, fmt, kRoot, kVa + 2 * 0x200000, t, f);
  ASSERT_NE(e, nullptr);
  EXPECT_EQ(mm.reads, 7u);
  EXPECT_EQ(t, t1 + sc_time(kTlb + 2 * kL, SC_NS));
  EXPECT_EQ(e->pa, 0xB0000000u);

  // A 2 MiB block (L2 index 4): 1 read, and the IOTLB now holds both sizes.
  t1 = t;
  e = core.translate(tag, false, fmt, kRoot, kVa + 0x200000 + 0x12345, t, f);
  ASSERT_NE(e, nullptr);
  EXPECT_EQ(mm.reads, 8u);
  EXPECT_EQ(t, t1 + sc_time(kTlb + kL, SC_NS));
  EXPECT_EQ(e->shift, 21);
  EXPECT_EQ(e->pa, kBlockPa);
  EXPECT_EQ(e->va, kVa + 0x200000);
  t1 = t;
  e = core.translate(tag, false, fmt, kRoot, kVa + 0x3FFFFF, t, f);  // same block: IOTLB hit
  ASSERT_NE(e, nullptr);
  EXPECT_EQ(e->shift, 21);
  EXPECT_EQ(mm.reads, 8u);
  EXPECT_EQ(t, t1 + sc_time(kTlb, SC_NS));
  EXPECT_EQ(stat(root, "walk.walks"), 4);
  EXPECT_EQ(stat(root, "walk.reads"), 8);

  // Another address space does not share walk-cache entries: cold again.
  t1 = t;
  e = core.translate({1, 8}, false, fmt, kRoot, kVa + 0x2000, t, f);
  ASSERT_NE(e, nullptr);
  EXPECT_EQ(mm.reads, 12u);
  EXPECT_EQ(t, t1 + sc_time(kTlb + 4 * kL, SC_NS));
}

TEST_F(CoreTest, WalkReadLatencyAddsPerRead) {
  MapMem mm(sc_time(kL, SC_NS));
  build_tables(mm);
  auto p = params(1);
  p.walk_read_latency = Time::ns(7);
  TranslationCore core(p, mm, 1, root);
  WalkResult f;
  sc_time t(0, SC_NS);
  ASSERT_NE(core.translate({1, 1}, false, fmt, kRoot, kVa, t, f), nullptr);
  EXPECT_EQ(t, sc_time(kTlb + 4 * (kL + 7), SC_NS));
  // walk() alone: the same reads without the IOTLB lookup (walk cache now warm: 1 read).
  sc_time t2(0, SC_NS);
  const WalkResult r = core.walk({1, 1}, false, fmt, kRoot, kVa + 0x3000, t2);
  EXPECT_EQ(r.fault, WalkFault::None);
  EXPECT_EQ(r.reads, 1u);
  EXPECT_EQ(t2, sc_time(kL + 7, SC_NS));
  EXPECT_EQ(r.entry.pa, kPaBase + 0x3000);
}

TEST_F(CoreTest, OneWalkerSerialisesConcurrentMisses) {
  MapMem mm(sc_time(kL, SC_NS));
  build_tables(mm);
  TranslationCore core(params(1, /*wc=*/0), mm, 1, root);  // no walk cache: every walk is 4 reads
  WalkResult f;
  const sc_time t0(500, SC_NS);
  const sc_time w(4 * kL, SC_NS);
  const sc_time tlb(kTlb, SC_NS);
  sc_time a = t0, b = t0, c = t0;
  ASSERT_NE(core.translate({1, 1}, false, fmt, kRoot, kVa, a, f), nullptr);
  ASSERT_NE(core.translate({1, 1}, false, fmt, kRoot, kVa + 0x1000, b, f), nullptr);
  EXPECT_EQ(a, t0 + tlb + w);
  EXPECT_EQ(b, t0 + tlb + w + w);
  // An IOTLB hit never waits for a walker.
  ASSERT_NE(core.translate({1, 1}, false, fmt, kRoot, kVa, c, f), nullptr);
  EXPECT_EQ(c, t0 + tlb);
  // A miss arriving after the walker is free starts at once.
  sc_time d = t0 + sc_time(10, sc_core::SC_US);
  const sc_time d0 = d;
  ASSERT_NE(core.translate({1, 1}, false, fmt, kRoot, kVa + 0x2000, d, f), nullptr);
  EXPECT_EQ(d, d0 + tlb + w);
  EXPECT_EQ(stat(root, "walk.reads"), 12);
}

TEST_F(CoreTest, TwoWalkersRunTwoMissesInParallel) {
  MapMem mm(sc_time(kL, SC_NS));
  build_tables(mm);
  TranslationCore core(params(2, /*wc=*/0), mm, 1, root);
  WalkResult f;
  const sc_time t0(500, SC_NS);
  const sc_time w(4 * kL, SC_NS);
  const sc_time tlb(kTlb, SC_NS);
  sc_time a = t0, b = t0, c = t0;
  ASSERT_NE(core.translate({1, 1}, false, fmt, kRoot, kVa, a, f), nullptr);
  ASSERT_NE(core.translate({1, 1}, false, fmt, kRoot, kVa + 0x1000, b, f), nullptr);
  ASSERT_NE(core.translate({1, 1}, false, fmt, kRoot, kVa + 0x2000, c, f), nullptr);
  EXPECT_EQ(a, t0 + tlb + w);
  EXPECT_EQ(b, t0 + tlb + w);
  EXPECT_EQ(c, t0 + tlb + w + w);  // the third waits for one of the two
}

TEST_F(CoreTest, FaultsReportKindLevelAndAreNotCached) {
  MapMem mm(sc_time(kL, SC_NS));
  build_tables(mm);
  TranslationCore core(params(1), mm, 1, root);
  WalkResult f;
  // L2 index 6 is invalid: Translation fault at level 2 after 3 reads.
  sc_time t(0, SC_NS);
  EXPECT_EQ(core.translate({1, 1}, false, fmt, kRoot, kVa + 3 * 0x200000, t, f), nullptr);
  EXPECT_EQ(f.fault, WalkFault::Translation);
  EXPECT_EQ(f.level, 2u);
  EXPECT_EQ(f.reads, 3u);
  EXPECT_EQ(t, sc_time(kTlb + 3 * kL, SC_NS));
  EXPECT_EQ(stat(root, "walk.faults"), 1);
  // Faults are not cached: the same VA walks again (now from the cached L2 table: 1 read).
  WalkResult f2;
  EXPECT_EQ(core.translate({1, 1}, false, fmt, kRoot, kVa + 3 * 0x200000, t, f2), nullptr);
  EXPECT_EQ(f2.fault, WalkFault::Translation);
  EXPECT_EQ(f2.level, 2u);
  EXPECT_EQ(f2.reads, 1u);
  // AF = 0 at the leaf: Access flag fault at level 3.
  WalkResult f3;
  EXPECT_EQ(core.translate({1, 1}, false, fmt, kRoot, kVa + 8 * 0x1000, t, f3), nullptr);
  EXPECT_EQ(f3.fault, WalkFault::AccessFlag);
  EXPECT_EQ(f3.level, 3u);
  // An unmapped L3 entry: Translation fault at level 3.
  WalkResult f4;
  EXPECT_EQ(core.translate({1, 1}, false, fmt, kRoot, kVa + 20 * 0x1000, t, f4), nullptr);
  EXPECT_EQ(f4.fault, WalkFault::Translation);
  EXPECT_EQ(f4.level, 3u);
  // A failed table read: external abort at that level.
  mm.abort_at.insert(0x2000 + 3 * 8);
  WalkResult f5;
  EXPECT_EQ(core.translate({1, 1}, false, fmt, kRoot, kVa + 0x40000000, t, f5), nullptr);
  EXPECT_EQ(f5.fault, WalkFault::ExternalAbort);
  EXPECT_EQ(f5.level, 1u);
  EXPECT_EQ(stat(root, "walk.faults"), 5);
  EXPECT_EQ(stat(root, "iotlb.fills"), 0);
}

TEST_F(CoreTest, GlobalLeafIsSharedAcrossSpacesOfTheDomain) {
  MapMem mm(sc_time(kL, SC_NS));
  build_tables(mm);
  TranslationCore core(params(1), mm, 1, root);
  WalkResult f;
  sc_time t(0, SC_NS);
  const TlbEntry* e = core.translate({1, 1}, false, fmt, kRoot, kVa + 9 * 0x1000, t, f);
  ASSERT_NE(e, nullptr);
  EXPECT_TRUE(e->global);
  EXPECT_EQ(e->pa, 0x99000000u);
  const unsigned reads = mm.reads;
  e = core.translate({1, 2}, false, fmt, kRoot, kVa + 9 * 0x1000, t, f);
  ASSERT_NE(e, nullptr);
  EXPECT_EQ(mm.reads, reads);  // IOTLB hit from another ASID
  e = core.translate({2, 1}, false, fmt, kRoot, kVa + 9 * 0x1000, t, f);
  ASSERT_NE(e, nullptr);
  EXPECT_EQ(mm.reads, reads + 4);  // another domain walks (cold)
  // Stage-2 walks produce stage-2-only entries.
  e = core.translate({3, 0}, true, fmt, kRoot, kVa, t, f);
  ASSERT_NE(e, nullptr);
  EXPECT_TRUE(e->stage2_only);
}

TEST_F(CoreTest, DisabledIotlbStillTranslates) {
  MapMem mm(sc_time(kL, SC_NS));
  build_tables(mm);
  auto p = params(1);
  p.iotlb = CacheParams(0, 0);
  TranslationCore core(p, mm, 1, root);
  WalkResult f;
  sc_time t(0, SC_NS);
  const TlbEntry* e = core.translate({1, 1}, false, fmt, kRoot, kVa + 0x1000, t, f);
  ASSERT_NE(e, nullptr);
  EXPECT_EQ(e->pa, kPaBase + 0x1000);
  e = core.translate({1, 1}, false, fmt, kRoot, kVa + 0x1000, t, f);
  ASSERT_NE(e, nullptr);
  EXPECT_EQ(stat(root, "walk.walks"), 2);
  EXPECT_EQ(mm.reads, 5u);  // 4 cold + 1 with the walk cache
}

}  // namespace
}  // namespace iommusim
