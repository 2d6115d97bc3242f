// Unit tests of the SMMUv3 model as a black box: SparseMemory + SmmuV3 + a test initiator that
// programs registers through `regs` and issues DMA through `upstream` with a PcieExt. Stream
// tables, context descriptors, page tables, commands and event records are raw dwords composed
// here at the architectural bit positions (Arm IHI 0070 / Arm ARM D8), not with the model's
// format helpers; timings are computed by hand from the parameters.
#include <gtest/gtest.h>
#include <systemc>
#include <tlm>
#include <tlm_utils/simple_initiator_socket.h>

#include <algorithm>
#include <cstdint>
#include <functional>
#include <memory>
#include <utility>
#include <vector>

#include "models/common/payload_pool.h"
#include "models/common/pcie_ext.h"
#include "models/iommu/smmuv3/smmuv3.h"
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

// ---- register offsets and fields (IHI 0070, chapter 6) -------------------------------------------
constexpr uint32_t R_CR0 = 0x20, R_GBPA = 0x44, R_GERROR = 0x60, R_GERRORN = 0x64;
constexpr uint32_t R_STRTAB_BASE = 0x80, R_STRTAB_BASE_CFG = 0x88;
constexpr uint32_t R_CMDQ_BASE = 0x90, R_CMDQ_PROD = 0x98, R_CMDQ_CONS = 0x9C;
constexpr uint32_t R_EVENTQ_BASE = 0xA0, R_EVENTQ_PROD = 0x100A8, R_EVENTQ_CONS = 0x100AC;
constexpr uint32_t CR0_SMMUEN = 1u << 0, CR0_EVTQEN = 1u << 2, CR0_CMDQEN = 1u << 3;
constexpr uint32_t GBPA_ABORT = 1u << 20, GBPA_UPDATE = 1u << 31;

// ---- memory map of the test ---------------------------------------------------------------------
constexpr uint64_t kStrtab = 0x100000;
constexpr uint64_t kCmdq = 0x200000;
constexpr unsigned kCmdqLog2 = 5;
constexpr uint64_t kEvtq = 0x210000;
constexpr uint64_t kMsi = 0x220000;
constexpr uint64_t kCd = 0x300000;
constexpr uint64_t kPtPool = 0x1000000;

// ---- STE / CD / descriptors / commands as raw dwords --------------------------------------------
constexpr uint64_t mask(unsigned hi, unsigned lo) { return ((hi == 63 ? 0 : (uint64_t{1} << (hi + 1))) - 1) & ~((uint64_t{1} << lo) - 1); }

struct Ste {
  uint64_t d[8] = {};
};
// dword0: V[0], Config[3:1], S1Fmt[5:4], S1ContextPtr[51:6], S1CDMax[63:59].
Ste ste_abort() { return Ste{{1}}; }
Ste ste_bypass() { return Ste{{1 | (0b100u << 1)}}; }
Ste ste_s1(uint64_t cd_ptr, unsigned cdmax = 0, unsigned s1dss = 0) {
  Ste s;
  s.d[0] = 1 | (0b101u << 1) | (cd_ptr & mask(51, 6)) | (uint64_t{cdmax} << 59);
  s.d[1] = s1dss;  // S1DSS[1:0]
  return s;
}
// dword2: S2VMID[15:0], S2T0SZ[37:32], S2SL0[39:38], S2TG[47:46], S2PS[50:48], S2AA64[51], S2R[58];
// dword3: S2TTB[51:4].
Ste ste_s2(uint16_t vmid, uint64_t ttb, unsigned t0sz, unsigned sl0) {
  Ste s;
  s.d[0] = 1 | (0b110u << 1);
  s.d[2] = vmid | (uint64_t{t0sz} << 32) | (uint64_t{sl0} << 38) | (0ull << 46) | (5ull << 48) | (1ull << 51) |
           (1ull << 58);
  s.d[3] = ttb & mask(51, 4);
  return s;
}
// CD dword0: T0SZ[5:0], TG0[7:6], EPD1[30], V[31], IPS[34:32], AA64[41], R[45], ASID[63:48];
// dword1: TTB0[51:4]; dword3: MAIR.
std::vector<uint64_t> cd(uint16_t asid, uint64_t ttb0, unsigned tg0 = 0, unsigned t0sz = 16) {
  std::vector<uint64_t> d(8, 0);
  d[0] = t0sz | (uint64_t{tg0} << 6) | (1ull << 30) | (1ull << 31) | (5ull << 32) | (1ull << 41) | (1ull << 45) |
         (uint64_t{asid} << 48);
  d[1] = ttb0 & mask(51, 4);
  d[3] = 0x0000000000FF4400ull;
  return d;
}

// VMSAv8-64 descriptors.
constexpr uint64_t D_VALID = 1, D_TYPE = 2, D_AF = 1ull << 10, D_NG = 1ull << 11;
constexpr uint64_t S1_ATTR = (1ull << 2) | (3ull << 8);  // AttrIndx 1, inner shareable
constexpr uint64_t S1_USER = 1ull << 6, S1_RO = 1ull << 7;
uint64_t s1_page(uint64_t pa, uint64_t extra = S1_USER | D_NG) { return pa | D_VALID | D_TYPE | S1_ATTR | D_AF | extra; }
uint64_t s2_desc(uint64_t pa, bool page, bool r, bool w) {
  return pa | D_VALID | (page ? D_TYPE : 0) | (0xFull << 2) | (r ? 1ull << 6 : 0) | (w ? 1ull << 7 : 0) |
         (3ull << 8) | D_AF;
}

