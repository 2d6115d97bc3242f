// Unit tests of the VT-d model as a black box: SparseMemory + VtdIommu + a test initiator that programs
// registers through `regs` and issues DMA and interrupt writes through `upstream` with a PcieExt. Root,
// context, PASID-directory and PASID-table entries, x86 paging entries, invalidation descriptors, IRTEs
// and fault records are raw words composed here at the architectural bit positions (VT-d rev 4.x and
// the x86 paging formats), not with the model's format helpers; timings are computed by hand from the
// parameters.
#include <gtest/gtest.h>
#include <systemc>
#include <tlm>
#include <tlm_utils/simple_initiator_socket.h>

#include <algorithm>
#include <array>
#include <cstdint>
#include <functional>
#include <memory>
#include <utility>
#include <vector>

#include "models/common/payload_pool.h"
#include "models/common/pcie_ext.h"
#include "models/iommu/vtd/vtd.h"
#include "models/memory/sparse_memory.h"
#include "testbenches/iommu_tb.h"
#include "testbenches/sim_fixture.h"

namespace iommusim {
namespace {

using sc_core::sc_time;
using sc_core::SC_NS;
using sc_core::SC_PS;
using sc_core::SC_ZERO_TIME;

sc_time ns(double v) { return sc_time(v, SC_NS); }
const sc_time k1ps(1, SC_PS);

// ---- registers (VT-d chapter 11) ----------------------------------------------------------------
constexpr uint32_t R_VER = 0x00, R_CAP = 0x08, R_ECAP = 0x10, R_GCMD = 0x18, R_GSTS = 0x1C, R_RTADDR = 0x20,
                   R_CCMD = 0x28;
constexpr uint32_t R_FSTS = 0x34, R_FECTL = 0x38, R_IQH = 0x80, R_IQT = 0x88, R_IQA = 0x90, R_ICS = 0x9C;
constexpr uint32_t R_IECTL = 0xA0, R_IQERCD = 0xB0, R_IRTA = 0xB8;
constexpr uint32_t GCMD_TE = 1u << 31, GCMD_SRTP = 1u << 30, GCMD_QIE = 1u << 26, GCMD_IRE = 1u << 25,
                   GCMD_SIRTP = 1u << 24;
constexpr uint32_t FSTS_PFO = 1u << 0, FSTS_PPF = 1u << 1, FSTS_IQE = 1u << 4;
constexpr uint64_t RTADDR_TTM_SM = 1ull << 10;
constexpr uint64_t IQA_DW256 = 1ull << 11;

// ---- memory map of the test ---------------------------------------------------------------------
constexpr uint64_t kRoot = 0x100000;
constexpr uint64_t kCtx = 0x101000;    // context table of bus 0
constexpr uint64_t kIq = 0x200000;     // invalidation queue, QS 0: one 4 KiB page
constexpr uint64_t kStatus = 0x210000;
constexpr uint64_t kIrt = 0x220000;
constexpr uint64_t kPdir = 0x300000;
constexpr uint64_t kPtab = 0x301000;   // PASID table for PASIDs 0-63
constexpr uint64_t kPtPool = 0x1000000;

// ---- x86 paging entries --------------------------------------------------------------------------
constexpr uint64_t SS_R = 1, SS_W = 2, PS = 1ull << 7;
constexpr uint64_t FS_P = 1, FS_RW = 2, FS_US = 4, FS_A = 1ull << 5;
constexpr uint64_t kAddr = 0x000FFFFFFFFFF000ull;
uint64_t ss_page(uint64_t pa, bool w = true) { return pa | SS_R | (w ? SS_W : 0); }
uint64_t fs_page(uint64_t pa, bool w = true, bool user = true) {
  return pa | FS_P | FS_A | (w ? FS_RW : 0) | (user ? FS_US : 0);
}

// Builds a 3/4/5-level x86 table, writing each entry as a raw word (levels numbered 0 PML5 ... 4 PT).
class X86Pt {
 public:
  X86Pt(SparseMemory& m, uint64_t& bump, unsigned levels, bool first_stage)
      : m_(m), bump_(bump), start_(5 - levels), fs_(first_stage) {
    root_ = alloc();
  }
  uint64_t root() const { return root_; }
  // Writes `leaf` as the entry for va at `level` (4: 4 KiB, 3: 2 MiB), creating the tables above it.
  void set(uint64_t va, uint64_t leaf, unsigned level = 4) {
    uint64_t table = root_;
    for (unsigned l = start_; l < level; ++l) {
      const uint64_t slot = table + index(va, l) * 8;
      const uint64_t e = m_.read64(slot);
      if (e & (fs_ ? FS_P : SS_R | SS_W)) {
        table = e & kAddr;
      } else {
        const uint64_t next = alloc();
        m_.write64(slot, next | (fs_ ? FS_P | FS_RW | FS_US : SS_R | SS_W));
        table = next;
      }
    }
    m_.write64(table + index(va, level) * 8, leaf);
  }
  static uint64_t index(uint64_t va, unsigned l) { return (va >> (12 + 9 * (4 - l))) & 0x1FF; }
  // Address of the entry for va at `level` (the tables above it must exist).
  uint64_t slot(uint64_t va, unsigned level) const {
    uint64_t table = root_;
    for (unsigned l = start_; l < level; ++l) table = m_.read64(table + index(va, l) * 8) & kAddr;
    return table + index(va, level) * 8;
  }

