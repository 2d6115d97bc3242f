// Nested (two-stage) translation: the translation core's nested walk on x86 tables in a map-backed memory,
// and VT-d scalable mode with PGTT 011b as a black box (SparseMemory + VtdIommu + the shared test
// initiator). Second-stage tables map the guest-physical pages that hold the first-stage tables; every
// entry is a raw word at its architectural bit positions (x86 paging, VT-d rev 4.x), and every expected
// address, read count and fault reason is worked out by hand below.
#include <gtest/gtest.h>
#include <systemc>
#include <tlm>

#include <array>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <utility>
#include <vector>

#include "models/common/pcie_ext.h"
#include "models/common/stats.h"
#include "models/iommu/core/translation_core.h"
#include "models/iommu/vtd/vtd.h"
#include "models/iommu/vtd/x86_format.h"
#include "models/memory/sparse_memory.h"
#include "testbenches/iommu_tb.h"
#include "testbenches/sim_fixture.h"

namespace iommusim {
namespace {

using sc_core::sc_time;
using sc_core::SC_NS;

// ---- x86 paging entries (first stage: P 0, R/W 1, U/S 2, A 5, PS 7; second stage: R 0, W 1, PS 7) ----
constexpr uint64_t FS_P = 1, FS_RW = 2, FS_US = 4, FS_A = 1ull << 5, PS = 1ull << 7;
constexpr uint64_t SS_R = 1, SS_W = 2;
constexpr uint64_t kAddr = 0x000FFFFFFFFFF000ull;
constexpr uint64_t fs_table(uint64_t gpa) { return gpa | FS_P | FS_RW | FS_US; }
constexpr uint64_t fs_page(uint64_t gpa, bool w = true, bool user = true) {
  return gpa | FS_P | FS_A | (w ? FS_RW : 0) | (user ? FS_US : 0);
}
constexpr uint64_t ss_page(uint64_t pa, bool w = true, bool r = true) { return pa | (r ? SS_R : 0) | (w ? SS_W : 0); }
// Index of va in a table of `level` (0 PML5 ... 4 PT).
constexpr uint64_t idx(uint64_t va, unsigned level) { return (va >> (12 + 9 * (4 - level))) & 0x1FF; }

// Guest-physical layout: each first-stage table and the data in a 512 GiB region of its own (PML4 index
// of the second stage), so that no second-stage walk-cache entry of one serves another and every
// second-stage walk of a cold nested walk reads all 4 levels.
constexpr uint64_t gpa(uint64_t region, uint64_t off) { return (region << 39) | off; }
constexpr uint64_t kS1Pml4 = gpa(1, 0x1000), kS1Pdpt = gpa(2, 0x2000), kS1Pd = gpa(3, 0x3000), kS1Pt = gpa(4, 0x4000);
constexpr uint64_t kData = gpa(5, 0x5000);
// Their host-physical pages.
constexpr uint64_t kHPml4 = 0x20000000, kHPdpt = 0x20001000, kHPd = 0x20002000, kHPt = 0x20003000;
constexpr uint64_t kHData = 0x30005000;
// The IOVA: PML4 index 2, PDPT 0x8D, PD 0x2B, PT 0x78.
constexpr uint64_t kVa = 0x0000012345678000ull;

// ==== the translation core alone ====================================================================

class Ram final : public MemReader {
 public:
  explicit Ram(sc_time lat) : lat_(lat) {}
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

// A second-stage table built in Ram: set(gpa, leaf, level) creates the tables above a leaf.
class SsTable {
 public:
  SsTable(Ram& r, uint64_t& bump) : r_(r), bump_(bump), root_(alloc()) {}
  uint64_t root() const { return root_; }
  void set(uint64_t a, uint64_t leaf, unsigned level = 4) {
    uint64_t table = root_;
    for (unsigned l = 1; l < level; ++l) {
      uint64_t& e = r_.m[table + idx(a, l) * 8];
      if (!(e & (SS_R | SS_W))) e = alloc() | SS_R | SS_W;
      table = e & kAddr;
    }
    r_.m[table + idx(a, level) * 8] = leaf;
  }

 private:
  uint64_t alloc() {
    const uint64_t a = bump_;
    bump_ += 0x1000;
    return a;
  }
  Ram& r_;
  uint64_t& bump_;
  uint64_t root_;
};

double stat(const StatGroup& g, const char* path) {
  double v = -1;
  EXPECT_TRUE(g.find(path, v)) << path;
  return v;
}

class TranslationCoreNested : public test::SimTest {
 protected:
  static constexpr double kL = 90;   // ns per table read
  static constexpr double kTlb = 5;  // ns
  using Geometry = vtd::X86Format::Geometry;
  using Stage = vtd::X86Format::Stage;