// Commands: {dword0, dword1}.
using Cmd2 = std::pair<uint64_t, uint64_t>;
Cmd2 cmd_cfgi_ste(uint32_t sid) { return {0x03 | (uint64_t{sid} << 32), 1}; }
Cmd2 cmd_tlbi_nh_asid(uint16_t vmid, uint16_t asid) {
  return {0x11 | (uint64_t{vmid} << 32) | (uint64_t{asid} << 48), 0};
}
// NUM[16:12], SCALE[24:20], VMID[47:32], ASID[63:48]; dword1 Leaf[0], TTL[9:8], TG[11:10], Address[63:12].
Cmd2 cmd_tlbi_nh_va(uint16_t vmid, uint16_t asid, uint64_t addr, unsigned tg, unsigned num, unsigned scale,
                    bool leaf) {
  return {0x12 | (uint64_t{num} << 12) | (uint64_t{scale} << 20) | (uint64_t{vmid} << 32) | (uint64_t{asid} << 48),
          (leaf ? 1u : 0u) | (uint64_t{tg} << 10) | (addr & mask(63, 12))};
}
// CS[13:12] (0 none, 1 IRQ, 2 SEV), MSIData[63:32]; dword1 MSIAddress[51:2].
Cmd2 cmd_sync(unsigned cs = 0, uint64_t msi_addr = 0, uint32_t msi_data = 0) {
  return {0x46 | (uint64_t{cs} << 12) | (uint64_t{msi_data} << 32), msi_addr & mask(51, 2)};
}

// ---- page-table builder: composes raw table descriptors as it goes --------------------------------
class Pt {
 public:
  // gshift: granule; ias: input bits; start level follows from them (as for stage 1 / SL0-consistent S2).
  Pt(SparseMemory& m, uint64_t& bump, unsigned gshift, unsigned ias) : m_(m), bump_(bump), g_(gshift), ias_(ias) {
    start_ = 3;
    while (shift(start_) + (g_ - 3) < ias_) --start_;
    root_ = alloc();
  }
  uint64_t root() const { return root_; }
  unsigned start() const { return start_; }
  unsigned shift(unsigned l) const { return g_ + (3 - l) * (g_ - 3); }
  // Writes `desc` as the entry for va at `level`, creating table descriptors above it.
  void set(uint64_t va, uint64_t desc, unsigned level = 3) {
    uint64_t table = root_;
    for (unsigned l = start_; l < level; ++l) {
      const uint64_t slot = table + index(va, l) * 8;
      const uint64_t d = m_.read64(slot);
      if (d & D_VALID) {
        table = d & mask(47, g_);
      } else {
        const uint64_t next = alloc();
        m_.write64(slot, next | D_VALID | D_TYPE);
        table = next;
      }
    }
    m_.write64(table + index(va, level) * 8, desc);
  }

 private:
  uint64_t index(uint64_t va, unsigned l) const {
    const unsigned bits = l == start_ ? ias_ - shift(l) : g_ - 3;
    return (va >> shift(l)) & ((uint64_t{1} << bits) - 1);
  }
  uint64_t alloc() {
    const uint64_t gran = uint64_t{1} << g_;
    const uint64_t a = (bump_ + gran - 1) & ~(gran - 1);
    bump_ = a + gran;
    return a;
  }
  SparseMemory& m_;
  uint64_t& bump_;
  unsigned g_, ias_, start_ = 0;
  uint64_t root_ = 0;
};

// ---- the test initiator -------------------------------------------------------------------------
using test::DmaResult;

struct Tb : test::IommuTb<Tb> {
  explicit Tb(sc_core::sc_module_name n) : IommuTb(n) {}
  DmaResult access(uint16_t sid, uint64_t va, bool write, uint64_t wdata = 0, bool priv = false, int pasid = -1) {
    return dma_access(sid, va, write, wdata, priv, pasid, 8);
  }
  DmaResult read(uint16_t sid, uint64_t va, bool priv = false, int pasid = -1) {
    return access(sid, va, false, 0, priv, pasid);
  }
  DmaResult write(uint16_t sid, uint64_t va, uint64_t v, bool priv = false) { return access(sid, va, true, v, priv); }
};

