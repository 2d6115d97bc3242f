// The host VT-d driver in scalable mode: SVA (first-stage PASID entries over a process's CPU tables),
// R2.2 invalidation of SVA domains, PASID teardown and page-request servicing.
//
// Two kinds of test:
//  - against a stand-in register file (FakeVtd) that executes the invalidation queue at once and
//    lets the test play the hardware's side of the page request queue, so every descriptor the
//    driver writes is decoded here from the VT-d bit positions (written out below, not taken from
//    vtd_defs.h);
//  - on whole platforms (the VT-d model, endpoints, the host's SVA and fault cores), with the
//    expected counts derived from R2.2 and the platform's shape.
//
// Test-only shortcut: the platform may not pass a device's PASID and PRI capabilities into the
// host's PciDevice yet, so the platform tests set those fields through const_cast before the
// simulation starts (the driver reads them at attach, after boot begins).
#include <gtest/gtest.h>
#include <sysc/kernel/sc_spawn.h>

#include <array>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "models/common/sim_time.h"
#include "models/host/mm.h"
#include "models/host/vtd_driver.h"
#include "models/iommu/vtd/vtd.h"
#include "platforms/config.h"
#include "testbenches/sim_fixture.h"
#include "testbenches/study_util.h"

namespace iommusim {
namespace {

using host::IoPageFault;
using host::Mm;
using host::PageResponse;
using host::PciDevice;

constexpr uint64_t kPage = 4096;

constexpr uint64_t bits(uint64_t v, unsigned hi, unsigned lo) {
  return (v >> lo) & (hi - lo >= 63 ? ~uint64_t{0} : ((uint64_t{1} << (hi - lo + 1)) - 1));
}
constexpr uint64_t bit(unsigned n) { return uint64_t{1} << n; }
constexpr uint64_t kAddrMask = ~uint64_t{0xFFF};

// ---- VT-d layouts (rev 4.x), written out for the checks ------------------------------------------
// Registers.
constexpr uint64_t R_CAP = 0x08, R_ECAP = 0x10, R_GCMD = 0x18, R_GSTS = 0x1C, R_RTADDR = 0x20, R_FSTS = 0x34,
                   R_IQH = 0x80, R_IQT = 0x88, R_IQA = 0x90, R_PQH = 0xC0, R_PQT = 0xC8, R_PQA = 0xD0,
                   R_PRS = 0xDC, R_PECTL = 0xE0;
constexpr uint32_t PRS_PPR = 1, PRS_PRO = 2, ECTL_IM = 1u << 31;
// Descriptor types (qword 0 [3:0]).
constexpr unsigned T_CC = 1, T_IOTLB = 2, T_DEVTLB = 3, T_WAIT = 5, T_PIOTLB = 6, T_PC = 7, T_PDEVTLB = 8, T_PGRP = 9;

using Raw = std::array<uint64_t, 4>;
unsigned type_of(const Raw& d) { return static_cast<unsigned>(bits(d[0], 3, 0) | (bits(d[0], 11, 9) << 4)); }
// Wait: IF 4, SW 5, FN 6, PD 7, status data [63:32]; qw1 status address.
bool wait_sw(const Raw& d) { return bits(d[0], 5, 5); }
bool wait_fn(const Raw& d) { return bits(d[0], 6, 6); }
bool wait_pd(const Raw& d) { return bits(d[0], 7, 7); }
// Granularity [5:4], DID [31:16], PASID [51:32] (PASID-IOTLB, PASID-cache; DID also IOTLB).
unsigned g_of(const Raw& d) { return static_cast<unsigned>(bits(d[0], 5, 4)); }
unsigned did_of(const Raw& d) { return static_cast<unsigned>(bits(d[0], 31, 16)); }
uint32_t pasid_of(const Raw& d) { return static_cast<uint32_t>(bits(d[0], 51, 32)); }
// PASID-IOTLB qw1: AM [5:0], IH 6, ADDR [63:12].
unsigned am_of(const Raw& d) { return static_cast<unsigned>(bits(d[1], 5, 0)); }
// PASID-based device-TLB: MIP [8:4], SID [31:16], PASID [51:32]; qw1 G 0, S 11, ADDR [63:12].
unsigned pdev_sid(const Raw& d) { return static_cast<unsigned>(bits(d[0], 31, 16)); }
bool pdev_s(const Raw& d) { return bits(d[1], 11, 11); }
// Device-TLB (no PASID): SID [47:32]; qw1 S 0, ADDR [63:12].
unsigned dev_sid(const Raw& d) { return static_cast<unsigned>(bits(d[0], 47, 32)); }
// The byte range an S=1 device-TLB address names: the lowest clear bit at or above 12, at n, makes it
// 2^(n+1) bytes.
std::pair<uint64_t, uint64_t> s_range(uint64_t addr) {
  unsigned n = 12;
  while (n < 63 && ((addr >> n) & 1)) ++n;
  const uint64_t size = n + 1 >= 64 ? 0 : uint64_t{1} << (n + 1);
  return {size ? addr & ~(size - 1) : 0, size};
}

// ---- memory and the stand-in register file --------------------------------------------------------

class PageMem final : public host::PhysMem {
 public:
  void read(uint64_t pa, void* dst, size_t len) override {
    auto* d = static_cast<uint8_t*>(dst);
    for (size_t i = 0; i < len; ++i) {
      const auto it = pages_.find((pa + i) >> 12);
      d[i] = it == pages_.end() ? 0 : it->second[(pa + i) & 0xFFF];
    }
  }
  void write(uint64_t pa, const void* src, size_t len) override {
    const auto* s = static_cast<const uint8_t*>(src);
    for (size_t i = 0; i < len; ++i) pages_[(pa + i) >> 12][(pa + i) & 0xFFF] = s[i];
  }

 private:
  std::map<uint64_t, std::array<uint8_t, 4096>> pages_;
};

// A VT-d unit's registers as the driver sees them: capabilities, an invalidation queue executed when
// IQT is written (each descriptor recorded, each status write done), and the page request queue
// registers, whose hardware side the test plays with page_request().
class FakeVtd final : public host::Mmio {
 public:
  explicit FakeVtd(PageMem& m) : m_(m) {}
  // CAP: ND 6 [2:0], SAGAW 4-level (bit 10), MGAW 47 [21:16], MAMV 18 [53:48], PSI 39.
  uint64_t cap = 6 | bit(10) | (uint64_t{47} << 16) | (uint64_t{18} << 48) | bit(39);
  // ECAP: C 0, QI 1, DT 2, PT 6, SC 7, PRS 29, SRS 31, PSS 19 [39:35], PASID 40, SMTS 43, SSTS 46,
  // FSTS 47, SMPWCS 48.
  uint64_t ecap = bit(0) | bit(1) | bit(2) | bit(6) | bit(7) | bit(29) | bit(31) | (uint64_t{19} << 35) | bit(40) |
                  bit(43) | bit(46) | bit(47) | bit(48);

