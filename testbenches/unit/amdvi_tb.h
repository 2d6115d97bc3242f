// AMD-Vi unit-test fixture shared by the model's test files: architectural bit layouts composed by hand
// (DTE, v1 entries, commands at their AMD 48882 positions), the test initiator and a fixture wiring
// SparseMemory + AmdVi + initiator, with helpers that build tables and drive the command buffer.
#pragma once
#include <gtest/gtest.h>
#include <systemc>
#include <tlm>

#include <cstdint>
#include <functional>
#include <memory>
#include <utility>
#include <vector>

#include "models/common/pcie_ext.h"
#include "models/iommu/amdvi/amdvi.h"
#include "models/memory/sparse_memory.h"
#include "testbenches/iommu_tb.h"
#include "testbenches/sim_fixture.h"

namespace iommusim::amd_tb {

using sc_core::sc_time;
using sc_core::SC_NS;
using sc_core::SC_PS;
using sc_core::SC_ZERO_TIME;

inline sc_time ns(double v) { return sc_time(v, SC_NS); }
inline const sc_time k1ps(1, SC_PS);

// ---- registers (48882 section 3.4) --------------------------------------------------------------
constexpr uint32_t R_DEVTAB = 0x0, R_CMD_BASE = 0x8, R_EVT_BASE = 0x10, R_CONTROL = 0x18, R_EFR = 0x30;
constexpr uint32_t R_CMD_HEAD = 0x2000, R_CMD_TAIL = 0x2008, R_EVT_HEAD = 0x2010, R_EVT_TAIL = 0x2018,
                   R_STATUS = 0x2020;
constexpr uint64_t C_IOMMU_EN = 1u << 0, C_EVT_LOG_EN = 1u << 2, C_EVT_INT_EN = 1u << 3, C_COMW_INT_EN = 1u << 4,
                   C_CMD_BUF_EN = 1u << 12, C_GT_EN = 1u << 16;
constexpr uint64_t S_EVT_OVERFLOW = 1, S_EVT_INT = 2, S_COMW_INT = 4, S_EVT_RUN = 8, S_CMD_RUN = 16;

// ---- memory map of the test ---------------------------------------------------------------------
constexpr uint64_t kDevtab = 0x100000;  // 2 x 4 KiB: DeviceIDs 0..255
constexpr uint64_t kCmd = 0x200000;     // 256 entries (LEN 8)
constexpr uint64_t kEvt = 0x210000;     // 256 entries (LEN 8)
constexpr uint64_t kSem = 0x220000;     // COMPLETION_WAIT store target
constexpr uint64_t kGcr3 = 0x230000;
constexpr uint64_t kPtPool = 0x1000000;

// ---- raw DTE words ------------------------------------------------------------------------------
struct Dte4 {
  uint64_t q[4] = {};
};
// qword0: V[0], TV[1], Mode[11:9], PT root[51:12], GV[55], GLX[57:56], GCR3[14:12] at [60:58], IR[61], IW[62].
// qword1: DomainID[15:0], GCR3[30:15] at [31:16], SA[34], GCR3[51:31] at [63:43].
inline Dte4 dte_v1(unsigned mode, uint64_t root, uint16_t dom, bool ir = true, bool iw = true) {
  Dte4 d;
  d.q[0] = 1 | 2 | (uint64_t{mode} << 9) | root | (ir ? 1ull << 61 : 0) | (iw ? 1ull << 62 : 0);
  d.q[1] = dom;
  return d;
}
inline Dte4 dte_guest(uint64_t gcr3, uint16_t dom, unsigned glx = 0) {
  Dte4 d = dte_v1(0, 0, dom);
  d.q[0] |= (1ull << 55) | (uint64_t{glx} << 56) | (((gcr3 >> 12) & 7) << 58);
  d.q[1] |= (((gcr3 >> 15) & 0xFFFF) << 16) | ((gcr3 >> 31) << 43);
  return d;
}

// ---- v1 entries: PR[0], Next Level[11:9], address[51:12], IR[61], IW[62] --------------------------
constexpr uint64_t PR = 1, IR = 1ull << 61, IW = 1ull << 62;
constexpr uint64_t pde(uint64_t pa, unsigned nl, bool ir = true, bool iw = true) {
  return pa | (uint64_t{nl} << 9) | PR | (ir ? IR : 0) | (iw ? IW : 0);
}
constexpr uint64_t pte(uint64_t pa, bool ir = true, bool iw = true) { return pa | PR | (ir ? IR : 0) | (iw ? IW : 0); }
// Index of va at spec level L (1..6).
constexpr uint64_t idx(uint64_t va, unsigned l) { return (va >> (12 + 9 * (l - 1))) & 511; }

// ---- commands: opcode in qword0 [63:60] ---------------------------------------------------------
using Cmd2 = std::pair<uint64_t, uint64_t>;
inline Cmd2 cmd_wait(uint64_t addr, uint64_t data, bool i = false) {
  return {1 | (i ? 2u : 0u) | (addr & 0x000FFFFFFFFFFFF8ull) | (1ull << 60), data};
}
inline Cmd2 cmd_inv_dte(uint16_t devid) { return {devid | (2ull << 60), 0}; }
// PASID[19:0], DomainID[47:32]; qword1 S[0], PDE[1], GN[2], address[63:12].
inline Cmd2 cmd_inv_pages(uint16_t dom, uint64_t addr, bool s, bool pde_bit, bool gn = false, uint32_t pasid = 0) {
  return {pasid | (uint64_t{dom} << 32) | (3ull << 60),
          (s ? 1u : 0u) | (pde_bit ? 2u : 0u) | (gn ? 4u : 0u) | (addr & ~0xFFFull)};
}

using test::DmaResult;

struct Tb : test::IommuTb<Tb> {
  explicit Tb(sc_core::sc_module_name n) : IommuTb(n, 8) {}  // AMD-Vi registers are 64-bit
  DmaResult access(uint16_t devid, uint64_t va, bool write, uint64_t wdata = 0, int pasid = -1, unsigned len = 8) {
    return dma_access(devid, va, write, wdata, false, pasid, len);
  }
  DmaResult read(uint16_t devid, uint64_t va, int pasid = -1) { return access(devid, va, false, 0, pasid); }
  DmaResult write(uint16_t devid, uint64_t va, uint64_t v) { return access(devid, va, true, v); }
};

class AmdViTest : public test::IommuFixture<amdvi::AmdVi, amdvi::AmdViParams, Tb> {
 protected:
  AmdViTest() {
    ap.mmio_latency = Time::ns(40);
    ap.devtab_inv_latency = Time::ns(20);
    ap.pages_inv_latency = Time::ns(30);
    ap.wait_latency = Time::ns(20);
    ap.cmd_fetch_batch = 4;
    ap.core.tlb_latency = Time::ns(5);
    ap.core.walk_read_latency = Time::ns(0);
  }
  void build() { build_model("iommu"); }
  void put_dte(uint16_t devid, const Dte4& d) {
    for (unsigned i = 0; i < 4; ++i) mem->write64(kDevtab + uint64_t{devid} * 32 + i * 8, d.q[i]);
  }
  uint64_t alloc() {
    const uint64_t a = bump;
    bump += 0x1000;
    return a;
  }
  // Device table of 2 x 4 KiB (Size 1), command buffer and event log of 256 entries (LEN 8 at [59:56]).
  void enable(Tb& t, uint64_t extra = 0) {
    t.wr(R_DEVTAB, kDevtab | 1);
    t.wr(R_CMD_BASE, kCmd | (8ull << 56));
    t.wr(R_EVT_BASE, kEvt | (8ull << 56));
    t.wr(R_CMD_HEAD, 0);
    t.wr(R_CMD_TAIL, 0);
    t.wr(R_EVT_HEAD, 0);
    t.wr(R_EVT_TAIL, 0);
    t.wr(R_CONTROL, C_IOMMU_EN | C_EVT_LOG_EN | C_CMD_BUF_EN | extra);
  }
  // Writes commands at the tail, then Tail; returns at once.
  void push(Tb& t, const std::vector<Cmd2>& cmds) {
    for (const auto& c : cmds) {
      mem->write64(kCmd + tail, c.first);
      mem->write64(kCmd + tail + 8, c.second);
      tail = (tail + 16) % (256 * 16);
    }
    t.wr(R_CMD_TAIL, tail);
  }
  // Pushes commands plus a COMPLETION_WAIT storing a fresh value, and polls that value.
  void submit(Tb& t, std::vector<Cmd2> cmds) {
    const uint64_t token = ++seq;
    cmds.push_back(cmd_wait(kSem, token));
    push(t, cmds);
    for (int i = 0; i < 100000 && mem->read64(kSem) != token; ++i) sc_core::wait(ns(10));
    ASSERT_EQ(mem->read64(kSem), token);
    ASSERT_EQ(t.rd(R_CMD_HEAD), tail);
  }
  std::pair<uint64_t, uint64_t> event(unsigned i) { return {mem->read64(kEvt + i * 16), mem->read64(kEvt + i * 16 + 8)}; }
  // A mode-4 v1 table mapping 4 KiB pages va -> pa, built level by level.
  struct V1 {
    AmdViTest* t;
    unsigned mode;
    uint64_t root;
    void map(uint64_t va, uint64_t leaf, unsigned leaf_level = 1) {
      uint64_t table = root;
      for (unsigned l = mode; l > leaf_level; --l) {
        const uint64_t slot = table + idx(va, l) * 8;
        uint64_t e = t->mem->read64(slot);
        if (!(e & PR)) {
          e = pde(t->alloc(), l - 1);
          t->mem->write64(slot, e);
        }
        table = e & 0x000FFFFFFFFFF000ull;
      }
      t->mem->write64(table + idx(va, leaf_level) * 8, leaf);
    }
  };
  V1 v1(unsigned mode) { return V1{this, mode, alloc()}; }

  amdvi::AmdViParams& ap = p;
  uint64_t bump = kPtPool;
  uint32_t tail = 0;
  uint64_t seq = 0;
};

}  // namespace iommusim::amd_tb