class SmmuTest : public test::SimTest {
 protected:
  SmmuTest() {
    mp.latency = Time::ns(90);
    mp.bandwidth_gbps = 16.0;  // 62.5 ps per byte: 16 B = 1 ns, 64 B = 4 ns, 4 B = 0.25 ns
    sp.mmio_latency = Time::ns(40);
    sp.cfgi_latency = Time::ns(20);
    sp.tlbi_latency = Time::ns(30);
    sp.sync_latency = Time::ns(20);
    sp.other_cmd_latency = Time::ns(10);
    sp.cmd_fetch_batch = 4;
    sp.core.tlb_latency = Time::ns(5);
    sp.core.walk_read_latency = Time::ns(0);
  }
  void build() {
    mem = std::make_unique<SparseMemory>("mem", mp);
    smmu = std::make_unique<smmuv3::SmmuV3>("smmu", sp);
    tb = std::make_unique<Tb>("tb");
    smmu->mem.bind(mem->socket);
    tb->regs.bind(smmu->regs);
    tb->dma.bind(smmu->upstream);
  }
  void run(std::function<void(Tb&)> body) {
    tb->body = std::move(body);
    sc_core::sc_start();
  }
  double stat(const char* path) {
    double v = -1;
    EXPECT_TRUE(smmu->stats().find(path, v)) << path;
    return v;
  }
  void put_ste(uint64_t addr, const Ste& s) {
    for (unsigned i = 0; i < 8; ++i) mem->write64(addr + i * 8, s.d[i]);
  }
  void put_ste_linear(uint32_t sid, const Ste& s) { put_ste(kStrtab + uint64_t{sid} * 64, s); }
  void put_cd(uint64_t addr, const std::vector<uint64_t>& d) {
    for (unsigned i = 0; i < 8; ++i) mem->write64(addr + i * 8, d[i]);
  }
  // Registers: stream table, queues, CR0. cfg is STRTAB_BASE_CFG as raw bits.
  void enable(Tb& t, uint32_t strtab_cfg, unsigned evtq_log2 = 3) {
    t.wr(R_STRTAB_BASE, kStrtab, 8);
    t.wr(R_STRTAB_BASE_CFG, strtab_cfg);
    t.wr(R_CMDQ_BASE, kCmdq | kCmdqLog2, 8);  // ADDR[51:5], LOG2SIZE[4:0]
    t.wr(R_CMDQ_PROD, 0);
    t.wr(R_CMDQ_CONS, 0);
    t.wr(R_EVENTQ_BASE, kEvtq | evtq_log2, 8);
    t.wr(R_EVENTQ_PROD, 0);
    t.wr(R_EVENTQ_CONS, 0);
    t.wr(R_CR0, CR0_SMMUEN | CR0_EVTQEN | CR0_CMDQEN);
  }
  static uint32_t linear_cfg(unsigned log2size) { return log2size; }  // FMT[17:16] = 0
  // Writes commands at PROD, then PROD; returns at once.
  void push(Tb& t, const std::vector<Cmd2>& cmds) {
    for (const auto& c : cmds) {
      const uint64_t a = kCmdq + uint64_t{prod & ((1u << kCmdqLog2) - 1)} * 16;
      mem->write64(a, c.first);
      mem->write64(a + 8, c.second);
      prod = (prod + 1) & ((2u << kCmdqLog2) - 1);  // index plus wrap bit
    }
    t.wr(R_CMDQ_PROD, prod);
  }
  // Pushes commands plus a CMD_SYNC and polls CONS until the queue has drained.
  void submit(Tb& t, std::vector<Cmd2> cmds) {
    cmds.push_back(cmd_sync());
    push(t, cmds);
    for (int i = 0; i < 100000 && (t.rd(R_CMDQ_CONS) & ((2u << kCmdqLog2) - 1)) != prod; ++i) sc_core::wait(ns(10));
    ASSERT_EQ(t.rd(R_CMDQ_CONS), prod);
  }
  std::vector<uint64_t> event_record(unsigned idx) {
    std::vector<uint64_t> r(4);
    for (unsigned i = 0; i < 4; ++i) r[i] = mem->read64(kEvtq + idx * 32 + i * 8);
    return r;
  }
  // Stage-1 stream `sid` in a linear stream table with a linear single CD at cd_addr.
  void s1_stream(uint32_t sid, uint64_t cd_addr, uint16_t asid, uint64_t ttb0, unsigned tg0 = 0, unsigned t0sz = 16) {
    put_ste_linear(sid, ste_s1(cd_addr));
    put_cd(cd_addr, cd(asid, ttb0, tg0, t0sz));
  }

  SparseMemoryParams mp;
  smmuv3::SmmuV3Params sp;
  std::unique_ptr<SparseMemory> mem;
  std::unique_ptr<smmuv3::SmmuV3> smmu;
  std::unique_ptr<Tb> tb;
  uint64_t bump = kPtPool;
  uint32_t prod = 0;
};

// ---- stream table and translation ---------------------------------------------------------------

TEST_F(SmmuTest, LinearStreamTableStage1Translates) {
  build();
  Pt pt(*mem, bump, 12, 48);
  pt.set(0x12345000, s1_page(0x40007000));
  pt.set(0x12346000, s1_page(0x40008000));
  mem->write64(0x40007018, 0x1122334455667788ull);
  mem->write64(0x12345018, 0xBADBADBADull);  // what an untranslated access would read
  s1_stream(2, kCd, 0x42, pt.root());
  run([&](Tb& t) {
    enable(t, linear_cfg(4));
    DmaResult r = t.read(2, 0x12345018);
    EXPECT_EQ(r.st, tlm::TLM_OK_RESPONSE);
    EXPECT_EQ(r.io, IoStatus::Ok);
    EXPECT_EQ(r.data, 0x1122334455667788ull);
    EXPECT_EQ(stat("walk.walks"), 1);
    EXPECT_EQ(stat("walk.reads"), 4);  // 4 levels, cold
    EXPECT_EQ(stat("config_misses"), 1);
    // Same page: IOTLB hit, cached config.
    r = t.read(2, 0x12345FF8);
    EXPECT_EQ(r.st, tlm::TLM_OK_RESPONSE);
    EXPECT_EQ(stat("walk.walks"), 1);
    EXPECT_EQ(stat("iotlb.hits"), 1);
    EXPECT_EQ(stat("config_misses"), 1);
    // Write through the neighbouring page: lands at its PA; the walk cache leaves 1 read.
    r = t.write(2, 0x12346020, 0xFEEDFACECAFEBEEFull);
    EXPECT_EQ(r.st, tlm::TLM_OK_RESPONSE);
    EXPECT_EQ(stat("walk.walks"), 2);
    EXPECT_EQ(stat("walk.reads"), 5);
    EXPECT_EQ(t.rd(R_EVENTQ_PROD), 0u);
  });
  EXPECT_EQ(mem->read64(0x40008020), 0xFEEDFACECAFEBEEFull);
  EXPECT_EQ(mem->read64(0x12346020), 0u);
}