 private:
  uint64_t alloc() {
    const uint64_t a = bump_;
    bump_ += 0x1000;
    return a;
  }
  SparseMemory& m_;
  uint64_t& bump_;
  unsigned start_;
  bool fs_;
  uint64_t root_ = 0;
};

// ---- invalidation descriptors: type [3:0] ---------------------------------------------------------
using Desc = std::array<uint64_t, 4>;
// Context-cache: G [5:4], DID [31:16], SID [47:32], FM [49:48].
Desc d_cc(unsigned g, uint16_t did = 0, uint16_t sid = 0) {
  return {0x1 | (uint64_t{g} << 4) | (uint64_t{did} << 16) | (uint64_t{sid} << 32), 0, 0, 0};
}
// IOTLB: G [5:4] (1 global, 2 domain, 3 page), DID [31:16]; qw1 AM [5:0], IH 6, ADDR [63:12].
Desc d_iotlb(unsigned g, uint16_t did = 0, uint64_t addr = 0, unsigned am = 0, bool ih = false) {
  return {0x2 | (uint64_t{g} << 4) | (uint64_t{did} << 16), (addr & ~0xFFFull) | (ih ? 1u << 6 : 0) | am, 0, 0};
}
// IEC: G bit 4 (1 index-selective), IM [31:27], IIDX [47:32].
Desc d_iec(bool index_sel, unsigned im, uint16_t iidx) {
  return {0x4 | (index_sel ? 1u << 4 : 0) | (uint64_t{im} << 27) | (uint64_t{iidx} << 32), 0, 0, 0};
}
// Wait: IF 4, SW 5, FN 6, status data [63:32]; qw1 status address [63:2].
Desc d_wait(bool sw, uint32_t data, uint64_t addr, bool intr = false) {
  return {0x5 | (intr ? 1u << 4 : 0) | (sw ? 1u << 5 : 0) | (uint64_t{data} << 32), addr, 0, 0};
}
// PASID-IOTLB: G [5:4] (2 all of a PASID, 3 page), DID [31:16], PASID [51:32]; qw1 as IOTLB.
Desc d_piotlb(unsigned g, uint16_t did, uint32_t pasid, uint64_t addr = 0, unsigned am = 0, bool ih = false) {
  return {0x6 | (uint64_t{g} << 4) | (uint64_t{did} << 16) | (uint64_t{pasid} << 32),
          (addr & ~0xFFFull) | (ih ? 1u << 6 : 0) | am, 0, 0};
}
// PASID-cache: G [5:4] (0 domain, 1 PASID, 3 global), DID [31:16], PASID [51:32].
Desc d_pc(unsigned g, uint16_t did, uint32_t pasid) {
  return {0x7 | (uint64_t{g} << 4) | (uint64_t{did} << 16) | (uint64_t{pasid} << 32), 0, 0, 0};
}

// ---- the test initiator -------------------------------------------------------------------------
using test::DmaResult;

struct Tb : test::IommuTb<Tb> {
  explicit Tb(sc_core::sc_module_name n) : IommuTb(n) {}
  // One DMA of `len` bytes (8, or 4 for interrupts).
  DmaResult access(uint16_t sid, uint64_t va, bool write, uint64_t wdata = 0, bool priv = false, int pasid = -1,
                   unsigned len = 8) {
    return dma_access(sid, va, write, wdata, priv, pasid, len);
  }
  DmaResult read(uint16_t sid, uint64_t va, int pasid = -1, bool priv = false) {
    return access(sid, va, false, 0, priv, pasid);
  }
  DmaResult write(uint16_t sid, uint64_t va, uint64_t v, int pasid = -1, bool priv = false) {
    return access(sid, va, true, v, priv, pasid);
  }
  DmaResult msi(uint16_t sid, uint64_t addr, uint32_t data) { return access(sid, addr, true, data, false, -1, 4); }
};

// A decoded fault recording register, read back through MMIO.
struct Frcd {
  uint64_t lo = 0, hi = 0;
  uint64_t fi() const { return lo & ~0xFFFull; }
  uint16_t sid() const { return static_cast<uint16_t>(hi); }
  bool pp() const { return (hi >> 31) & 1; }
  uint8_t fr() const { return static_cast<uint8_t>(hi >> 32); }
  uint32_t pasid() const { return static_cast<uint32_t>((hi >> 40) & 0xFFFFF); }
  bool t1_read() const { return (hi >> 62) & 1; }
  bool f() const { return (hi >> 63) & 1; }
};

struct PasidE {
  unsigned pgtt = 1;  // 1 first stage, 2 second stage, 3 nested, 4 pass-through
  uint16_t did = 0;
  uint64_t ssptr = 0;
  unsigned aw = 2;
  uint64_t fsptr = 0;
  unsigned flpm = 0;
  bool sre = false, wpe = false;
};

class VtdTest : public test::SimTest {
 protected:
  VtdTest() {
    mp.latency = Time::ns(90);
    mp.bandwidth_gbps = 16.0;  // 62.5 ps per byte: 8 B = 0.5 ns, 16 B = 1 ns, 64 B = 4 ns
    vp.mmio_latency = Time::ns(40);
    vp.cc_inv_latency = Time::ns(20);
    vp.pc_inv_latency = Time::ns(20);
    vp.iotlb_inv_latency = Time::ns(30);
    vp.devtlb_inv_latency = Time::ns(10);
    vp.iec_inv_latency = Time::ns(20);
    vp.wait_latency = Time::ns(20);
    vp.desc_fetch_batch = 4;
    vp.core.tlb_latency = Time::ns(5);
    vp.core.walk_read_latency = Time::ns(0);
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

  // Legacy root entry: P 0, CTP [63:12]; context entry: P 0, FPD 1, TT [3:2], SLPTPTR [63:12];
  // AW [66:64], DID [87:72].
  void legacy_root(unsigned bus, uint64_t ctp) {
    mem->write64(kRoot + bus * 16, ctp | 1);
    mem->write64(kRoot + bus * 16 + 8, 0);
  }
  void legacy_ctx(uint8_t devfn, uint64_t slpt, unsigned tt, unsigned aw, uint16_t did, uint64_t ctp = kCtx) {
    mem->write64(ctp + devfn * 16u, slpt | (uint64_t{tt} << 2) | 1);
    mem->write64(ctp + devfn * 16u + 8, aw | (uint64_t{did} << 8));
  }
  // Scalable root entry: lower P 0 / CTP [63:12] for devfn 0-127, upper in qword 1. Context entry (256-bit):
  // P 0, PASIDE 3, PDTS [11:9], PASIDDIRPTR [63:12]; RID_PASID [83:64], RID_PRIV 84.
  void sm_root(unsigned bus, uint64_t lower) {
    mem->write64(kRoot + bus * 16, lower | 1);
    mem->write64(kRoot + bus * 16 + 8, 0);
  }
  void sm_ctx(uint8_t devfn, uint32_t rid_pasid, bool paside = true) {
    const uint64_t a = kCtx + (devfn & 0x7Fu) * 32u;
    mem->write64(a, kPdir | (0ull << 9) | (paside ? 1u << 3 : 0) | 1);  // PDTS 0: 128 directory entries
    mem->write64(a + 8, rid_pasid);
    mem->write64(a + 16, 0);
    mem->write64(a + 24, 0);
    mem->write64(kPdir, kPtab | 1);  // directory entry 0: PASIDs 0-63
  }
  // PASID-table entry (512-bit): P 0, AW [4:2], PGTT [8:6], SSPTPTR [63:12]; DID [79:64];
  // SRE 128, FLPM [131:130], WPE 132, FSPTPTR [191:140].
  void pasid_entry(uint32_t pasid, const PasidE& e) {
    const uint64_t a = kPtab + (pasid & 63u) * 64u;
    mem->write64(a, e.ssptr | (uint64_t{e.pgtt} << 6) | (uint64_t{e.aw} << 2) | 1);
    mem->write64(a + 8, e.did);
    mem->write64(a + 16, e.fsptr | (uint64_t{e.flpm} << 2) | (e.wpe ? 1u << 4 : 0) | (e.sre ? 1u : 0));
    for (unsigned i = 3; i < 8; ++i) mem->write64(a + i * 8, 0);
  }

  // Root table (legacy or scalable), queued invalidation, translation; unmasks the fault event.
  void enable(Tb& t, bool scalable, bool te = true) {
    t.wr(R_RTADDR, kRoot | (scalable ? RTADDR_TTM_SM : 0), 8);
    t.wr(R_GCMD, GCMD_SRTP);
    t.wr(R_IQT, 0, 8);
    t.wr(R_IQA, kIq | (scalable ? IQA_DW256 : 0), 8);  // QS 0
    w256 = scalable;
    gcmd = GCMD_QIE | (te ? GCMD_TE : 0);
    t.wr(R_GCMD, gcmd);
    t.wr(R_FECTL, 0);
  }
  // Writes descriptors at the tail, then IQT; returns at once.
  void push(Tb& t, const std::vector<Desc>& ds) {
    const unsigned bytes = w256 ? 32 : 16;
    for (const Desc& d : ds) {
      for (unsigned q = 0; q < bytes / 8; ++q) mem->write64(kIq + tail * bytes + q * 8, d[q]);
      tail = (tail + 1) % (4096 / bytes);
    }
    t.wr(R_IQT, uint64_t{tail} * bytes, 8);
  }
  // Pushes descriptors and a status-writing wait, and polls the status word like Linux's qi_submit_sync.
  void submit(Tb& t, std::vector<Desc> ds) {
    const uint32_t seq = ++status_seq;
    ds.push_back(d_wait(true, seq, kStatus));
    push(t, ds);
    for (int i = 0; i < 100000 && (mem->read64(kStatus) & 0xFFFFFFFF) != seq; ++i) sc_core::wait(ns(10));
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
  uint64_t bump = kPtPool;
  uint32_t tail = 0, status_seq = 0, gcmd = 0;
  bool w256 = false;
};

// ---- registers ----------------------------------------------------------------------------------

TEST_F(VtdTest, CapabilitiesAndGlobalStatus) {
  vp.sagaw = 0x6;
  vp.mgaw_bits = 48;
  vp.fault_records = 4;
  vp.mamv = 9;
  vp.fs_5level = true;
  vp.pasid_bits = 16;
  build();
  run([&](Tb& t) {
    EXPECT_EQ(t.rd(R_VER), 0x10u);
    const uint64_t cap = t.rd(R_CAP, 8), ecap = t.rd(R_ECAP, 8);
    EXPECT_EQ(cap, iommu->cap());
    EXPECT_EQ((cap >> 8) & 0x1F, 0x6u);    // SAGAW
    EXPECT_EQ((cap >> 16) & 0x3F, 47u);    // MGAW
    EXPECT_EQ((cap >> 40) & 0xFF, 3u);     // NFR
    EXPECT_EQ((cap >> 48) & 0x3F, 9u);     // MAMV
    EXPECT_EQ((cap >> 39) & 1, 1u);        // PSI
    EXPECT_EQ((cap >> 34) & 0xF, 3u);      // SLLPS: 2M + 1G
    EXPECT_EQ((cap >> 60) & 1, 1u);        // FL5LP
    EXPECT_EQ(cap & 7, 6u);                // ND: 16-bit DIDs
    const uint64_t fro = ((cap >> 24) & 0x3FF) * 16, iro = ((ecap >> 8) & 0x3FF) * 16;
    EXPECT_GE(fro, 0x200u);                // clear of the fixed registers
    EXPECT_GE(iro, fro + 4 * 16);          // and of the fault recording registers
    EXPECT_EQ(ecap & 0x3, 0x3u);           // C, QI
    EXPECT_EQ((ecap >> 3) & 1, 1u);        // IR
    EXPECT_EQ((ecap >> 43) & 1, 1u);       // SMTS
    EXPECT_EQ((ecap >> 35) & 0x1F, 15u);   // PSS
    EXPECT_EQ((ecap >> 46) & 3, 3u);       // SSTS, FSTS
    // GSTS reflects each command at once; one-shot SRTP/SIRTP report RTPS/IRTPS.
    EXPECT_EQ(t.rd(R_GSTS), 0u);
    t.wr(R_RTADDR, kRoot, 8);
    t.wr(R_GCMD, GCMD_SRTP);
    EXPECT_EQ(t.rd(R_GSTS), GCMD_SRTP);
    t.wr(R_GCMD, GCMD_TE);
    EXPECT_EQ(t.rd(R_GSTS), GCMD_TE | GCMD_SRTP);
    t.wr(R_IRTA, kIrt | 3, 8);
    t.wr(R_GCMD, GCMD_TE | GCMD_SIRTP);
    t.wr(R_GCMD, GCMD_TE | GCMD_IRE | GCMD_QIE);
    EXPECT_EQ(t.rd(R_GSTS), GCMD_TE | GCMD_SRTP | GCMD_SIRTP | GCMD_IRE | GCMD_QIE);
    t.wr(R_GCMD, GCMD_QIE);
    EXPECT_EQ(t.rd(R_GSTS), GCMD_SRTP | GCMD_SIRTP | GCMD_QIE);
    EXPECT_EQ(t.rd(R_RTADDR, 8), kRoot);
  });
}

// ---- legacy mode --------------------------------------------------------------------------------

TEST_F(VtdTest, LegacySecondStage4LevelTranslates) {
  build();
  X86Pt pt(*mem, bump, 4, false);
  pt.set(0x12345000, ss_page(0x40007000));
  pt.set(0x12346000, ss_page(0x40008000));
  mem->write64(0x40007018, 0x1122334455667788ull);
  mem->write64(0x12345018, 0xBADBADBADull);  // what an untranslated access would read
  legacy_root(0, kCtx);
  legacy_ctx(0x10, pt.root(), /*TT*/ 0, /*AW 48-bit*/ 2, /*DID*/ 5);
  legacy_ctx(0x20, 0, /*TT pass-through*/ 2, 2, 9);
  mem->write64(0x5000, 0x5A5A);
  run([&](Tb& t) {
    enable(t, false);
    DmaResult r = t.read(0x10, 0x12345018);
    EXPECT_EQ(r.st, tlm::TLM_OK_RESPONSE);
    EXPECT_EQ(r.data, 0x1122334455667788ull);
    EXPECT_EQ(stat("walk.walks"), 1);
    EXPECT_EQ(stat("walk.reads"), 4);  // PML4E, PDPE, PDE, PTE
    EXPECT_EQ(stat("context_misses"), 1);
    r = t.read(0x10, 0x12345FF8);  // same page: IOTLB hit, context cached
    EXPECT_EQ(r.st, tlm::TLM_OK_RESPONSE);
    EXPECT_EQ(stat("walk.walks"), 1);
    EXPECT_EQ(stat("iotlb.hits"), 1);
    EXPECT_EQ(stat("context_misses"), 1);
    // Neighbouring page: the walk cache holds the page table, one read.
    r = t.write(0x10, 0x12346020, 0xFEEDFACECAFEBEEFull);
    EXPECT_EQ(r.st, tlm::TLM_OK_RESPONSE);
    EXPECT_EQ(stat("walk.walks"), 2);
    EXPECT_EQ(stat("walk.reads"), 5);
    // TT pass-through: untranslated.
    r = t.read(0x20, 0x5000);
    EXPECT_EQ(r.st, tlm::TLM_OK_RESPONSE);
    EXPECT_EQ(r.data, 0x5A5Au);
    EXPECT_EQ(stat("bypassed"), 1);
    EXPECT_EQ(t.rd(R_FSTS), 0u);
  });
  EXPECT_EQ(mem->read64(0x40008020), 0xFEEDFACECAFEBEEFull);
  EXPECT_EQ(mem->read64(0x12346020), 0u);
  EXPECT_EQ(stat("translated"), 3);
}

TEST_F(VtdTest, LegacySecondStage3LevelNeedsSagaw) {
  vp.sagaw = 0x6;  // 3- and 4-level; no 5-level
  build();
  X86Pt pt(*mem, bump, 3, false);
  pt.set(0x7F12345000ull, ss_page(0x40001000));  // 39-bit input: PDPE index 0x1FC
  pt.set(0x40000000ull, ss_page(0x40200000) | PS, 3);  // a 2 MiB leaf at the PDE
  mem->write64(0x40001008, 0x3333);
  mem->write64(0x40212348, 0x2222);
  legacy_root(0, kCtx);
  legacy_ctx(0x10, pt.root(), 0, /*AW 39-bit*/ 1, 3);
  legacy_ctx(0x11, pt.root(), 0, /*AW 57-bit*/ 3, 4);
  run([&](Tb& t) {
    enable(t, false);
    DmaResult r = t.read(0x10, 0x7F12345008ull);
    EXPECT_EQ(r.st, tlm::TLM_OK_RESPONSE);
    EXPECT_EQ(r.data, 0x3333u);
    EXPECT_EQ(stat("walk.reads"), 3);
    r = t.read(0x10, 0x40012348ull);
    EXPECT_EQ(r.data, 0x2222u);
    EXPECT_EQ(stat("walk.reads"), 5);  // PDPE, PDE (2 MiB leaf)
    // Beyond 39 bits: address above the AGAW.
    r = t.read(0x10, 1ull << 39);
    EXPECT_EQ(r.io, IoStatus::TranslationFault);
    // 5-level AW on hardware without SAGAW bit 3: invalid context entry.
    r = t.read(0x11, 0x1000);
    EXPECT_EQ(r.io, IoStatus::ConfigFault);
    EXPECT_EQ(frcd(t, 0).fr(), 0x04u);
    EXPECT_EQ(frcd(t, 0).fi(), 1ull << 39);
    EXPECT_EQ(frcd(t, 1).fr(), 0x03u);
    EXPECT_EQ(frcd(t, 1).sid(), 0x11u);
  });
}

TEST_F(VtdTest, FaultRecordsCarryReasonSourceAndAddress) {
  build();
  X86Pt pt(*mem, bump, 4, false);
  pt.set(0x1000, ss_page(0x40001000));
  pt.set(0xA000, ss_page(0x40002000) | (1ull << 50));  // output address above HAW (46): reserved
  legacy_root(0, kCtx);
  legacy_ctx(0x10, pt.root(), 0, 2, 5);
  tb->watch = &iommu->fault_irq();
  run([&](Tb& t) {
    enable(t, false);
    EXPECT_EQ(t.read(0x10, 0x7010).io, IoStatus::TranslationFault);        // not present, read: 06h
    EXPECT_EQ(t.write(0x10, 0x9008, 1).io, IoStatus::TranslationFault);    // not present, write: 05h
    EXPECT_EQ(t.read(0x0300, 0x1000).io, IoStatus::ConfigFault);           // bus 3 root entry absent: 01h
    EXPECT_EQ(t.read(0x0018, 0x1000).io, IoStatus::ConfigFault);           // context entry absent: 02h
    EXPECT_EQ(t.read(0x10, 0xA000).io, IoStatus::TranslationFault);        // reserved bit: 0Ch
    EXPECT_EQ(t.read(0x10, 0x1000, /*pasid*/ 4).io, IoStatus::ConfigFault);  // PASID in legacy mode: 31h
    const uint8_t fr[] = {0x06, 0x05, 0x01, 0x02, 0x0C, 0x31};
    const uint64_t fi[] = {0x7000, 0x9000, 0x1000, 0x1000, 0xA000, 0x1000};
    const uint16_t sid[] = {0x10, 0x10, 0x0300, 0x18, 0x10, 0x10};
    for (unsigned i = 0; i < 6; ++i) {
      const Frcd f = frcd(t, i);
      EXPECT_TRUE(f.f()) << i;
      EXPECT_EQ(f.fr(), fr[i]) << i;
      EXPECT_EQ(f.fi(), fi[i]) << i;
      EXPECT_EQ(f.sid(), sid[i]) << i;
      EXPECT_EQ(f.t1_read(), i != 1) << i;
      EXPECT_EQ(f.pp(), i == 5) << i;
    }
    EXPECT_EQ(frcd(t, 5).pasid(), 4u);
    EXPECT_EQ(t.rd(R_FSTS), FSTS_PPF);  // FRI 0: the oldest pending record
    // Servicing records 0-1 (F is write-1-to-clear in the top dword) moves FRI on.
    const uint32_t base = static_cast<uint32_t>(((iommu->cap() >> 24) & 0x3FF) * 16);
    t.wr(base + 12, 1u << 31);
    t.wr(base + 16 + 12, 1u << 31);
    EXPECT_FALSE(frcd(t, 0).f());
    EXPECT_EQ(t.rd(R_FSTS), FSTS_PPF | (2u << 8));
  });
  // One fault event: PPF went 0 -> 1 at the first fault only.
  EXPECT_EQ(tb->watch_times.size(), 1u);
  EXPECT_EQ(stat("faults"), 6);
  EXPECT_EQ(stat("fault_reasons.0x0c"), 1);
}

TEST_F(VtdTest, FaultRecordingOverflowSetsPfo) {
  vp.fault_records = 2;
  build();
  legacy_root(0, kCtx);
  tb->watch = &iommu->fault_irq();
  run([&](Tb& t) {
    enable(t, false);
    t.read(0x10, 0x1000);  // context entries absent: 02h
    t.read(0x11, 0x2000);
    EXPECT_EQ(t.rd(R_FSTS), FSTS_PPF);
    t.read(0x12, 0x3000);  // register 0 still holds a fault: overflow, dropped
    EXPECT_EQ(t.rd(R_FSTS), FSTS_PPF | FSTS_PFO);
    t.read(0x13, 0x4000);  // PFO set: dropped as well
    EXPECT_EQ(stat("faults_lost"), 2);
    // Service register 0 and clear PFO: the next fault lands in register 0.
    const uint32_t base = static_cast<uint32_t>(((iommu->cap() >> 24) & 0x3FF) * 16);
    t.wr(base + 12, 1u << 31);
    t.wr(R_FSTS, FSTS_PFO);
    t.read(0x14, 0x5000);
    EXPECT_EQ(frcd(t, 0).sid(), 0x14u);
    EXPECT_EQ(frcd(t, 0).fi(), 0x5000u);
    EXPECT_EQ(t.rd(R_FSTS), FSTS_PPF | (1u << 8));  // FRI: register 1 is now the oldest
  });
  EXPECT_EQ(tb->watch_times.size(), 2u);  // first fault, then the overflow
  EXPECT_EQ(stat("faults"), 5);
  EXPECT_EQ(stat("faults_recorded"), 3);
}

TEST_F(VtdTest, WriteToReadOnlyPageFaults) {
  build();
  X86Pt pt(*mem, bump, 4, false);
  pt.set(0x9000, ss_page(0x40040000, /*w*/ false));
  mem->write64(0x40040000, 0x900D);
  legacy_root(0, kCtx);
  legacy_ctx(0x10, pt.root(), 0, 2, 5);
  run([&](Tb& t) {
    enable(t, false);
    DmaResult r = t.read(0x10, 0x9000);
    EXPECT_EQ(r.st, tlm::TLM_OK_RESPONSE);
    EXPECT_EQ(r.data, 0x900Du);
    r = t.write(0x10, 0x9000, 0xBAD);
    EXPECT_EQ(r.st, tlm::TLM_ADDRESS_ERROR_RESPONSE);
    EXPECT_EQ(r.io, IoStatus::PermissionFault);
    const Frcd f = frcd(t, 0);
    EXPECT_EQ(f.fr(), 0x05u);
    EXPECT_EQ(f.fi(), 0x9000u);
    EXPECT_FALSE(f.t1_read());
  });
  EXPECT_EQ(mem->read64(0x40040000), 0x900Du);  // the write never reached memory
  EXPECT_EQ(stat("walk.walks"), 1);               // the permission check used the IOTLB entry
}

TEST_F(VtdTest, TableEntryRightsNarrowTheLeaf) {
  build();
  X86Pt pt(*mem, bump, 4, false);
  pt.set(0x200000, ss_page(0x40200000));  // read-write leaf ...
  pt.set(0x400000, ss_page(0x40400000));
  const uint64_t pde = pt.slot(0x200000, 3);
  mem->write64(pde, mem->read64(pde) & ~SS_W);  // ... under a read-only page-directory entry
  legacy_root(0, kCtx);
  legacy_ctx(0x10, pt.root(), 0, 2, 5);
  run([&](Tb& t) {
    enable(t, false);
    EXPECT_EQ(t.read(0x10, 0x200000).st, tlm::TLM_OK_RESPONSE);
    EXPECT_EQ(t.write(0x10, 0x200008, 1).io, IoStatus::PermissionFault);
    EXPECT_EQ(frcd(t, 0).fr(), 0x05u);
    EXPECT_EQ(t.write(0x10, 0x400008, 1).st, tlm::TLM_OK_RESPONSE);  // its sibling table is writable
  });
}

// ---- scalable mode ------------------------------------------------------------------------------

TEST_F(VtdTest, ScalableFirstStage4Level) {
  build();
  X86Pt fs(*mem, bump, 4, true);
  fs.set(0x40000, fs_page(0x50040000));
  fs.set(0x41000, fs_page(0x50041000, /*w*/ false));
  fs.set(0x42000, fs_page(0x50042000, true, /*user*/ false));
  fs.set(0xFFFF800000003000ull, fs_page(0x50043000, true, false));  // upper canonical half: PML4 index 256
  X86Pt ss(*mem, bump, 4, false);
  ss.set(0x70000, ss_page(0x50070000));
  for (uint64_t a : {0x50040010ull, 0x50043008ull, 0x50070000ull, 0x60000ull}) mem->write64(a, a ^ 0xABCD);
  sm_root(0, kCtx);
  sm_ctx(0x08, /*RID_PASID*/ 1);
  pasid_entry(1, {.pgtt = 4, .did = 2});
  pasid_entry(5, {.pgtt = 1, .did = 7, .fsptr = fs.root()});
  pasid_entry(9, {.pgtt = 1, .did = 7, .fsptr = fs.root(), .flpm = 1});  // 5-level: not supported here
  pasid_entry(10, {.pgtt = 3, .did = 7, .ssptr = ss.root(), .fsptr = fs.root()});  // nested: not modelled
  pasid_entry(11, {.pgtt = 2, .did = 8, .ssptr = ss.root(), .aw = 2});
  pasid_entry(12, {.pgtt = 1, .did = 7, .fsptr = fs.root(), .sre = true});
  pasid_entry(13, {.pgtt = 1, .did = 7, .fsptr = fs.root(), .sre = true, .wpe = true});
  run([&](Tb& t) {
    enable(t, true);
    DmaResult r = t.read(0x08, 0x40010, 5);
    EXPECT_EQ(r.st, tlm::TLM_OK_RESPONSE);
    EXPECT_EQ(r.data, 0x50040010ull ^ 0xABCD);
    EXPECT_EQ(stat("walk.reads"), 4);
    EXPECT_EQ(stat("pasid_misses"), 1);
    EXPECT_EQ(t.write(0x08, 0x41008, 1, 5).io, IoStatus::PermissionFault);   // read-only: 85h
    EXPECT_EQ(t.read(0x08, 0x42000, 5).io, IoStatus::PermissionFault);       // user to supervisor page: 81h
    EXPECT_EQ(t.read(0x08, 0x42000, 5, /*priv*/ true).io, IoStatus::PermissionFault);  // SRE clear: 5Dh
    EXPECT_EQ(t.read(0x08, 0x0000800000000000ull, 5).io, IoStatus::TranslationFault);  // not canonical: 80h
    EXPECT_EQ(t.read(0x08, 0x43000, 5).io, IoStatus::TranslationFault);      // not present: 71h
    EXPECT_EQ(t.read(0x08, 0x1000, 9).io, IoStatus::ConfigFault);            // FLPM 5-level: 5Bh
    EXPECT_EQ(t.read(0x08, 0x1000, 10).io, IoStatus::ConfigFault);           // nested: 5Bh
    // No PASID: RID_PASID 1, pass-through.
    r = t.read(0x08, 0x60000);
    EXPECT_EQ(r.st, tlm::TLM_OK_RESPONSE);
    EXPECT_EQ(r.data, 0x60000ull ^ 0xABCD);
    // Second stage under PASID 11.
    r = t.read(0x08, 0x70000, 11);
    EXPECT_EQ(r.data, 0x50070000ull ^ 0xABCD);
    // SRE: supervisor requests reach supervisor pages, the upper half is canonical, and with WPE clear a
    // supervisor write ignores R/W; with WPE set it faults.
    r = t.read(0x08, 0xFFFF800000003008ull, 12, true);
    EXPECT_EQ(r.data, 0x50043008ull ^ 0xABCD);
    EXPECT_EQ(t.write(0x08, 0x41000, 0x5151, 12, true).st, tlm::TLM_OK_RESPONSE);
    EXPECT_EQ(t.write(0x08, 0x41000, 0x6161, 13, true).io, IoStatus::PermissionFault);
    const uint8_t fr[] = {0x85, 0x81, 0x5D, 0x80, 0x71, 0x5B, 0x5B, 0x85};
    const uint32_t pasid[] = {5, 5, 5, 5, 5, 9, 10, 13};
    const uint64_t fi[] = {0x41000, 0x42000, 0x42000, 0x0000800000000000ull, 0x43000, 0x1000, 0x1000, 0x41000};
    for (unsigned i = 0; i < 8; ++i) {
      const Frcd f = frcd(t, i);
      EXPECT_EQ(f.fr(), fr[i]) << i;
      EXPECT_TRUE(f.pp()) << i;
      EXPECT_EQ(f.pasid(), pasid[i]) << i;
      EXPECT_EQ(f.fi(), fi[i]) << i;
      EXPECT_EQ(f.sid(), 0x08u) << i;
    }
  });
  EXPECT_EQ(mem->read64(0x50041000), 0x5151u);
}

TEST_F(VtdTest, ScalableFirstStage5Level) {
  vp.fs_5level = true;
  build();
  X86Pt fs(*mem, bump, 5, true);
  const uint64_t va = (0xABull << 48) | 0x7000;  // bits 56:48 in use, bit 56 clear: canonical for 57 bits
  fs.set(va, fs_page(0x50007000));
  mem->write64(0x50007010, 0x5555);
  sm_root(0, kCtx);
  sm_ctx(0x08, 1);
  pasid_entry(5, {.pgtt = 1, .did = 7, .fsptr = fs.root(), .flpm = 1});
  pasid_entry(6, {.pgtt = 1, .did = 7, .fsptr = fs.root(), .flpm = 0});  // same table read as 4-level
  run([&](Tb& t) {
    enable(t, true);
    DmaResult r = t.read(0x08, va + 0x10, 5);
    EXPECT_EQ(r.st, tlm::TLM_OK_RESPONSE);
    EXPECT_EQ(r.data, 0x5555u);
    EXPECT_EQ(stat("walk.reads"), 5);  // PML5E, PML4E, PDPE, PDE, PTE
    // 4-level paging: the address is not canonical for 48 bits.
    EXPECT_EQ(t.read(0x08, va, 6).io, IoStatus::TranslationFault);
    EXPECT_EQ(frcd(t, 0).fr(), 0x80u);
    // A 57-bit address whose bit 56 is set without sign extension.
    EXPECT_EQ(t.read(0x08, 1ull << 56, 5).io, IoStatus::TranslationFault);
    EXPECT_EQ(frcd(t, 1).fr(), 0x80u);
  });
}

TEST_F(VtdTest, TranslatesWithEveryCacheDisabled) {
  vp.context_cache.entries = 0;
  vp.pasid_cache.entries = 0;
  vp.core.iotlb.entries = 0;
  vp.core.walk_cache.entries = 0;
  build();
  X86Pt fs(*mem, bump, 4, true);
  fs.set(0x40000, fs_page(0x50040000));
  mem->write64(0x50040008, 0x4444);
  sm_root(0, kCtx);
  sm_ctx(0x08, 1);
  pasid_entry(5, {.pgtt = 1, .did = 7, .fsptr = fs.root()});
  run([&](Tb& t) {
    enable(t, true);
    for (int i = 0; i < 3; ++i) EXPECT_EQ(t.read(0x08, 0x40008, 5).data, 0x4444u) << i;
  });
  EXPECT_EQ(stat("context_misses"), 3);
  EXPECT_EQ(stat("pasid_misses"), 3);
  EXPECT_EQ(stat("walk.reads"), 12);
}

// ---- invalidation -------------------------------------------------------------------------------

TEST_F(VtdTest, PageSelectiveIotlbInvalidationHonoursAddressMask) {
  build();
  X86Pt pt(*mem, bump, 4, false);
  for (uint64_t i = 0; i < 8; ++i) pt.set(0x10000 + i * 0x1000, ss_page(0x40100000 + i * 0x1000));
  legacy_root(0, kCtx);
  legacy_ctx(0x10, pt.root(), 0, 2, /*DID*/ 5);
  legacy_ctx(0x18, pt.root(), 0, 2, /*DID*/ 6);  // another domain over the same tables
  run([&](Tb& t) {
    enable(t, false);
    for (uint64_t i = 0; i < 8; ++i) EXPECT_EQ(t.read(0x10, 0x10000 + i * 0x1000).st, tlm::TLM_OK_RESPONSE);
    EXPECT_EQ(stat("walk.walks"), 8);
    EXPECT_EQ(stat("walk.reads"), 11);
    t.read(0x18, 0x12000);
    EXPECT_EQ(stat("walk.walks"), 9);
    EXPECT_EQ(stat("walk.reads"), 15);
    // AM 1 at 0x13000: the 2-page block 0x12000-0x13FFF (aligned down); IH: leaf entries only.
    submit(t, {d_iotlb(3, 5, 0x13000, 1, /*ih*/ true)});
    EXPECT_EQ(stat("iotlb.invalidated"), 2);
    for (uint64_t a : {0x10000, 0x11000, 0x14000, 0x15000, 0x16000, 0x17000}) t.read(0x10, a);
    t.read(0x18, 0x12000);  // other DID untouched
    EXPECT_EQ(stat("walk.walks"), 9);
    t.read(0x10, 0x12000);
    t.read(0x10, 0x13000);
    EXPECT_EQ(stat("walk.walks"), 11);
    EXPECT_EQ(stat("walk.reads"), 17);  // the paging-structure cache still held the page table
    // AM 0, IH 0: one page, and the paging-structure entries over it go too.
    submit(t, {d_iotlb(3, 5, 0x15000, 0, false)});
    EXPECT_EQ(stat("iotlb.invalidated"), 3);
    t.read(0x10, 0x14000);
    EXPECT_EQ(stat("walk.walks"), 11);
    t.read(0x10, 0x15000);
    EXPECT_EQ(stat("walk.walks"), 12);
    EXPECT_EQ(stat("walk.reads"), 21);  // a full walk
  });
  EXPECT_EQ(stat("inv.iotlb_page"), 2);
  EXPECT_EQ(stat("inv.waits"), 2);
  EXPECT_EQ(stat("inv.syncs"), 2);
  EXPECT_EQ(stat("inv.commands"), 4);
}

TEST_F(VtdTest, DomainAndGlobalIotlbInvalidation) {
  build();
  X86Pt pt(*mem, bump, 4, false);
  pt.set(0x10000, ss_page(0x40100000));
  pt.set(0x11000, ss_page(0x40101000));
  legacy_root(0, kCtx);
  legacy_ctx(0x10, pt.root(), 0, 2, 5);
  legacy_ctx(0x18, pt.root(), 0, 2, 6);
  run([&](Tb& t) {
    enable(t, false);
    for (uint16_t sid : {0x10, 0x18})
      for (uint64_t a : {0x10000, 0x11000}) t.read(sid, a);
    EXPECT_EQ(stat("walk.walks"), 4);
    EXPECT_EQ(stat("walk.reads"), 10);
    submit(t, {d_iotlb(2, 5)});  // domain-selective: DID 5
    EXPECT_EQ(stat("iotlb.invalidated"), 2);
    t.read(0x18, 0x10000);
    t.read(0x18, 0x11000);
    EXPECT_EQ(stat("walk.walks"), 4);
    t.read(0x10, 0x11000);
    EXPECT_EQ(stat("walk.walks"), 5);
    EXPECT_EQ(stat("walk.reads"), 14);  // the domain's walk-cache entries went too
    submit(t, {d_iotlb(1)});  // global
    t.read(0x18, 0x10000);
    EXPECT_EQ(stat("walk.walks"), 6);
    EXPECT_EQ(stat("walk.reads"), 18);
  });
  EXPECT_EQ(stat("inv.iotlb_domain"), 1);
  EXPECT_EQ(stat("inv.iotlb_global"), 1);
}

TEST_F(VtdTest, RegisterBasedInvalidation) {
  build();
  X86Pt pt(*mem, bump, 4, false);
  pt.set(0x10000, ss_page(0x40100000));
  pt.set(0x11000, ss_page(0x40101000));
  mem->write64(0x40100000, 0xAAAA);
  mem->write64(0x10000, 0xBBBB);
  legacy_root(0, kCtx);
  legacy_ctx(0x10, pt.root(), 0, 2, 5);
  run([&](Tb& t) {
    enable(t, false);
    t.read(0x10, 0x10000);
    t.read(0x10, 0x11000);
    EXPECT_EQ(stat("walk.walks"), 2);
    // IVA at ECAP.IRO * 16: ADDR [63:12], IH 6, AM [5:0]; IOTLB_REG 8 above: IVT 63, IIRG [61:60], DID [47:32].
    const uint32_t iva = static_cast<uint32_t>(((iommu->ecap() >> 8) & 0x3FF) * 16);
    t.wr(iva, 0x11000, 8);
    t.wr(iva + 8, (1ull << 63) | (3ull << 60) | (5ull << 32), 8);
    const uint64_t iotlb_reg = t.rd(iva + 8, 8);
    EXPECT_EQ(iotlb_reg >> 63, 0u);         // IVT clear: done
    EXPECT_EQ((iotlb_reg >> 57) & 3, 3u);  // IAIG: page-selective performed
    EXPECT_EQ(stat("iotlb.invalidated"), 1);
    t.read(0x10, 0x10000);
    EXPECT_EQ(stat("walk.walks"), 2);
    // CCMD: ICC 63, CIRG [62:61] (3 device), SID [31:16]; CAIG [60:59] reports what was done.
    legacy_ctx(0x10, 0, 2, 2, 5);  // now pass-through
    t.wr(R_CCMD, (1ull << 63) | (3ull << 61) | (0x10ull << 16), 8);
    EXPECT_EQ(t.rd(R_CCMD, 8) >> 63, 0u);        // ICC clear: done
    EXPECT_EQ((t.rd(R_CCMD, 8) >> 59) & 3, 3u);  // CAIG: device-selective performed
    EXPECT_EQ(t.read(0x10, 0x10000).data, 0xBBBBu);
  });
  EXPECT_EQ(stat("inv.register"), 2);
}

TEST_F(VtdTest, ContextCacheInvalidationMakesChangedEntryTakeEffect) {
  build();
  X86Pt pt(*mem, bump, 4, false);
  pt.set(0x5000, ss_page(0x40050000));
  mem->write64(0x40050000, 0xAAAA);
  mem->write64(0x5000, 0xBBBB);
  legacy_root(0, kCtx);
  legacy_ctx(0x10, pt.root(), 0, 2, 5);
  run([&](Tb& t) {
    enable(t, false);
    EXPECT_EQ(t.read(0x10, 0x5000).data, 0xAAAAu);
    legacy_ctx(0x10, 0, /*pass-through*/ 2, 2, 5);
    EXPECT_EQ(t.read(0x10, 0x5000).data, 0xAAAAu);  // stale context entry still cached
    submit(t, {d_cc(3, 0, 0x11)});                  // another device: no effect
    EXPECT_EQ(t.read(0x10, 0x5000).data, 0xAAAAu);
    submit(t, {d_cc(3, 0, 0x10)});
    EXPECT_EQ(t.read(0x10, 0x5000).data, 0xBBBBu);
    EXPECT_EQ(stat("context_misses"), 2);
  });
  EXPECT_EQ(stat("inv.context_cache"), 2);
}

TEST_F(VtdTest, PasidIotlbAndPasidCacheInvalidation) {
  build();
  X86Pt fs(*mem, bump, 4, true);
  fs.set(0x20000, fs_page(0x50020000));
  fs.set(0x21000, fs_page(0x50021000));
  mem->write64(0x50020000, 0x2020);
  mem->write64(0x20000, 0x0202);
  sm_root(0, kCtx);
  sm_ctx(0x08, 1);
  pasid_entry(5, {.pgtt = 1, .did = 7, .fsptr = fs.root()});
  pasid_entry(6, {.pgtt = 1, .did = 7, .fsptr = fs.root()});
  run([&](Tb& t) {
    enable(t, true);  // 256-bit descriptors
    for (int pasid : {5, 6})
      for (uint64_t a : {0x20000, 0x21000}) EXPECT_EQ(t.read(0x08, a, pasid).st, tlm::TLM_OK_RESPONSE);
    EXPECT_EQ(stat("walk.walks"), 4);
    EXPECT_EQ(stat("walk.reads"), 10);
    submit(t, {d_piotlb(3, 7, 5, 0x21000, 0, /*ih*/ true)});  // one page of PASID 5
    EXPECT_EQ(stat("iotlb.invalidated"), 1);
    t.read(0x08, 0x21000, 6);
    t.read(0x08, 0x20000, 5);
    EXPECT_EQ(stat("walk.walks"), 4);
    t.read(0x08, 0x21000, 5);
    EXPECT_EQ(stat("walk.walks"), 5);
    EXPECT_EQ(stat("walk.reads"), 11);
    submit(t, {d_piotlb(2, 7, 6)});  // all of PASID 6, with its paging-structure entries
    EXPECT_EQ(stat("iotlb.invalidated"), 3);
    t.read(0x08, 0x20000, 6);
    EXPECT_EQ(stat("walk.walks"), 6);
    EXPECT_EQ(stat("walk.reads"), 15);
    // PASID 5 becomes pass-through: cached until the PASID cache (and the IOTLB) are invalidated.
    pasid_entry(5, {.pgtt = 4, .did = 7});
    EXPECT_EQ(t.read(0x08, 0x20000, 5).data, 0x2020u);
    submit(t, {d_pc(1, 7, 6)});  // another PASID: no effect
    EXPECT_EQ(t.read(0x08, 0x20000, 5).data, 0x2020u);
    submit(t, {d_pc(1, 7, 5), d_piotlb(2, 7, 5)});
    EXPECT_EQ(t.read(0x08, 0x20000, 5).data, 0x0202u);
    EXPECT_EQ(stat("pasid_misses"), 3);
  });
  EXPECT_EQ(stat("inv.pasid_iotlb"), 3);
  EXPECT_EQ(stat("inv.pasid_cache"), 2);
}

TEST_F(VtdTest, WaitDescriptorStatusWriteTimingBoundary) {
  build();
  mem->write64(kStatus, 0xFFFFFFFFFFFFFFFFull);
  tb->watch = &iommu->inv_irq();
  const sc_time t0 = ns(1000);
  // IQT write (mmio 40) + 16 B fetch at 16 GB/s (1 ns) + memory latency 90 + wait execution 20.
  const sc_time done = t0 + ns(40) + ns(1) + ns(90) + ns(20);
  run([&](Tb& t) {
    enable(t, false, false);
    t.wr(R_IECTL, 0);  // unmask the invalidation completion event
    t.wait_until(t0);
    push(t, {d_wait(true, 0x600DF00D, kStatus, /*IF*/ true)});
    t.wait_until(done - k1ps);
    EXPECT_EQ(t.rd(R_IQH, 8), 0u);
    EXPECT_EQ(mem->read64(kStatus), 0xFFFFFFFFFFFFFFFFull);
    EXPECT_EQ(t.rd(R_ICS), 0u);
    t.wait_until(done);
    sc_core::wait(SC_ZERO_TIME);  // same time, after the IOMMU's process ran
    EXPECT_EQ(t.rd(R_IQH, 8), 0x10u);
    EXPECT_EQ(mem->read64(kStatus), 0xFFFFFFFF600DF00Dull);  // 32-bit status data, upper word untouched
    EXPECT_EQ(t.rd(R_ICS), 1u);                              // IWC
    t.wr(R_ICS, 1);
    EXPECT_EQ(t.rd(R_ICS), 0u);

    // Three IOTLB descriptors and a wait in one 64 B fetch (4 ns): each IOTLB descriptor takes 30 ns,
    // and the status is written only once all three have completed.
    const sc_time t1 = ns(3000);
    t.wait_until(t1);
    push(t, {d_iotlb(1), d_iotlb(2, 1), d_iotlb(2, 2), d_wait(true, 2, kStatus)});
    const sc_time f = t1 + ns(40) + ns(4) + ns(90);
    for (unsigned k = 1; k <= 4; ++k) {
      const sc_time at = f + ns(30) * std::min(k, 3u) + (k == 4 ? ns(20) : SC_ZERO_TIME);
      t.wait_until(at - k1ps);
      EXPECT_EQ(t.rd(R_IQH, 8), 0x10u * k) << k;
      EXPECT_EQ(mem->read64(kStatus) & 0xFFFFFFFF, 0x600DF00Du) << k;
      t.wait_until(at);
      sc_core::wait(SC_ZERO_TIME);
      EXPECT_EQ(t.rd(R_IQH, 8), 0x10u * (k + 1)) << k;
    }
    EXPECT_EQ(mem->read64(kStatus) & 0xFFFFFFFF, 2u);
  });
  ASSERT_EQ(tb->watch_times.size(), 1u);
  EXPECT_EQ(tb->watch_times[0], done);
  EXPECT_EQ(stat("inv.fetch_reads"), 2);
  EXPECT_EQ(stat("inv.commands"), 5);
}

TEST_F(VtdTest, InvalidDescriptorRaisesIqeUntilCleared) {
  build();
  tb->watch = &iommu->fault_irq();
  const sc_time t0 = ns(1000);
  const sc_time fa = t0 + ns(40) + ns(1) + ns(90);  // the bad descriptor's fetch arrives
  run([&](Tb& t) {
    enable(t, false, false);
    t.wait_until(t0);
    push(t, {{0xE, 0, 0, 0}});  // type 0Eh does not exist
    t.wait_until(fa - k1ps);
    EXPECT_EQ(t.rd(R_FSTS), 0u);
    t.wait_until(fa);
    sc_core::wait(SC_ZERO_TIME);
    EXPECT_EQ(t.rd(R_FSTS), FSTS_IQE);
    EXPECT_EQ(t.rd(R_IQERCD, 8) & 0xF, 3u);  // IQEI: invalid descriptor type
    EXPECT_EQ(t.rd(R_IQH, 8), 0u);           // IQH stays on the bad descriptor
    sc_core::wait(ns(1000));
    EXPECT_EQ(t.rd(R_IQH, 8), 0u);
    // The host replaces it with a wait and clears IQE: the queue resumes from IQH.
    mem->write64(kIq, d_wait(true, 7, kStatus)[0]);
    mem->write64(kIq + 8, d_wait(true, 7, kStatus)[1]);
    t.wr(R_FSTS, FSTS_IQE);
    sc_core::wait(ns(1000));
    EXPECT_EQ(t.rd(R_IQH, 8), 0x10u);
    EXPECT_EQ(mem->read64(kStatus) & 0xFFFFFFFF, 7u);
    EXPECT_EQ(t.rd(R_FSTS), 0u);
    // A reserved granularity (IOTLB G = 0) is an error too.
    push(t, {d_iotlb(0)});
    sc_core::wait(ns(1000));
    EXPECT_EQ(t.rd(R_FSTS), FSTS_IQE);
    EXPECT_EQ(t.rd(R_IQERCD, 8) & 0xF, 4u);
    EXPECT_EQ(t.rd(R_IQH, 8), 0x10u);
  });
  ASSERT_EQ(tb->watch_times.size(), 2u);
  EXPECT_EQ(tb->watch_times[0], fa);
  EXPECT_EQ(stat("inv.errors"), 2);
  EXPECT_EQ(stat("inv.waits"), 1);
}

// ---- interrupt remapping ------------------------------------------------------------------------

// Remappable MSI address: 0xFEE, handle[14:0] [19:5], format 1 bit 4, SHV bit 3, handle[15] bit 2.
uint64_t remap_addr(uint16_t handle, bool shv = false) {
  return 0xFEE00000ull | (uint64_t{handle & 0x7FFFu} << 5) | (1u << 4) | (shv ? 1u << 3 : 0) |
         ((uint64_t{handle} >> 15) << 2);
}

TEST_F(VtdTest, InterruptRemappingThroughIrte) {
  vp.irq_delivery_base = 0x70000000;
  build();
  // IRTE 5 (128-bit): P 0, DM 2, DLM [7:5], vector [23:16], DST [63:32] (xAPIC: APIC ID in [47:40]);
  // SID [79:64], SQ [81:80], SVT [83:82] = 01b (verify the requester id).
  auto irte = [&](unsigned idx, uint8_t vector, uint8_t apic, uint16_t sid) {
    mem->write64(kIrt + idx * 16, 1 | (uint64_t{vector} << 16) | (uint64_t{apic} << 40));
    mem->write64(kIrt + idx * 16 + 8, sid | (1ull << 18));
  };
  irte(5, 0x41, 3, 0x0010);
  tb->watch = &iommu->fault_irq();
  run([&](Tb& t) {
    enable(t, false, /*te*/ false);
    t.wr(R_IRTA, kIrt | 3, 8);  // S 3: 16 entries, xAPIC
    t.wr(R_GCMD, gcmd | GCMD_SIRTP);
    t.wr(R_GCMD, gcmd | GCMD_IRE);
    DmaResult r = t.msi(0x10, remap_addr(5), 0);
    EXPECT_EQ(r.st, tlm::TLM_OK_RESPONSE);
    // Delivered as a compatibility MSI: APIC ID in address[19:12], vector in data[7:0].
    EXPECT_EQ(mem->read64(0x70003000), 0x41u);
    mem->write64(0x70003000, 0);
    r = t.msi(0x10, remap_addr(4, /*shv*/ true), /*subhandle*/ 1);  // index 4 + 1
    EXPECT_EQ(r.st, tlm::TLM_OK_RESPONSE);
    EXPECT_EQ(mem->read64(0x70003000), 0x41u);
    EXPECT_EQ(stat("ir.iec_misses"), 1);
    EXPECT_EQ(stat("ir.remapped"), 2);
    // Faults: wrong requester (26h), IRTE not present (22h), index beyond the table (21h),
    // compatibility format without CFI (25h).
    EXPECT_EQ(t.msi(0x18, remap_addr(5), 0).st, tlm::TLM_ADDRESS_ERROR_RESPONSE);
    EXPECT_EQ(t.msi(0x10, remap_addr(6), 0).st, tlm::TLM_ADDRESS_ERROR_RESPONSE);
    EXPECT_EQ(t.msi(0x10, remap_addr(16), 0).st, tlm::TLM_ADDRESS_ERROR_RESPONSE);
    EXPECT_EQ(t.msi(0x10, 0xFEE01000, 0x30).st, tlm::TLM_ADDRESS_ERROR_RESPONSE);
    const uint8_t fr[] = {0x26, 0x22, 0x21, 0x25};
    const uint64_t index[] = {5, 6, 16, 0};
    const uint16_t sid[] = {0x18, 0x10, 0x10, 0x10};
    for (unsigned i = 0; i < 4; ++i) {
      const Frcd f = frcd(t, i);
      EXPECT_EQ(f.fr(), fr[i]) << i;
      EXPECT_EQ(f.lo >> 48, index[i]) << i;  // FI[63:48]: the interrupt index
      EXPECT_EQ(f.sid(), sid[i]) << i;
    }
    // The IRTE is cached: a changed vector takes effect after an IEC invalidation of its index.
    irte(5, 0x42, 3, 0x0010);
    t.msi(0x10, remap_addr(5), 0);
    EXPECT_EQ(mem->read64(0x70003000), 0x41u);
    submit(t, {d_iec(true, 0, 4)});  // another index
    t.msi(0x10, remap_addr(5), 0);
    EXPECT_EQ(mem->read64(0x70003000), 0x41u);
    submit(t, {d_iec(true, 1, 4)});  // 2^1 entries from 4: 4 and 5
    t.msi(0x10, remap_addr(5), 0);
    EXPECT_EQ(mem->read64(0x70003000), 0x42u);
    EXPECT_EQ(stat("ir.iec_misses"), 3);  // IRTE 5 twice, and the non-present IRTE 6 (never cached)
  });
  EXPECT_EQ(stat("ir.faults"), 4);
  EXPECT_EQ(stat("inv.iec"), 2);
  EXPECT_EQ(tb->watch_times.size(), 1u);
}

}  // namespace
}  // namespace iommusim
