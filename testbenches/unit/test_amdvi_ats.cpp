// AMD-Vi ATS: Translation Requests, translated requests, and INVALIDATE_IOTLB_PAGES + COMPLETION_WAIT
// round trips to a stand-in device. Words are composed by hand at their AMD 48882 positions: DTE I bit 96
// (qword1 bit 32); INVALIDATE_IOTLB_PAGES opcode 4 with DeviceID word0 [15:0], PASID[15:8] word0 [23:16],
// MaxPend word0 [31:24], QueueID word1 [15:0], PASID[7:0] word1 [23:16], PASID[19:16] word1 [27:24],
// S word2 bit 0, GN word2 bit 2, address [63:12]; events: code [63:60] of qword0, TR bit 56, Type
// [59:57]; IO_PAGE_FAULT 2, IOTLB_INV_TIMEOUT 7 (address = the command's address), INVALID_DEVICE_REQUEST 8.
#include <gtest/gtest.h>

#include "testbenches/ats_test_device.h"
#include "testbenches/unit/amdvi_tb.h"

namespace iommusim {
namespace {

using namespace amd_tb;

constexpr uint64_t kDteI = 1ull << 32;  // qword1 bit 32 = DTE bit 96
constexpr uint64_t kEvTr = 1ull << 56;

Dte4 with_i(Dte4 d) {
  d.q[1] |= kDteI;
  return d;
}

Cmd2 cmd_inv_iotlb(uint16_t devid, uint8_t maxpend, uint64_t addr, bool s, int pasid = -1) {
  const uint32_t p = pasid < 0 ? 0 : static_cast<uint32_t>(pasid);
  const uint64_t q0 = devid | (uint64_t{(p >> 8) & 0xFF} << 16) | (uint64_t{maxpend} << 24) | (uint64_t{devid} << 32) |
                      (uint64_t{p & 0xFF} << 48) | (uint64_t{(p >> 16) & 0xF} << 56) | (4ull << 60);
  const uint64_t q1 = (s ? 1u : 0u) | (pasid >= 0 ? 4u : 0u) | (addr & ~0xFFFull);
  return {q0, q1};
}

class AmdViAtsTest : public AmdViTest {
 protected:
  AmdViAtsTest() { ap.iotlb_inv_latency = Time::ns(10); }
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
  // The commands have been fetched together (one read of n entries) Tail-write + fetch after t0.
  sc_time fetched(sc_time t0, unsigned n) { return t0 + ns(40) + ns(n) + ns(90); }
  std::unique_ptr<test::AtsTestDevice> dev;
};

// ---- Translation Requests -----------------------------------------------------------------------

TEST_F(AmdViAtsTest, TranslationRequestReturnsThePageAndItsPermissions) {
  build_with_device(3);
  V1 pt = v1(4);
  pt.map(0x12345000, pte(0x40007000));                   // RW
  pt.map(0x12346000, pte(0x40008000, true, false));      // read-only
  put_dte(3, with_i(dte_v1(4, pt.root, 9)));
  run([&](Tb& t) {
    enable(t);
    const double reads0 = mem_stat("reads"), bytes0 = mem_stat("bytes_read");
    DmaResult r;
    ats::Translation tr = t.ats_translate(3, 0x12345000, -1, /*nw=*/true, r);
    EXPECT_EQ(r.st, tlm::TLM_OK_RESPONSE);
    EXPECT_EQ(r.io, IoStatus::Ok);
    EXPECT_EQ(tr.addr, 0x40007000u);
    EXPECT_EQ(tr.size, 4096u);
    EXPECT_TRUE(tr.r);
    EXPECT_TRUE(tr.w);  // NW asks for no write permission; the answer still grants it
    EXPECT_FALSE(tr.u || tr.n || tr.priv || tr.exe || tr.global);
    EXPECT_EQ(r.data, 0x40007000u | 3u);  // the raw entry: address, S = 0, R, W
    // The DTE (32 B) and four table levels (8 B each) are read; the page itself is not touched.
    EXPECT_EQ(mem_stat("reads") - reads0, 5);
    EXPECT_EQ(mem_stat("bytes_read") - bytes0, 32 + 4 * 8);
    tr = t.ats_translate(3, 0x12346000, -1, false, r);
    EXPECT_EQ(tr.addr, 0x40008000u);
    EXPECT_TRUE(tr.r);
    EXPECT_FALSE(tr.w);
    // The same page again: an IOTLB hit, no table read.
    t.ats_translate(3, 0x12345000, -1, false, r);
    EXPECT_EQ(stat("iotlb.hits"), 1);
    EXPECT_EQ(stat("walk.walks"), 2);
    EXPECT_EQ(stat("ats_translation_requests"), 3);
    EXPECT_EQ(t.rd(R_EVT_TAIL), 0u);
  });
}

TEST_F(AmdViAtsTest, TranslationRequestReturnsTheLeafSize) {
  build_with_device(3);
  V1 pt = v1(4);
  pt.map(0x40000000, pte(0x80000000), 2);  // level-2 leaf, Next Level 0: 2 MiB
  // A level-1 Next Level 7 leaf of 16 KiB (address bit 12 set, bit 13 clear) in its 4 slots.
  for (uint64_t p = 0; p < 4; ++p) pt.map(0x50004000 + p * 0x1000, 0x90005000ull | (7ull << 9) | PR | IR | IW);
  put_dte(3, with_i(dte_v1(4, pt.root, 9, true, false)));  // DTE IW = 0
  run([&](Tb& t) {
    enable(t);
    DmaResult r;
    ats::Translation tr = t.ats_translate(3, 0x40123000, -1, false, r);
    EXPECT_EQ(r.st, tlm::TLM_OK_RESPONSE);
    EXPECT_EQ(tr.addr, 0x80000000u);
    EXPECT_EQ(tr.size, 2u << 20);
    EXPECT_TRUE(tr.r);
    EXPECT_FALSE(tr.w);  // narrowed by the DTE
    // S = 1, bits 12..19 set, bit 20 clear: 2 MiB at 0x8000_0000.
    EXPECT_EQ(r.data, 0x80000000u | 0xFF000u | (1u << 11) | 1u);
    tr = t.ats_translate(3, 0x50006000, -1, false, r);
    EXPECT_EQ(tr.addr, 0x90004000u);
    EXPECT_EQ(tr.size, 16u << 10);
  });
}

TEST_F(AmdViAtsTest, NotPresentPageIsAnsweredWithoutPermissionAndLogged) {
  build_with_device(3);
  V1 pt = v1(4);
  put_dte(3, with_i(dte_v1(4, pt.root, 9)));
  Dte4 quiet = with_i(dte_v1(4, pt.root, 10));
  quiet.q[1] |= 1ull << 34;  // SA: no page-fault events
  put_dte(4, quiet);
  run([&](Tb& t) {
    enable(t);
    DmaResult r;
    const ats::Translation tr = t.ats_translate(3, 0x777000, -1, false, r);
    EXPECT_EQ(r.st, tlm::TLM_OK_RESPONSE);
    EXPECT_EQ(r.io, IoStatus::Ok);
    EXPECT_FALSE(tr.r);
    EXPECT_FALSE(tr.w);
    EXPECT_EQ(t.rd(R_EVT_TAIL), 16u);
    t.ats_translate(4, 0x777000, -1, false, r);
    EXPECT_EQ(r.st, tlm::TLM_OK_RESPONSE);
    EXPECT_EQ(r.data & 3, 0u);
    EXPECT_EQ(t.rd(R_EVT_TAIL), 16u);  // suppressed
  });
  // IO_PAGE_FAULT: DeviceID 3, DomainID 9, not present, TR.
  EXPECT_EQ(event(0).first, 3 | (9ull << 32) | kEvTr | (2ull << 60));
  EXPECT_EQ(event(0).second, 0x777000u);
}

TEST_F(AmdViAtsTest, PassThroughModeAnswersIdentityWithDtePermissions) {
  build_with_device(3);
  put_dte(3, with_i(dte_v1(0, 0, 9, /*ir*/ true, /*iw*/ false)));  // V, TV, Mode 0
  run([&](Tb& t) {
    enable(t);
    DmaResult r;
    const ats::Translation tr = t.ats_translate(3, 0xABCDE000, -1, false, r);
    EXPECT_EQ(r.st, tlm::TLM_OK_RESPONSE);
    EXPECT_EQ(tr.addr, 0xABCDE000u);
    EXPECT_EQ(tr.size, 4096u);
    EXPECT_TRUE(tr.r);
    EXPECT_FALSE(tr.w);
  });
}

TEST_F(AmdViAtsTest, GuestTranslationRequestHonoursUserAndPrivilege) {
  build_with_device(9);
  // x86 4-level guest table for PASID 7: a user RW page and a supervisor RW page.
  const uint64_t pml4 = alloc(), pdpt = alloc(), pd = alloc(), ptab = alloc();
  const uint64_t va = (1ull << 39) | (2ull << 30) | (3ull << 21) | (4ull << 12);
  mem->write64(pml4 + 1 * 8, pdpt | 7);
  mem->write64(pdpt + 2 * 8, pd | 7);
  mem->write64(pd + 3 * 8, ptab | 7);
  mem->write64(ptab + 4 * 8, 0x70004000ull | 7);  // P | RW | US
  mem->write64(ptab + 5 * 8, 0x70005000ull | 3);  // P | RW, supervisor
  mem->write64(kGcr3 + 7 * 8, pml4 | 1);
  put_dte(9, with_i(dte_guest(kGcr3, 0x33)));
  run([&](Tb& t) {
    enable(t, C_GT_EN);
    DmaResult r;
    ats::Translation tr = t.ats_translate(9, va, 7, false, r);
    EXPECT_EQ(tr.addr, 0x70004000u);
    EXPECT_TRUE(tr.r && tr.w);
    EXPECT_FALSE(tr.priv);
    tr = t.ats_translate(9, va + 0x1000, 7, false, r);  // unprivileged, supervisor page
    EXPECT_EQ(r.st, tlm::TLM_OK_RESPONSE);
    EXPECT_FALSE(tr.r || tr.w);
    tr = t.ats_translate(9, va + 0x1000, 7, false, r, /*priv=*/true);
    EXPECT_EQ(tr.addr, 0x70005000u);
    EXPECT_TRUE(tr.r && tr.w && tr.priv);
    EXPECT_EQ(t.rd(R_EVT_TAIL), 0u);  // permissions are answered, not faulted
  });
}

// ---- DTE.I --------------------------------------------------------------------------------------

TEST_F(AmdViAtsTest, DteWithoutIRefusesAtsTraffic) {
  build_with_device(3);
  V1 pt = v1(4);
  pt.map(0x12345000, pte(0x40007000));
  put_dte(3, dte_v1(4, pt.root, 9));  // I = 0
  Dte4 no_tv = with_i(Dte4{});
  no_tv.q[0] = 1;  // V, TV = 0
  put_dte(5, no_tv);
  mem->write64(0x40007000, 0x5555);
  run([&](Tb& t) {
    enable(t);
    DmaResult r;
    t.ats_translate(3, 0x12345000, -1, false, r);
    EXPECT_EQ(r.st, tlm::TLM_GENERIC_ERROR_RESPONSE);  // Unsupported Request
    EXPECT_EQ(r.io, IoStatus::ConfigFault);
    r = t.translated_access(3, 0x40007000, /*write=*/true);
    EXPECT_EQ(r.st, tlm::TLM_ADDRESS_ERROR_RESPONSE);  // target abort
    EXPECT_EQ(r.io, IoStatus::Aborted);
    // V = 1, TV = 0: no tables to answer from, even with I set.
    t.ats_translate(5, 0x1000, -1, false, r);
    EXPECT_EQ(r.st, tlm::TLM_GENERIC_ERROR_RESPONSE);
    // Untranslated DMA still translates.
    EXPECT_EQ(t.read(3, 0x12345000).data, 0x5555u);
    EXPECT_EQ(t.rd(R_EVT_TAIL), 48u);
    EXPECT_EQ(stat("ats_rejected"), 3);
    EXPECT_EQ(stat("walk.walks"), 1);  // only the DMA walked
  });
  EXPECT_EQ(mem->read64(0x40007000), 0x5555u);
  // INVALID_DEVICE_REQUEST, Type 1; TR for the Translation Request.
  EXPECT_EQ(event(0).first, 3 | kEvTr | (1ull << 57) | (8ull << 60));
  EXPECT_EQ(event(0).second, 0x12345000u);
  EXPECT_EQ(event(1).first, 3 | (1ull << 57) | (8ull << 60));
  EXPECT_EQ(event(1).second, 0x40007000u);
  EXPECT_EQ(event(2).first, 5 | kEvTr | (1ull << 57) | (8ull << 60));
}

TEST_F(AmdViAtsTest, TranslatedRequestGoesToMemoryAtTheGivenAddress) {
  build_with_device(3);
  V1 pt = v1(4);  // empty: a walk would fault
  put_dte(3, with_i(dte_v1(4, pt.root, 9)));
  mem->write64(0x40007000, 0xFFFFFFFFFFFFFFFFull);
  mem->write64(0x40007008, 0x1234567887654321ull);
  run([&](Tb& t) {
    enable(t);
    DmaResult r = t.translated_access(3, 0x40007000, /*write=*/true);  // writes zero
    EXPECT_EQ(r.st, tlm::TLM_OK_RESPONSE);
    r = t.translated_access(3, 0x40007008, false);
    EXPECT_EQ(r.st, tlm::TLM_OK_RESPONSE);
    EXPECT_EQ(r.data, 0x1234567887654321ull);
    EXPECT_EQ(stat("walk.walks"), 0);
    EXPECT_EQ(stat("iotlb.hits") + stat("iotlb.misses"), 0);
    EXPECT_EQ(stat("ats_translated"), 2);
    EXPECT_EQ(t.rd(R_EVT_TAIL), 0u);
  });
  EXPECT_EQ(mem->read64(0x40007000), 0u);
}

// ---- INVALIDATE_IOTLB_PAGES + COMPLETION_WAIT ---------------------------------------------------

TEST_F(AmdViAtsTest, CompletionWaitStoresOnlyAfterTheDeviceCompletes) {
  build_with_device(3);
  const sc_time L(1500, SC_NS);
  dev->latency = L;
  mem->write64(kSem, 0);
  run([&](Tb& t) {
    enable(t);
    const sc_time t0 = ns(1000);
    t.wait_until(t0);
    // S = 1, address 0x7000_5000 (bit 12 set, bit 13 clear): 16 KiB at 0x7000_4000, PASID 0x12345.
    push(t, {cmd_inv_iotlb(3, 0, 0x70005000, true, 0x12345), cmd_wait(kSem, 0xD0E)});
    const sc_time sent = fetched(t0, 2) + ns(10);  // iotlb_inv_latency
    t.wait_until(sent);
    sc_core::wait(SC_ZERO_TIME);
    ASSERT_EQ(dev->seen.size(), 1u);
    const test::SeenInvalidation& s = dev->seen[0];
    EXPECT_EQ(s.arrived, sent);
    EXPECT_EQ(s.rid, 3u);
    EXPECT_TRUE(s.pasid_valid);
    EXPECT_EQ(s.pasid, 0x12345u);
    EXPECT_FALSE(s.global);
    EXPECT_EQ(s.range.base, 0x70004000u);
    EXPECT_EQ(s.range.size, 0x4000u);
    // The completion reaches the IOMMU at sent + L; COMPLETION_WAIT then takes its 20 ns.
    const sc_time done = sent + L + ns(20);
    t.wait_until(done - k1ps);
    EXPECT_EQ(mem->read64(kSem), 0u);
    EXPECT_EQ(t.rd(R_CMD_HEAD), 16u);  // the invalidation is done, the wait is not
    t.wait_until(done);
    sc_core::wait(SC_ZERO_TIME);
    EXPECT_EQ(mem->read64(kSem), 0xD0Eu);
    EXPECT_EQ(t.rd(R_CMD_HEAD), 32u);
    // The all-pages encoding without a PASID.
    submit(t, {cmd_inv_iotlb(3, 0, 0x7FFFFFFFFFFFF000ull, true)});
    ASSERT_EQ(dev->seen.size(), 2u);
    EXPECT_FALSE(dev->seen[1].pasid_valid);
    EXPECT_EQ(dev->seen[1].range.size, ats::kAllRange);
    EXPECT_EQ(stat("inv.iotlb_pages"), 2);
    EXPECT_EQ(stat("ats.inv_requests"), 2);
    EXPECT_EQ(stat("ats.inv_completions"), 2);
    EXPECT_EQ(t.rd(R_EVT_TAIL), 0u);
  });
}

TEST_F(AmdViAtsTest, InvalidationForADeviceWithoutAtsCompletesAtOnce) {
  build_with_device(3);
  run([&](Tb& t) {
    enable(t);
    const sc_time t0 = ns(1000);
    t.wait_until(t0);
    push(t, {cmd_inv_iotlb(0x42, 0, 0x1000, false), cmd_wait(kSem, 5)});
    const sc_time done = fetched(t0, 2) + ns(10) + ns(20);
    t.wait_until(done - k1ps);
    EXPECT_EQ(mem->read64(kSem), 0u);
    t.wait_until(done);
    sc_core::wait(SC_ZERO_TIME);
    EXPECT_EQ(mem->read64(kSem), 5u);
    EXPECT_TRUE(dev->seen.empty());
    EXPECT_EQ(stat("inv.iotlb_pages_no_device"), 1);
  });
}

TEST_F(AmdViAtsTest, SilentDeviceTimesOutAndTheWaitStillCompletes) {
  ap.ats.inv_timeout = Time::us(10);
  build_with_device(3);
  dev->answer = false;
  run([&](Tb& t) {
    enable(t);
    const sc_time t0 = ns(1000);
    t.wait_until(t0);
    push(t, {cmd_inv_dte(3), cmd_inv_iotlb(3, 0, 0x5000, false), cmd_wait(kSem, 9)});
    const sc_time sent = fetched(t0, 3) + ns(20) + ns(10);  // after INVALIDATE_DEVTAB_ENTRY's 20 ns
    const sc_time deadline = sent + sc_time(10, sc_core::SC_US);
    const sc_time done = deadline + ns(20);
    t.wait_until(deadline - k1ps);
    EXPECT_EQ(t.rd(R_EVT_TAIL), 0u);
    t.wait_until(done - k1ps);
    EXPECT_EQ(mem->read64(kSem), 0u);
    EXPECT_EQ(t.rd(R_EVT_TAIL), 16u);  // logged at the time-out
    t.wait_until(done);
    sc_core::wait(SC_ZERO_TIME);
    EXPECT_EQ(mem->read64(kSem), 9u);
    EXPECT_EQ(t.rd(R_CMD_HEAD), 48u);
    EXPECT_EQ(t.rd(R_EVT_TAIL), 16u);
    ASSERT_EQ(dev->seen.size(), 1u);
    EXPECT_EQ(dev->seen[0].arrived, sent);
    EXPECT_EQ(stat("inv.iotlb_inv_timeouts"), 1);
    EXPECT_EQ(stat("ats.inv_timeouts"), 1);
  });
  // IOTLB_INV_TIMEOUT: DeviceID 3, address of the invalidation command (the second entry).
  EXPECT_EQ(event(0).first, 3 | (7ull << 60));
  EXPECT_EQ(event(0).second, kCmd + 16);
}

TEST_F(AmdViAtsTest, MaxPendOneHoldsTheNextInvalidationUntilTheFirstCompletes) {
  build_with_device(3);
  const sc_time L(1000, SC_NS);
  dev->latency = L;
  run([&](Tb& t) {
    enable(t);
    const sc_time t0 = ns(1000);
    t.wait_until(t0);
    push(t, {cmd_inv_iotlb(3, 1, 0x1000, false), cmd_inv_iotlb(3, 1, 0x2000, false), cmd_wait(kSem, 3)});
    const sc_time first = fetched(t0, 3) + ns(10);
    const sc_time second = first + L;  // the first one's completion frees the only queue slot
    t.wait_until(second - k1ps);
    EXPECT_EQ(dev->seen.size(), 1u);
    t.wait_until(second + L + ns(20) - k1ps);
    EXPECT_EQ(mem->read64(kSem), 0u);
    t.wait_until(second + L + ns(20));
    sc_core::wait(SC_ZERO_TIME);
    ASSERT_EQ(dev->seen.size(), 2u);
    EXPECT_EQ(dev->seen[0].arrived, first);
    EXPECT_EQ(dev->seen[1].arrived, second);
    EXPECT_EQ(dev->seen[1].range.base, 0x2000u);
    EXPECT_EQ(mem->read64(kSem), 3u);
    EXPECT_EQ(stat("ats.itag_stalls"), 1);
  });
}

TEST_F(AmdViAtsTest, WithoutMaxPendLimitInvalidationsOverlap) {
  build_with_device(3);
  const sc_time L(1000, SC_NS);
  dev->latency = L;
  run([&](Tb& t) {
    enable(t);
    const sc_time t0 = ns(1000);
    t.wait_until(t0);
    push(t, {cmd_inv_iotlb(3, 0, 0x1000, false), cmd_inv_iotlb(3, 0, 0x2000, false), cmd_wait(kSem, 3)});
    const sc_time first = fetched(t0, 3) + ns(10);
    const sc_time done = first + L + ns(10) + ns(20);  // both out 10 ns apart; the wait follows the second
    t.wait_until(done - k1ps);
    EXPECT_EQ(mem->read64(kSem), 0u);
    t.wait_until(done);
    sc_core::wait(SC_ZERO_TIME);
    ASSERT_EQ(dev->seen.size(), 2u);
    EXPECT_EQ(dev->seen[1].arrived, first + ns(10));
    EXPECT_EQ(mem->read64(kSem), 3u);
    EXPECT_EQ(stat("ats.itag_stalls"), 0);
  });
}

}  // namespace
}  // namespace iommusim