TEST_F(SmmuTest, Stage1With64KGranule) {
  build();
  Pt pt(*mem, bump, 16, 48);  // levels 1-3: VA[47:42], [41:29], [28:16]
  ASSERT_EQ(pt.start(), 1u);
  const uint64_t va = (3ull << 42) | (5ull << 29) | (7ull << 16);
  pt.set(va, s1_page(0x50000000));
  pt.set(va + 0x10000, s1_page(0x50030000));
  mem->write64(0x50001238, 0x6464646464646464ull);
  mem->write64(0x50030008, 0x1234);
  s1_stream(1, kCd, 5, pt.root(), /*tg0=64K*/ 1, 16);
  run([&](Tb& t) {
    enable(t, linear_cfg(4));
    DmaResult r = t.read(1, va + 0x1238);
    EXPECT_EQ(r.st, tlm::TLM_OK_RESPONSE);
    EXPECT_EQ(r.data, 0x6464646464646464ull);
    EXPECT_EQ(stat("walk.reads"), 3);
    r = t.read(1, va + 0xFFF8);  // same 64 KiB page: no walk
    EXPECT_EQ(stat("walk.walks"), 1);
    r = t.read(1, va + 0x10008);
    EXPECT_EQ(r.data, 0x1234u);
    EXPECT_EQ(stat("walk.reads"), 4);
  });
}

TEST_F(SmmuTest, Stage2Translation4K) {
  build();
  // S2T0SZ 25 (39-bit IPA), SL0 1: start at level 1, three levels.
  Pt pt(*mem, bump, 12, 39);
  ASSERT_EQ(pt.start(), 1u);
  pt.set(0x80001000, s2_desc(0x40010000, true, true, true));
  pt.set(0x80002000, s2_desc(0x40011000, true, true, false));    // read-only
  pt.set(0x80200000, s2_desc(0x40200000, false, true, true), 2);  // 2 MiB block
  mem->write64(0x40010008, 0x5252);
  mem->write64(0x40212340, 0xB10C);
  mem->write64(0x40011000, 0x0123456789ull);
  put_ste_linear(3, ste_s2(7, pt.root(), 25, 1));
  run([&](Tb& t) {
    enable(t, linear_cfg(4));
    DmaResult r = t.read(3, 0x80001008);
    EXPECT_EQ(r.st, tlm::TLM_OK_RESPONSE);
    EXPECT_EQ(r.data, 0x5252u);
    EXPECT_EQ(stat("walk.reads"), 3);
    r = t.read(3, 0x80212340);
    EXPECT_EQ(r.data, 0xB10Cu);
    EXPECT_EQ(stat("walk.reads"), 4);  // level-1 table from the walk cache, the block at level 2
    r = t.read(3, 0x80002000);
    EXPECT_EQ(r.data, 0x0123456789ull);
    // Write to the read-only page: stage-2 permission fault, recorded (S2R = 1) with S2 = 1.
    r = t.write(3, 0x80002010, 0xDEAD);
    EXPECT_EQ(r.st, tlm::TLM_ADDRESS_ERROR_RESPONSE);
    EXPECT_EQ(r.io, IoStatus::PermissionFault);
    ASSERT_EQ(t.rd(R_EVENTQ_PROD), 1u);
    const auto e = event_record(0);
    EXPECT_EQ(e[0] & 0xFF, 0x13u);  // F_PERMISSION
    EXPECT_EQ(e[0] >> 32, 3u);
    EXPECT_EQ((e[1] >> 35) & 1, 0u);  // RnW = 0: a write
    EXPECT_EQ((e[1] >> 39) & 1, 1u);  // S2
    EXPECT_EQ(e[2], 0x80002010u);
  });
  EXPECT_EQ(mem->read64(0x40011010), 0u);  // not written
}

TEST_F(SmmuTest, AbortBypassAndGlobalBypass) {
  build();
  put_ste_linear(1, ste_abort());
  put_ste_linear(2, ste_bypass());
  mem->write64(0x40000100, 0xB7B7);
  run([&](Tb& t) {
    enable(t, linear_cfg(4));
    DmaResult r = t.read(1, 0x40000100);
    EXPECT_EQ(r.st, tlm::TLM_ADDRESS_ERROR_RESPONSE);
    EXPECT_EQ(r.io, IoStatus::Aborted);
    EXPECT_EQ(r.data, 0u);
    EXPECT_EQ(t.rd(R_EVENTQ_PROD), 0u);  // an abort STE records nothing
    r = t.read(2, 0x40000100);
    EXPECT_EQ(r.st, tlm::TLM_OK_RESPONSE);
    EXPECT_EQ(r.data, 0xB7B7u);
    // SMMUEN = 0: GBPA decides, for every stream (the abort STE is not consulted).
    t.wr(R_CR0, 0);
    r = t.read(1, 0x40000100);
    EXPECT_EQ(r.st, tlm::TLM_OK_RESPONSE);
    EXPECT_EQ(r.data, 0xB7B7u);
    t.wr(R_GBPA, GBPA_UPDATE | GBPA_ABORT);
    EXPECT_EQ(t.rd(R_GBPA), GBPA_ABORT);  // update completes at once
    r = t.read(2, 0x40000100);
    EXPECT_EQ(r.io, IoStatus::Aborted);
  });
  EXPECT_EQ(stat("aborted"), 2);
  EXPECT_EQ(stat("bypassed"), 2);
}