  TranslationCoreParams params(uint64_t wc_entries = 32) {
    TranslationCoreParams p;
    p.iotlb = CacheParams(64, 0);
    p.walk_cache = CacheParams(wc_entries, 0);
    p.walkers = 1;
    p.tlb_latency = Time::ns(kTlb);
    p.walk_read_latency = Time::ns(0);
    return p;
  }
  // First-stage tables at the guest-physical pages above, written at their host-physical pages; the
  // second stage maps those pages and the data page.
  void build(Ram& r) {
    r.m[kHPml4 + idx(kVa, 1) * 8] = fs_table(kS1Pdpt);
    r.m[kHPdpt + idx(kVa, 2) * 8] = fs_table(kS1Pd);
    r.m[kHPd + idx(kVa, 3) * 8] = fs_table(kS1Pt);
    r.m[kHPt + idx(kVa, 4) * 8] = fs_page(kData);
    ss = std::make_unique<SsTable>(r, bump);
    ss->set(kS1Pml4, ss_page(kHPml4));
    ss->set(kS1Pdpt, ss_page(kHPdpt));
    ss->set(kS1Pd, ss_page(kHPd));
    ss->set(kS1Pt, ss_page(kHPt));
    ss->set(kData, ss_page(kHData));
  }

  vtd::X86Format s1{Geometry::make(4, true, true, 52), Stage::First};
  vtd::X86Format s2{Geometry::make(4, true, true, 46), Stage::Second};
  std::unique_ptr<SsTable> ss;
  uint64_t bump = 0x40000000;  // second-stage tables
  StatGroup root{"root"};
  const TlbTag tag{7, 5};
};

TEST_F(TranslationCoreNested, ColdWalkReads24EntriesThenHitsTheIotlb) {
  Ram r(sc_time(kL, SC_NS));
  build(r);
  TranslationCore core(params(), r, 1, root);
  NestedWalkResult f;
  const sc_time t0(1000, SC_NS);
  sc_time t = t0;
  const TlbEntry* e = core.translate_nested(tag, s1, kS1Pml4, tag, s2, ss->root(), kVa + 0x123, t, f);
  ASSERT_NE(e, nullptr);
  // 4 first-stage reads, each after a 4-read second-stage walk of its table, then 4 for the output.
  EXPECT_EQ(r.reads, 24u);
  EXPECT_EQ(t, t0 + sc_time(kTlb + 24 * kL, SC_NS));
  EXPECT_EQ(e->va, kVa);
  EXPECT_EQ(e->pa, kHData);
  EXPECT_EQ(e->shift, 12);
  EXPECT_EQ(e->tag, tag);
  EXPECT_FALSE(e->stage2_only);
  EXPECT_TRUE(e->perm.r && e->perm.w && e->perm.user);
  EXPECT_EQ(stat(root, "walk.walks"), 1);
  EXPECT_EQ(stat(root, "walk.nested"), 1);
  EXPECT_EQ(stat(root, "walk.reads"), 24);

  // Same page: IOTLB hit, no reads.
  sc_time t1 = t;
  e = core.translate_nested(tag, s1, kS1Pml4, tag, s2, ss->root(), kVa + 0xFF8, t, f);
  ASSERT_NE(e, nullptr);
  EXPECT_EQ(e->pa, kHData);
  EXPECT_EQ(r.reads, 24u);
  EXPECT_EQ(t, t1 + sc_time(kTlb, SC_NS));
  EXPECT_EQ(stat(root, "iotlb.hits"), 1);

  // Neighbouring page: the stage-1 walk cache holds the page table's host address (1 read), and the
  // stage-2 walk cache the data's stage-2 page table (1 read).
  r.m[kHPt + idx(kVa + 0x1000, 4) * 8] = fs_page(kData + 0x1000);
  ss->set(kData + 0x1000, ss_page(kHData + 0x1000));
  t1 = t;
  e = core.translate_nested(tag, s1, kS1Pml4, tag, s2, ss->root(), kVa + 0x1000, t, f);
  ASSERT_NE(e, nullptr);
  EXPECT_EQ(e->pa, kHData + 0x1000);
  EXPECT_EQ(r.reads, 26u);
  EXPECT_EQ(t, t1 + sc_time(kTlb + 2 * kL, SC_NS));
}

TEST_F(TranslationCoreNested, StageTwoWalkCacheServesLaterTableFetches) {
  // All first-stage tables and the data in one 2 MiB guest-physical region: after the root's stage-2
  // walk (4 reads) each later stage-2 walk starts at the cached stage-2 page table (1 read).
  Ram r(sc_time(kL, SC_NS));
  const uint64_t pml4 = 0x100000, pdpt = 0x101000, pd = 0x102000, pt = 0x103000, data = 0x104000;
  r.m[kHPml4 + idx(kVa, 1) * 8] = fs_table(pdpt);
  r.m[kHPdpt + idx(kVa, 2) * 8] = fs_table(pd);
  r.m[kHPd + idx(kVa, 3) * 8] = fs_table(pt);
  r.m[kHPt + idx(kVa, 4) * 8] = fs_page(data);
  SsTable s(r, bump);
  s.set(pml4, ss_page(kHPml4));
  s.set(pdpt, ss_page(kHPdpt));
  s.set(pd, ss_page(kHPd));
  s.set(pt, ss_page(kHPt));
  s.set(data, ss_page(kHData));
  {
    TranslationCore core(params(), r, 1, root);
    NestedWalkResult f;
    sc_time t(0, SC_NS);
    const TlbEntry* e = core.translate_nested(tag, s1, pml4, tag, s2, s.root(), kVa, t, f);
    ASSERT_NE(e, nullptr);
    EXPECT_EQ(e->pa, kHData);
    EXPECT_EQ(r.reads, (4u + 1) + 3 * (1u + 1) + 1);
  }
  // Without a walk cache the layout does not matter: 24.
  r.reads = 0;
  StatGroup root2{"root2"};
  TranslationCore cold(params(0), r, 1, root2);
  NestedWalkResult f;
  sc_time t(0, SC_NS);
  ASSERT_NE(cold.translate_nested(tag, s1, pml4, tag, s2, s.root(), kVa, t, f), nullptr);
  EXPECT_EQ(r.reads, 24u);
  EXPECT_EQ(stat(root2, "walk.reads"), 24);
}

TEST_F(TranslationCoreNested, PageIsTheSmallerLeafAndRightsAreAnded) {
  Ram r(sc_time(kL, SC_NS));
  build(r);
  // PD index +1: a 2 MiB first-stage leaf at GPA 0x8000_0000 whose 4 KiB pages stage 2 maps one by one.
  const uint64_t va2m = kVa + 0x200000 - (kVa & 0x1FFFFF);
  r.m[kHPd + idx(va2m, 3) * 8] = fs_page(0x80000000, /*w*/ true) | PS;
  ss->set(0x80000000 + 0x5000, ss_page(0x60005000, /*w*/ false));
  // PD index +2: a 2 MiB first-stage leaf at GPA 0x8020_0000 over a 2 MiB stage-2 leaf at 0x6040_0000.
  const uint64_t va2m_b = va2m + 0x200000;
  r.m[kHPd + idx(va2m_b, 3) * 8] = fs_page(0x80200000, /*w*/ false) | PS;
  ss->set(0x80200000, ss_page(0x60400000) | PS, 3);
  // PT index +1: a 4 KiB first-stage page inside a 1 GiB stage-2 leaf.
  r.m[kHPt + idx(kVa + 0x1000, 4) * 8] = fs_page(gpa(6, 0x40123000));
  ss->set(gpa(6, 0x40000000), ss_page(0x1C0000000ull) | PS, 2);
  TranslationCore core(params(), r, 1, root);
  NestedWalkResult f;
  sc_time t(0, SC_NS);
  const TlbEntry* e = core.translate_nested(tag, s1, kS1Pml4, tag, s2, ss->root(), va2m + 0x5678, t, f);
  ASSERT_NE(e, nullptr);
  EXPECT_EQ(e->shift, 12);  // stage 2's 4 KiB
  EXPECT_EQ(e->va, va2m + 0x5000);
  EXPECT_EQ(e->pa, 0x60005000u);
  EXPECT_TRUE(e->perm.r);
  EXPECT_FALSE(e->perm.w);  // writable in stage 1, read-only in stage 2
  e = core.translate_nested(tag, s1, kS1Pml4, tag, s2, ss->root(), va2m_b + 0x12345, t, f);
  ASSERT_NE(e, nullptr);
  EXPECT_EQ(e->shift, 21);  // both 2 MiB
  EXPECT_EQ(e->va, va2m_b);
  EXPECT_EQ(e->pa, 0x60400000u);
  EXPECT_FALSE(e->perm.w);  // read-only in stage 1
  e = core.translate_nested(tag, s1, kS1Pml4, tag, s2, ss->root(), kVa + 0x1008, t, f);
  ASSERT_NE(e, nullptr);
  EXPECT_EQ(e->shift, 12);  // stage 1's 4 KiB
  EXPECT_EQ(e->va, kVa + 0x1000);
  EXPECT_EQ(e->pa, 0x1C0123000ull);
  EXPECT_TRUE(e->perm.w);
}

TEST_F(TranslationCoreNested, FaultsNameTheStageAndAreNotCached) {
  Ram r(sc_time(kL, SC_NS));
  build(r);
  TranslationCore core(params(), r, 1, root);
  auto walk = [&](uint64_t s1_root, uint64_t va, TlbTag tg = {7, 5}) {
    NestedWalkResult f;
    sc_time t(0, SC_NS);
    EXPECT_EQ(core.translate_nested(tg, s1, s1_root, tg, s2, ss->root(), va, t, f), nullptr);
    return f;
  };
  // Stage-1 PTE absent.
  NestedWalkResult f = walk(kS1Pml4, kVa + 0x2000);
  EXPECT_EQ(f.fault, WalkFault::Translation);
  EXPECT_EQ(f.stage, NestedStage::Stage1);
  EXPECT_EQ(f.level, 4u);
  EXPECT_EQ(f.entry_pa, kHPt + idx(kVa + 0x2000, 4) * 8);
  // Another space whose first-stage root is at a guest-physical page stage 2 does not map: stopped at the
  // stage-2 PML4E of index 7, the first read of that space.
  f = walk(gpa(7, 0), kVa, {7, 6});
  EXPECT_EQ(f.fault, WalkFault::Translation);
  EXPECT_EQ(f.stage, NestedStage::Stage2Table);
  EXPECT_EQ(f.s1_level, 1u);
  EXPECT_EQ(f.level, 1u);
  EXPECT_EQ(f.gpa, gpa(7, 0));
  EXPECT_EQ(f.entry_pa, ss->root() + 7 * 8);
  EXPECT_EQ(f.reads, 1u);
  // A page table (level 4) at an unmapped guest-physical page.
  const uint64_t va_pt = kVa + 0x200000;
  r.m[kHPd + idx(va_pt, 3) * 8] = fs_table(gpa(8, 0x8000));
  f = walk(kS1Pml4, va_pt);
  EXPECT_EQ(f.stage, NestedStage::Stage2Table);
  EXPECT_EQ(f.s1_level, 4u);
  EXPECT_EQ(f.gpa, gpa(8, 0x8000));
  // The same page table mapped write-only by stage 2: it cannot be read.
  ss->set(gpa(8, 0x8000), ss_page(0x28000000, /*w*/ true, /*r*/ false));
  f = walk(kS1Pml4, va_pt);
  EXPECT_EQ(f.fault, WalkFault::Permission);
  EXPECT_EQ(f.stage, NestedStage::Stage2Table);
  EXPECT_EQ(f.s1_level, 4u);
  // The output address unmapped in stage 2.
  r.m[kHPt + idx(kVa + 0x3000, 4) * 8] = fs_page(kData + 0x3000);
  f = walk(kS1Pml4, kVa + 0x3000);
  EXPECT_EQ(f.fault, WalkFault::Translation);
  EXPECT_EQ(f.stage, NestedStage::Stage2Output);
  EXPECT_EQ(f.s1_level, 4u);
  EXPECT_EQ(f.level, 4u);
  EXPECT_EQ(f.gpa, kData + 0x3000);
  // The output address beyond the second stage's 48-bit input.
  r.m[kHPt + idx(kVa + 0x4000, 4) * 8] = fs_page(uint64_t{1} << 48);
  f = walk(kS1Pml4, kVa + 0x4000);
  EXPECT_EQ(f.fault, WalkFault::AddressSize);
  EXPECT_EQ(f.stage, NestedStage::Stage2Output);
  // A failed read of a stage-2 entry during a table fetch.
  r.abort_at.insert(ss->root() + 9 * 8);
  r.m[kHPd + idx(kVa + 0x400000, 3) * 8] = fs_table(gpa(9, 0x9000));
  f = walk(kS1Pml4, kVa + 0x400000);
  EXPECT_EQ(f.fault, WalkFault::ExternalAbort);
  EXPECT_EQ(f.stage, NestedStage::Stage2Table);
  EXPECT_EQ(stat(root, "walk.faults"), 7);
  EXPECT_EQ(stat(root, "iotlb.fills"), 0);
}

TEST_F(TranslationCoreNested, StageTwoWalkCacheEntriesSurviveASpaceInvalidation) {
  Ram r(sc_time(kL, SC_NS));
  build(r);
  TranslationCore core(params(), r, 1, root);
  NestedWalkResult f;
  sc_time t(0, SC_NS);
  ASSERT_NE(core.translate_nested(tag, s1, kS1Pml4, tag, s2, ss->root(), kVa, t, f), nullptr);
  EXPECT_EQ(r.reads, 24u);
  // Dropping the space's IOTLB and stage-1 walk-cache entries leaves the stage-2 ones (same tag, marked
  // stage 2): 4 stage-1 reads, each table's stage-2 walk from its cached page table (1), the output (1).
  core.iotlb().invalidate_space(tag);
  core.walk_cache().invalidate_space(tag);
  ASSERT_NE(core.translate_nested(tag, s1, kS1Pml4, tag, s2, ss->root(), kVa, t, f), nullptr);
  EXPECT_EQ(r.reads, 24u + 4 + 4 + 1);
  // The IOTLB disabled: still translates, walking every time.
  StatGroup root2{"root2"};
  auto p = params();
  p.iotlb = CacheParams(0, 0);
  TranslationCore no_tlb(p, r, 1, root2);
  for (int i = 0; i < 2; ++i) {
    const TlbEntry* e = no_tlb.translate_nested(tag, s1, kS1Pml4, tag, s2, ss->root(), kVa + 8, t, f);
    ASSERT_NE(e, nullptr);
    EXPECT_EQ(e->pa, kHData);
  }
  EXPECT_EQ(stat(root2, "walk.nested"), 2);
}

// ==== VT-d, PGTT 011b ===============================================================================

// Registers (VT-d chapter 11) and descriptors the tests use.
constexpr uint32_t R_ECAP = 0x10, R_GCMD = 0x18, R_RTADDR = 0x20, R_IQT = 0x88, R_IQA = 0x90, R_FECTL = 0x38;
constexpr uint32_t GCMD_TE = 1u << 31, GCMD_SRTP = 1u << 30, GCMD_QIE = 1u << 26;
constexpr uint64_t RTADDR_TTM_SM = 1ull << 10, IQA_DW256 = 1ull << 11;
constexpr uint64_t ECAP_NEST = 1ull << 26;
constexpr uint64_t kRoot = 0x100000, kCtx = 0x101000, kIq = 0x200000, kStatus = 0x210000;
constexpr uint64_t kPdir = 0x300000, kPtab = 0x301000;
constexpr uint16_t kSid = 0x08, kDid = 7;

using Desc = std::array<uint64_t, 4>;
// IOTLB: G [5:4] (2 domain), DID [31:16]. PASID-IOTLB: type 6, G [5:4] (2 all of a PASID), DID, PASID [51:32].
// Invalidation wait: type 5, SW 5, status data [63:32]; qw1 status address.
Desc d_iotlb_domain(uint16_t did) { return {0x2 | (2u << 4) | (uint64_t{did} << 16), 0, 0, 0}; }
// IOTLB, G 3 (page-selective): qw1 AM [5:0], IH 6, ADDR [63:12].
Desc d_iotlb_page(uint16_t did, uint64_t addr, unsigned am) {
  return {0x2 | (3u << 4) | (uint64_t{did} << 16), (addr & ~0xFFFull) | am, 0, 0};
}
Desc d_piotlb_all(uint16_t did, uint32_t pasid) {
  return {0x6 | (2u << 4) | (uint64_t{did} << 16) | (uint64_t{pasid} << 32), 0, 0, 0};
}
Desc d_wait(uint32_t data, uint64_t addr) { return {0x5 | (1u << 5) | (uint64_t{data} << 32), addr, 0, 0}; }

struct Tb : test::IommuTb<Tb> {
  explicit Tb(sc_core::sc_module_name n) : IommuTb(n) {}
  test::DmaResult read(uint64_t va, int pasid, bool priv = false) {
    return dma_access(kSid, va, false, 0, priv, pasid, 8);
  }
  test::DmaResult write(uint64_t va, uint64_t v, int pasid, bool priv = false) {
    return dma_access(kSid, va, true, v, priv, pasid, 8);
  }
};

struct Frcd {
  uint64_t lo = 0, hi = 0;
  uint64_t fi() const { return lo & ~0xFFFull; }
  uint8_t fr() const { return static_cast<uint8_t>(hi >> 32); }
  uint32_t pasid() const { return static_cast<uint32_t>((hi >> 40) & 0xFFFFF); }
};

class VtdNestedTest : public test::SimTest {
 protected:
  VtdNestedTest() {
    mp.latency = Time::ns(90);
    vp.core.walk_read_latency = Time::ns(0);
    vp.fault_records = 16;
  }
  void build() {
    mem = std::make_unique<SparseMemory>("mem", mp);
    iommu = std::make_unique<vtd::VtdIommu>("vtd", vp);
    tb = std::make_unique<Tb>("tb");
    iommu->mem.bind(mem->socket);
    tb->regs.bind(iommu->regs);
    tb->dma.bind(iommu->upstream);
  }
  void run(std::function<void(Tb&)> body) {
    tb->body = std::move(body);
    sc_core::sc_start();
  }
  double stat(const char* path) {
    double v = -1;
    EXPECT_TRUE(iommu->stats().find(path, v)) << path;
    return v;
  }
  uint64_t alloc() {
    const uint64_t a = bump;
    bump += 0x1000;
    return a;
  }
  // A second-stage entry for guest-physical a at `level`, creating the second-stage tables above it.
  void ss_set(uint64_t a, uint64_t leaf, unsigned level = 4) {
    uint64_t table = ss_root;
    for (unsigned l = 1; l < level; ++l) {
      const uint64_t slot = table + idx(a, l) * 8;
      uint64_t e = mem->read64(slot);
      if (!(e & (SS_R | SS_W))) {
        e = alloc() | SS_R | SS_W;
        mem->write64(slot, e);
      }
      table = e & kAddr;
    }
    mem->write64(table + idx(a, level) * 8, leaf);
  }
  // The guest's tables at the layout above (kVa -> kData), and the second stage mapping their pages.
  void build_tables() {
    ss_root = alloc();
    mem->write64(kHPml4 + idx(kVa, 1) * 8, fs_table(kS1Pdpt));
    mem->write64(kHPdpt + idx(kVa, 2) * 8, fs_table(kS1Pd));
    mem->write64(kHPd + idx(kVa, 3) * 8, fs_table(kS1Pt));
    mem->write64(kHPt + idx(kVa, 4) * 8, fs_page(kData));
    ss_set(kS1Pml4, ss_page(kHPml4));
    ss_set(kS1Pdpt, ss_page(kHPdpt));
    ss_set(kS1Pd, ss_page(kHPd));
    ss_set(kS1Pt, ss_page(kHPt));
    ss_set(kData, ss_page(kHData));
  }
  // Scalable root entry (lower CTP, P) and context entry (P 0, PASIDE 3, PDTS 0, PASIDDIRPTR; RID_PASID 1).
  void sm_context() {
    mem->write64(kRoot, kCtx | 1);
    const uint64_t a = kCtx + (kSid & 0x7Fu) * 32u;
    mem->write64(a, kPdir | (1u << 3) | 1);
    mem->write64(a + 8, 1);
    mem->write64(kPdir, kPtab | 1);
  }
  // PASID-table entry: P 0, AW [4:2], PGTT [8:6], SSPTPTR [63:12]; DID [79:64]; SRE 128, FLPM [131:130],
  // WPE 132, FSPTPTR [191:140].
  void pasid_entry(uint32_t pasid, unsigned pgtt, uint64_t fsptr, uint64_t ssptr, bool sre = false) {
    const uint64_t a = kPtab + (pasid & 63u) * 64u;
    mem->write64(a, ssptr | (uint64_t{pgtt} << 6) | (2u << 2) | 1);  // AW 2: 48-bit, 4-level second stage
    mem->write64(a + 8, kDid);
    mem->write64(a + 16, fsptr | (sre ? 1u : 0));
  }
  void enable(Tb& t) {
    t.wr(R_RTADDR, kRoot | RTADDR_TTM_SM, 8);
    t.wr(R_GCMD, GCMD_SRTP);
    t.wr(R_IQT, 0, 8);
    t.wr(R_IQA, kIq | IQA_DW256, 8);
    t.wr(R_GCMD, GCMD_QIE | GCMD_TE);
    t.wr(R_FECTL, 0);
  }
  // Descriptors and a status-writing wait; polls the status word.
  void submit(Tb& t, std::vector<Desc> ds) {
    const uint32_t seq = ++status_seq;
    ds.push_back(d_wait(seq, kStatus));
    for (const Desc& d : ds) {
      for (unsigned q = 0; q < 4; ++q) mem->write64(kIq + tail * 32 + q * 8, d[q]);
      tail = (tail + 1) % (4096 / 32);
    }
    t.wr(R_IQT, uint64_t{tail} * 32, 8);
    for (int i = 0; i < 100000 && (mem->read64(kStatus) & 0xFFFFFFFF) != seq; ++i) sc_core::wait(10, SC_NS);
    ASSERT_EQ(mem->read64(kStatus) & 0xFFFFFFFF, seq);
  }
  Frcd frcd(Tb& t, unsigned i) {
    const uint32_t base = static_cast<uint32_t>(((iommu->cap() >> 24) & 0x3FF) * 16);  // CAP.FRO
    return Frcd{t.rd(base + i * 16, 8), t.rd(base + i * 16 + 8, 8)};
  }

