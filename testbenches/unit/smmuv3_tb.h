// SMMUv3 unit-test fixture: architectural bit layouts composed by hand (STE, CD, descriptors,
// commands), a page-table builder, the test initiator and a fixture that wires memory + SMMU.
#pragma once
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

namespace iommusim::smmu_tb {


using sc_core::sc_time;
using sc_core::SC_NS;
using sc_core::SC_PS;
using sc_core::SC_ZERO_TIME;

inline sc_time ns(double v) { return sc_time(v, SC_NS); }
inline const sc_time k1ps(1, SC_PS);

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
inline Ste ste_abort() { return Ste{{1}}; }
inline Ste ste_bypass() { return Ste{{1 | (0b100u << 1)}}; }
inline Ste ste_s1(uint64_t cd_ptr, unsigned cdmax = 0, unsigned s1dss = 0) {
  Ste s;
  s.d[0] = 1 | (0b101u << 1) | (cd_ptr & mask(51, 6)) | (uint64_t{cdmax} << 59);
  s.d[1] = s1dss;  // S1DSS[1:0]
  return s;
}
// dword2: S2VMID[15:0], S2T0SZ[37:32], S2SL0[39:38], S2TG[47:46], S2PS[50:48], S2AA64[51], S2R[58];
// dword3: S2TTB[51:4].
inline Ste ste_s2(uint16_t vmid, uint64_t ttb, unsigned t0sz, unsigned sl0) {
  Ste s;
  s.d[0] = 1 | (0b110u << 1);
  s.d[2] = vmid | (uint64_t{t0sz} << 32) | (uint64_t{sl0} << 38) | (0ull << 46) | (5ull << 48) | (1ull << 51) |
           (1ull << 58);
  s.d[3] = ttb & mask(51, 4);
  return s;
}
// CD dword0: T0SZ[5:0], TG0[7:6], EPD1[30], V[31], IPS[34:32], AA64[41], R[45], ASID[63:48];
// dword1: TTB0[51:4]; dword3: MAIR.
inline std::vector<uint64_t> cd(uint16_t asid, uint64_t ttb0, unsigned tg0 = 0, unsigned t0sz = 16) {
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
inline uint64_t s1_page(uint64_t pa, uint64_t extra = S1_USER | D_NG) { return pa | D_VALID | D_TYPE | S1_ATTR | D_AF | extra; }
inline uint64_t s2_desc(uint64_t pa, bool page, bool r, bool w) {
  return pa | D_VALID | (page ? D_TYPE : 0) | (0xFull << 2) | (r ? 1ull << 6 : 0) | (w ? 1ull << 7 : 0) |
         (3ull << 8) | D_AF;
}

// Commands: {dword0, dword1}.
using Cmd2 = std::pair<uint64_t, uint64_t>;
inline Cmd2 cmd_cfgi_ste(uint32_t sid) { return {0x03 | (uint64_t{sid} << 32), 1}; }
inline Cmd2 cmd_tlbi_nh_asid(uint16_t vmid, uint16_t asid) {
  return {0x11 | (uint64_t{vmid} << 32) | (uint64_t{asid} << 48), 0};
}
// NUM[16:12], SCALE[24:20], VMID[47:32], ASID[63:48]; dword1 Leaf[0], TTL[9:8], TG[11:10], Address[63:12].
inline Cmd2 cmd_tlbi_nh_va(uint16_t vmid, uint16_t asid, uint64_t addr, unsigned tg, unsigned num, unsigned scale,
                    bool leaf) {
  return {0x12 | (uint64_t{num} << 12) | (uint64_t{scale} << 20) | (uint64_t{vmid} << 32) | (uint64_t{asid} << 48),
          (leaf ? 1u : 0u) | (uint64_t{tg} << 10) | (addr & mask(63, 12))};
}
// CS[13:12] (0 none, 1 IRQ, 2 SEV), MSIData[63:32]; dword1 MSIAddress[51:2].
inline Cmd2 cmd_sync(unsigned cs = 0, uint64_t msi_addr = 0, uint32_t msi_data = 0) {
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

class SmmuTest : public test::IommuFixture<smmuv3::SmmuV3, smmuv3::SmmuV3Params, Tb> {
 protected:
  SmmuTest() {
    sp.mmio_latency = Time::ns(40);
    sp.cfgi_latency = Time::ns(20);
    sp.tlbi_latency = Time::ns(30);
    sp.sync_latency = Time::ns(20);
    sp.other_cmd_latency = Time::ns(10);
    sp.cmd_fetch_batch = 4;
    sp.core.tlb_latency = Time::ns(5);
    sp.core.walk_read_latency = Time::ns(0);
  }
  void build() { build_model("smmu"); }
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

  smmuv3::SmmuV3Params& sp = p;
  std::unique_ptr<smmuv3::SmmuV3>& smmu = iommu;
  uint64_t bump = kPtPool;
  uint32_t prod = 0;
};

}  // namespace iommusim::smmu_tb