TEST_F(SmmuTest, TwoLevelStreamTable) {
  build();
  // STRTAB_BASE_CFG: FMT[17:16] = 1 (2-level), SPLIT[10:6] = 6, LOG2SIZE[5:0] = 8.
  const uint32_t cfg = (1u << 16) | (6u << 6) | 8u;
  // L1 descriptors: SPAN[4:0], L2Ptr[51:6]. L1[1]: 64 STEs; L1[2]: SPAN 0; L1[3]: 2 STEs.
  mem->write64(kStrtab + 1 * 8, 7 | 0x110000ull);
  mem->write64(kStrtab + 2 * 8, 0 | 0x118000ull);
  mem->write64(kStrtab + 3 * 8, 2 | 0x120000ull);
  put_ste(0x110000 + 1 * 64, ste_bypass());  // SID 0x41
  Pt pt(*mem, bump, 12, 48);
  pt.set(0x7000, s1_page(0x40030000));
  put_ste(0x120000 + 1 * 64, ste_s1(kCd));  // SID 0xC1
  put_cd(kCd, cd(3, pt.root()));
  put_ste(0x118000 + 0 * 64, ste_bypass());  // behind SPAN 0: must not be used
  mem->write64(0x40020000, 0xAAAA);
  mem->write64(0x40030000, 0xBBBB);
  run([&](Tb& t) {
    enable(t, cfg);
    DmaResult r = t.read(0x41, 0x40020000);
    EXPECT_EQ(r.st, tlm::TLM_OK_RESPONSE);
    EXPECT_EQ(r.data, 0xAAAAu);
    r = t.read(0xC1, 0x7000);
    EXPECT_EQ(r.st, tlm::TLM_OK_RESPONSE);
    EXPECT_EQ(r.data, 0xBBBBu);
    for (uint16_t sid : {0x80, 0xC2, 0x100}) {  // SPAN 0; beyond SPAN; beyond LOG2SIZE
      r = t.read(sid, 0x40020000);
      EXPECT_EQ(r.st, tlm::TLM_ADDRESS_ERROR_RESPONSE) << sid;
      EXPECT_EQ(r.io, IoStatus::ConfigFault) << sid;
    }
    ASSERT_EQ(t.rd(R_EVENTQ_PROD), 3u);
  });
  const uint64_t sids[] = {0x80, 0xC2, 0x100};
  for (unsigned i = 0; i < 3; ++i) {
    const auto e = event_record(i);
    EXPECT_EQ(e[0], 0x02 | (sids[i] << 32)) << i;  // C_BAD_STREAMID, StreamID[63:32]
  }
  EXPECT_EQ(stat("events.C_BAD_STREAMID"), 3);
}

TEST_F(SmmuTest, LinearBadStreamIdAndBadSte) {
  build();
  // SID 5: all zero (V = 0); SID 6: V = 1 with the reserved Config 0b001.
  put_ste_linear(6, Ste{{1 | (0b001u << 1)}});
  run([&](Tb& t) {
    enable(t, linear_cfg(4));  // 16 STEs
    for (uint16_t sid : {16, 5, 6}) {
      const DmaResult r = t.read(sid, 0x1000);
      EXPECT_EQ(r.io, IoStatus::ConfigFault) << sid;
    }
    EXPECT_EQ(t.rd(R_EVENTQ_PROD), 3u);
  });
  EXPECT_EQ(event_record(0)[0], 0x02 | (16ull << 32));  // C_BAD_STREAMID
  EXPECT_EQ(event_record(1)[0], 0x04 | (5ull << 32));   // C_BAD_STE
  EXPECT_EQ(event_record(2)[0], 0x04 | (6ull << 32));
  EXPECT_EQ(stat("events.C_BAD_STE"), 2);
  EXPECT_EQ(stat("events.recorded"), 3);
}

TEST_F(SmmuTest, TranslationFaultRecordFields) {
  build();
  Pt pt(*mem, bump, 12, 48);
  pt.set(0x1000, s1_page(0x40001000));
  s1_stream(3, kCd, 0x11, pt.root());
  // SID 4: S1CDMax 2 (4 linear CDs), SubstreamID 3 has a valid CD.
  put_ste_linear(4, ste_s1(kCd + 0x1000, 2));
  put_cd(kCd + 0x1000 + 3 * 64, cd(0x22, pt.root()));
  const uint64_t va = 0x7654321010ull;
  run([&](Tb& t) {
    enable(t, linear_cfg(4));
    DmaResult r = t.read(3, va);
    EXPECT_EQ(r.st, tlm::TLM_ADDRESS_ERROR_RESPONSE);
    EXPECT_EQ(r.io, IoStatus::TranslationFault);
    sc_core::wait(ns(1000));
    r = t.write(3, va + 8, 1, /*priv=*/true);
    EXPECT_EQ(r.io, IoStatus::TranslationFault);
    sc_core::wait(ns(1000));
    r = t.read(4, va, false, /*pasid=*/3);
    EXPECT_EQ(r.io, IoStatus::TranslationFault);
    sc_core::wait(ns(1000));
    EXPECT_EQ(t.rd(R_EVENTQ_PROD), 3u);
    // The mapped page still works for the PASID stream.
    r = t.read(4, 0x1000, false, 3);
    EXPECT_EQ(r.st, tlm::TLM_OK_RESPONSE);
  });
  auto e = event_record(0);
  EXPECT_EQ(e[0], 0x10 | (3ull << 32));  // F_TRANSLATION, SSV = 0, SID 3
  EXPECT_EQ((e[1] >> 35) & 1, 1u);       // RnW: read
  EXPECT_EQ((e[1] >> 33) & 1, 0u);       // PnU: unprivileged
  EXPECT_EQ((e[1] >> 34) & 1, 0u);       // InD: data
  EXPECT_EQ((e[1] >> 39) & 1, 0u);       // S2 = 0: stage 1
  EXPECT_EQ(e[1] & 0xFFFF, 0u);          // STAG
  EXPECT_EQ(e[2], va);                   // InputAddr
  e = event_record(1);
  EXPECT_EQ(e[0], 0x10 | (3ull << 32));
  EXPECT_EQ((e[1] >> 35) & 1, 0u);  // write
  EXPECT_EQ((e[1] >> 33) & 1, 1u);  // privileged
  EXPECT_EQ(e[2], va + 8);
  e = event_record(2);
  EXPECT_EQ(e[0], 0x10 | (1ull << 11) | (3ull << 12) | (4ull << 32));  // SSV, SubstreamID[31:12], SID
  EXPECT_EQ(e[2], va);
  EXPECT_EQ(stat("events.F_TRANSLATION"), 3);
}