  uint64_t read(uint64_t off, unsigned) override {
    switch (off) {
      case R_CAP: return cap;
      case R_ECAP: return ecap;
      case R_GSTS: return gcmd;
      case R_RTADDR: return rtaddr;
      case R_FSTS: return 0;
      case R_IQH: return iqh;
      case R_IQT: return iqt;
      case R_IQA: return iqa;
      case R_PQH: return pqh;
      case R_PQT: return pqt;
      case R_PQA: return pqa;
      case R_PRS: return prs;
      case R_PECTL: return pectl;
      default: return 0;
    }
  }
  void write(uint64_t off, uint64_t v, unsigned) override {
    switch (off) {
      case R_GCMD: gcmd = static_cast<uint32_t>(v); break;
      case R_RTADDR: rtaddr = v; break;
      case R_IQA: iqa = v; break;
      case R_IQT: iqt = v; run_queue(); break;
      case R_PQH: pqh = v & 0x7FFE0; break;
      case R_PQT: pqt = v & 0x7FFE0; break;
      case R_PQA: pqa = v; break;
      case R_PRS: prs &= ~(static_cast<uint32_t>(v) & (PRS_PPR | PRS_PRO)); break;
      case R_PECTL: pectl = static_cast<uint32_t>(v); break;
      default: break;
    }
  }
  // The hardware queuing a page request descriptor: qw0 type 1 [7:0], PASID present 8, RID [31:16],
  // PASID [51:32], Exe 52, Priv 53; qw1 R 0, W 1, LPIG 2, PRGI [11:3], address [63:12].
  struct Req {
    uint16_t rid = 0;
    bool pp = true;
    uint32_t pasid = 0;
    bool exe = false, priv = false, r = true, w = false, last = true;
    uint16_t prgi = 0;
    uint64_t addr = 0;
  };
  void page_request(const Req& q) {
    const uint64_t base = pqa & kAddrMask;
    const uint64_t size = uint64_t{4096} << bits(pqa, 2, 0);
    uint64_t d[4] = {1 | (q.pp ? bit(8) : 0) | (uint64_t{q.rid} << 16) | (uint64_t{q.pasid} << 32) |
                         (q.exe ? bit(52) : 0) | (q.priv ? bit(53) : 0),
                     (q.r ? 1u : 0u) | (q.w ? 2u : 0u) | (q.last ? 4u : 0u) | (uint64_t{q.prgi} << 3) | (q.addr & kAddrMask),
                     0, 0};
    m_.write(base + pqt, d, 32);
    pqt = (pqt + 32) % size;
    // The page request event: raised when PPR goes from clear to set (PECTL unmasked).
    if (!(prs & PRS_PPR) && !(pectl & ECTL_IM)) irq.notify(sc_core::SC_ZERO_TIME);
    prs |= PRS_PPR;
  }
  sc_core::sc_event irq;
  std::vector<Raw> descs;  // every descriptor executed, in order
  uint32_t gcmd = 0, prs = 0, pectl = ECTL_IM;
  uint64_t rtaddr = 0, iqa = 0, iqh = 0, iqt = 0, pqh = 0, pqt = 0, pqa = 0;

 private:
  void run_queue() {
    const bool w256 = iqa & bit(11);
    const unsigned bytes = w256 ? 32 : 16;
    const uint64_t entries = (uint64_t{4096} << bits(iqa, 2, 0)) / bytes;
    const uint64_t tail = bits(iqt, 18, 4) * 16 / bytes;
    uint64_t head = iqh * 16 / bytes;
    while (head != tail) {
      Raw d{};
      m_.read((iqa & kAddrMask) + head * bytes, d.data(), bytes);
      descs.push_back(d);
      if (type_of(d) == T_WAIT && wait_sw(d)) {
        const uint32_t data = static_cast<uint32_t>(d[0] >> 32);
        m_.write(d[1] & ~uint64_t{3}, &data, 4);
      }
      head = (head + 1) % entries;
    }
    iqh = head * bytes / 16;
  }
  PageMem& m_;
};

class RecordingSink final : public host::IopfSink {
 public:
  void report(host::IommuDriver&, const IoPageFault& f) override { faults.push_back(f); }
  void discard_partial(const host::IommuDriver&) override { ++discards; }
  std::vector<IoPageFault> faults;
  int discards = 0;
};

// The driver on the stand-in unit, with one ATS + PASID + PRI device attached to a DMA domain.
class VtdDriverFake : public test::SimTest {
 protected:
  void SetUp() override {
    SimTest::SetUp();
    stats = std::make_unique<StatGroup>("host");
    cpu = std::make_unique<host::Cpu>(*stats);
    alloc = std::make_unique<host::PhysAlloc>(0x80000000ull, uint64_t{1} << 32);
    hw = std::make_unique<FakeVtd>(mem);
    dev.name = "acc";
    dev.rid = 0x0108;  // 01:01.0
    dev.ats_cap = true;
    dev.ats_qdep = 8;
    dev.pasid_bits = 20;
    dev.pri_capacity = 64;
  }
  void build() {
    drv = std::make_unique<host::VtdDriver>("dmar0", hp, mem, *alloc, *cpu, *hw, *stats);
    drv->set_iopf_sink(&sink);
  }
  // Runs body in a thread after probe and the device's DMA-domain attach; stops the simulation after.
  void run(std::function<void()> body) {
    sc_core::sc_spawn([this, body] {
      drv->probe();
      boot_descs = hw->descs.size();
      dma = drv->alloc_paging_domain();
      drv->attach(*dma, dev);
      attach_descs = hw->descs.size() - boot_descs;
      body();
      done = true;
      sc_core::sc_stop();
    });
    sc_core::sc_start(sc_core::sc_time(1, sc_core::SC_SEC));
    EXPECT_TRUE(done);
    dev.leave_domain();
  }
  std::vector<Raw> since(size_t n) const { return {hw->descs.begin() + static_cast<long>(n), hw->descs.end()}; }
  // The 64-byte PASID-table entry of (dev, pasid), found from the root table by hand: scalable root
  // entry (lower context table for devfn < 128), 256-bit context entry (PASID directory [63:12]),
  // directory entry (PASID[19:6]), table entry (PASID[5:0]).
  std::array<uint64_t, 8> pasid_entry(uint32_t pasid) {
    const uint64_t root = hw->rtaddr & kAddrMask;
    const unsigned bus = dev.rid >> 8, devfn = dev.rid & 0xFF;
    const uint64_t re = mem.read64(root + bus * 16 + (devfn >= 128 ? 8 : 0));
    EXPECT_TRUE(re & 1) << "root entry half not present";
    ctx_lo = mem.read64((re & kAddrMask) + (devfn & 0x7F) * 32);
    const uint64_t pde = mem.read64((ctx_lo & kAddrMask) + ((pasid >> 6) & 0x3FFF) * 8);
    EXPECT_TRUE(pde & 1) << "PASID directory entry not present";
    std::array<uint64_t, 8> e{};
    mem.read((pde & kAddrMask) + (pasid & 0x3F) * 64, e.data(), 64);
    return e;
  }
  uint32_t bind(Mm& mm, uint32_t pasid) {
    std::string why;
    sva = drv->alloc_sva_domain(mm, why);
    EXPECT_TRUE(sva) << why;
    if (!sva) return EINVAL;
    return static_cast<uint32_t>(drv->set_dev_pasid(*sva, dev, pasid, why));
  }
  std::unique_ptr<Mm> new_mm(Mm::Format f = Mm::Format::X86_4) {
    return std::make_unique<Mm>(mem, *alloc, f, 1, cpu.get(), hp.cost);
  }
  double drv_stat(const char* path) {
    double v = -1;
    EXPECT_TRUE(stats->find(std::string("dmar0.") + path, v)) << path;
    return v;
  }

