// io-pgtable on x86-64 tables (VT-d first and second stage): descriptors written by the host are
// checked against hand-computed raw values at the architectural bit positions.
#include <gtest/gtest.h>

#include <cstring>
#include <map>

#include "models/host/io_pgtable_x86.h"

namespace iommusim::test {
namespace {

// Memory as a map of 8-byte words: enough for table pages.
struct WordMem final : host::PhysMem {
  std::map<uint64_t, uint64_t> w;
  void read(uint64_t pa, void* dst, size_t len) override {
    for (size_t i = 0; i < len; i += 8) {
      const auto it = w.find(pa + i);
      const uint64_t v = it == w.end() ? 0 : it->second;
      std::memcpy(static_cast<char*>(dst) + i, &v, std::min<size_t>(8, len - i));
    }
  }
  void write(uint64_t pa, const void* src, size_t len) override {
    for (size_t i = 0; i < len; i += 8) {
      uint64_t v = 0;
      std::memcpy(&v, static_cast<const char*>(src) + i, std::min<size_t>(8, len - i));
      if (v) w[pa + i] = v;
      else w.erase(pa + i);
    }
  }
};

using host::X86Codec;

TEST(IoPgtableX86, FirstStage4LevelPageAndBlock) {
  WordMem m;
  host::PhysAlloc alloc(0x100000, 1 << 24);
  host::IoPgtableX86 pt(m, alloc, X86Codec(4, X86Codec::Stage::First));
  const uint64_t root = pt.root();
  EXPECT_EQ(root, 0x100000u);
  // 4 KiB at IOVA 0x5000 -> PA 0x12345000: PML4[0] -> PDPT (0x101000), PDPT[0] -> PD (0x102000),
  // PD[0] -> PT (0x103000), PT[5] = leaf. Tables: P|RW|US. Leaf: P|RW|US|A|D|XD.
  const host::PgWork w = pt.map(0x5000, 0x12345000, 0x1000, host::IoProt{});
  EXPECT_EQ(w.tables, 3u);
  EXPECT_EQ(m.w[root], 0x101007u);
  EXPECT_EQ(m.w[0x101000], 0x102007u);
  EXPECT_EQ(m.w[0x102000], 0x103007u);
  EXPECT_EQ(m.w[0x103000 + 5 * 8], 0x8000000012345067ull);
  // 2 MiB at IOVA 0x40200000 -> PA 0x40200000 uses a PDE leaf (PS, bit 7): PDPT[1] -> new PD,
  // PD[1] = leaf.
  pt.map(0x40200000, 0x40200000, 0x200000, host::IoProt{});
  const uint64_t pd = m.w[0x101000 + 8] & ~0xFFFull;
  EXPECT_EQ(m.w[pd + 8], 0x80000000402000E7ull);
  EXPECT_EQ(pt.iova_to_phys(0x40212345), 0x40212345u);
  uint64_t leaf = 0;
  pt.unmap(0x5000, 0x1000, leaf);
  EXPECT_EQ(leaf, 0x1000u);
  EXPECT_EQ(m.w.count(0x103000 + 5 * 8), 0u);
}

TEST(IoPgtableX86, SecondStage3LevelReadOnly) {
  WordMem m;
  host::PhysAlloc alloc(0x100000, 1 << 24);
  host::IoPgtableX86 pt(m, alloc, X86Codec(3, X86Codec::Stage::Second));
  // 3 levels (39-bit): root is a PDPT. Table entries R|W (0x3); read-only leaf: R | EMT=6 (WB) << 3.
  pt.map(0x1000, 0x7000, 0x1000, host::IoProt{true, false, false});
  EXPECT_EQ(m.w[pt.root()], 0x101003u);
  EXPECT_EQ(m.w[0x101000], 0x102003u);
  EXPECT_EQ(m.w[0x102000 + 8], 0x7000u | 0x1 | (6u << 3));
  EXPECT_THROW(pt.map(uint64_t{1} << 39, 0x8000, 0x1000, host::IoProt{}), std::invalid_argument);
}

}  // namespace
}  // namespace iommusim::test