TEST_F(SmmuTest, EventQueueInterruptPerRecord) {
  build();
  put_ste_linear(1, Ste{});
  tb->watch = &smmu->eventq_irq();
  run([&](Tb& t) {
    enable(t, linear_cfg(4));
    t.read(1, 0);
    sc_core::wait(ns(1000));
    t.read(1, 0);
    sc_core::wait(ns(1000));
  });
  EXPECT_EQ(tb->watch_times.size(), 2u);
}

TEST_F(SmmuTest, PermissionFaults) {
  build();
  Pt pt(*mem, bump, 12, 48);
  pt.set(0x9000, s1_page(0x40040000, S1_USER | S1_RO | D_NG));  // read-only
  pt.set(0xA000, s1_page(0x40041000, D_NG));                    // privileged only (AP[1] = 0)
  mem->write64(0x40040000, 0x900D);
  mem->write64(0x40041000, 0x9A9A);
  s1_stream(2, kCd, 1, pt.root());
  run([&](Tb& t) {
    enable(t, linear_cfg(4));
    DmaResult r = t.read(2, 0x9000);
    EXPECT_EQ(r.st, tlm::TLM_OK_RESPONSE);
    EXPECT_EQ(r.data, 0x900Du);
    r = t.write(2, 0x9000, 0xBAD);
    EXPECT_EQ(r.st, tlm::TLM_ADDRESS_ERROR_RESPONSE);
    EXPECT_EQ(r.io, IoStatus::PermissionFault);
    r = t.read(2, 0xA000);
    EXPECT_EQ(r.io, IoStatus::PermissionFault);
    r = t.read(2, 0xA000, /*priv=*/true);
    EXPECT_EQ(r.st, tlm::TLM_OK_RESPONSE);
    EXPECT_EQ(r.data, 0x9A9Au);
    EXPECT_EQ(t.rd(R_EVENTQ_PROD), 2u);
  });
  EXPECT_EQ(mem->read64(0x40040000), 0x900Du);  // the write never reached memory
  auto e = event_record(0);
  EXPECT_EQ(e[0], 0x13 | (2ull << 32));
  EXPECT_EQ((e[1] >> 35) & 1, 0u);
  EXPECT_EQ(e[2], 0x9000u);
  e = event_record(1);
  EXPECT_EQ(e[0], 0x13 | (2ull << 32));
  EXPECT_EQ((e[1] >> 35) & 1, 1u);
  EXPECT_EQ(e[2], 0xA000u);
}

// ---- command queue ------------------------------------------------------------------------------

TEST_F(SmmuTest, CfgiSteMakesChangedSteTakeEffect) {
  build();
  Pt pt(*mem, bump, 12, 48);
  pt.set(0x5000, s1_page(0x40050000));
  s1_stream(4, kCd, 9, pt.root());
  mem->write64(0x40050000, 0xAAAA);  // through the stage-1 mapping
  mem->write64(0x5000, 0xBBBB);      // what bypass reads
  run([&](Tb& t) {
    enable(t, linear_cfg(4));
    EXPECT_EQ(t.read(4, 0x5000).data, 0xAAAAu);
    put_ste_linear(4, ste_bypass());
    EXPECT_EQ(t.read(4, 0x5000).data, 0xAAAAu);  // stale configuration still cached and used
    EXPECT_EQ(stat("config_misses"), 1);
    submit(t, {cmd_cfgi_ste(5)});  // another StreamID: no effect
    EXPECT_EQ(t.read(4, 0x5000).data, 0xAAAAu);
    submit(t, {cmd_cfgi_ste(4)});
    EXPECT_EQ(t.read(4, 0x5000).data, 0xBBBBu);
    EXPECT_EQ(stat("config_misses"), 2);
  });
  EXPECT_EQ(stat("inv.cfgi"), 2);
  EXPECT_EQ(stat("inv.syncs"), 2);
}

TEST_F(SmmuTest, TlbiNhVaRemovesExactlyTheCoveredEntries) {
  build();
  Pt pt(*mem, bump, 12, 48);
  for (uint64_t i = 0; i < 4; ++i) pt.set(0x10000 + i * 0x1000, s1_page(0x40100000 + i * 0x1000));
  s1_stream(6, kCd, 0x42, pt.root());
  s1_stream(7, kCd + 0x40, 0x43, pt.root());  // another ASID over the same tables
  run([&](Tb& t) {
    enable(t, linear_cfg(4));
    for (uint64_t i = 0; i < 4; ++i) EXPECT_EQ(t.read(6, 0x10000 + i * 0x1000).st, tlm::TLM_OK_RESPONSE);
    EXPECT_EQ(stat("walk.walks"), 4);
    EXPECT_EQ(stat("walk.reads"), 7);
    t.read(7, 0x11000);
    EXPECT_EQ(stat("walk.walks"), 5);
    EXPECT_EQ(stat("walk.reads"), 11);
    // Range form: TG 4K, NUM 1, SCALE 0 -> 2 pages from 0x11000; Leaf.
    submit(t, {cmd_tlbi_nh_va(0, 0x42, 0x11000, 1, 1, 0, true)});
    EXPECT_EQ(stat("iotlb.invalidated"), 2);
    t.read(6, 0x10000);
    t.read(6, 0x13000);
    t.read(7, 0x11000);  // other ASID untouched
    EXPECT_EQ(stat("walk.walks"), 5);
    t.read(6, 0x11000);
    EXPECT_EQ(stat("walk.walks"), 6);
    EXPECT_EQ(stat("walk.reads"), 12);  // leaf-only: the walk cache still holds the L3 table
    t.read(6, 0x12000);
    EXPECT_EQ(stat("walk.walks"), 7);
    EXPECT_EQ(stat("walk.reads"), 13);
    // Single-page form (TG 0) without Leaf: table entries for that VA go too, so a full walk.
    submit(t, {cmd_tlbi_nh_va(0, 0x42, 0x13000, 0, 0, 0, false)});
    EXPECT_EQ(stat("iotlb.invalidated"), 3);
    t.read(6, 0x10000);
    EXPECT_EQ(stat("walk.walks"), 7);
    t.read(6, 0x13000);
    EXPECT_EQ(stat("walk.walks"), 8);
    EXPECT_EQ(stat("walk.reads"), 17);
  });
  EXPECT_EQ(stat("inv.tlbi_va"), 2);
}

