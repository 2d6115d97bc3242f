// Unit tests of the host's IOVA allocator and of io-pgtable-arm (VMSAv8-64 table construction).
// Page-table expectations are raw 64-bit descriptors composed here from the architecture's bit
// positions and read back from memory directly; lookups go through a reference walk written here.
#include <gtest/gtest.h>
#include <systemc>

#include <algorithm>
#include <bit>
#include <cstdint>
#include <map>
#include <optional>
#include <stdexcept>
#include <vector>

#include "models/host/io_pgtable_arm.h"
#include "models/host/iova_alloc.h"
#include "models/host/phys_alloc.h"
#include "models/host/phys_mem.h"
#include "models/memory/sparse_memory.h"
#include "testbenches/sim_fixture.h"

namespace iommusim {
namespace {

using host::IovaAllocator;
using host::IoPgtableArm;
using host::IoProt;

// ---- IovaAllocator ------------------------------------------------------------------------------

constexpr uint64_t k4K = 0x1000;

TEST(IovaAlloc, TopDownWithSizeAlignment) {
  IovaAllocator a(k4K, 0xFFFFFFFF);
  EXPECT_EQ(a.alloc(k4K), 0xFFFFF000u);
  EXPECT_EQ(a.alloc(3 * k4K), 0xFFFFC000u);  // 12 KiB aligned to 16 KiB, just below
  EXPECT_EQ(a.alloc(1), 0xFFFFB000u);        // rounded up to one granule
  EXPECT_EQ(a.alloc(0x10000), 0xFFFE0000u);  // 64 KiB aligned to 64 KiB
  // 20 KiB aligned to 32 KiB: the highest aligned fit is the gap between the 64 KiB range and 0xFFFFB000.
  EXPECT_EQ(a.alloc(0x5000), 0xFFFF0000u);
  EXPECT_EQ(a.allocated(), 5u);
  EXPECT_FALSE(a.alloc(0).has_value());
}

TEST(IovaAlloc, InvariantsOverManyAllocations) {
  IovaAllocator a(k4K, 0xFFFFFFFF);
  std::map<uint64_t, uint64_t> got;  // start -> end
  const uint64_t sizes[] = {0x1000, 0x3000, 0x10000, 0x2000, 0x7000, 0x200000, 0x1000, 0x41000, 0x5000};
  for (int round = 0; round < 20; ++round) {
    for (uint64_t s : sizes) {
      const auto r = a.alloc(s);
      ASSERT_TRUE(r.has_value());
      const uint64_t v = *r;
      EXPECT_NE(v, 0u);
      EXPECT_EQ(v % std::bit_ceil(s), 0u) << std::hex << v << " size " << s;
      EXPECT_LE(v + s - 1, 0xFFFFFFFFu);
      // No overlap with anything handed out before.
      auto it = got.upper_bound(v);
      if (it != got.end()) {
        EXPECT_LE(v + s, it->first);
      }
      if (it != got.begin()) {
        EXPECT_LE(std::prev(it)->second, v);
      }
      got[v] = v + s;
    }
  }
  EXPECT_EQ(a.allocated(), got.size());
}

TEST(IovaAlloc, LimitsHonoured) {
  IovaAllocator a32(k4K, 0xFFFFFFFF);
  EXPECT_EQ(a32.alloc(k4K, 0xFFFFFFFFFFFFull), 0xFFFFF000u);  // a larger mask is clamped to the limit
  IovaAllocator a48(k4K, 0xFFFFFFFFFFFFull);
  EXPECT_EQ(a48.alloc(k4K, 0xFFFFFFFF), 0xFFFFF000u);  // 32-bit DMA mask
  EXPECT_EQ(a48.alloc(k4K), 0xFFFFFFFFF000ull);
  EXPECT_EQ(a48.alloc(k4K, 0xFFFFF), 0xFF000u);
  EXPECT_EQ(a48.alloc(k4K, 0xFFFFF), 0xFE000u);
}

TEST(IovaAlloc, ZeroNeverReturnedAndExhaustion) {
  IovaAllocator a(k4K, 0xFFFF);  // 16 granules, of which IOVA 0 is unusable
  EXPECT_FALSE(a.alloc(0x10000).has_value());  // the whole space would need IOVA 0
  std::vector<uint64_t> v;
  for (;;) {
    const auto r = a.alloc(k4K);
    if (!r) break;
    v.push_back(*r);
    ASSERT_LE(v.size(), 16u);
  }
  ASSERT_EQ(v.size(), 15u);
  for (size_t i = 0; i < v.size(); ++i) EXPECT_EQ(v[i], 0xF000u - i * k4K);  // top-down, down to 0x1000
  EXPECT_FALSE(a.alloc(k4K).has_value());

  IovaAllocator b(k4K, 0xFFFF);
  EXPECT_EQ(b.alloc(0x8000), 0x8000u);
  EXPECT_FALSE(b.alloc(0x8000).has_value());  // only [0x1000, 0x8000) is left
  EXPECT_EQ(b.alloc(0x4000), 0x4000u);
  EXPECT_FALSE(b.alloc(0x4000).has_value());  // [0x1000, 0x4000) is too small once aligned
  EXPECT_EQ(b.alloc(0x2000), 0x2000u);
  EXPECT_EQ(b.alloc(0x1000), 0x1000u);
  EXPECT_FALSE(b.alloc(0x1000).has_value());
}

TEST(IovaAlloc, ReservedRegionsAreSkipped) {
  IovaAllocator a(k4K, 0xFEFFFFFF);
  ASSERT_TRUE(a.reserve(0xFEE00000, 0x100000));  // MSI window
  EXPECT_EQ(a.alloc(0x100000), 0xFEF00000u);      // exactly the space above the window
  EXPECT_EQ(a.alloc(k4K), 0xFEDFF000u);           // next one goes below it
  EXPECT_FALSE(a.reserve(0xFEDFF000, k4K));       // overlaps an allocation
  EXPECT_FALSE(a.reserve(0xFEE80000, k4K));       // inside the reserved window
  EXPECT_FALSE(a.reserve(0xFEDFF800, 0x1000));    // straddles
  EXPECT_TRUE(a.reserve(0x10000, 0x10000));
  IovaAllocator b(k4K, 0x1FFFF);
  ASSERT_TRUE(b.reserve(0x10000, 0x10000));
  EXPECT_EQ(b.alloc(0x8000), 0x8000u);
  EXPECT_FALSE(b.alloc(0x8000).has_value());
}

TEST(IovaAlloc, FreeAndReuse) {
  IovaAllocator a(k4K, 0xFFFFFFFF);
  const uint64_t x = *a.alloc(0x4000);
  const uint64_t y = *a.alloc(0x4000);
  EXPECT_EQ(x, 0xFFFFC000u);
  EXPECT_EQ(y, 0xFFFF8000u);
  EXPECT_FALSE(a.free(x + k4K));  // not the start of an allocation
  EXPECT_TRUE(a.free(x));
  EXPECT_FALSE(a.free(x));  // already freed
  EXPECT_EQ(a.allocated(), 1u);
  EXPECT_EQ(a.alloc(0x4000), x);  // the freed range is the highest fit again
  EXPECT_EQ(a.alloc(0x4000), 0xFFFF4000u);
  EXPECT_EQ(a.allocated(), 3u);
}

// ---- io-pgtable-arm -----------------------------------------------------------------------------

// The host CPU's view of memory: the SparseMemory backdoor.
class BackdoorMem final : public host::PhysMem {
 public:
  explicit BackdoorMem(SparseMemory& m) : m_(m) {}
  void read(uint64_t pa, void* dst, size_t len) override { m_.read(pa, dst, len); }
  void write(uint64_t pa, const void* src, size_t len) override { m_.write(pa, src, len); }

