// VT-d unit-test fixture shared by the model's test files: architectural bit layouts composed by hand
// (VT-d rev 4.x registers, root/context/PASID entries, x86 paging entries, invalidation descriptors), the test
// initiator and a fixture wiring SparseMemory + VtdIommu + initiator, with helpers that build tables, enable
// the unit and drive the invalidation queue.
#pragma once
#include <gtest/gtest.h>
#include <systemc>
#include <tlm>

#include <array>
#include <cstdint>
#include <functional>
#include <memory>
#include <utility>
#include <vector>

#include "models/common/pcie_ext.h"
#include "models/iommu/vtd/vtd.h"
#include "models/memory/sparse_memory.h"
#include "testbenches/iommu_tb.h"
#include "testbenches/sim_fixture.h"

namespace iommusim::vtd_tb {

using sc_core::sc_time;
using sc_core::SC_NS;
using sc_core::SC_PS;
using sc_core::SC_ZERO_TIME;

inline sc_time ns(double v) { return sc_time(v, SC_NS); }
inline const sc_time k1ps(1, SC_PS);

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
inline uint64_t ss_page(uint64_t pa, bool w = true) { return pa | SS_R | (w ? SS_W : 0); }
inline uint64_t fs_page(uint64_t pa, bool w = true, bool user = true) {
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
inline Desc d_cc(unsigned g, uint16_t did = 0, uint16_t sid = 0) {
  return {0x1 | (uint64_t{g} << 4) | (uint64_t{did} << 16) | (uint64_t{sid} << 32), 0, 0, 0};
}
// IOTLB: G [5:4] (1 global, 2 domain, 3 page), DID [31:16]; qw1 AM [5:0], IH 6, ADDR [63:12].
inline Desc d_iotlb(unsigned g, uint16_t did = 0, uint64_t addr = 0, unsigned am = 0, bool ih = false) {
  return {0x2 | (uint64_t{g} << 4) | (uint64_t{did} << 16), (addr & ~0xFFFull) | (ih ? 1u << 6 : 0) | am, 0, 0};
}
// IEC: G bit 4 (1 index-selective), IM [31:27], IIDX [47:32].
inline Desc d_iec(bool index_sel, unsigned im, uint16_t iidx) {
  return {0x4 | (index_sel ? 1u << 4 : 0) | (uint64_t{im} << 27) | (uint64_t{iidx} << 32), 0, 0, 0};
}
// Wait: IF 4, SW 5, FN 6, status data [63:32]; qw1 status address [63:2].
inline Desc d_wait(bool sw, uint32_t data, uint64_t addr, bool intr = false) {
  return {0x5 | (intr ? 1u << 4 : 0) | (sw ? 1u << 5 : 0) | (uint64_t{data} << 32), addr, 0, 0};
}
// PASID-IOTLB: G [5:4] (2 all of a PASID, 3 page), DID [31:16], PASID [51:32]; qw1 as IOTLB.
inline Desc d_piotlb(unsigned g, uint16_t did, uint32_t pasid, uint64_t addr = 0, unsigned am = 0, bool ih = false) {
  return {0x6 | (uint64_t{g} << 4) | (uint64_t{did} << 16) | (uint64_t{pasid} << 32),
          (addr & ~0xFFFull) | (ih ? 1u << 6 : 0) | am, 0, 0};
}
// PASID-cache: G [5:4] (0 domain, 1 PASID, 3 global), DID [31:16], PASID [51:32].
inline Desc d_pc(unsigned g, uint16_t did, uint32_t pasid) {
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

class VtdTest : public test::IommuFixture<vtd::VtdIommu, vtd::VtdParams, Tb> {
 protected:
  VtdTest() {
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
  void build() { build_model("vtd"); }

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
  // P 0, DTE 2, PASIDE 3, PDTS [11:9], PASIDDIRPTR [63:12]; RID_PASID [83:64], RID_PRIV 84.
  void sm_root(unsigned bus, uint64_t lower) {
    mem->write64(kRoot + bus * 16, lower | 1);
    mem->write64(kRoot + bus * 16 + 8, 0);
  }
  void sm_ctx(uint8_t devfn, uint32_t rid_pasid, bool paside = true, bool dte = false) {
    const uint64_t a = kCtx + (devfn & 0x7Fu) * 32u;
    // PDTS 0: 128 directory entries; DTE 2.
    mem->write64(a, kPdir | (0ull << 9) | (paside ? 1u << 3 : 0) | (dte ? 1u << 2 : 0) | 1);
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

  vtd::VtdParams& vp = p;
  uint64_t bump = kPtPool;
  uint32_t tail = 0, status_seq = 0, gcmd = 0;
  bool w256 = false;
};

}  // namespace iommusim::vtd_tb