  PageMem mem;
  host::HostParams hp;
  std::unique_ptr<StatGroup> stats;
  std::unique_ptr<host::Cpu> cpu;
  std::unique_ptr<host::PhysAlloc> alloc;
  std::unique_ptr<FakeVtd> hw;
  RecordingSink sink;
  PciDevice dev;
  std::unique_ptr<host::VtdDriver> drv;
  std::unique_ptr<host::IommuDomain> dma;
  std::unique_ptr<host::SvaDomain> sva;
  size_t boot_descs = 0, attach_descs = 0;
  uint64_t ctx_lo = 0;
  bool done = false;
};

TEST_F(VtdDriverFake, ScalableProbeProgramsTablesQueuesAndRidPasidEntry) {
  hp.vtd_dma_stage = host::VtdDmaStage::Second;  // the second-stage RID_PASID entry (auto: first stage)
  build();
  run([&] {
    EXPECT_TRUE(drv->scalable());
    EXPECT_TRUE(drv->page_requests());
    // RTADDR.TTM [11:10] = 01b; IQA.DW (bit 11) 256-bit, QS 1: 256 descriptors of 32 B in two pages.
    EXPECT_EQ(bits(hw->rtaddr, 11, 10), 1u);
    EXPECT_TRUE(hw->iqa & bit(11));
    EXPECT_EQ(bits(hw->iqa, 2, 0), 1u);
    // PRQ: 2^4 pages = 2048 descriptors, PQH = PQT = 0, event unmasked.
    EXPECT_EQ(bits(hw->pqa, 2, 0), 4u);
    EXPECT_EQ((hw->pqa & kAddrMask) % (uint64_t{4096} << 4), 0u);
    EXPECT_EQ(hw->pqh, 0u);
    EXPECT_EQ(hw->pectl & ECTL_IM, 0u);
    // Boot: global context-cache (G 1), global PASID-cache (G 3), global IOTLB (G 1), status wait.
    ASSERT_EQ(boot_descs, 4u);
    EXPECT_EQ(type_of(hw->descs[0]), T_CC);
    EXPECT_EQ(g_of(hw->descs[0]), 1u);
    EXPECT_EQ(type_of(hw->descs[1]), T_PC);
    EXPECT_EQ(g_of(hw->descs[1]), 3u);
    EXPECT_EQ(type_of(hw->descs[2]), T_IOTLB);
    EXPECT_EQ(g_of(hw->descs[2]), 1u);
    EXPECT_EQ(type_of(hw->descs[3]), T_WAIT);
    EXPECT_TRUE(wait_sw(hw->descs[3]));
    // A not-present RID_PASID entry made present: nothing to invalidate without caching mode.
    EXPECT_EQ(attach_descs, 0u);
    // PCIe: PASID enabled (before ATS), then ATS; PRI only once SVA needs it.
    EXPECT_TRUE(dev.pasid_enabled);
    EXPECT_TRUE(dev.ats_enabled);
    EXPECT_FALSE(dev.pri_enabled);

    const auto e = pasid_entry(0);
    // Context entry: P 0, DTE 2, PASIDE 3, PRE 4 (ECAP.PRS and a PRI device), PDTS [11:9]: 2^14
    // directory entries for 20-bit PASIDs = 2^(7 + 7).
    EXPECT_TRUE(ctx_lo & bit(0));
    EXPECT_TRUE(ctx_lo & bit(2));
    EXPECT_TRUE(ctx_lo & bit(3));
    EXPECT_TRUE(ctx_lo & bit(4));
    EXPECT_EQ(bits(ctx_lo, 11, 9), 7u);
    // RID_PASID entry: P, AW [4:2] 2 (4-level), PGTT [8:6] 010b, SSPTPTR; DID [79:64]; PWSNP bit 87.
    auto& vd = dynamic_cast<host::VtdDomain&>(*dma);
    EXPECT_TRUE(e[0] & 1);
    EXPECT_EQ(bits(e[0], 4, 2), 2u);
    EXPECT_EQ(bits(e[0], 8, 6), 2u);
    EXPECT_EQ(e[0] & kAddrMask, vd.root());
    EXPECT_EQ(bits(e[1], 15, 0), 2u);  // DID 1 is the unit's first-stage DID
    EXPECT_EQ(drv->sva_did(), 1u);
    EXPECT_TRUE(e[1] & bit(87 - 64));
    EXPECT_EQ(vd.did_on(drv.get()), 2u);
  });
}

TEST_F(VtdDriverFake, FirstStageDmaDomainByDefaultInScalableMode) {
  build();  // vtd_dma_stage auto, ECAP.FSTS: Linux 6.x's first_level_by_default
  run([&] {
    auto& vd = dynamic_cast<host::VtdDomain&>(*dma);
    EXPECT_TRUE(vd.first_stage());
    EXPECT_EQ(vd.ias_bits(), 47u);  // the lower canonical half of 4-level first-stage tables
    // RID_PASID entry: PGTT [8:6] 001b; DID [79:64] the domain's own (not the SVA DID 1); FLPM
    // [131:130] 0 (4-level); FSPTPTR [191:140] the domain's root.
    const auto e = pasid_entry(0);
    EXPECT_TRUE(e[0] & 1);
    EXPECT_EQ(bits(e[0], 8, 6), 1u);
    EXPECT_EQ(bits(e[1], 15, 0), vd.did_on(drv.get()));
    EXPECT_NE(bits(e[1], 15, 0), 1u);
    EXPECT_EQ(bits(e[2], 3, 2), 0u);
    EXPECT_EQ(e[2] & kAddrMask, vd.root());
    // A 16-page unmap flush: one PASID-based IOTLB descriptor, page-selective within PASID 0 (G 11b)
    // with mask 4 at the block's address (qi_flush_piotlb), then the device-TLB one and the wait.
    const size_t n0 = hw->descs.size();
    vd.flush_range(0x10000, 0x10000, 0);
    const auto d = since(n0);
    ASSERT_GE(d.size(), 2u);
    EXPECT_EQ(type_of(d[0]), T_PIOTLB);
    EXPECT_EQ(did_of(d[0]), vd.did_on(drv.get()));
    EXPECT_EQ(pasid_of(d[0]), 0u);
    EXPECT_EQ(g_of(d[0]), 3u);
    EXPECT_EQ(am_of(d[0]), 4u);
    EXPECT_EQ(d[0][1] & kAddrMask, 0x10000u);
    EXPECT_EQ(type_of(d.back()), T_WAIT);
    for (const auto& x : d) EXPECT_NE(type_of(x), T_IOTLB);
  });
}

TEST_F(VtdDriverFake, ReplacingTheDmaDomainTearsTheOldRidPasidEntryDown) {
  hp.vtd_dma_stage = host::VtdDmaStage::Second;
  build();
  run([&] {
    auto other = drv->alloc_paging_domain();
    const size_t n0 = hw->descs.size();
    drv->attach(*other, dev);
    // The old entry (DID 2): PASID-cache PASID-selective, IOTLB domain-selective, global device-TLB
    // without PASID, each waited for; the new entry then made present (DID 3).
    const auto d = since(n0);
    std::vector<unsigned> got;
    for (const auto& x : d) got.push_back(type_of(x));
    EXPECT_EQ(got, (std::vector<unsigned>{T_PC, T_WAIT, T_IOTLB, T_WAIT, T_DEVTLB, T_WAIT}));
    ASSERT_EQ(d.size(), 6u);
    EXPECT_EQ(did_of(d[0]), 2u);
    EXPECT_EQ(pasid_of(d[0]), 0u);
    EXPECT_EQ(g_of(d[2]), 2u);
    EXPECT_EQ(did_of(d[2]), 2u);
    EXPECT_EQ(dev_sid(d[4]), dev.rid);
    EXPECT_TRUE(d[4][1] & 1);  // S: a range, here everything
    EXPECT_EQ(bits(pasid_entry(0)[1], 15, 0), 3u);
    EXPECT_TRUE(dev.ats_enabled);
    EXPECT_EQ(dynamic_cast<host::VtdDomain&>(*dma).tags().size(), 0u);
    EXPECT_EQ(dynamic_cast<host::VtdDomain&>(*other).tags().size(), 2u);  // IOTLB + device-TLB
    dev.leave_domain();
  });
}

TEST_F(VtdDriverFake, SetDevPasidWritesFirstStageEntryAndEnablesPri) {
  build();
  auto mm = new_mm();
  run([&] {
    const size_t n0 = hw->descs.size();
    EXPECT_EQ(bind(*mm, 5), 0u);
    const auto e = pasid_entry(5);
    // P, PGTT 001b; DID = the SVA DID; PWSNP; SRE (bit 128) clear, FLPM [131:130] 0 (4-level),
    // FSPTPTR [191:140] = the mm's CR3 root.
    EXPECT_TRUE(e[0] & 1);
    EXPECT_EQ(bits(e[0], 8, 6), 1u);
    EXPECT_EQ(bits(e[1], 15, 0), 1u);
    EXPECT_TRUE(e[1] & bit(87 - 64));
    EXPECT_FALSE(e[2] & bit(0));
    EXPECT_EQ(bits(e[2], 3, 2), 0u);
    EXPECT_EQ(e[2] & kAddrMask, mm->pgd());
    // PASID-selective PASID-cache invalidation (G 01b) of (DID 1, PASID 5), and its wait.
    const auto d = since(n0);
    ASSERT_EQ(d.size(), 2u);
    EXPECT_EQ(type_of(d[0]), T_PC);
    EXPECT_EQ(g_of(d[0]), 1u);
    EXPECT_EQ(did_of(d[0]), 1u);
    EXPECT_EQ(pasid_of(d[0]), 5u);
    EXPECT_EQ(type_of(d[1]), T_WAIT);
    // PRI: enabled with min(capacity 64, the driver's 2048).
    EXPECT_TRUE(dev.pri_enabled);
    EXPECT_EQ(dev.pri_alloc, 64u);
    // Cache tags: one IOTLB tag (unit, DID 1, PASID 5), one device-TLB tag (device, PASID 5).
    const auto& tags = dynamic_cast<host::VtdSvaDomain&>(*sva).tags();
    ASSERT_EQ(tags.size(), 2u);
    EXPECT_EQ(tags[0].type, host::VtdCacheTag::Type::Iotlb);
    EXPECT_EQ(tags[0].pasid, 5u);
    EXPECT_EQ(tags[1].type, host::VtdCacheTag::Type::Devtlb);
    EXPECT_EQ(tags[1].sid, dev.rid);
    // R1.4: PASID 0 and PASIDs beyond the device's width are refused; so is a second attach.
    std::string why;
    EXPECT_EQ(drv->set_dev_pasid(*sva, dev, 0, why), EINVAL);
    EXPECT_EQ(drv->set_dev_pasid(*sva, dev, 1u << 20, why), EINVAL);
    EXPECT_EQ(drv->set_dev_pasid(*sva, dev, 5, why), EBUSY);
    PciDevice nopasid = dev;
    nopasid.pasid_bits = 0;
    nopasid.rid = 0x0200;
    nopasid.domain = nullptr;
    EXPECT_EQ(drv->set_dev_pasid(*sva, nopasid, 6, why), EINVAL);
    EXPECT_NE(why.find("PASID capability"), std::string::npos) << why;
    drv->remove_dev_pasid(*sva, dev, 5);
  });
}

TEST_F(VtdDriverFake, InvalidateUsesPasidBasedDescriptorsOverTheAlignedBlock) {
  build();
  auto mm = new_mm();
  run([&] {
    ASSERT_EQ(bind(*mm, 3), 0u);
    // [0x3000, 0x5000): 2 pages, mask 1 would be [0x2000, 0x4000): widened to 3, [0, 0x8000).
    size_t n0 = hw->descs.size();
    sva->invalidate(0x3000, 0x5000);
    auto d = since(n0);
    ASSERT_EQ(d.size(), 3u);
    EXPECT_EQ(type_of(d[0]), T_PIOTLB);
    EXPECT_EQ(g_of(d[0]), 3u);  // page-selective within PASID
    EXPECT_EQ(did_of(d[0]), 1u);
    EXPECT_EQ(pasid_of(d[0]), 3u);
    EXPECT_EQ(am_of(d[0]), 3u);
    EXPECT_EQ(d[0][1] & kAddrMask, 0u);
    EXPECT_FALSE(d[0][1] & bit(6));  // no leaf hint from the mm notifier
    EXPECT_EQ(type_of(d[1]), T_PDEVTLB);
    EXPECT_EQ(pdev_sid(d[1]), dev.rid);
    EXPECT_EQ(pasid_of(d[1]), 3u);
    EXPECT_EQ(bits(d[1][0], 8, 4), 8u);  // MIP: the device's invalidate queue depth
    EXPECT_TRUE(pdev_s(d[1]));
    const auto [start, size] = s_range(d[1][1] & kAddrMask);
    EXPECT_EQ(start, 0u);
    EXPECT_EQ(size, 0x8000u);
    EXPECT_EQ(type_of(d[2]), T_WAIT);
    EXPECT_TRUE(wait_sw(d[2]));
    // An aligned 16-page range: mask 4 at its own address.
    n0 = hw->descs.size();
    sva->invalidate(0x7f0000010000, 0x7f0000020000);
    d = since(n0);
    ASSERT_EQ(d.size(), 3u);
    EXPECT_EQ(am_of(d[0]), 4u);
    EXPECT_EQ(d[0][1] & kAddrMask, 0x7f0000010000u);
    // The whole address space: PASID-selective (G 10b), device TLB over everything.
    n0 = hw->descs.size();
    sva->invalidate(0, Mm::kWholeMm);
    d = since(n0);
    ASSERT_EQ(d.size(), 3u);
    EXPECT_EQ(g_of(d[0]), 2u);
    EXPECT_EQ(s_range(d[1][1] & kAddrMask).second, 0u);  // no clear bit below 63: all of it
    EXPECT_EQ(drv_stat("piotlb"), 3);
    drv->remove_dev_pasid(*sva, dev, 3);
  });
}

TEST_F(VtdDriverFake, RemoveTearsDownThenDrainsThePageRequestQueue) {
  build();
  auto mm = new_mm();
  run([&] {
    ASSERT_EQ(bind(*mm, 9), 0u);
    // A request of this PASID still queued: the drain must wait until it has been serviced.
    hw->page_request({.rid = dev.rid, .pasid = 9, .prgi = 4, .addr = 0x1000});
    const size_t n0 = hw->descs.size();
    drv->remove_dev_pasid(*sva, dev, 9);
    EXPECT_EQ(hw->pqh, hw->pqt);  // serviced before the drain went on
    ASSERT_EQ(sink.faults.size(), 1u);
    const auto d = since(n0);
    // PASID-cache (PASID-selective), wait; PASID-IOTLB (all of the PASID), wait; PASID device-TLB
    // (everything), wait; drain: fence wait, PASID-IOTLB, PASID device-TLB, status wait with PD.
    const std::vector<unsigned> want{T_PC, T_WAIT, T_PIOTLB, T_WAIT, T_PDEVTLB, T_WAIT, T_WAIT, T_PIOTLB, T_PDEVTLB, T_WAIT};
    std::vector<unsigned> got;
    for (const auto& x : d) got.push_back(type_of(x));
    EXPECT_EQ(got, want);
    ASSERT_EQ(d.size(), want.size());
    EXPECT_EQ(g_of(d[0]), 1u);
    EXPECT_EQ(g_of(d[2]), 2u);
    EXPECT_EQ(pasid_of(d[4]), 9u);
    EXPECT_FALSE(wait_sw(d[6]));
    EXPECT_TRUE(wait_fn(d[6]));
    EXPECT_TRUE(wait_pd(d[9]));
    EXPECT_TRUE(wait_sw(d[9]));
    // The entry is gone, PRI is off again, the tags are gone.
    EXPECT_FALSE(pasid_entry(9)[0] & 1);
    EXPECT_FALSE(dev.pri_enabled);
    EXPECT_TRUE(dynamic_cast<host::VtdSvaDomain&>(*sva).tags().empty());
    EXPECT_EQ(drv_stat("prq_drains"), 1);
  });
}

TEST_F(VtdDriverFake, PageRequestsReportedOrAnsweredByTheDriver) {
  build();
  auto mm = new_mm();
  run([&] {
    ASSERT_EQ(bind(*mm, 7), 0u);
    using Req = FakeVtd::Req;
    // 1 a good one closing group 3, 2 a good one without Last, 3 non-canonical, 4 privileged write,
    // 5 execute with read, 6 a stop marker, 7 unknown requester, 8 non-canonical without Last.
    hw->page_request(Req{.rid = dev.rid, .pasid = 7, .w = true, .prgi = 3, .addr = 0x7f0000001000});
    hw->page_request(Req{.rid = dev.rid, .pasid = 7, .last = false, .prgi = 5, .addr = 0x7f0000002000});
    hw->page_request(Req{.rid = dev.rid, .pasid = 7, .prgi = 6, .addr = 0x0000800000000000});
    hw->page_request(Req{.rid = dev.rid, .pasid = 7, .priv = true, .w = true, .prgi = 7, .addr = 0x1000});
    hw->page_request(Req{.rid = dev.rid, .pasid = 7, .exe = true, .prgi = 8, .addr = 0x1000});
    hw->page_request(Req{.rid = dev.rid, .pasid = 7, .r = false, .prgi = 9, .addr = 0});
    hw->page_request(Req{.rid = 0x0900, .pasid = 7, .prgi = 10, .addr = 0x1000});
    hw->page_request(Req{.rid = dev.rid, .pasid = 7, .last = false, .prgi = 11, .addr = 0xFFFF000000000000});
    const size_t n0 = hw->descs.size();
    sc_core::wait(sc_core::sc_time(20, sc_core::SC_US));
    EXPECT_EQ(hw->pqh, hw->pqt);
    EXPECT_FALSE(hw->prs & PRS_PPR);  // cleared by the handler
    ASSERT_EQ(sink.faults.size(), 2u);
    const IoPageFault& f = sink.faults[0];
    EXPECT_EQ(f.rid, dev.rid);
    EXPECT_TRUE(f.pasid_valid);
    EXPECT_EQ(f.pasid, 7u);
    EXPECT_EQ(f.addr, 0x7f0000001000u);
    EXPECT_TRUE(f.write);
    EXPECT_TRUE(f.last);
    EXPECT_EQ(f.grpid, 3u);
    EXPECT_FALSE(sink.faults[1].last);
    EXPECT_EQ(sink.faults[1].grpid, 5u);
    // Invalid Request responses for 3, 4, 5 and 7 (each closes its group); none for 6 and 8.
    // Page group response: type 9, PASID present 4, RC [15:12], RID [31:16], PASID [51:32]; qw1
    // LPIG 2, PRGI [11:3]; each submitted with its wait.
    const auto d = since(n0);
    std::vector<unsigned> prgis;
    for (size_t i = 0; i < d.size(); ++i) {
      if (type_of(d[i]) != T_PGRP) continue;
      EXPECT_EQ(bits(d[i][0], 15, 12), 1u);
      EXPECT_TRUE(d[i][0] & bit(4));
      EXPECT_EQ(pasid_of(d[i]), 7u);
      prgis.push_back(static_cast<unsigned>(bits(d[i][1], 11, 3)));
      ASSERT_LT(i + 1, d.size());
      EXPECT_EQ(type_of(d[i + 1]), T_WAIT);
    }
    EXPECT_EQ(prgis, (std::vector<unsigned>{6, 7, 8, 10}));
    EXPECT_EQ(drv_stat("page_requests"), 8);
    EXPECT_EQ(drv_stat("prq_bad"), 5);
    EXPECT_EQ(drv_stat("stop_markers"), 1);

    // The fault core's answer: one page group response to RID/PASID/PRG index of the request.
    const size_t n1 = hw->descs.size();
    drv->page_response(f, PageResponse::Success);
    const auto r = since(n1);
    ASSERT_EQ(r.size(), 2u);
    EXPECT_EQ(type_of(r[0]), T_PGRP);
    EXPECT_EQ(bits(r[0][0], 15, 12), 0u);
    EXPECT_EQ(bits(r[0][0], 31, 16), dev.rid);
    EXPECT_EQ(bits(r[0][1], 11, 3), 3u);
    EXPECT_TRUE(r[0][1] & bit(2));
    EXPECT_EQ(type_of(r[1]), T_WAIT);
    drv->page_response(f, PageResponse::Failure);
    EXPECT_EQ(bits(hw->descs[hw->descs.size() - 2][0], 15, 12), 0xFu);

    // Overflow: PRO is cleared by the handler once it has seen the queue empty.
    hw->page_request(Req{.rid = dev.rid, .pasid = 7, .prgi = 12, .addr = 0x7f0000003000});
    hw->prs |= PRS_PRO;
    sc_core::wait(sc_core::sc_time(20, sc_core::SC_US));
    EXPECT_FALSE(hw->prs & PRS_PRO);
    EXPECT_EQ(sink.discards, 1);  // held partials can never complete: discarded
    EXPECT_EQ(sink.faults.size(), 3u);
    EXPECT_EQ(drv_stat("prq_overflows"), 1);
    drv->remove_dev_pasid(*sva, dev, 7);
  });
}

TEST_F(VtdDriverFake, WiredPageRequestEventWakesTheServicingThread) {
  build();
  drv->set_prq_irq(&hw->irq);
  auto mm = new_mm();
  run([&] {
    ASSERT_EQ(bind(*mm, 4), 0u);
    for (int i = 0; i < 3; ++i) {
      // Well under the fallback poll period: only the event can have woken the thread in time.
      sc_core::wait(sc_core::sc_time(3.3, sc_core::SC_US));
      hw->page_request({.rid = dev.rid, .pasid = 4, .prgi = static_cast<uint16_t>(i), .addr = 0x7f0000001000});
      sc_core::wait(sc_core::sc_time(100, sc_core::SC_NS));
      EXPECT_EQ(sink.faults.size(), static_cast<size_t>(i + 1)) << i;
      EXPECT_EQ(hw->pqh, hw->pqt);
    }
    drv->remove_dev_pasid(*sva, dev, 4);
  });
}

TEST_F(VtdDriverFake, SvaRefusalsNameTheMissingFeature) {
  hw->ecap &= ~bit(47);  // no first stage
  build();
  auto mm = new_mm();
  run([&] {
    std::string why;
    EXPECT_FALSE(drv->alloc_sva_domain(*mm, why));
    EXPECT_NE(why.find("first-stage"), std::string::npos) << why;
  });
}

TEST_F(VtdDriverFake, FiveLevelMmNeedsFiveLevelFirstStage) {
  build();
  auto mm5 = new_mm(Mm::Format::X86_5);
  run([&] {
    std::string why;
    EXPECT_FALSE(drv->alloc_sva_domain(*mm5, why));
    EXPECT_NE(why.find("5-level"), std::string::npos) << why;
  });
}

TEST_F(VtdDriverFake, FiveLevelEntrySetsFlpm) {
  hw->cap |= bit(60);  // CAP.FL5LP
  build();
  auto mm5 = new_mm(Mm::Format::X86_5);
  run([&] {
    ASSERT_EQ(bind(*mm5, 2), 0u);
    const auto e = pasid_entry(2);
    EXPECT_EQ(bits(e[2], 3, 2), 1u);  // FLPM 01b: 5-level
    EXPECT_EQ(e[2] & kAddrMask, mm5->pgd());
    drv->remove_dev_pasid(*sva, dev, 2);
  });
}

TEST_F(VtdDriverFake, NonCoherentWalksAndArmTablesAreRefused) {
  hw->ecap &= ~bit(48);  // no SMPWCS
  build();
  auto mm = new_mm();
  auto arm = new_mm(Mm::Format::ArmV8_48);
  run([&] {
    std::string why;
    EXPECT_FALSE(drv->alloc_sva_domain(*mm, why));
    EXPECT_NE(why.find("coherent"), std::string::npos) << why;
    EXPECT_FALSE(drv->alloc_sva_domain(*arm, why));
    EXPECT_NE(why.find("x86-64"), std::string::npos) << why;
  });
}

TEST_F(VtdDriverFake, WithoutDeviceTlbTheUnitStaysLegacy) {
  hw->ecap &= ~bit(2);  // no ECAP.DT
  build();
  auto mm = new_mm();
  run([&] {
    EXPECT_FALSE(drv->scalable());
    EXPECT_EQ(drv->max_pasids(), 0u);
    EXPECT_EQ(bits(hw->rtaddr, 11, 10), 0u);
    EXPECT_FALSE(hw->iqa & bit(11));
    // Legacy boot and attach: context-cache + IOTLB global, then device context-cache + domain IOTLB.
    ASSERT_EQ(boot_descs, 3u);
    EXPECT_EQ(attach_descs, 3u);
    EXPECT_EQ(type_of(hw->descs[3]), T_CC);
    EXPECT_EQ(g_of(hw->descs[3]), 3u);
    EXPECT_EQ(type_of(hw->descs[4]), T_IOTLB);
    EXPECT_EQ(g_of(hw->descs[4]), 2u);
    EXPECT_FALSE(dev.pasid_enabled);
    std::string why;
    EXPECT_FALSE(drv->alloc_sva_domain(*mm, why));
    EXPECT_NE(why.find("legacy"), std::string::npos) << why;
  });
}

// ---- whole platforms ------------------------------------------------------------------------------

struct Ep {
  unsigned unit;
  bool ats;
};

// A platform of VT-d units with one endpoint per root port (endpoint i on bus i + 1).
std::string platform_yaml(unsigned units, const std::vector<Ep>& eps, const std::string& unit_extra = "") {
  std::string y = "seed: 1\nplatform:\n  memory: { name: mem, size: 64GiB, latency: 90ns, bandwidth: 25.6GB/s }\n"
                  "  iommus:\n";
  for (unsigned u = 0; u < units; ++u)
    y += "    - { name: dmar" + std::to_string(u) + ", type: vtd, device_tlb: true" + unit_extra + " }\n";
  y += "  root_ports:\n";
  for (size_t i = 0; i < eps.size(); ++i)
    y += "    - { name: rp" + std::to_string(i) + ", iommu: dmar" + std::to_string(eps[i].unit) +
         ", link: { gen: 4, width: 16 } }\n";
  y += "  endpoints:\n";
  for (size_t i = 0; i < eps.size(); ++i) {
    char rid[32];
    std::snprintf(rid, sizeof rid, "%02zx:00.0", i + 1);
    y += "    - { name: ep" + std::to_string(i) + ", port: rp" + std::to_string(i) + ", rid: " + rid +
         ", outstanding: 4, ats: { enabled: " + (eps[i].ats ? "true" : "false") + " } }\n";
  }
  y += "  host: { dma_mode: strict }\nrun:\n  duration: 100ms\n";
  return y;
}

std::string write_config(const std::string& name, const std::string& yaml) {
  const std::string path = ::testing::TempDir() + "/" + name + ".yaml";
  std::ofstream(path) << yaml;
  return path;
}

struct Rig {
  PlatformConfig cfg;
  std::unique_ptr<Platform> pf;
  host::LinuxHost& host() { return *pf->host; }
  host::VtdDriver& drv(unsigned i) { return dynamic_cast<host::VtdDriver&>(pf->host->driver(i)); }
  double model(unsigned unit, const char* path) {
    double v = 0;
    pf->vtds.at(unit)->stats().find(path, v);
    return v;
  }
};

// Builds a platform without workloads and gives every endpoint the PASID capability (20 bits).
std::unique_ptr<Rig> build(const std::string& path, const std::vector<std::string>& sets = {}) {
  test::fresh_context();
  auto p = std::make_unique<Rig>();
  p->cfg = load_config(path, sets, default_registry());
  p->cfg.workloads.clear();
  tlm::tlm_global_quantum::instance().set(sc_core::sc_time::from_value(p->cfg.quantum.ps));
  p->pf = build_platform(p->cfg, default_registry());
  for (unsigned ep = 0; ep < p->host().endpoint_count(); ++ep) {
    auto& pci = const_cast<PciDevice&>(p->host().pci_device(ep));  // test-only shortcut (header)
    pci.pasid_bits = 20;
  }
  return p;
}

void simulate(std::function<void()> body) {
  bool done = false;
  sc_core::sc_spawn([&] {
    body();
    done = true;
    sc_core::sc_stop();
  });
  sc_core::sc_report_handler::set_actions(sc_core::SC_INFO, sc_core::SC_DO_NOTHING);
  sc_core::sc_start(sc_core::sc_time(1, sc_core::SC_SEC));
  EXPECT_TRUE(done) << "the scenario did not finish";
}

DmaJob pasid_job(uint64_t va, uint64_t pages, uint32_t pasid, bool write) {
  DmaJob j;
  j.iova = va;
  j.window = pages * kPage;
  j.size = 64;
  j.pattern = DmaPattern::Strided;
  j.stride = kPage;
  j.count = pages;
  j.read_fraction = write ? 0.0 : 1.0;
  j.pasid = pasid;
  j.pasid_valid = true;
  return j;
}

TEST(VtdSvaPlatform, BaseVtdStaysLegacyAndRefusesSva) {
  auto p = build(test::config_path("base-vtd.yaml"));
  int err = 0;
  simulate([&] {
    p->host().wait_booted();
    EXPECT_FALSE(p->drv(0).scalable());
    Mm& mm = p->host().create_mm();
    uint32_t pasid = 0;
    err = p->host().sva_bind(0, mm, pasid);
  });
  EXPECT_EQ(err, -EOPNOTSUPP);  // no PASIDs in legacy mode (max_pasids 0)
}

TEST(VtdSvaPlatform, ScalableDmaDomainAtRidPasidKeepsTheSecondStageRule) {
  auto p = build(test::config_path("base-vtd.yaml"), {"platform.iommus.dmar0.device_tlb=true",
                                                      "platform.endpoints.nic0.ats.enabled=true",
                                                      "platform.host.vtd_dma_stage=second"});
  simulate([&] {
    host::LinuxHost& h = p->host();
    h.wait_booted();
    host::VtdDriver& drv = p->drv(0);
    ASSERT_TRUE(drv.scalable());
    // Root entry of bus 1 (lower half: devfn 0), context entry, directory entry 0, PASID entry 0.
    host::PhysMem& m = h.phys();
    const uint64_t re = m.read64(drv.root_table() + 1 * 16);
    ASSERT_TRUE(re & 1);
    const uint64_t ce = m.read64(re & kAddrMask);
    EXPECT_TRUE(ce & bit(2));  // DTE: ATS allowed
    EXPECT_TRUE(ce & bit(3));  // PASIDE
    const uint64_t pde = m.read64(ce & kAddrMask);
    ASSERT_TRUE(pde & 1);
    const uint64_t e0 = m.read64(pde & kAddrMask), e1 = m.read64((pde & kAddrMask) + 8);
    auto& dom = dynamic_cast<host::VtdDomain&>(h.dma_domain(0).domain());
    EXPECT_EQ(bits(e0, 8, 6), 2u);  // second stage
    EXPECT_EQ(e0 & kAddrMask, dom.root());
    EXPECT_EQ(bits(e1, 15, 0), dom.did_on(&drv));
    // DMA without PASID through it; a strict 16-page unmap is one page-selective IOTLB invalidation,
    // one device-TLB invalidation and one wait (R2.2, as in legacy mode).
    const uint64_t pa = h.alloc_buffer(16 * kPage, 16 * kPage);
    const uint64_t iova = h.dma_map(0, pa, 16 * kPage);
    DmaJob j;
    j.iova = iova;
    j.window = 16 * kPage;
    j.count = 16;
    j.stride = kPage;
    j.pattern = DmaPattern::Strided;
    j.read_fraction = 0.0;
    EXPECT_EQ(h.run_job(0, j).faults, 0u);
    uint8_t b = 0;
    m.read(pa + 5 * kPage, &b, 1);
    EXPECT_EQ(b, 0xA5);  // the endpoint's write pattern
    const double psi = p->model(0, "inv.iotlb_page"), dev = p->model(0, "inv.dev_tlb"), w = p->model(0, "inv.waits");
    h.dma_unmap(0, iova, 16 * kPage);
    EXPECT_EQ(p->model(0, "inv.iotlb_page") - psi, 1);
    EXPECT_EQ(p->model(0, "inv.dev_tlb") - dev, 1);
    EXPECT_EQ(p->model(0, "inv.waits") - w, 1);
    EXPECT_EQ(h.run_job(0, j).faults, 16u);
    // Replacing the domain: the old RID_PASID entry is torn down (its device-TLB invalidation
    // reaches the device and completes), the new domain's mappings work.
    auto other = drv.alloc_paging_domain();
    const uint64_t pa2 = h.alloc_buffer(kPage);
    other->map(0x100000, pa2, kPage, {true, true, false}, kPage);
    ASSERT_EQ(h.try_attach(0, *other), 0);
    EXPECT_EQ(p->model(0, "inv.ite"), 0);
    DmaJob k;
    k.iova = 0x100000;
    k.window = kPage;
    k.count = 1;
    k.read_fraction = 0.0;
    EXPECT_EQ(h.run_job(0, k).faults, 0u);
    m.read(pa2, &b, 1);
    EXPECT_EQ(b, 0xA5);
    EXPECT_EQ(h.run_job(0, j).faults, 16u);  // the old domain's IOVAs are gone
    EXPECT_EQ(h.pci_device(0).domain, other.get());
    const_cast<PciDevice&>(h.pci_device(0)).leave_domain();
  });
}

TEST(VtdSvaPlatform, BoundDeviceDmaAtThePasidReachesTheProcessPages) {
  auto p = build(write_config("sva1", platform_yaml(1, {{0, true}, {0, false}})));
  simulate([&] {
    host::LinuxHost& h = p->host();
    h.wait_booted();
    Mm& mm = h.create_mm();
    const auto m = mm.mmap(8 * kPage, {true, true, false});
    ASSERT_TRUE(m.ok());
    ASSERT_TRUE(mm.touch(m.addr, 8 * kPage, true).ok());
    uint32_t p0 = 0, p1 = 0;
    ASSERT_EQ(h.sva_bind(0, mm, p0), 0);
    ASSERT_EQ(h.sva_bind(1, mm, p1), 0);
    EXPECT_EQ(p0, p1);
    EXPECT_EQ(h.sva().domains_of(mm).size(), 1u);  // per_mm: one VT-d SVA domain
    // The PASID-table entry, decoded from memory.
    const uint64_t slot = p->drv(0).pasid_entry_addr(h.pci_device(0).rid, p0);
    ASSERT_NE(slot, 0u);
    uint64_t e[8];
    h.phys().read(slot, e, sizeof e);
    EXPECT_TRUE(e[0] & 1);
    EXPECT_EQ(bits(e[0], 8, 6), 1u);
    EXPECT_EQ(bits(e[1], 15, 0), p->drv(0).sva_did());
    EXPECT_EQ(bits(e[2], 3, 2), 0u);
    EXPECT_EQ(e[2] & kAddrMask, mm.pgd());
    EXPECT_TRUE(h.pci_device(0).pasid_enabled);
    // Each device writes the pattern into its own page of the buffer, at the PASID.
    for (unsigned ep = 0; ep < 2; ++ep) {
      const uint64_t va = m.addr + (2 + ep) * kPage;
      EXPECT_EQ(h.run_job(ep, pasid_job(va, 1, p0, true)).faults, 0u) << ep;
      const auto t = mm.translate(va);
      ASSERT_TRUE(t);
      uint8_t b = 0;
      h.phys().read(t->pa, &b, 1);
      EXPECT_EQ(b, 0xA5) << ep;
      EXPECT_EQ(h.run_job(ep, pasid_job(m.addr, 8, p0, false)).faults, 0u) << ep;
    }
    // Outside any VMA: a fault (no PRI here).
    EXPECT_EQ(h.run_job(1, pasid_job(0x10000000, 1, p0, false)).faults, 1u);
    EXPECT_GT(p->model(0, "translated"), 0);
    EXPECT_EQ(h.sva_unbind(0, mm), 0);
    EXPECT_EQ(h.sva_unbind(1, mm), 0);
  });
}

// R2.2 for a munmap of R pages with K devices behind M units, by the sharing policy.
struct MunmapCase {
  const char* name;
  unsigned units;
  std::vector<Ep> eps;
  uint64_t pages;
  bool per_device;
};

class VtdSvaMunmap : public ::testing::TestWithParam<MunmapCase> {};

TEST_P(VtdSvaMunmap, CountsFollowTheCacheTagRule) {
  const MunmapCase& c = GetParam();
  auto p = build(write_config(std::string("munmap_") + c.name, platform_yaml(c.units, c.eps)),
                 {std::string("platform.host.sva.sharing=") + (c.per_device ? "per_device" : "per_mm")});
  struct Got {
    double piotlb = 0, devtlb = 0, waits = 0;
  };
  std::vector<Got> got(c.units);
  uint64_t probe_faults = 0;
  simulate([&] {
    host::LinuxHost& h = p->host();
    h.wait_booted();
    Mm& mm = h.create_mm();
    const auto m = mm.mmap(c.pages * kPage + 16 * kPage, {true, true, false}, true);
    ASSERT_TRUE(m.ok());
    uint32_t pasid = 0;
    for (unsigned ep = 0; ep < c.eps.size(); ++ep) ASSERT_EQ(h.sva_bind(ep, mm, pasid), 0);
    // Fill the IOTLBs and ATCs with the pages about to go.
    for (unsigned ep = 0; ep < c.eps.size(); ++ep)
      ASSERT_EQ(h.run_job(ep, pasid_job(m.addr + kPage, c.pages, pasid, false)).faults, 0u);
    std::vector<Got> before(c.units);
    for (unsigned u = 0; u < c.units; ++u)
      before[u] = {p->model(u, "inv.pasid_iotlb"), p->model(u, "inv.dev_tlb"), p->model(u, "inv.waits")};
    mm.munmap(m.addr + kPage, c.pages * kPage);  // starts one page in: not aligned to the block
    for (unsigned u = 0; u < c.units; ++u)
      got[u] = {p->model(u, "inv.pasid_iotlb") - before[u].piotlb, p->model(u, "inv.dev_tlb") - before[u].devtlb,
                p->model(u, "inv.waits") - before[u].waits};
    for (unsigned ep = 0; ep < c.eps.size(); ++ep)
      probe_faults += h.run_job(ep, pasid_job(m.addr + kPage, c.pages, pasid, false)).faults;
    for (unsigned ep = 0; ep < c.eps.size(); ++ep) EXPECT_EQ(h.sva_unbind(ep, mm), 0);
  });
  // Expected, per unit: each domain attached through it has one IOTLB tag there (one PASID) and a
  // device-TLB tag per ATS device; its flush is one submission per 16 descriptors.
  std::vector<std::vector<unsigned>> domains;  // devices of each domain
  if (c.per_device) {
    for (unsigned ep = 0; ep < c.eps.size(); ++ep) domains.push_back({ep});
  } else {
    domains.emplace_back();
    for (unsigned ep = 0; ep < c.eps.size(); ++ep) domains.back().push_back(ep);  // one per driver (R1.6)
  }
  for (unsigned u = 0; u < c.units; ++u) {
    Got want;
    for (const auto& dom : domains) {
      unsigned n = 0, ats = 0;
      for (unsigned ep : dom)
        if (c.eps[ep].unit == u) {
          ++n;
          ats += c.eps[ep].ats;
        }
      if (!n) continue;
      want.piotlb += 1;
      want.devtlb += ats;
      want.waits += (1 + ats + 15) / 16;
    }
    EXPECT_EQ(got[u].piotlb, want.piotlb) << "dmar" << u;
    EXPECT_EQ(got[u].devtlb, want.devtlb) << "dmar" << u;
    EXPECT_EQ(got[u].waits, want.waits) << "dmar" << u;
  }
  EXPECT_EQ(probe_faults, c.eps.size() * c.pages);  // nothing unmapped is still reachable
}

std::vector<Ep> many(unsigned n, unsigned unit) { return std::vector<Ep>(n, Ep{unit, true}); }

INSTANTIATE_TEST_SUITE_P(
    Shapes, VtdSvaMunmap,
    ::testing::Values(MunmapCase{"one_unit_mixed_ats", 1, {{0, true}, {0, false}, {0, true}}, 5, false},
                      MunmapCase{"two_units", 2, {{0, true}, {0, true}, {1, true}, {1, false}}, 16, false},
                      MunmapCase{"two_units_per_device", 2, {{0, true}, {0, true}, {1, true}, {1, false}}, 16, true},
                      MunmapCase{"seventeen_ats_one_unit", 1, many(17, 0), 3, false}),
    [](const ::testing::TestParamInfo<MunmapCase>& i) { return std::string(i.param.name); });

TEST(VtdSvaPlatform, UnbindTearsThePasidDown) {
  auto p = build(write_config("unbind", platform_yaml(1, {{0, true}})));
  simulate([&] {
    host::LinuxHost& h = p->host();
    h.wait_booted();
    Mm& mm = h.create_mm();
    const auto m = mm.mmap(4 * kPage, {true, true, false}, true);
    ASSERT_TRUE(m.ok());
    uint32_t pasid = 0;
    ASSERT_EQ(h.sva_bind(0, mm, pasid), 0);
    ASSERT_EQ(h.run_job(0, pasid_job(m.addr, 4, pasid, false)).faults, 0u);
    const double pc = p->model(0, "inv.pasid_cache"), pi = p->model(0, "inv.pasid_iotlb"),
                 dv = p->model(0, "inv.dev_tlb"), w = p->model(0, "inv.waits");
    ASSERT_EQ(h.sva_unbind(0, mm), 0);
    // R1.5: PASID cache, PASID-IOTLB (whole PASID), device TLB, each waited for; no PRI, no drain.
    EXPECT_EQ(p->model(0, "inv.pasid_cache") - pc, 1);
    EXPECT_EQ(p->model(0, "inv.pasid_iotlb") - pi, 1);
    EXPECT_EQ(p->model(0, "inv.dev_tlb") - dv, 1);
    EXPECT_EQ(p->model(0, "inv.waits") - w, 3);
    uint64_t e0 = 0;
    h.phys().read(p->drv(0).pasid_entry_addr(h.pci_device(0).rid, pasid), &e0, 8);
    EXPECT_FALSE(e0 & 1);
    // The PASID is blocked: the device's cached translations went too.
    EXPECT_EQ(h.run_job(0, pasid_job(m.addr, 4, pasid, false)).faults, 4u);
  });
}

TEST(VtdSvaPlatform, UnitsThatCannotWalkTheMmRefuseTheBind) {
  struct Case {
    std::vector<std::string> sets;
    const char* reason;
  };
  const std::string path = write_config("refuse", platform_yaml(1, {{0, true}}));
  for (const Case& c : {Case{{"platform.iommus.dmar0.first_stage=false"}, "first-stage"},
                        Case{{"platform.host.cpu_arch=x86_64_la57"}, "5-level"},
                        Case{{"platform.iommus.dmar0.coherent=false"}, "coherent"}}) {
    auto p = build(path, c.sets);
    int err = 0;
    std::string why;
    simulate([&] {
      p->host().wait_booted();
      Mm& mm = p->host().create_mm();
      uint32_t pasid = 0;
      err = p->host().sva_bind(0, mm, pasid);
      EXPECT_FALSE(p->drv(0).alloc_sva_domain(mm, why));
    });
    EXPECT_EQ(err, -EINVAL) << c.reason;
    EXPECT_NE(why.find(c.reason), std::string::npos) << why;
  }
  // With 5-level first-stage support the 57-bit process binds, its entry 5-level.
  auto p = build(path, {"platform.host.cpu_arch=x86_64_la57", "platform.iommus.dmar0.fs_5level=true"});
  simulate([&] {
    host::LinuxHost& h = p->host();
    h.wait_booted();
    Mm& mm = h.create_mm();
    const auto m = mm.mmap(kPage, {true, true, false}, true);
    ASSERT_TRUE(m.ok());
    uint32_t pasid = 0;
    ASSERT_EQ(h.sva_bind(0, mm, pasid), 0);
    uint64_t e[8];
    h.phys().read(p->drv(0).pasid_entry_addr(h.pci_device(0).rid, pasid), e, sizeof e);
    EXPECT_EQ(bits(e[2], 3, 2), 1u);
    EXPECT_EQ(h.run_job(0, pasid_job(m.addr, 1, pasid, false)).faults, 0u);
  });
}

// Page requests end to end: only once the VT-d model can report ECAP.PRS and the endpoint has PRI.
TEST(VtdSvaPlatform, PageRequestsFaultPagesIn) {
  std::unique_ptr<Rig> p;
  try {
    p = build(write_config("pri", platform_yaml(1, {{0, true}})),
              {"platform.iommus.dmar0.page_requests=true", "platform.endpoints.ep0.pri.enabled=true"});
  } catch (const std::exception& e) {
    GTEST_SKIP() << "VT-d model or endpoint without page-request parameters: " << e.what();
  }
  if (!(p->pf->vtds.at(0)->ecap() & (uint64_t{1} << 29))) GTEST_SKIP() << "the VT-d model reports no ECAP.PRS yet";
  auto& pci = const_cast<PciDevice&>(p->host().pci_device(0));
  if (!pci.pri_capacity) pci.pri_capacity = 32;
  uint64_t faults = ~uint64_t{0}, resident = 0;
  simulate([&] {
    host::LinuxHost& h = p->host();
    h.wait_booted();
    Mm& mm = h.create_mm();
    const auto m = mm.mmap(8 * kPage, {true, true, false});  // nothing resident yet
    ASSERT_TRUE(m.ok());
    uint32_t pasid = 0;
    ASSERT_EQ(h.sva_bind(0, mm, pasid), 0);
    EXPECT_TRUE(h.pci_device(0).pri_enabled);
    faults = h.run_job(0, pasid_job(m.addr, 8, pasid, true)).faults;
    resident = mm.resident_pages();
    // A non-canonical address is answered Invalid Request by the driver itself.
    EXPECT_EQ(h.run_job(0, pasid_job(0x0000800000000000ull, 1, pasid, false)).faults, 1u);
    EXPECT_EQ(h.sva_unbind(0, mm), 0);
  });
  EXPECT_EQ(faults, 0u);
  EXPECT_EQ(resident, 8u);
  double v = 0;
  ASSERT_TRUE(p->host().stats().find("dmar0.page_requests", v));
  EXPECT_GE(v, 9);
  ASSERT_TRUE(p->host().stats().find("dmar0.prq_bad", v));
  EXPECT_EQ(v, 1);
}

}  // namespace
}  // namespace iommusim