TEST_F(SmmuTest, TlbiNhAsidKeepsOtherAsidsAndGlobalEntries) {
  build();
  Pt pt(*mem, bump, 12, 48);
  pt.set(0x20000, s1_page(0x40200000));
  pt.set(0x21000, s1_page(0x40201000, S1_USER));  // nG = 0: global
  s1_stream(2, kCd, 1, pt.root());
  s1_stream(3, kCd + 0x40, 2, pt.root());
  run([&](Tb& t) {
    enable(t, linear_cfg(4));
    t.read(2, 0x20000);
    t.read(2, 0x21000);
    t.read(3, 0x20000);
    t.read(3, 0x21000);  // the global entry filled by ASID 1 serves ASID 2
    EXPECT_EQ(stat("walk.walks"), 3);
    EXPECT_EQ(stat("walk.reads"), 9);
    submit(t, {cmd_tlbi_nh_asid(0, 1)});
    EXPECT_EQ(stat("iotlb.invalidated"), 1);
    t.read(2, 0x21000);
    t.read(3, 0x20000);
    EXPECT_EQ(stat("walk.walks"), 3);
    t.read(2, 0x20000);
    EXPECT_EQ(stat("walk.walks"), 4);
    EXPECT_EQ(stat("walk.reads"), 13);  // the ASID's walk-cache entries went too
  });
  EXPECT_EQ(stat("inv.tlbi_asid"), 1);
}

TEST_F(SmmuTest, TlbiTakesEffectNoEarlierThanItsFetchArrives) {
  build();
  Pt pt(*mem, bump, 12, 48);
  pt.set(0x30000, s1_page(0x40300000));
  s1_stream(2, kCd, 1, pt.root());
  run([&](Tb& t) {
    enable(t, linear_cfg(4));
    t.read(2, 0x30000);
    EXPECT_EQ(stat("walk.walks"), 1);
    const sc_time t0 = ns(2000);
    t.wait_until(t0);
    push(t, {cmd_tlbi_nh_asid(0, 1)});
    const sc_time fa = t0 + ns(40) + ns(1) + ns(90);  // mmio + 16 B fetch + memory latency
    t.wait_until(fa - k1ps);
    t.read(2, 0x30000);  // the command has not been read yet: still an IOTLB hit
    EXPECT_EQ(stat("walk.walks"), 1);
    ASSERT_GE(sc_core::sc_time_stamp(), fa + ns(30));  // that DMA took longer than the TLBI's execution
    EXPECT_EQ(t.rd(R_CMDQ_CONS), 1u);
    t.read(2, 0x30000);
    EXPECT_EQ(stat("walk.walks"), 2);
  });
}

TEST_F(SmmuTest, IllegalOpcodeStopsTheQueueWithCerrorIll) {
  build();
  run([&](Tb& t) {
    enable(t, linear_cfg(4));
    const sc_time t0 = ns(1000);
    t.wait_until(t0);
    push(t, {{0x7F, 0}});
    // Visible once the 16 B fetch has arrived: mmio + 16 B at 16 GB/s + memory latency.
    const sc_time fa = t0 + ns(40) + ns(1) + ns(90);
    t.wait_until(fa - k1ps);
    EXPECT_EQ(t.rd(R_CMDQ_CONS), 0u);
    EXPECT_EQ(t.rd(R_GERROR) & 1, 0u);
    t.wait_until(fa);
    sc_core::wait(SC_ZERO_TIME);
    EXPECT_EQ(t.rd(R_CMDQ_CONS), 1u << 24);  // ERR[30:24] = CERROR_ILL, index 0
    EXPECT_EQ(t.rd(R_GERROR) & 1, 1u);       // CMDQ_ERR active (GERRORN = 0)
    sc_core::wait(ns(1000));
    EXPECT_EQ(t.rd(R_CMDQ_CONS), 1u << 24);  // stays stopped
    // Fix the command, acknowledge: the queue resumes from CONS.
    mem->write64(kCmdq, cmd_sync().first);
    mem->write64(kCmdq + 8, cmd_sync().second);
    t.wr(R_GERRORN, t.rd(R_GERROR));
    sc_core::wait(ns(1000));
    EXPECT_EQ(t.rd(R_CMDQ_CONS), 1u);  // advanced, ERR cleared
  });
  EXPECT_EQ(stat("inv.errors"), 1);
  EXPECT_EQ(stat("inv.syncs"), 1);
}

