// Unit tests of the process address space (host::Mm): page-table entries are checked by a reference
// walk written here over the raw 8-byte entries in memory, at the architectures' bit positions.
#include <gtest/gtest.h>
#include <sysc/kernel/sc_spawn.h>
#include <systemc>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <vector>

#include "models/common/sim_time.h"
#include "models/host/mm.h"
#include "models/memory/sparse_memory.h"
#include "testbenches/sim_fixture.h"

namespace iommusim {
namespace {

using host::Mm;
using Fmt = Mm::Format;
using Reason = Mm::FaultResult::Reason;
constexpr uint64_t kPg = 4096;

class BackdoorMem final : public host::PhysMem {
 public:
  explicit BackdoorMem(SparseMemory& m) : m_(m) {}
  void read(uint64_t pa, void* dst, size_t len) override { m_.read(pa, dst, len); }
  void write(uint64_t pa, const void* src, size_t len) override { m_.write(pa, src, len); }

 private:
  SparseMemory& m_;
};

// x86-64 paging entry bits (SDM vol. 3, 4.5).
constexpr uint64_t kP = 1ull << 0, kRW = 1ull << 1, kUS = 1ull << 2, kA = 1ull << 5, kD = 1ull << 6,
                   kPS = 1ull << 7, kXD = 1ull << 63;
constexpr uint64_t kX86Addr = 0x000F'FFFF'FFFF'F000ull;  // bits 51:12
// VMSAv8-64 descriptor bits (Arm ARM D8.3).
constexpr uint64_t kValid = 1ull << 0, kTablePage = 1ull << 1, kApEl0 = 1ull << 6, kApRo = 1ull << 7,
                   kShInner = 3ull << 8, kAf = 1ull << 10, kNg = 1ull << 11, kDbm = 1ull << 51, kPxn = 1ull << 53,
                   kUxn = 1ull << 54;
constexpr uint64_t kArmAddr = 0x0000'FFFF'FFFF'F000ull;  // bits 47:12

struct RefLeaf {
  uint64_t pa = 0;
  uint64_t raw = 0;                // the leaf entry
  std::vector<uint64_t> tables;    // table entries on the way, root first
};

// Walks x86-64 4- or 5-level tables: 9 index bits per level above the 12-bit page offset.
std::optional<RefLeaf> walk_x86(SparseMemory& m, uint64_t root, unsigned levels, uint64_t va) {
  RefLeaf r;
  uint64_t table = root;
  for (int shift = 12 + 9 * (static_cast<int>(levels) - 1); shift >= 12; shift -= 9) {
    const uint64_t e = m.read64(table + ((va >> shift) & 511) * 8);
    if (!(e & kP)) return std::nullopt;
    if (shift == 12 || (e & kPS)) {
      const uint64_t span = uint64_t{1} << shift;
      r.pa = (e & kX86Addr & ~(span - 1)) | (va & (span - 1));
      r.raw = e;
      return r;
    }
    r.tables.push_back(e);
    table = e & kX86Addr;
  }
  return std::nullopt;
}

// Walks VMSAv8-64 4 KiB-granule tables with a 48-bit input: levels 0-3 at bits 47:39 ... 20:12.
std::optional<RefLeaf> walk_arm(SparseMemory& m, uint64_t root, uint64_t va) {
  RefLeaf r;
  uint64_t table = root;
  for (int l = 0; l <= 3; ++l) {
    const int shift = 39 - 9 * l;
    const uint64_t d = m.read64(table + ((va >> shift) & 511) * 8);
    if (!(d & kValid)) return std::nullopt;
    if (l < 3 && (d & kTablePage)) {
      r.tables.push_back(d);
      table = d & kArmAddr;
      continue;
    }
    if (l == 3 && !(d & kTablePage)) return std::nullopt;  // reserved encoding at level 3
    const uint64_t span = uint64_t{1} << shift;
    r.pa = (d & kArmAddr & ~(span - 1)) | (va & (span - 1));
    r.raw = d;
    return r;
  }
  return std::nullopt;
}

class MmTest : public test::SimTest {
 protected:
  static constexpr uint64_t kHeap = 0x100000;
  void SetUp() override {
    SimTest::SetUp();
    SparseMemoryParams p;
    p.size = uint64_t{1} << 40;
    mem = std::make_unique<SparseMemory>("mem", p);
    pm = std::make_unique<BackdoorMem>(*mem);
    alloc = std::make_unique<host::PhysAlloc>(kHeap, uint64_t{1} << 30);
  }
  std::unique_ptr<Mm> make(Fmt f, host::Cpu* cpu = nullptr, const host::CpuCosts& c = {}) {
    return std::make_unique<Mm>(*pm, *alloc, f, 7, cpu, c);
  }
  std::optional<RefLeaf> walk(const Mm& mm, uint64_t va) {
    if (mm.format() == Fmt::ArmV8_48) return walk_arm(*mem, mm.pgd(), va);
    return walk_x86(*mem, mm.pgd(), mm.format() == Fmt::X86_5 ? 5 : 4, va);
  }
  std::unique_ptr<SparseMemory> mem;
  std::unique_ptr<BackdoorMem> pm;
  std::unique_ptr<host::PhysAlloc> alloc;
};

class MmFormatTest : public MmTest, public ::testing::WithParamInterface<Fmt> {};

const Mm::Prot kProtRW{true, true, false};
const Mm::Prot kProtRO{true, false, false};

TEST_P(MmFormatTest, FaultInWritesUserPtes) {
  auto mm = make(GetParam());
  EXPECT_EQ(mm->levels(), GetParam() == Fmt::X86_5 ? 5u : 4u);
  EXPECT_EQ(mm->pgd(), kHeap);  // the root is the first allocation
  const auto rw = mm->mmap(4 * kPg, kProtRW);
  const auto ro = mm->mmap(2 * kPg, kProtRO);
  ASSERT_TRUE(rw.ok() && ro.ok());
  EXPECT_FALSE(walk(*mm, rw.addr + kPg).has_value());  // nothing before the first fault

  // A page freed with junk in it is reused: the fault must hand it out zeroed.
  const uint64_t junk = alloc->alloc(kPg);
  mem->write64(junk + 0x18, 0xDEADBEEF);
  alloc->free(junk, kPg);

  const auto f = mm->fault(rw.addr + kPg + 0x123, true);
  EXPECT_TRUE(f.ok());
  EXPECT_EQ(f.reason, Reason::Mapped);
  EXPECT_EQ(f.addr, rw.addr + kPg);
  const auto leaf = walk(*mm, rw.addr + kPg + 0x123);
  ASSERT_TRUE(leaf.has_value());
  EXPECT_EQ(leaf->pa, junk + 0x123);
  EXPECT_EQ(mem->read64(junk + 0x18), 0u);
  const auto t = mm->translate(rw.addr + kPg + 0x123);
  ASSERT_TRUE(t.has_value());
  EXPECT_EQ(t->pa, leaf->pa);
  EXPECT_TRUE(t->write && t->user && !t->exec);

  ASSERT_TRUE(mm->fault(ro.addr, false).ok());
  const auto rleaf = walk(*mm, ro.addr);
  ASSERT_TRUE(rleaf.has_value());
  const auto rt = mm->translate(ro.addr);
  ASSERT_TRUE(rt.has_value());
  EXPECT_EQ(rt->pa, rleaf->pa);
  EXPECT_TRUE(!rt->write && rt->user && !rt->exec);

  if (GetParam() == Fmt::ArmV8_48) {
    const uint64_t common = kValid | kTablePage | kApEl0 | kShInner | kAf | kNg | kPxn | kUxn;  // AttrIndx 0
    EXPECT_EQ(leaf->raw, junk | common | kDbm);
    EXPECT_EQ(rleaf->raw, rleaf->pa | common | kApRo);
    ASSERT_EQ(leaf->tables.size(), 3u);
    for (uint64_t e : leaf->tables) EXPECT_EQ(e & ~kArmAddr, kValid | kTablePage);
  } else {
    EXPECT_EQ(leaf->raw, junk | kP | kRW | kUS | kA | kD | kXD);
    EXPECT_EQ(rleaf->raw, rleaf->pa | kP | kUS | kA | kXD);
    ASSERT_EQ(leaf->tables.size(), mm->levels() - 1);
    for (uint64_t e : leaf->tables) EXPECT_EQ(e & ~kX86Addr, kP | kRW | kUS | kA);
  }
  EXPECT_EQ(mm->resident_pages(), 2u);
  EXPECT_EQ(mm->faults_mapped(), 2u);
}

TEST_P(MmFormatTest, RefusedFaultsAllocateNothing) {
  auto mm = make(GetParam());
  const auto ro = mm->mmap(kPg, kProtRO);
  ASSERT_TRUE(ro.ok());
  const uint64_t hw = alloc->high_water();
  auto f = mm->fault(ro.addr - kPg, false);  // below the VMA: no VMA
  EXPECT_FALSE(f.ok());
  EXPECT_EQ(f.reason, Reason::NoVma);
  f = mm->fault(ro.addr, true);  // write to a read-only VMA
  EXPECT_EQ(f.status, Mm::FaultResult::Status::Invalid);
  EXPECT_EQ(f.reason, Reason::Access);
  f = mm->fault(ro.addr, false, true);  // exec of a non-exec VMA
  EXPECT_EQ(f.reason, Reason::Access);
  EXPECT_EQ(mm->fault(0, false).reason, Reason::NoVma);
  EXPECT_EQ(mm->fault(uint64_t{1} << 60, false).reason, Reason::NoVma);
  EXPECT_EQ(alloc->high_water(), hw);
  EXPECT_FALSE(walk(*mm, ro.addr).has_value());
  EXPECT_EQ(mm->faults(), 5u);
  EXPECT_EQ(mm->faults_invalid(), 5u);
  EXPECT_EQ(mm->resident_pages(), 0u);
}

TEST_P(MmFormatTest, SecondFaultIsSpurious) {
  auto mm = make(GetParam());
  const auto a = mm->mmap(2 * kPg, kProtRW);
  ASSERT_TRUE(mm->fault(a.addr, false).ok());
  const uint64_t hw = alloc->high_water();
  const uint64_t pa = walk(*mm, a.addr)->pa;
  for (bool w : {false, true}) {
    const auto f = mm->fault(a.addr + 8, w);
    EXPECT_TRUE(f.ok());
    EXPECT_EQ(f.reason, Reason::Spurious);
  }
  EXPECT_EQ(alloc->high_water(), hw);
  EXPECT_EQ(walk(*mm, a.addr)->pa, pa);
  EXPECT_EQ(mm->faults(), 3u);
  EXPECT_EQ(mm->faults_mapped(), 1u);
  EXPECT_EQ(mm->faults_spurious(), 2u);
  EXPECT_EQ(mm->resident_pages(), 1u);
}

// The notifier runs after the entries are cleared (a device re-walking then finds nothing) and
// before the pages are freed (a device still using a stale TLB entry reaches a page not yet reused).
TEST_P(MmFormatTest, MunmapNotifiesBetweenClearAndFree) {
  auto mm = make(GetParam());
  const auto a = mm->mmap(4 * kPg, kProtRW);
  ASSERT_TRUE(mm->touch(a.addr, 4 * kPg, true).ok());
  std::vector<uint64_t> pas;
  for (int i = 0; i < 4; ++i) pas.push_back(walk(*mm, a.addr + i * kPg)->pa);
  const uint64_t hw = alloc->high_water();

  int calls = 0;
  mm->add_notifier([&](uint64_t s, uint64_t e) {
    ++calls;
    EXPECT_EQ(s, a.addr);
    EXPECT_EQ(e, a.addr + 4 * kPg);
    for (int i = 0; i < 4; ++i) EXPECT_FALSE(walk(*mm, a.addr + i * kPg).has_value());
    // Not freed yet: a fresh allocation is none of them.
    const uint64_t x = alloc->alloc(kPg);
    EXPECT_EQ(std::count(pas.begin(), pas.end(), x), 0);
    alloc->free(x, kPg);
  });
  const auto r = mm->munmap(a.addr, 4 * kPg);
  EXPECT_EQ(r.err, 0);
  EXPECT_EQ(calls, 1);
  EXPECT_EQ(r.pages, 4u);
  EXPECT_EQ(r.freed, pas);
  EXPECT_EQ(mm->resident_pages(), 0u);
  EXPECT_TRUE(mm->vmas().empty());
  for (int i = 0; i < 4; ++i) {
    EXPECT_FALSE(walk(*mm, a.addr + i * kPg).has_value());
    EXPECT_FALSE(mm->translate(a.addr + i * kPg).has_value());
  }
  EXPECT_EQ(mm->fault(a.addr, false).reason, Reason::NoVma);
  // Freed: the pages come back from the allocator without growing it.
  std::set<uint64_t> again;
  for (int i = 0; i < 5; ++i) again.insert(alloc->alloc(kPg));  // four pages and the callback's one
  EXPECT_EQ(alloc->high_water(), hw + kPg);
  for (uint64_t pa : pas) EXPECT_EQ(again.count(pa), 1u);
}

TEST_P(MmFormatTest, MunmapInTheMiddleSplitsTheVma) {
  auto mm = make(GetParam());
  const auto a = mm->mmap(8 * kPg, kProtRW, /*populate=*/true);
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(mm->resident_pages(), 8u);
  std::vector<std::pair<uint64_t, uint64_t>> seen;
  mm->add_notifier([&](uint64_t s, uint64_t e) { seen.emplace_back(s, e); });
  const auto r = mm->munmap(a.addr + 3 * kPg, 2 * kPg);
  EXPECT_EQ(r.pages, 2u);
  ASSERT_EQ(seen.size(), 1u);
  EXPECT_EQ(seen[0], std::make_pair(a.addr + 3 * kPg, a.addr + 5 * kPg));
  const auto v = mm->vmas();
  ASSERT_EQ(v.size(), 2u);
  EXPECT_EQ(v[0].start, a.addr);
  EXPECT_EQ(v[0].end, a.addr + 3 * kPg);
  EXPECT_EQ(v[1].start, a.addr + 5 * kPg);
  EXPECT_EQ(v[1].end, a.addr + 8 * kPg);
  for (int i = 0; i < 8; ++i) EXPECT_EQ(walk(*mm, a.addr + i * kPg).has_value(), i < 3 || i >= 5) << i;
  EXPECT_EQ(mm->resident_pages(), 6u);
  // Unmapping a hole is not an error and notifies nobody.
  const auto h = mm->munmap(a.addr + 3 * kPg, 2 * kPg);
  EXPECT_EQ(h.err, 0);
  EXPECT_EQ(h.pages, 0u);
  EXPECT_EQ(seen.size(), 1u);
  EXPECT_EQ(mm->munmap(a.addr + 1, kPg).err, -EINVAL);
  EXPECT_EQ(mm->munmap(a.addr, 0).err, -EINVAL);
}

TEST_P(MmFormatTest, ExitNotifiesFreesAndRefusesFaults) {
  auto mm = make(GetParam());
  const auto a = mm->mmap(3 * kPg, kProtRW, true);
  const auto b = mm->mmap(kPg, kProtRO, false, uint64_t{0x40000000});
  ASSERT_TRUE(a.ok() && b.ok());
  ASSERT_TRUE(mm->fault(b.addr, false).ok());
  const uint64_t hw = alloc->high_water();
  const uint64_t blocks = (hw - kHeap) / kPg;  // everything allocated: root, tables, pages
  std::vector<std::pair<uint64_t, uint64_t>> inv;
  int released = 0, inv_on_released = 0;
  mm->add_notifier([&](uint64_t s, uint64_t e) {
    inv.emplace_back(s, e);
    EXPECT_FALSE(walk(*mm, a.addr).has_value());  // cleared before the notifier runs
  });
  mm->add_notifier([&](uint64_t, uint64_t) { ++inv_on_released; }, [&] { ++released; });
  EXPECT_EQ(mm->exit(), 4u);
  EXPECT_FALSE(mm->alive());
  ASSERT_EQ(inv.size(), 1u);
  EXPECT_EQ(inv[0], std::make_pair(uint64_t{0}, Mm::kWholeMm));
  EXPECT_EQ(released, 1);
  EXPECT_EQ(inv_on_released, 0);  // unhooked by release, as in Linux
  EXPECT_EQ(mm->fault(a.addr, false).reason, Reason::MmGone);
  EXPECT_FALSE(mm->fault(b.addr, false).ok());
  EXPECT_FALSE(mm->translate(a.addr).has_value());
  EXPECT_FALSE(mm->touch(a.addr, kPg, false).ok());
  EXPECT_FALSE(mm->mmap(kPg, kProtRW).ok());
  EXPECT_EQ(mm->resident_pages(), 0u);
  EXPECT_EQ(mm->pgd(), kHeap);  // the root stays until free_pgd (mmdrop)
  for (uint64_t i = 0; i < 512; ++i) ASSERT_EQ(mem->read64(kHeap + i * 8), 0u) << i;
  mm->free_pgd();
  EXPECT_EQ(mm->pgd(), 0u);
  // Every page and table is back in the allocator.
  for (uint64_t i = 0; i < blocks; ++i) alloc->alloc(kPg);
  EXPECT_EQ(alloc->high_water(), hw);
  EXPECT_EQ(mm->exit(), 0u);  // once only
}

INSTANTIATE_TEST_SUITE_P(MmFormats, MmFormatTest, ::testing::Values(Fmt::X86_4, Fmt::X86_5, Fmt::ArmV8_48),
                         [](const ::testing::TestParamInfo<Fmt>& i) {
                           return i.param == Fmt::X86_4 ? "X86_4" : i.param == Fmt::X86_5 ? "X86_5" : "ArmV8_48";
                         });

TEST_F(MmTest, MmapTopDownFixedAndErrors) {
  auto mm = make(Fmt::X86_4);
  const uint64_t base = host::MmOptions{}.mmap_base;
  const auto a = mm->mmap(3 * kPg, kProtRW);
  EXPECT_EQ(a.addr, base - 3 * kPg);
  const auto b = mm->mmap(100, kProtRW);  // rounded up to a page, placed just below
  EXPECT_EQ(b.addr, base - 4 * kPg);
  ASSERT_EQ(mm->vmas().size(), 1u);  // same flags: merged, as Linux does
  const auto c = mm->mmap(kPg, kProtRO);
  EXPECT_EQ(c.addr, base - 5 * kPg);
  EXPECT_EQ(mm->vmas().size(), 2u);
  // A hole left by munmap is the highest fit for the next mapping.
  ASSERT_EQ(mm->munmap(base - 2 * kPg, kPg).err, 0);
  EXPECT_EQ(mm->mmap(kPg, kProtRO).addr, base - 2 * kPg);
  EXPECT_EQ(mm->mmap(2 * kPg, kProtRO).addr, base - 7 * kPg);  // too big for any hole above

  // Fixed placement: exactly there, never replacing.
  EXPECT_EQ(mm->mmap(kPg, kProtRW, false, base - 4 * kPg).err, -EEXIST);
  EXPECT_EQ(mm->mmap(4 * kPg, kProtRW, false, base - 9 * kPg).err, -EEXIST);  // overlaps the lowest VMA's start
  EXPECT_EQ(mm->mmap(kPg, kProtRW, false, uint64_t{0x10000123}).err, -EINVAL);
  EXPECT_EQ(mm->mmap(kPg, kProtRW, false, uint64_t{0x1000}).err, -EPERM);
  EXPECT_EQ(mm->mmap(2 * kPg, kProtRW, false, mm->task_size() - kPg).err, -ENOMEM);
  EXPECT_EQ(mm->mmap(0, kProtRW).err, -EINVAL);
  const auto f = mm->mmap(2 * kPg, kProtRW, false, uint64_t{0x10000000});
  EXPECT_TRUE(f.ok());
  EXPECT_EQ(f.addr, 0x10000000u);
  const auto v = mm->find_vma(0x10001FFF);
  ASSERT_TRUE(v.has_value());
  EXPECT_EQ(v->start, 0x10000000u);
  EXPECT_EQ(v->end, 0x10002000u);
  EXPECT_FALSE(mm->find_vma(0x10002000).has_value());
}

TEST_F(MmTest, TouchFaultsOnlyWhereTheEntryLacksTheRight) {
  auto mm = make(Fmt::X86_4);
  const auto a = mm->mmap(4 * kPg, kProtRW);
  EXPECT_TRUE(mm->touch(a.addr + 0x800, 3 * kPg, false).ok());  // spans 4 pages
  EXPECT_EQ(mm->faults(), 4u);
  EXPECT_TRUE(mm->touch(a.addr, 4 * kPg, true).ok());  // writable already: no fault
  EXPECT_EQ(mm->faults(), 4u);
  const auto bad = mm->touch(a.addr + 3 * kPg, 2 * kPg, false);  // runs off the end
  EXPECT_FALSE(bad.ok());
  EXPECT_EQ(bad.reason, Reason::NoVma);
  EXPECT_EQ(bad.addr, a.addr + 4 * kPg);
}

// arm64 without range TLBI turns a flush of >= 512 pages into a whole-ASID one; x86 passes the range.
TEST_F(MmTest, LargeUnmapWidensToWholeMmOnArmOnly) {
  for (Fmt f : {Fmt::ArmV8_48, Fmt::X86_4}) {
    auto mm = make(f);
    const auto a = mm->mmap(600 * kPg, kProtRW, true);
    std::vector<std::pair<uint64_t, uint64_t>> seen;
    mm->add_notifier([&](uint64_t s, uint64_t e) { seen.emplace_back(s, e); });
    mm->munmap(a.addr, 511 * kPg);
    mm->munmap(a.addr + 511 * kPg, 89 * kPg);
    ASSERT_EQ(seen.size(), 2u);
    EXPECT_EQ(seen[0], std::make_pair(a.addr, a.addr + 511 * kPg));
    EXPECT_EQ(seen[1], std::make_pair(a.addr + 511 * kPg, a.addr + 600 * kPg));
    auto b = mm->mmap(512 * kPg, kProtRW, true);
    mm->munmap(b.addr, 512 * kPg);
    ASSERT_EQ(seen.size(), 3u);
    if (f == Fmt::ArmV8_48)
      EXPECT_EQ(seen[2], std::make_pair(uint64_t{0}, Mm::kWholeMm));
    else
      EXPECT_EQ(seen[2], std::make_pair(b.addr, b.addr + 512 * kPg));
  }
}

TEST_F(MmTest, MprotectDowngradeNotifiesUpgradeDoesNot) {
  auto mm = make(Fmt::ArmV8_48);
  const auto a = mm->mmap(4 * kPg, kProtRW);
  mm->touch(a.addr + kPg, 2 * kPg, true);  // pages 1 and 2 resident
  std::vector<std::pair<uint64_t, uint64_t>> seen;
  mm->add_notifier([&](uint64_t s, uint64_t e) { seen.emplace_back(s, e); });
  EXPECT_EQ(mm->mprotect(a.addr, 4 * kPg, kProtRO), 0);
  ASSERT_EQ(seen.size(), 1u);
  EXPECT_EQ(seen[0], std::make_pair(a.addr + kPg, a.addr + 3 * kPg));
  EXPECT_TRUE(walk(*mm, a.addr + kPg)->raw & kApRo);
  EXPECT_EQ(mm->fault(a.addr + kPg, true).reason, Reason::Access);
  EXPECT_EQ(mm->mprotect(a.addr + 2 * kPg, kPg, kProtRW), 0);  // splits into three VMAs
  EXPECT_EQ(mm->vmas().size(), 3u);
  EXPECT_EQ(seen.size(), 1u);
  EXPECT_FALSE(walk(*mm, a.addr + 2 * kPg)->raw & kApRo);
  EXPECT_EQ(mm->mprotect(a.addr, 4 * kPg, kProtRW), 0);
  EXPECT_EQ(mm->vmas().size(), 1u);  // merged again
  EXPECT_EQ(mm->mprotect(a.addr, 8 * kPg, kProtRW), -ENOMEM);
  EXPECT_EQ(mm->mprotect(a.addr, kPg, Mm::Prot{false, false, false}), 0);  // PROT_NONE
  EXPECT_EQ(mm->fault(a.addr, false).reason, Reason::Access);
  EXPECT_FALSE(walk(*mm, a.addr).has_value());
  EXPECT_EQ(mm->mprotect(a.addr + kPg, kPg, Mm::Prot{false, false, false}), 0);
  EXPECT_FALSE(walk(*mm, a.addr + kPg).has_value());  // resident, but no entry
  EXPECT_EQ(seen.size(), 2u);
  EXPECT_EQ(mm->munmap(a.addr, 4 * kPg).pages, 2u);  // its page is still freed
}

// Memory as a map of 8-byte words: no SystemC module, so the simulation can run without binding one.
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

class MmCostTest : public test::SimTest {};

TEST_F(MmCostTest, FaultCostsChargedOnTheCpu) {
  StatGroup root("host");
  host::Cpu cpu(root);
  host::CpuCosts c;
  WordMem wm;
  host::PhysAlloc pa(0x100000, uint64_t{1} << 30);
  auto mm = std::make_unique<Mm>(wm, pa, Fmt::X86_4, 1, &cpu, c);
  uint64_t t_fault = 0, t_spurious = 0, t_bad = 0;
  sc_core::sc_spawn([&] {
    const auto a = mm->mmap(kPg, kProtRW);
    sc_core::sc_time t0 = sc_core::sc_time_stamp();
    mm->fault(a.addr, true);
    t_fault = to_ps(sc_core::sc_time_stamp() - t0);
    t0 = sc_core::sc_time_stamp();
    mm->fault(a.addr, true);
    t_spurious = to_ps(sc_core::sc_time_stamp() - t0);
    t0 = sc_core::sc_time_stamp();
    mm->fault(a.addr + kPg, true);
    t_bad = to_ps(sc_core::sc_time_stamp() - t0);
  });
  sc_core::sc_start();
  EXPECT_EQ(t_fault, c.mm.fault.ps + 3 * c.table_alloc.ps);  // PDPT, PD and PT allocated
  EXPECT_EQ(t_spurious, c.mm.fault_nop.ps);
  EXPECT_EQ(t_bad, c.mm.fault_nop.ps);
  EXPECT_EQ(cpu.busy_ps(), c.mm.syscall.ps + t_fault + t_spurious + t_bad);
}

}  // namespace
}  // namespace iommusim
