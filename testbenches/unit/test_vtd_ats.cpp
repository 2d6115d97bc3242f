// VT-d ATS: Translation Requests, translated requests, and device-TLB invalidations + invalidation waits round
// trips to a stand-in device. Words are composed by hand at their VT-d rev 4.x positions: legacy context TT
// [3:2] (01b: device-TLB), scalable context DTE bit 2; device-TLB invalidation type 3 with MIP [20:16], SID
// [47:32], qw1 S 0 and ADDR [63:12]; PASID-based device-TLB invalidation type 8 with MIP [8:4], SID [31:16],
// PASID [51:32], qw1 G 0, S 11, ADDR [63:12]; FSTS ICE 5, ITE 6; IQERCD ITESID [47:32], ICESID [63:48]; fault
// records with T2 bit 92, AT [125:124], T1 bit 126; reasons 0Dh (TT blocks ATS) and 44h (DTE clear). Expected
// translations, ranges and times are worked out by hand from the parameters of the shared fixture.
#include <gtest/gtest.h>

#include <cstdint>
#include <memory>

#include "models/common/payload_pool.h"
#include "models/pcie/ats_defs.h"
#include "testbenches/ats_test_device.h"
#include "testbenches/unit/vtd_tb.h"

namespace iommusim {
namespace {

using namespace vtd_tb;

constexpr uint32_t FSTS_ICE = 1u << 5, FSTS_ITE = 1u << 6;
constexpr uint64_t ECAP_DT = 1ull << 2;

// Device-TLB invalidation (type 3).
Desc d_devtlb(uint16_t sid, unsigned mip, uint64_t addr, bool s) {
  return {0x3 | (uint64_t{mip} << 16) | (uint64_t{sid} << 32), (addr & ~0xFFFull) | (s ? 1u : 0u), 0, 0};
}
// PASID-based device-TLB invalidation (type 8).
Desc d_pdevtlb(uint16_t sid, uint32_t pasid, unsigned mip, uint64_t addr, bool s, bool global) {
  return {0x8 | (uint64_t{mip} << 4) | (uint64_t{sid} << 16) | (uint64_t{pasid} << 32),
          (addr & ~0xFFFull) | (s ? 1u << 11 : 0u) | (global ? 1u : 0u), 0, 0};
}

// Fault-record fields the shared Frcd leaves out: T2, AT and T1 ((T1, T2) = 01: Translation Request).
bool t2(const Frcd& f) { return (f.hi >> 28) & 1; }
unsigned at(const Frcd& f) { return static_cast<unsigned>((f.hi >> 60) & 3); }

// An Invalidate Completion (or another message) sent upstream by hand, as a device would.
tlm::tlm_response_status send_message(Tb& t, MsgKind kind, uint16_t rid, uint32_t itags) {
  tlm::tlm_generic_payload* gp = t.pool.acquire();
  uint64_t zero = 0;
  gp->set_command(tlm::TLM_WRITE_COMMAND);
  gp->set_address(0);
  gp->set_data_ptr(reinterpret_cast<unsigned char*>(&zero));
  gp->set_data_length(8);
  gp->set_streaming_width(8);
  PcieExt& x = pcie(*gp);
  x.rid = rid;
  x.msg = kind;
  x.itag_or_prg = itags;
  x.cc = 1;
  sc_time d = SC_ZERO_TIME;
  t.dma->b_transport(*gp, d);
  const tlm::tlm_response_status st = gp->get_response_status();
  gp->release();
  return st;
}

class VtdAtsTest : public VtdTest {
 protected:
  VtdAtsTest() { vp.device_tlb = true; }
  // The model with a stand-in ATS device for requester rid behind ats().down[0].
  void build_with_device(uint16_t rid) {
    build();
    dev = std::make_unique<test::AtsTestDevice>("dev");
    iommu->ats().down.bind(dev->from_iommu);
    dev->to_iommu.bind(iommu->upstream);
    iommu->ats().add_device(rid, 0);
  }
  double mem_stat(const char* path) {
    double v = -1;
    EXPECT_TRUE(mem->stats().find(path, v)) << path;
    return v;
  }
  // IQT write (40 ns) then one fetch of n descriptors of `bytes` each (16 GB/s: 16 B = 1 ns) and 90 ns.
  static sc_time fetched(sc_time t0, unsigned n, unsigned bytes = 16) { return t0 + ns(40) + ns(n * bytes / 16.0) + ns(90); }
  std::unique_ptr<test::AtsTestDevice> dev;
};

// ---- Translation Requests -----------------------------------------------------------------------

TEST_F(VtdAtsTest, LegacyTranslationRequestReturnsThePageItsRightsAndTheLeafSize) {
  build_with_device(0x10);
  X86Pt pt(*mem, bump, 4, false);
  pt.set(0x12345000, ss_page(0x40007000));                   // RW
  pt.set(0x12346000, ss_page(0x40008000, /*w*/ false));      // read-only
  pt.set(0x40000000, ss_page(0x80000000) | PS, 3);           // a 2 MiB leaf at the PDE
  legacy_root(0, kCtx);
  legacy_ctx(0x10, pt.root(), /*TT*/ 1, /*AW*/ 2, /*DID*/ 5);
  run([&](Tb& t) {
    EXPECT_EQ(t.rd(R_ECAP, 8) & ECAP_DT, ECAP_DT);
    enable(t, false);
    const double reads0 = mem_stat("reads"), bytes0 = mem_stat("bytes_read");
    DmaResult r;
    ats::Translation tr = t.ats_translate(0x10, 0x12345000, -1, /*nw*/ true, r);
    EXPECT_EQ(r.st, tlm::TLM_OK_RESPONSE);
    EXPECT_EQ(r.io, IoStatus::Ok);
    EXPECT_EQ(tr.addr, 0x40007000u);
    EXPECT_EQ(tr.size, 4096u);
    EXPECT_TRUE(tr.r);
    EXPECT_TRUE(tr.w);  // NW asks for no write right; the answer still grants it
    EXPECT_FALSE(tr.u || tr.n || tr.priv || tr.exe || tr.global);
    EXPECT_EQ(r.data, 0x40007000u | 3u);  // address, S = 0, W, R
    // Root and context entries (16 B each) and four table levels (8 B each); the page itself is not read.
    EXPECT_EQ(mem_stat("reads") - reads0, 6);
    EXPECT_EQ(mem_stat("bytes_read") - bytes0, 16 + 16 + 4 * 8);
    tr = t.ats_translate(0x10, 0x12346000, -1, false, r);
    EXPECT_EQ(tr.addr, 0x40008000u);
    EXPECT_TRUE(tr.r);
    EXPECT_FALSE(tr.w);
    EXPECT_EQ(stat("walk.reads"), 5);  // the walk cache held the page table
    // The superpage: 2 MiB, S = 1 with bits 19:12 set and bit 20 clear.
    tr = t.ats_translate(0x10, 0x40123000, -1, false, r);
    EXPECT_EQ(r.st, tlm::TLM_OK_RESPONSE);
    EXPECT_EQ(tr.addr, 0x80000000u);
    EXPECT_EQ(tr.size, 2u << 20);
    EXPECT_TRUE(tr.r && tr.w);
    EXPECT_EQ(r.data, 0x80000000u | 0xFF000u | (1u << 11) | 3u);
    // The first page again: an IOTLB hit.
    const double walks = stat("walk.walks");
    t.ats_translate(0x10, 0x12345000, -1, false, r);
    EXPECT_EQ(stat("walk.walks"), walks);
    EXPECT_EQ(stat("iotlb.hits"), 1);
    EXPECT_EQ(stat("ats_translation_requests"), 4);
    EXPECT_EQ(t.rd(R_FSTS), 0u);
  });
}

TEST_F(VtdAtsTest, UntranslatablePageIsAnsweredWithoutRightsAndNotRecorded) {
  build_with_device(0x10);
  X86Pt pt(*mem, bump, 4, false);
  pt.set(0x12345000, ss_page(0x40007000));
  legacy_root(0, kCtx);
  legacy_ctx(0x10, pt.root(), 1, 2, 5);
  run([&](Tb& t) {
    enable(t, false);
    DmaResult r;
    ats::Translation tr = t.ats_translate(0x10, 0x12347000, -1, false, r);  // not present
    EXPECT_EQ(r.st, tlm::TLM_OK_RESPONSE);
    EXPECT_EQ(r.io, IoStatus::Ok);
    EXPECT_FALSE(tr.r || tr.w);
    EXPECT_EQ(r.data, 0u);
    tr = t.ats_translate(0x10, 1ull << 48, -1, false, r);  // beyond the 48-bit AGAW
    EXPECT_EQ(r.st, tlm::TLM_OK_RESPONSE);
    EXPECT_FALSE(tr.r || tr.w);
    EXPECT_EQ(t.rd(R_FSTS), 0u);  // answered to the device, nothing recorded
    EXPECT_EQ(stat("faults"), 0);
    // The same page by DMA faults and is recorded as usual (06h).
    EXPECT_EQ(t.read(0x10, 0x12347000).io, IoStatus::TranslationFault);
    EXPECT_EQ(frcd(t, 0).fr(), 0x06u);
  });
}

TEST_F(VtdAtsTest, LegacyTtOtherThan01RefusesAtsWithFault0Dh) {
  build_with_device(0x10);
  X86Pt pt(*mem, bump, 4, false);
  pt.set(0x12345000, ss_page(0x40007000));
  mem->write64(0x40007000, 0x7777);
  legacy_root(0, kCtx);
  legacy_ctx(0x10, pt.root(), /*TT*/ 0, 2, 5);
  legacy_ctx(0x18, 0, /*TT pass-through*/ 2, 2, 9);
  run([&](Tb& t) {
    enable(t, false);
    DmaResult r;
    t.ats_translate(0x10, 0x12345000, -1, false, r);
    EXPECT_EQ(r.st, tlm::TLM_GENERIC_ERROR_RESPONSE);  // Unsupported Request
    EXPECT_EQ(r.io, IoStatus::ConfigFault);
    r = t.translated_access(0x10, 0x40007000, /*write*/ true);
    EXPECT_EQ(r.st, tlm::TLM_GENERIC_ERROR_RESPONSE);
    EXPECT_EQ(r.io, IoStatus::ConfigFault);
    t.ats_translate(0x18, 0x5000, -1, false, r);  // pass-through blocks ATS too
    EXPECT_EQ(r.st, tlm::TLM_GENERIC_ERROR_RESPONSE);
    // Untranslated DMA still translates.
    EXPECT_EQ(t.read(0x10, 0x12345000).data, 0x7777u);
    Frcd f = frcd(t, 0);
    EXPECT_EQ(f.fr(), 0x0Du);
    EXPECT_EQ(f.sid(), 0x10u);
    EXPECT_EQ(f.fi(), 0x12345000u);
    EXPECT_TRUE(t2(f));  // (T1, T2) = 01: Translation Request
    EXPECT_FALSE(f.t1_read());
    EXPECT_EQ(at(f), 1u);
    f = frcd(t, 1);
    EXPECT_EQ(f.fr(), 0x0Du);
    EXPECT_EQ(f.fi(), 0x40007000u);
    EXPECT_FALSE(t2(f));  // (T1, T2) = 00: write
    EXPECT_FALSE(f.t1_read());
    EXPECT_EQ(at(f), 2u);  // translated
    f = frcd(t, 2);
    EXPECT_EQ(f.fr(), 0x0Du);
    EXPECT_EQ(f.sid(), 0x18u);
    EXPECT_EQ(stat("ats_rejected"), 3);
    EXPECT_EQ(stat("walk.walks"), 1);  // only the DMA walked
  });
  EXPECT_EQ(mem->read64(0x40007000), 0x7777u);  // the translated write did not land
  EXPECT_EQ(stat("fault_reasons.0x0d"), 3);
}

TEST_F(VtdAtsTest, TranslatedRequestGoesToMemoryAtTheGivenAddress) {
  build_with_device(0x10);
  X86Pt pt(*mem, bump, 4, false);  // empty: a walk would fault
  legacy_root(0, kCtx);
  legacy_ctx(0x10, pt.root(), 1, 2, 5);
  mem->write64(0x40007000, 0xFFFFFFFFFFFFFFFFull);
  mem->write64(0x40007008, 0x1234567887654321ull);
  run([&](Tb& t) {
    enable(t, false);
    DmaResult r = t.translated_access(0x10, 0x40007000, /*write*/ true);  // writes zero
    EXPECT_EQ(r.st, tlm::TLM_OK_RESPONSE);
    r = t.translated_access(0x10, 0x40007008, false);
    EXPECT_EQ(r.st, tlm::TLM_OK_RESPONSE);
    EXPECT_EQ(r.data, 0x1234567887654321ull);
    EXPECT_EQ(stat("walk.walks"), 0);
    EXPECT_EQ(stat("iotlb.hits") + stat("iotlb.misses"), 0);
    EXPECT_EQ(stat("ats_translated"), 2);
    EXPECT_EQ(t.rd(R_FSTS), 0u);
  });
  EXPECT_EQ(mem->read64(0x40007000), 0u);
}

TEST_F(VtdAtsTest, WithTranslationDisabledTranslatedRequestsPassAndTranslationRequestsAreUnsupported) {
  build_with_device(0x10);
  mem->write64(0x40007008, 0x4242);
  run([&](Tb& t) {
    enable(t, false, /*te*/ false);
    DmaResult r;
    t.ats_translate(0x10, 0x40007000, -1, false, r);
    EXPECT_EQ(r.st, tlm::TLM_GENERIC_ERROR_RESPONSE);
    r = t.translated_access(0x10, 0x40007008, false);
    EXPECT_EQ(r.st, tlm::TLM_OK_RESPONSE);
    EXPECT_EQ(r.data, 0x4242u);
    EXPECT_EQ(t.rd(R_FSTS), 0u);
  });
}

TEST_F(VtdTest, WithoutEcapDtTt01IsAnInvalidContextEntry) {
  build();  // device_tlb = false
  X86Pt pt(*mem, bump, 4, false);
  pt.set(0x12345000, ss_page(0x40007000));
  legacy_root(0, kCtx);
  legacy_ctx(0x10, pt.root(), 1, 2, 5);
  run([&](Tb& t) {
    EXPECT_EQ(t.rd(R_ECAP, 8) & ECAP_DT, 0u);
    enable(t, false);
    DmaResult r;
    t.ats_translate(0x10, 0x12345000, -1, false, r);
    EXPECT_EQ(r.st, tlm::TLM_GENERIC_ERROR_RESPONSE);
    EXPECT_EQ(r.io, IoStatus::ConfigFault);
    EXPECT_EQ(t.read(0x10, 0x12345000).io, IoStatus::ConfigFault);
    EXPECT_EQ(frcd(t, 0).fr(), 0x03u);
    EXPECT_EQ(frcd(t, 1).fr(), 0x03u);
  });
}

TEST_F(VtdAtsTest, ScalableFirstStageTranslationRequestWithPasid) {
  build_with_device(0x08);
  X86Pt fs(*mem, bump, 4, true);
  fs.set(0x40000, fs_page(0x50040000) | (1ull << 8));           // user RW, global (G 8)
  fs.set(0x41000, fs_page(0x50041000, true, /*user*/ false));  // supervisor RW
  fs.set(0x42000, fs_page(0x50042000, /*w*/ false));           // user read-only
  sm_root(0, kCtx);
  sm_ctx(0x08, /*RID_PASID*/ 1, true, /*DTE*/ true);
  sm_ctx(0x09, 1, true, /*DTE*/ false);
  pasid_entry(1, {.pgtt = 4, .did = 2});
  pasid_entry(5, {.pgtt = 1, .did = 7, .fsptr = fs.root(), .sre = true});
  run([&](Tb& t) {
    enable(t, true);
    DmaResult r;
    ats::Translation tr = t.ats_translate(0x08, 0x40000, 5, false, r);
    EXPECT_EQ(r.st, tlm::TLM_OK_RESPONSE);
    EXPECT_EQ(tr.addr, 0x50040000u);
    EXPECT_EQ(tr.size, 4096u);
    EXPECT_TRUE(tr.r && tr.w && tr.global);
    EXPECT_FALSE(tr.u || tr.priv || tr.exe || tr.n);
    // A user request gets nothing from a supervisor page; a supervisor one gets it, with Priv.
    tr = t.ats_translate(0x08, 0x41000, 5, false, r);
    EXPECT_EQ(r.st, tlm::TLM_OK_RESPONSE);
    EXPECT_FALSE(tr.r || tr.w);
    tr = t.ats_translate(0x08, 0x41000, 5, false, r, /*priv*/ true);
    EXPECT_EQ(tr.addr, 0x50041000u);
    EXPECT_TRUE(tr.r && tr.w && tr.priv);
    // Read-only for the user; WPE = 0 lets a supervisor request write it.
    tr = t.ats_translate(0x08, 0x42000, 5, false, r);
    EXPECT_TRUE(tr.r);
    EXPECT_FALSE(tr.w);
    tr = t.ats_translate(0x08, 0x42000, 5, false, r, true);
    EXPECT_TRUE(tr.r && tr.w);
    // Without PASID: RID_PASID 1, pass-through: the address itself, R = W = 1.
    tr = t.ats_translate(0x08, 0x60000, -1, false, r);
    EXPECT_EQ(r.st, tlm::TLM_OK_RESPONSE);
    EXPECT_EQ(tr.addr, 0x60000u);
    EXPECT_EQ(tr.size, 4096u);
    EXPECT_TRUE(tr.r && tr.w);
    EXPECT_EQ(t.rd(R_FSTS), 0u);
    // DTE clear: Unsupported Request, fault 44h with the PASID.
    t.ats_translate(0x09, 0x40000, 5, false, r);
    EXPECT_EQ(r.st, tlm::TLM_GENERIC_ERROR_RESPONSE);
    EXPECT_EQ(r.io, IoStatus::ConfigFault);
    const Frcd f = frcd(t, 0);
    EXPECT_EQ(f.fr(), 0x44u);
    EXPECT_EQ(f.sid(), 0x09u);
    EXPECT_TRUE(f.pp());
    EXPECT_EQ(f.pasid(), 5u);
    EXPECT_TRUE(t2(f));
  });
  EXPECT_EQ(stat("walk.walks"), 3);  // one per page: the second request of a page hits, only its rights differ
}

// ---- device-TLB invalidation and the invalidation wait ------------------------------------------

TEST_F(VtdAtsTest, WaitWritesItsStatusOnlyAfterTheDeviceCompletes) {
  build_with_device(0x10);
  const sc_time L(1500, SC_NS);
  dev->latency = L;
  run([&](Tb& t) {
    enable(t, false);
    const sc_time t0 = ns(1000);
    t.wait_until(t0);
    // S = 1, address 0x7000_5000 (bit 12 set, bit 13 clear): 16 KiB at 0x7000_4000.
    push(t, {d_devtlb(0x10, 0, 0x70005000, true), d_wait(true, 0xD0E, kStatus)});
    const sc_time sent = fetched(t0, 2) + ns(10);  // devtlb_inv_latency
    t.wait_until(sent);
    sc_core::wait(SC_ZERO_TIME);
    ASSERT_EQ(dev->seen.size(), 1u);
    const test::SeenInvalidation& s = dev->seen[0];
    EXPECT_EQ(s.arrived, sent);
    EXPECT_EQ(s.rid, 0x10u);
    EXPECT_FALSE(s.pasid_valid);
    EXPECT_FALSE(s.global);
    EXPECT_EQ(s.range.base, 0x70004000u);
    EXPECT_EQ(s.range.size, 0x4000u);
    // The completion arrives at sent + L; the wait then takes its 20 ns.
    const sc_time done = sent + L + ns(20);
    t.wait_until(done - k1ps);
    EXPECT_EQ(mem->read64(kStatus), 0u);
    EXPECT_EQ(t.rd(R_IQH, 8), 0x10u);  // the device-TLB descriptor is done, the wait is not
    t.wait_until(done);
    sc_core::wait(SC_ZERO_TIME);
    EXPECT_EQ(mem->read64(kStatus), 0xD0Eu);
    EXPECT_EQ(t.rd(R_IQH, 8), 0x20u);
    // The whole-space encoding (bits 62:12 set, S).
    submit(t, {d_devtlb(0x10, 0, 0x7FFFFFFFFFFFF000ull, true)});
    ASSERT_EQ(dev->seen.size(), 2u);
    EXPECT_EQ(dev->seen[1].range.size, ats::kAllRange);
    EXPECT_EQ(t.rd(R_FSTS), 0u);
  });
  EXPECT_EQ(stat("inv.dev_tlb"), 2);
  EXPECT_EQ(stat("ats.inv_requests"), 2);
  EXPECT_EQ(stat("ats.inv_completions"), 2);
}

TEST_F(VtdAtsTest, PasidBasedDeviceTlbInvalidationCarriesPasidAndGlobal) {
  build_with_device(0x08);
  const sc_time L(800, SC_NS);
  dev->latency = L;
  run([&](Tb& t) {
    enable(t, true);  // 256-bit descriptors
    const sc_time t0 = ns(1000);
    t.wait_until(t0);
    // S = 1, address 0x2F_F000 (bits 19:12 set, bit 20 clear): 2 MiB at 0x20_0000.
    push(t, {d_pdevtlb(0x08, 0x12345, 0, 0x2FF000, true, /*global*/ true), d_wait(true, 0xAB, kStatus)});
    const sc_time sent = fetched(t0, 2, 32) + ns(10);
    const sc_time done = sent + L + ns(20);
    t.wait_until(done - k1ps);
    EXPECT_EQ(mem->read64(kStatus), 0u);
    t.wait_until(done);
    sc_core::wait(SC_ZERO_TIME);
    EXPECT_EQ(mem->read64(kStatus), 0xABu);
    ASSERT_EQ(dev->seen.size(), 1u);
    const test::SeenInvalidation& s = dev->seen[0];
    EXPECT_EQ(s.arrived, sent);
    EXPECT_EQ(s.rid, 0x08u);
    EXPECT_TRUE(s.pasid_valid);
    EXPECT_EQ(s.pasid, 0x12345u);
    EXPECT_TRUE(s.global);
    EXPECT_EQ(s.range.base, 0x200000u);
    EXPECT_EQ(s.range.size, 0x200000u);
  });
}

TEST_F(VtdAtsTest, InvalidationForASourceIdWithoutAtsDeviceCompletesAtOnce) {
  build_with_device(0x10);
  run([&](Tb& t) {
    enable(t, false);
    const sc_time t0 = ns(1000);
    t.wait_until(t0);
    push(t, {d_devtlb(0x42, 0, 0x1000, false), d_wait(true, 5, kStatus)});
    const sc_time done = fetched(t0, 2) + ns(10) + ns(20);
    t.wait_until(done - k1ps);
    EXPECT_EQ(mem->read64(kStatus), 0u);
    t.wait_until(done);
    sc_core::wait(SC_ZERO_TIME);
    EXPECT_EQ(mem->read64(kStatus), 5u);
    EXPECT_TRUE(dev->seen.empty());
  });
  EXPECT_EQ(stat("inv.dev_tlb_no_device"), 1);
}

TEST_F(VtdAtsTest, SilentDeviceTimesOutWithIteAndTheQueueStopsAtTheWait) {
  vp.ats.inv_timeout = Time::us(10);
  build_with_device(0x10);
  dev->answer = false;
  tb->watch = &iommu->fault_irq();
  const sc_time t0 = ns(1000);
  const sc_time sent = fetched(t0, 2) + ns(10);
  const sc_time deadline = sent + sc_time(10, sc_core::SC_US);
  run([&](Tb& t) {
    enable(t, false);
    t.wr(R_IECTL, 0);
    t.wait_until(t0);
    push(t, {d_devtlb(0x10, 0, 0x5000, false), d_wait(true, 9, kStatus, /*IF*/ true)});
    t.wait_until(deadline - k1ps);
    EXPECT_EQ(t.rd(R_FSTS), 0u);
    EXPECT_EQ(t.rd(R_IQH, 8), 0x10u);
    t.wait_until(deadline);
    sc_core::wait(SC_ZERO_TIME);
    EXPECT_EQ(t.rd(R_FSTS), FSTS_ITE);
    EXPECT_EQ((t.rd(R_IQERCD, 8) >> 32) & 0xFFFF, 0x10u);  // ITESID
    EXPECT_EQ(t.rd(R_IQH, 8), 0x10u);                       // on the aborted wait
    // The queue stays stopped: no status write, no IWC, a new descriptor is not fetched.
    push(t, {d_wait(true, 10, kStatus)});
    sc_core::wait(ns(5000));
    EXPECT_EQ(mem->read64(kStatus), 0u);
    EXPECT_EQ(t.rd(R_ICS), 0u);
    EXPECT_EQ(t.rd(R_IQH, 8), 0x10u);
    // Clearing ITE restarts the queue at IQH: the old wait (nothing outstanding now), then the new one.
    const sc_time t1 = sc_core::sc_time_stamp();
    t.wr(R_FSTS, FSTS_ITE);
    const sc_time first = fetched(t1, 2) + ns(20);
    t.wait_until(first - k1ps);
    EXPECT_EQ(mem->read64(kStatus), 0u);
    t.wait_until(first);
    sc_core::wait(SC_ZERO_TIME);
    EXPECT_EQ(mem->read64(kStatus), 9u);
    EXPECT_EQ(t.rd(R_ICS), 1u);
    t.wait_until(first + ns(20));
    sc_core::wait(SC_ZERO_TIME);
    EXPECT_EQ(mem->read64(kStatus), 10u);
    EXPECT_EQ(t.rd(R_IQH, 8), 0x30u);
    EXPECT_EQ(t.rd(R_FSTS), 0u);
    ASSERT_EQ(dev->seen.size(), 1u);
    EXPECT_EQ(dev->seen[0].arrived, sent);
  });
  ASSERT_EQ(tb->watch_times.size(), 1u);
  EXPECT_EQ(tb->watch_times[0], deadline);
  EXPECT_EQ(stat("inv.ite"), 1);
  EXPECT_EQ(stat("ats.inv_timeouts"), 1);
  EXPECT_EQ(stat("inv.waits"), 2);  // the aborted wait counted once, when it ran
}

TEST_F(VtdAtsTest, MipOneHoldsTheSecondInvalidationUntilTheFirstCompletes) {
  build_with_device(0x10);
  const sc_time L(1000, SC_NS);
  dev->latency = L;
  run([&](Tb& t) {
    enable(t, false);
    const sc_time t0 = ns(1000);
    t.wait_until(t0);
    push(t, {d_devtlb(0x10, 1, 0x1000, false), d_devtlb(0x10, 1, 0x2000, false), d_wait(true, 3, kStatus)});
    const sc_time first = fetched(t0, 3) + ns(10);
    const sc_time second = first + L;  // the first one's completion frees the only queue slot
    t.wait_until(second - k1ps);
    EXPECT_EQ(dev->seen.size(), 1u);
    EXPECT_EQ(t.rd(R_IQH, 8), 0x10u);  // the queue waits on the second descriptor
    const sc_time done = second + L + ns(20);
    t.wait_until(done - k1ps);
    EXPECT_EQ(mem->read64(kStatus), 0u);
    t.wait_until(done);
    sc_core::wait(SC_ZERO_TIME);
    ASSERT_EQ(dev->seen.size(), 2u);
    EXPECT_EQ(dev->seen[0].arrived, first);
    EXPECT_EQ(dev->seen[1].arrived, second);
    EXPECT_EQ(dev->seen[1].range.base, 0x2000u);
    EXPECT_EQ(mem->read64(kStatus), 3u);
  });
  EXPECT_EQ(stat("ats.itag_stalls"), 1);
}

TEST_F(VtdAtsTest, UnexpectedCompletionIsIceAndTheQueueGoesOn) {
  build_with_device(0x10);
  tb->watch = &iommu->fault_irq();
  run([&](Tb& t) {
    enable(t, false);
    t.wait_until(ns(1000));
    EXPECT_EQ(send_message(t, MsgKind::AtsInvCompletion, 0x33, 1), tlm::TLM_OK_RESPONSE);  // unknown device
    EXPECT_EQ(t.rd(R_FSTS), FSTS_ICE);
    EXPECT_EQ(t.rd(R_IQERCD, 8) >> 48, 0x33u);  // ICESID
    // An ITag the device has no invalidation for: ICE stays set, the first ICESID is kept.
    send_message(t, MsgKind::AtsInvCompletion, 0x10, 1u << 5);
    EXPECT_EQ(t.rd(R_IQERCD, 8) >> 48, 0x33u);
    submit(t, {d_devtlb(0x10, 0, 0x1000, false)});  // the queue is not stopped by ICE
    EXPECT_EQ(dev->seen.size(), 1u);
    t.wr(R_FSTS, FSTS_ICE);
    EXPECT_EQ(t.rd(R_FSTS), 0u);
    // Page requests are not handled yet.
    EXPECT_EQ(send_message(t, MsgKind::PageRequest, 0x10, 0), tlm::TLM_GENERIC_ERROR_RESPONSE);
  });
  EXPECT_EQ(tb->watch_times.size(), 1u);
  EXPECT_EQ(stat("inv.ice"), 2);
}

}  // namespace
}  // namespace iommusim