  SparseMemoryParams mp;
  vtd::VtdParams vp;
  std::unique_ptr<SparseMemory> mem;
  std::unique_ptr<vtd::VtdIommu> iommu;
  std::unique_ptr<Tb> tb;
  uint64_t bump = 0x1000000;  // second-stage tables
  uint64_t ss_root = 0;
  uint32_t tail = 0, status_seq = 0;
};

TEST_F(VtdNestedTest, ColdWalkReads24EntriesThenHitsTheIotlb) {
  build();
  build_tables();
  mem->write64(kHData + 0x18, 0x1122334455667788ull);
  sm_context();
  pasid_entry(5, /*nested*/ 3, kS1Pml4, ss_root);
  run([&](Tb& t) {
    EXPECT_EQ(t.rd(R_ECAP, 8) & ECAP_NEST, ECAP_NEST);
    enable(t);
    test::DmaResult r = t.read(kVa + 0x18, 5);
    EXPECT_EQ(r.st, tlm::TLM_OK_RESPONSE);
    EXPECT_EQ(r.data, 0x1122334455667788ull);  // kVa -> GPA 0x280_0000_5000 -> HPA 0x3000_5000
    EXPECT_EQ(stat("walk.reads"), 24);           // (4 + 1) per first-stage level, 4 for the output
    EXPECT_EQ(stat("walk.walks"), 1);
    EXPECT_EQ(stat("walk.nested"), 1);
    EXPECT_EQ(stat("translated"), 1);
    r = t.write(kVa + 0x20, 0xFEED, 5);  // same page: IOTLB hit
    EXPECT_EQ(r.st, tlm::TLM_OK_RESPONSE);
    EXPECT_EQ(stat("walk.reads"), 24);
    EXPECT_EQ(stat("iotlb.hits"), 1);
  });
  EXPECT_EQ(mem->read64(kHData + 0x20), 0xFEEDu);
}

TEST_F(VtdNestedTest, FaultsRecordTheStageSpecificReason) {
  build();
  build_tables();
  sm_context();
  // PT entries next to kVa: +0x2000 absent (stage 1), +0x3000 to an unmapped GPA (stage 2, output),
  // +0x4000 writable in stage 1 over a read-only stage-2 page, +0x5000 to a GPA beyond 48 bits, +0x6000
  // read-only in stage 1 over a writable stage-2 page.
  mem->write64(kHPt + idx(kVa + 0x3000, 4) * 8, fs_page(kData + 0x3000));
  mem->write64(kHPt + idx(kVa + 0x4000, 4) * 8, fs_page(kData + 0x4000));
  ss_set(kData + 0x4000, ss_page(kHData + 0x4000, /*w*/ false));
  mem->write64(kHPt + idx(kVa + 0x5000, 4) * 8, fs_page(uint64_t{1} << 48));
  mem->write64(kHPt + idx(kVa + 0x6000, 4) * 8, fs_page(kData + 0x6000, /*w*/ false));
  ss_set(kData + 0x6000, ss_page(kHData + 0x6000));
  // Next PD entry: a page table at a GPA stage 2 does not map. PD entry +2: a page table whose stage-2
  // leaf has a reserved bit set (address bit 50, above the 46-bit host width).
  const uint64_t va_pt = kVa + 0x200000, va_rsvd = kVa + 0x400000;
  mem->write64(kHPd + idx(va_pt, 3) * 8, fs_table(gpa(8, 0x8000)));
  mem->write64(kHPd + idx(va_rsvd, 3) * 8, fs_table(gpa(9, 0x9000)));
  ss_set(gpa(9, 0x9000), ss_page((uint64_t{1} << 50) | 0x9000));
  pasid_entry(5, 3, kS1Pml4, ss_root);
  pasid_entry(6, 3, gpa(7, 0), ss_root);  // the first-stage root itself unmapped in stage 2
  pasid_entry(12, 3, kS1Pml4, ss_root, /*sre*/ true);  // supervisor requests, WPE clear
  mem->write64(kHData + 0x6000, 0x66);
  run([&](Tb& t) {
    enable(t);
    EXPECT_EQ(t.read(kVa + 0x2000, 5).io, IoStatus::TranslationFault);         // 71h
    EXPECT_EQ(t.read(va_pt, 5).io, IoStatus::TranslationFault);                // 76h
    EXPECT_EQ(t.read(kVa, 6).io, IoStatus::TranslationFault);                  // 75h
    EXPECT_EQ(t.read(kVa + 0x3000, 5).io, IoStatus::TranslationFault);         // 79h
    EXPECT_EQ(t.read(kVa + 0x4000, 5).st, tlm::TLM_OK_RESPONSE);
    EXPECT_EQ(t.write(kVa + 0x4000, 1, 5).io, IoStatus::PermissionFault);      // 85h
    EXPECT_EQ(t.read(kVa + 0x5000, 5).io, IoStatus::TranslationFault);         // 74h
    EXPECT_EQ(t.read(va_rsvd, 5).io, IoStatus::TranslationFault);              // 7Ah
    EXPECT_EQ(t.write(kVa + 0x6000, 2, 5).io, IoStatus::PermissionFault);      // 85h: stage 1 read-only
    // A supervisor write with WPE clear ignores stage 1's R/W, never stage 2's.
    EXPECT_EQ(t.write(kVa + 0x6000, 0x6161, 12, true).st, tlm::TLM_OK_RESPONSE);
    EXPECT_EQ(t.write(kVa + 0x4000, 3, 12, true).io, IoStatus::PermissionFault);  // 85h
    const uint8_t fr[] = {0x71, 0x76, 0x75, 0x79, 0x85, 0x74, 0x7A, 0x85, 0x85};
    const uint64_t fi[] = {kVa + 0x2000, va_pt, kVa, kVa + 0x3000, kVa + 0x4000, kVa + 0x5000, va_rsvd,
                           kVa + 0x6000, kVa + 0x4000};
    const uint32_t pasid[] = {5, 5, 6, 5, 5, 5, 5, 5, 12};
    for (unsigned i = 0; i < 9; ++i) {
      const Frcd f = frcd(t, i);
      EXPECT_EQ(f.fr(), fr[i]) << i;
      EXPECT_EQ(f.fi(), fi[i]) << i;
      EXPECT_EQ(f.pasid(), pasid[i]) << i;
    }
  });
  EXPECT_EQ(mem->read64(kHData + 0x4000), 0u);  // no faulting write reached memory
  EXPECT_EQ(mem->read64(kHData + 0x6000), 0x6161u);
  EXPECT_EQ(stat("faults"), 9);
  EXPECT_EQ(stat("fault_reasons.0x85"), 3);
}

TEST_F(VtdNestedTest, PasidAndDomainInvalidationDropNestedEntries) {
  build();
  build_tables();
  sm_context();
  pasid_entry(5, 3, kS1Pml4, ss_root);
  run([&](Tb& t) {
    enable(t);
    EXPECT_EQ(t.read(kVa, 5).st, tlm::TLM_OK_RESPONSE);
    EXPECT_EQ(t.read(kVa + 8, 5).st, tlm::TLM_OK_RESPONSE);
    EXPECT_EQ(stat("walk.walks"), 1);
    EXPECT_EQ(stat("walk.reads"), 24);
    // PASID-based, all of PASID 5: the IOTLB entry and the first-stage walk-cache entries go; the
    // second-stage ones stay, so 4 first-stage reads, 1 stage-2 read per table and 1 for the output.
    submit(t, {d_piotlb_all(kDid, 5)});
    EXPECT_EQ(stat("iotlb.invalidated"), 1);
    EXPECT_EQ(t.read(kVa, 5).st, tlm::TLM_OK_RESPONSE);
    EXPECT_EQ(stat("walk.walks"), 2);
    EXPECT_EQ(stat("walk.reads"), 24 + 9);
    // Domain-selective IOTLB invalidation of the DID: everything of the domain goes, a cold walk again.
    submit(t, {d_iotlb_domain(kDid)});
    EXPECT_EQ(stat("iotlb.invalidated"), 2);
    EXPECT_EQ(t.read(kVa, 5).st, tlm::TLM_OK_RESPONSE);
    EXPECT_EQ(stat("walk.walks"), 3);
    EXPECT_EQ(stat("walk.reads"), 24 + 9 + 24);
  });
  EXPECT_EQ(stat("inv.pasid_iotlb"), 1);
  EXPECT_EQ(stat("inv.iotlb_domain"), 1);
}

TEST_F(VtdNestedTest, PageSelectiveInvalidationByGuestPhysicalAddressDropsNestedEntries) {
  build();
  build_tables();
  sm_context();
  pasid_entry(5, 3, kS1Pml4, ss_root);
  constexpr uint64_t kMoved = 0x30006000;  // where the hypervisor moves the guest-physical page kData
  mem->write64(kHData, 0x1111);
  mem->write64(kMoved, 0x2222);
  run([&](Tb& t) {
    enable(t);
    EXPECT_EQ(t.read(kVa, 5).data, 0x1111u);
    EXPECT_EQ(stat("walk.reads"), 24);
    ss_set(kData, ss_page(kMoved));
    EXPECT_EQ(t.read(kVa, 5).data, 0x1111u);  // the combined translation is still cached
    // Page-selective by the guest-physical page: the nested entry is tagged by kVa, so the whole DID goes
    // (IOTLB and walk caches): a cold nested walk to the new page.
    submit(t, {d_iotlb_page(kDid, kData, 0)});
    EXPECT_EQ(t.read(kVa, 5).data, 0x2222u);
    EXPECT_EQ(stat("walk.walks"), 2);
    EXPECT_EQ(stat("walk.reads"), 48);
  });
  EXPECT_EQ(stat("inv.iotlb_domain"), 1);  // performed domain-selectively
  EXPECT_EQ(stat("inv.iotlb_page"), 0);
}

TEST_F(VtdNestedTest, WithoutNestSupportPgtt011bIsAnInvalidPasidEntry) {
  vp.nested = false;
  build();
  build_tables();
  sm_context();
  pasid_entry(5, 3, kS1Pml4, ss_root);
  run([&](Tb& t) {
    EXPECT_EQ(t.rd(R_ECAP, 8) & ECAP_NEST, 0u);
    enable(t);
    EXPECT_EQ(t.read(kVa, 5).io, IoStatus::ConfigFault);
    EXPECT_EQ(frcd(t, 0).fr(), 0x5Bu);
    EXPECT_EQ(frcd(t, 0).pasid(), 5u);
  });
  EXPECT_EQ(stat("walk.walks"), 0);
}

TEST_F(VtdNestedTest, NestNeedsBothStages) {
  vp.second_stage = false;
  build();
  build_tables();
  sm_context();
  pasid_entry(5, 3, kS1Pml4, ss_root);
  run([&](Tb& t) {
    EXPECT_EQ(t.rd(R_ECAP, 8) & ECAP_NEST, 0u);
    enable(t);
    EXPECT_EQ(t.read(kVa, 5).io, IoStatus::ConfigFault);
    EXPECT_EQ(frcd(t, 0).fr(), 0x5Bu);
  });
}

}  // namespace
}  // namespace iommusim