TEST_F(SmmuTest, CmdSyncOnEmptyQueueTimingBoundary) {
  build();
  mem->write64(kMsi, 0xFFFFFFFFFFFFFFFFull);
  tb->watch = &smmu->sev();
  const sc_time t0 = ns(1000);
  // mmio 40 + fetch (16 B at 16 GB/s = 1 ns, then 90 ns latency) + sync 20.
  const sc_time done = t0 + ns(40) + ns(1) + ns(90) + ns(20);
  // The MSI write is issued at `done`; the SMMU sees it complete after 4 B (0.25 ns) + 90 ns.
  const sc_time msi_done = done + ns(0.25) + ns(90);
  run([&](Tb& t) {
    enable(t, linear_cfg(4));
    t.wait_until(t0);
    push(t, {cmd_sync(/*IRQ*/ 1, kMsi, 0x600DF00D)});
    t.wait_until(done - k1ps);
    EXPECT_EQ(t.rd(R_CMDQ_CONS), 0u);
    EXPECT_EQ(mem->read64(kMsi), 0xFFFFFFFFFFFFFFFFull);
    t.wait_until(done);
    sc_core::wait(SC_ZERO_TIME);  // same time, after the SMMU's process ran
    EXPECT_EQ(t.rd(R_CMDQ_CONS), 1u);
    EXPECT_EQ(mem->read64(kMsi), 0xFFFFFFFF600DF00Dull);  // 32-bit MSIData written, upper word untouched
  });
  ASSERT_EQ(tb->watch_times.size(), 1u);
  EXPECT_EQ(tb->watch_times[0], msi_done);
  EXPECT_EQ(stat("inv.fetch_reads"), 1);
}

TEST_F(SmmuTest, CmdSyncWaitsForEarlierCommands) {
  build();
  run([&](Tb& t) {
    enable(t, linear_cfg(4));
    // Round 1: 3 TLBIs + SYNC in one 64 B fetch (4 ns).
    const sc_time t0 = ns(1000);
    t.wait_until(t0);
    push(t, {cmd_tlbi_nh_asid(0, 1), cmd_tlbi_nh_asid(0, 2), cmd_tlbi_nh_asid(0, 3), cmd_sync(1, kMsi, 1)});
    const sc_time f = t0 + ns(40) + ns(4) + ns(90);
    for (unsigned k = 1; k <= 4; ++k) {
      const sc_time at = f + ns(30) * std::min(k, 3u) + (k == 4 ? ns(20) : SC_ZERO_TIME);
      t.wait_until(at - k1ps);
      EXPECT_EQ(t.rd(R_CMDQ_CONS), k - 1) << k;
      t.wait_until(at);
      sc_core::wait(SC_ZERO_TIME);
      EXPECT_EQ(t.rd(R_CMDQ_CONS), k) << k;
    }
    // Relative to a lone SYNC (151 ns): N * tlbi_latency later, plus 3 more 16 B fetched (3 ns).
    EXPECT_EQ(sc_core::sc_time_stamp() - t0, ns(151) + ns(3 * 30) + ns(3));
    EXPECT_EQ(mem->read64(kMsi) & 0xFFFFFFFF, 1u);

    // Round 2: 6 TLBIs + SYNC: fetched 4 then 3 (second fetch after the 4th command completes).
    const sc_time t1 = ns(3000);
    t.wait_until(t1);
    std::vector<Cmd2> cmds;
    for (uint16_t a = 0; a < 6; ++a) cmds.push_back(cmd_tlbi_nh_asid(0, a));
    cmds.push_back(cmd_sync(1, kMsi, 2));
    push(t, cmds);
    const sc_time f1 = t1 + ns(40) + ns(4) + ns(90);
    const sc_time f2 = f1 + ns(4 * 30) + ns(3) + ns(90);
    t.wait_until(f2 - k1ps);
    EXPECT_EQ(t.rd(R_CMDQ_CONS), 8u);
    const sc_time end = f2 + ns(2 * 30) + ns(20);
    t.wait_until(end - k1ps);
    EXPECT_EQ(t.rd(R_CMDQ_CONS), 10u);
    EXPECT_EQ(mem->read64(kMsi) & 0xFFFFFFFF, 1u);
    t.wait_until(end);
    sc_core::wait(SC_ZERO_TIME);
    EXPECT_EQ(t.rd(R_CMDQ_CONS), 11u);
    EXPECT_EQ(mem->read64(kMsi) & 0xFFFFFFFF, 2u);
  });
  EXPECT_EQ(stat("inv.tlbi"), 9);
  EXPECT_EQ(stat("inv.fetch_reads"), 3);
}

// ---- event queue --------------------------------------------------------------------------------

TEST_F(SmmuTest, EventQueueFullCountsLostEvents) {
  build();
  put_ste_linear(5, Ste{});  // V = 0: C_BAD_STE on every access
  run([&](Tb& t) {
    enable(t, linear_cfg(4), /*evtq_log2=*/1);  // 2 records
    for (int i = 0; i < 3; ++i) EXPECT_EQ(t.read(5, 0x1000).io, IoStatus::ConfigFault);
    // Two records, then full: PROD = index 0 with wrap set, and OVFLG[31] toggled.
    EXPECT_EQ(t.rd(R_EVENTQ_PROD), 0x80000002u);
    EXPECT_EQ(stat("events.recorded"), 2);
    EXPECT_EQ(stat("events.lost"), 1);
    // The host consumes both: the next event fits again.
    t.wr(R_EVENTQ_CONS, 2);
    t.read(5, 0x2000);
    EXPECT_EQ(t.rd(R_EVENTQ_PROD), 0x80000003u);
    EXPECT_EQ(stat("events.recorded"), 3);
    EXPECT_EQ(stat("events.lost"), 1);
  });
  EXPECT_EQ(event_record(0)[0], 0x04 | (5ull << 32));
  EXPECT_EQ(event_record(1)[0], 0x04 | (5ull << 32));
}

}  // namespace
}  // namespace iommusim
