// The generic walker's support for formats that skip levels and narrow permissions per level
// (AMD v1 style), on a six-level test format decoded here, independent of any real codec.
#include <gtest/gtest.h>

#include <map>

#include "models/iommu/core/translation_core.h"
#include "testbenches/sim_fixture.h"

namespace iommusim::test {
namespace {

// Test format: levels 0..5, 9 index bits each, 4 KiB tables. Entry bits: 0 valid, 1 leaf,
// [4:2] next level of a table (7: the level below), 5 table forbids writes, [51:12] address.
class SixLevel final : public TableFormat {
 public:
  unsigned start_level() const override { return 0; }
  unsigned last_level() const override { return 5; }
  unsigned input_bits() const override { return 64; }
  unsigned level_shift(unsigned l) const override { return 12 + 9 * (5 - l); }
  uint64_t entry_offset(uint64_t va, unsigned l) const override { return ((va >> level_shift(l)) & 511) * 8; }
  WalkStep decode(uint64_t d, unsigned l) const override {
    WalkStep s;
    if (!(d & 1)) return s;
    s.addr = d & 0x000FFFFFFFFFF000ull;
    if (d & 2) {
      s.kind = WalkStep::Kind::Leaf;
      s.shift = static_cast<uint8_t>(level_shift(l));
      s.perm = Perm{true, true, false, true};
      return s;
    }
    s.kind = WalkStep::Kind::Table;
    const unsigned nl = (d >> 2) & 7;
    if (nl != 7) {
      s.next_level = static_cast<uint8_t>(nl);
      // The skipped levels' index bits must be zero.
      for (unsigned k = l + 1; k < nl; ++k) s.va_zero_mask |= uint64_t{511} << level_shift(k);
    }
    if (d & 32) s.limit.w = false;
    return s;
  }
};

struct MapMem final : MemReader {
  std::map<uint64_t, uint64_t> m;
  unsigned reads = 0;
  bool read64(uint64_t pa, uint64_t& v, sc_core::sc_time& t) override {
    ++reads;
    t += sc_core::sc_time(10, sc_core::SC_NS);
    auto it = m.find(pa);
    v = it == m.end() ? 0 : it->second;
    return true;
  }
};

constexpr uint64_t tbl(uint64_t pa, unsigned next_level = 7, bool no_write = false) {
  return pa | (uint64_t{next_level} << 2) | (no_write ? 32u : 0u) | 1;
}
constexpr uint64_t leaf(uint64_t pa) { return pa | 3; }

class WalkerLevels : public SimTest {
 protected:
  void SetUp() override {
    SimTest::SetUp();
    TranslationCoreParams p;
    p.tlb_latency = Time{};
    p.walk_read_latency = Time{};
    core = std::make_unique<TranslationCore>(p, mem, 1, root_stats);
    // Root (level 0) at 0x1000 -> level-1 table at 0x2000 whose entry 0 skips straight to a
    // level-4 table at 0x3000 (levels 2 and 3 skipped), forbidding writes; level 4 -> level 5
    // table at 0x4000 holding a 4 KiB leaf for VA 0x5000.
    mem.m[0x1000] = tbl(0x2000);
    mem.m[0x2000] = tbl(0x3000, 4, true);
    mem.m[0x3000] = tbl(0x4000);
    mem.m[0x4000 + 5 * 8] = leaf(0x9000);
  }
  StatGroup root_stats{"t"};
  MapMem mem;
  SixLevel fmt;
  std::unique_ptr<TranslationCore> core;
};

TEST_F(WalkerLevels, SkipsLevelsAndNarrowsPermissions) {
  sc_core::sc_time t = sc_core::SC_ZERO_TIME;
  WalkResult w = core->walk({1, 0}, false, fmt, 0x1000, 0x5000, t);
  ASSERT_EQ(w.fault, WalkFault::None);
  EXPECT_EQ(w.reads, 4u);  // levels 0, 1, 4, 5: two levels skipped
  EXPECT_EQ(w.entry.pa, 0x9000u);
  EXPECT_TRUE(w.entry.perm.r);
  EXPECT_FALSE(w.entry.perm.w);  // the level-1 table entry forbids writes
  EXPECT_EQ(t, sc_core::sc_time(40, sc_core::SC_NS));
}

TEST_F(WalkerLevels, WalkCacheResumesAtTheSkippedToLevelWithItsLimit) {
  sc_core::sc_time t = sc_core::SC_ZERO_TIME;
  core->walk({1, 0}, false, fmt, 0x1000, 0x5000, t);
  mem.m[0x4000 + 6 * 8] = leaf(0xA000);
  mem.reads = 0;
  WalkResult w = core->walk({1, 0}, false, fmt, 0x1000, 0x6000, t);
  ASSERT_EQ(w.fault, WalkFault::None);
  EXPECT_EQ(mem.reads, 1u);  // the cached level-4 entry points at the level-5 table
  EXPECT_EQ(w.entry.pa, 0xA000u);
  EXPECT_FALSE(w.entry.perm.w);  // the limit travels with the cached entry
}

TEST_F(WalkerLevels, NonZeroSkippedBitsFault) {
  sc_core::sc_time t = sc_core::SC_ZERO_TIME;
  // VA with a bit in level 2's index: that level was skipped, so the walk must fault at level 1.
  const uint64_t va = 0x5000 | (uint64_t{1} << (12 + 9 * 3));
  WalkResult w = core->walk({1, 0}, false, fmt, 0x1000, va, t);
  EXPECT_EQ(w.fault, WalkFault::Translation);
  EXPECT_EQ(w.level, 1u);
}

TEST_F(WalkerLevels, CachedSkippingEntryDoesNotServeNonZeroSkippedBits) {
  sc_core::sc_time t = sc_core::SC_ZERO_TIME;
  ASSERT_EQ(core->walk({1, 0}, false, fmt, 0x1000, 0x5000, t).fault, WalkFault::None);  // caches the skip
  const uint64_t va = 0x5000 | (uint64_t{1} << (12 + 9 * 2));  // a bit in skipped level 3's index
  WalkResult w = core->walk({1, 0}, false, fmt, 0x1000, va, t);
  EXPECT_EQ(w.fault, WalkFault::Translation);
  EXPECT_EQ(w.level, 1u);
}

TEST_F(WalkerLevels, NextLevelThatDoesNotDescendFaults) {
  mem.m[0x2000] = tbl(0x3000, 1);  // a level-1 entry pointing at level 1 again
  sc_core::sc_time t = sc_core::SC_ZERO_TIME;
  WalkResult w = core->walk({1, 0}, false, fmt, 0x1000, 0x5000, t);
  EXPECT_EQ(w.fault, WalkFault::Translation);
  EXPECT_EQ(w.reads, 2u);
}

}  // namespace
}  // namespace iommusim::test