 private:
  SparseMemory& m_;
};

// VMSAv8-64 descriptor bits (Arm ARM D8.3).
constexpr uint64_t kValid = 1ull << 0, kTypeTablePage = 1ull << 1;
constexpr uint64_t kAttrIdx1 = 1ull << 2;  // AttrIndx[2:0] = 1, bits 4:2
constexpr uint64_t kApUser = 1ull << 6, kApRo = 1ull << 7;
constexpr uint64_t kShInner = 3ull << 8, kAf = 1ull << 10, kNg = 1ull << 11;
constexpr uint64_t kPxn = 1ull << 53, kUxn = 1ull << 54;
constexpr uint64_t kS2MemAttrWb = 0xFull << 2, kS2R = 1ull << 6, kS2W = 1ull << 7, kS2Xn2 = 2ull << 53;

uint64_t table_desc(uint64_t next) { return next | kValid | kTypeTablePage; }
// Linux's io-pgtable-arm stage-1 leaf: AttrIndx 1, inner shareable, AF, nG, XN, AP per prot.
uint64_t s1_leaf(uint64_t pa, bool page, bool write = true, bool priv = false) {
  return pa | kValid | (page ? kTypeTablePage : 0) | kAttrIdx1 | (priv ? 0 : kApUser) | (write ? 0 : kApRo) |
         kShInner | kAf | kNg | kPxn | kUxn;
}
uint64_t s2_leaf(uint64_t pa, bool page) {
  return pa | kValid | (page ? kTypeTablePage : 0) | kS2MemAttrWb | kS2R | kS2W | kShInner | kAf | kS2Xn2;
}

// Reference walk over raw memory: granule 2^gshift, levels start..3, input bits ias.
std::optional<uint64_t> ref_walk(SparseMemory& m, uint64_t root, unsigned gshift, unsigned ias, uint64_t va) {
  const unsigned stride = gshift - 3;
  const uint64_t oa_mask = 0x0000FFFFFFFFFFFFull;
  unsigned start = 3;
  while (gshift + (3 - start) * stride + stride < ias) --start;  // levels needed to cover ias
  uint64_t table = root;
  for (unsigned l = start; l <= 3; ++l) {
    const unsigned shift = gshift + (3 - l) * stride;
    const unsigned bits = l == start ? ias - shift : stride;
    const uint64_t idx = (va >> shift) & ((uint64_t{1} << bits) - 1);
    const uint64_t d = m.read64(table + idx * 8);
    if (!(d & kValid)) return std::nullopt;
    const uint64_t span = uint64_t{1} << shift;
    if (l < 3 && (d & kTypeTablePage)) {
      table = d & oa_mask & ~((uint64_t{1} << gshift) - 1);
      continue;
    }
    if (l == 3 && !(d & kTypeTablePage)) return std::nullopt;
    return (d & oa_mask & ~(span - 1)) | (va & (span - 1));
  }
  return std::nullopt;
}

class PgtableTest : public test::SimTest {
 protected:
  void SetUp() override {
    SimTest::SetUp();
    SparseMemoryParams p;
    p.size = uint64_t{1} << 40;
    mem = std::make_unique<SparseMemory>("mem", p);
    pm = std::make_unique<BackdoorMem>(*mem);
  }
  // Every dword of [base, base + bytes) as a map of non-zero values.
  std::map<uint64_t, uint64_t> snapshot(uint64_t base, uint64_t bytes) {
    std::map<uint64_t, uint64_t> s;
    for (uint64_t a = base; a < base + bytes; a += 8)
      if (const uint64_t v = mem->read64(a)) s[a] = v;
    return s;
  }
  // Addresses whose dword differs between two snapshots.
  static std::vector<uint64_t> diff(const std::map<uint64_t, uint64_t>& a, const std::map<uint64_t, uint64_t>& b) {
    std::vector<uint64_t> d;
    for (const auto& [k, v] : a) {
      auto it = b.find(k);
      if (it == b.end() || it->second != v) d.push_back(k);
    }
    for (const auto& [k, v] : b)
      if (!a.count(k)) d.push_back(k);
    return d;
  }
  std::unique_ptr<SparseMemory> mem;
  std::unique_ptr<BackdoorMem> pm;
};

constexpr uint64_t kTables = 0x100000;  // PhysAlloc region for table pages

TEST_F(PgtableTest, Stage1FourKPagesAndBlocksHandComputed) {
  host::PhysAlloc alloc(kTables, 0x1000000);
  IoPgtableArm pt(*pm, alloc, pgtable::Granule::K4, 48, false);
  ASSERT_EQ(pt.root(), kTables);
  EXPECT_EQ(pt.pgsize_bitmap(), 0x1000u | 0x200000u | 0x40000000u);

  // Three 4K pages: L0[0] -> L1 table, L1[1] -> L2 table, L2[0] -> L3 table, L3[1..3].
  auto w = pt.map(0x40001000, 0x80005000, 0x3000, IoProt{});
  EXPECT_EQ(w.ptes, 6u);
  EXPECT_EQ(w.tables, 3u);
  const uint64_t l1 = 0x101000, l2 = 0x102000, l3 = 0x103000;
  EXPECT_EQ(mem->read64(kTables + 0 * 8), table_desc(l1));
  EXPECT_EQ(mem->read64(l1 + 1 * 8), table_desc(l2));
  EXPECT_EQ(mem->read64(l2 + 0 * 8), table_desc(l3));
  EXPECT_EQ(mem->read64(l3 + 0 * 8), 0u);
  EXPECT_EQ(mem->read64(l3 + 1 * 8), 0x0060000080005F47ull);  // hand-composed value
  EXPECT_EQ(mem->read64(l3 + 1 * 8), s1_leaf(0x80005000, true));
  EXPECT_EQ(mem->read64(l3 + 2 * 8), s1_leaf(0x80006000, true));
  EXPECT_EQ(mem->read64(l3 + 3 * 8), s1_leaf(0x80007000, true));
  EXPECT_EQ(mem->read64(l3 + 4 * 8), 0u);

  // 2M-aligned IOVA, PA and size: one block at L2[1].
  w = pt.map(0x40200000, 0x80200000, 0x200000, IoProt{});
  EXPECT_EQ(w.ptes, 1u);
  EXPECT_EQ(w.tables, 0u);
  EXPECT_EQ(mem->read64(l2 + 1 * 8), 0x0060000080200F45ull);
  EXPECT_EQ(mem->read64(l2 + 1 * 8), s1_leaf(0x80200000, false));

  // Same size but a PA that is only 4K aligned: 512 pages under a new L3 table at L2[2].
  w = pt.map(0x40400000, 0x90001000, 0x200000, IoProt{});
  EXPECT_EQ(w.ptes, 513u);
  EXPECT_EQ(w.tables, 1u);
  const uint64_t l3b = 0x104000;
  EXPECT_EQ(mem->read64(l2 + 2 * 8), table_desc(l3b));
  for (uint64_t i = 0; i < 512; ++i) ASSERT_EQ(mem->read64(l3b + i * 8), s1_leaf(0x90001000 + i * 0x1000, true)) << i;

  // Mixed: one 4K page up to the 2M boundary, then a block.
  w = pt.map(0x40BFF000, 0x90BFF000, 0x201000, IoProt{});
  EXPECT_EQ(w.ptes, 3u);
  EXPECT_EQ(w.tables, 1u);
  const uint64_t l3c = 0x105000;
  EXPECT_EQ(mem->read64(l2 + 5 * 8), table_desc(l3c));
  EXPECT_EQ(mem->read64(l3c + 511 * 8), s1_leaf(0x90BFF000, true));
  EXPECT_EQ(mem->read64(l2 + 6 * 8), s1_leaf(0x90C00000, false));

  // Read-only, privileged-only page: AP[2] = 1, AP[1] = 0.
  w = pt.map(0x41000000, 0xA0000000, 0x1000, IoProt{true, false, true});
  EXPECT_EQ(w.tables, 1u);
  EXPECT_EQ(mem->read64(l2 + 8 * 8), table_desc(0x106000));
  EXPECT_EQ(mem->read64(0x106000), 0x00600000A0000F87ull);

  // max_page forces pages for a block-capable range.
  w = pt.map(0x40E00000, 0x80E00000, 0x200000, IoProt{}, 0x1000);
  EXPECT_EQ(w.ptes, 513u);

  // The reference walk agrees with the intended mapping and with iova_to_phys.
  struct Probe {
    uint64_t va;
    std::optional<uint64_t> pa;
  };
  const Probe probes[] = {
      {0x40001000, 0x80005000},        {0x40003ABC, 0x80007ABC},   {0x40000000, std::nullopt},
      {0x40004000, std::nullopt},      {0x40200000, 0x80200000},   {0x403FFFFF, 0x803FFFFF},
      {0x40400000, 0x90001000},        {0x405FF123, 0x90200123},   {0x40BFF010, 0x90BFF010},
      {0x40C00000, 0x90C00000},        {0x40DFFFF8, 0x90DFFFF8},   {0x41000000, 0xA0000000},
      {0x40E12345, 0x80E12345},        {0x80000000, std::nullopt}, {0x0000FFFFFFFFF000ull, std::nullopt},
  };
  for (const auto& p : probes) {
    EXPECT_EQ(ref_walk(*mem, pt.root(), 12, 48, p.va), p.pa) << std::hex << p.va;
    EXPECT_EQ(pt.iova_to_phys(p.va), p.pa) << std::hex << p.va;
  }
}

TEST_F(PgtableTest, DoubleMapAndMisalignmentThrow) {
  host::PhysAlloc alloc(kTables, 0x1000000);
  IoPgtableArm pt(*pm, alloc, pgtable::Granule::K4, 48, false);
  pt.map(0x40001000, 0x80005000, 0x1000, IoProt{});
  pt.map(0x40200000, 0x80200000, 0x200000, IoProt{});
  const auto before = snapshot(kTables, 0x4000);
  EXPECT_THROW(pt.map(0x40001000, 0x90000000, 0x1000, IoProt{}), std::invalid_argument);  // same page
  EXPECT_THROW(pt.map(0x40300000, 0x90000000, 0x1000, IoProt{}), std::invalid_argument);  // inside the block
  EXPECT_THROW(pt.map(0x40200000, 0x90000000, 0x200000, IoProt{}), std::invalid_argument);  // the block again
  EXPECT_THROW(pt.map(0x40000000, 0x90000000, 0x200000, IoProt{}), std::invalid_argument);  // over an L3 table
  EXPECT_THROW(pt.map(0x40008800, 0x90000000, 0x1000, IoProt{}), std::invalid_argument);  // misaligned IOVA
  EXPECT_THROW(pt.map(0x40008000, 0x90000800, 0x1000, IoProt{}), std::invalid_argument);  // misaligned PA
  EXPECT_THROW(pt.map(0x1000000000000ull, 0x90000000, 0x1000, IoProt{}), std::invalid_argument);  // > 48 bits
  EXPECT_TRUE(diff(before, snapshot(kTables, 0x4000)).empty());
}

TEST_F(PgtableTest, UnmapClearsExactlyThoseEntries) {
  host::PhysAlloc alloc(kTables, 0x1000000);
  IoPgtableArm pt(*pm, alloc, pgtable::Granule::K4, 48, false);
  pt.map(0x40001000, 0x80005000, 0x3000, IoProt{});
  pt.map(0x40200000, 0x80200000, 0x200000, IoProt{});
  pt.map(0x40BFF000, 0x90BFF000, 0x201000, IoProt{});
  const uint64_t l2 = 0x102000, l3 = 0x103000, l3c = 0x104000;
  ASSERT_EQ(mem->read64(l2 + 5 * 8), table_desc(l3c));
  const uint64_t span = 0x10000;  // all table pages live in [kTables, kTables + 64K)

  auto s0 = snapshot(kTables, span);
  uint64_t leaf = 0;
  auto w = pt.unmap(0x40002000, 0x1000, leaf);
  EXPECT_EQ(leaf, 0x1000u);
  EXPECT_EQ(w.ptes, 1u);
  auto s1 = snapshot(kTables, span);
  EXPECT_EQ(diff(s0, s1), std::vector<uint64_t>{l3 + 2 * 8});
  EXPECT_EQ(mem->read64(l3 + 2 * 8), 0u);
  EXPECT_EQ(ref_walk(*mem, pt.root(), 12, 48, 0x40002000), std::nullopt);
  EXPECT_EQ(ref_walk(*mem, pt.root(), 12, 48, 0x40001000), 0x80005000u);
  EXPECT_EQ(ref_walk(*mem, pt.root(), 12, 48, 0x40003000), 0x80007000u);

  // Partial-block unmaps are refused and change nothing.
  EXPECT_THROW(pt.unmap(0x40201000, 0x1000, leaf), std::invalid_argument);
  EXPECT_THROW(pt.unmap(0x40200000, 0x1000, leaf), std::invalid_argument);
  EXPECT_THROW(pt.unmap(0x40002000, 0x1000, leaf), std::invalid_argument);  // already unmapped
  EXPECT_TRUE(diff(s1, snapshot(kTables, span)).empty());

  w = pt.unmap(0x40200000, 0x200000, leaf);
  EXPECT_EQ(leaf, 0x200000u);
  EXPECT_EQ(w.ptes, 1u);
  auto s2 = snapshot(kTables, span);
  EXPECT_EQ(diff(s1, s2), std::vector<uint64_t>{l2 + 1 * 8});

  // A page and a block in one call: leaf_size is the largest cleared.
  w = pt.unmap(0x40BFF000, 0x201000, leaf);
  EXPECT_EQ(leaf, 0x200000u);
  EXPECT_EQ(w.ptes, 2u);
  auto s3 = snapshot(kTables, span);
  auto d = diff(s2, s3);
  std::sort(d.begin(), d.end());
  EXPECT_EQ(d, (std::vector<uint64_t>{l2 + 6 * 8, l3c + 511 * 8}));
  EXPECT_EQ(ref_walk(*mem, pt.root(), 12, 48, 0x40C00000), std::nullopt);
  // The page can be mapped again after the unmap.
  EXPECT_NO_THROW(pt.map(0x40002000, 0x88000000, 0x1000, IoProt{}));
  EXPECT_EQ(mem->read64(l3 + 2 * 8), s1_leaf(0x88000000, true));
}

TEST_F(PgtableTest, Stage2FourKThreeLevels) {
  host::PhysAlloc alloc(kTables, 0x1000000);
  IoPgtableArm pt(*pm, alloc, pgtable::Granule::K4, 39, true);  // levels 1-3
  pt.map(0x1000, 0x5000, 0x1000, IoProt{});
  pt.map(0x40200000, 0x80200000, 0x200000, IoProt{});
  EXPECT_EQ(mem->read64(kTables + 0 * 8), table_desc(0x101000));   // L1[0]
  EXPECT_EQ(mem->read64(0x101000 + 0 * 8), table_desc(0x102000));  // L2[0]
  EXPECT_EQ(mem->read64(0x102000 + 1 * 8), 0x00400000000057FFull);
  EXPECT_EQ(mem->read64(0x102000 + 1 * 8), s2_leaf(0x5000, true));
  EXPECT_EQ(mem->read64(kTables + 1 * 8), table_desc(0x103000));   // L1[1]
  EXPECT_EQ(mem->read64(0x103000 + 1 * 8), s2_leaf(0x80200000, false));
  EXPECT_EQ(ref_walk(*mem, pt.root(), 12, 39, 0x1234), 0x5234u);
  EXPECT_EQ(ref_walk(*mem, pt.root(), 12, 39, 0x40212345), 0x80212345u);
}

TEST_F(PgtableTest, Stage1SixtyFourKGranule) {
  host::PhysAlloc alloc(0x1000000, 0x1000000);
  IoPgtableArm pt(*pm, alloc, pgtable::Granule::K64, 48, false);  // levels 1-3
  EXPECT_EQ(pt.pgsize_bitmap(), 0x10000u | 0x20000000u);
  const uint64_t root = pt.root();
  EXPECT_EQ(root, 0x1000000u);
  pt.map(0x10000, 0x2000000, 0x10000, IoProt{});
  pt.map(0x20000000, 0x40000000, 0x20000000, IoProt{});  // one 512 MiB block at L2[1]
  EXPECT_EQ(mem->read64(root + 0 * 8), table_desc(0x1010000));
  EXPECT_EQ(mem->read64(0x1010000 + 0 * 8), table_desc(0x1020000));
  EXPECT_EQ(mem->read64(0x1020000 + 1 * 8), s1_leaf(0x2000000, true));
  EXPECT_EQ(mem->read64(0x1010000 + 1 * 8), s1_leaf(0x40000000, false));
  EXPECT_EQ(ref_walk(*mem, root, 16, 48, 0x1ABCD), 0x200ABCDu);
  EXPECT_EQ(ref_walk(*mem, root, 16, 48, 0x3FFFFFFF), 0x5FFFFFFFu);
  EXPECT_EQ(ref_walk(*mem, root, 16, 48, 0x20000), std::nullopt);
  EXPECT_EQ(pt.iova_to_phys(0x1ABCD), 0x200ABCDu);
}

}  // namespace
}  // namespace iommusim
