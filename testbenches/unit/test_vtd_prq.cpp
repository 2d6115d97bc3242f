// VT-d page request queue (ECAP.PRS) against stand-in ATS devices that send PCIe Page Requests and record the
// PRG Responses they receive. Words are composed by hand at their VT-d rev 4.x/5.x positions: ECAP.PRS bit 29;
// PQH 0xC0 / PQT 0xC8 (offset [18:5]), PQA 0xD0 (base [63:12], PQS [2:0]: 2^PQS 4 KiB pages of 32-byte
// descriptors), PRS 0xDC (PPR 0, PRO 1), PECTL 0xE0 (IP 30, IM 31); scalable context entry P 0, DTE 2, PASIDE
// 3, PRE 4; page request descriptor qw0 type 01h [7:0], PP 8, RID [31:16], PASID [51:32], EXR 52, PMR 53, qw1
// RDR 0, WRR 1, LPIG 2, PRGI [11:3], address [63:12]; page group response descriptor type 09h, PP 4, RC
// [15:12], RID [31:16], PASID [51:32], qw1 PRGI [11:3]; invalidation wait PD bit 7. Expected times are worked
// out here from the fixture's memory (90 ns + 62.5 ps per byte) and the model's latencies.
#include <gtest/gtest.h>

#include <cstdint>
#include <memory>
#include <tlm_utils/simple_initiator_socket.h>

#include "models/pcie/endpoint.h"
#include "models/pcie/pri_defs.h"
#include "testbenches/ats_test_device.h"
#include "testbenches/unit/vtd_tb.h"

namespace iommusim {
namespace {

using namespace vtd_tb;

constexpr uint32_t R_PQH = 0xC0, R_PQT = 0xC8, R_PQA = 0xD0, R_PRS = 0xDC, R_PECTL = 0xE0;
constexpr uint32_t PRS_PPR = 1, PRS_PRO = 2, PECTL_IP = 1u << 30, PECTL_IM = 1u << 31;
constexpr uint64_t ECAP_PRS = 1ull << 29;
constexpr uint64_t kPrq = 0x400000;  // page request queue, PQS 0: 128 descriptors
constexpr uint16_t kRid = 0x10, kRid2 = 0x18;
constexpr uint32_t kPasid = 3;
constexpr uint64_t kVa = 0x7000000, kPa = 0x5000000;

// A page request as the device sends it (the message body is PCIe's, not VT-d's).
pri::PageRequest pr(uint64_t addr, uint16_t prg, bool last = true, bool r = true, bool w = false) {
  pri::PageRequest p;
  p.addr = addr;
  p.prg_index = prg;
  p.last = last;
  p.read = r;
  p.write = w;
  return p;
}
// Invalidation wait with PD (bit 7) and a status write.
Desc d_wait_pd(uint32_t data, uint64_t addr) { return {0x5 | (1u << 5) | (1u << 7) | (uint64_t{data} << 32), addr, 0, 0}; }
// Page group response: type 9, PP 4, RC [15:12], RID [31:16], PASID [51:32]; qw1 PRGI [11:3].
Desc d_pgr(uint16_t rid, int pasid, uint16_t prgi, uint8_t rc) {
  return {0x9 | (pasid >= 0 ? 1u << 4 : 0u) | (uint64_t{rc} << 12) | (uint64_t{rid} << 16) |
              (pasid >= 0 ? uint64_t(pasid) << 32 : 0),
          uint64_t{prgi} << 3, 0, 0};
}

// The endpoint's BAR must be bound; nothing uses it here.
struct BarHost : sc_core::sc_module {
  tlm_utils::simple_initiator_socket<BarHost> bar{"bar"};
  explicit BarHost(sc_core::sc_module_name n) : sc_core::sc_module(n) {}
};

class VtdPrqTest : public VtdTest {
 protected:
  VtdPrqTest() {
    vp.device_tlb = true;
    vp.page_requests = true;
    vp.prq_latency = Time::ns(20);
    vp.pgr_latency = Time::ns(10);
  }
  // The model with stand-in devices kRid (ats().down[0]) and kRid2 (down[1]).
  void build_devices() {
    build();
    dev = std::make_unique<test::AtsTestDevice>("dev");
    dev2 = std::make_unique<test::AtsTestDevice>("dev2");
    iommu->ats().down.bind(dev->from_iommu);
    iommu->ats().down.bind(dev2->from_iommu);
    dev->to_iommu.bind(iommu->upstream);
    dev2->to_iommu.bind(iommu->upstream);
    iommu->ats().add_device(kRid, 0);
    iommu->ats().add_device(kRid2, 1);
  }
  // Scalable context entry for devfn (256-bit): P 0, DTE 2, PASIDE 3, PRE 4, PDTS 0 (128 directory entries),
  // PASID directory at kPdir; RID_PASID 0. PASID-table entry for kPasid: first stage over a 4-level table.
  void tables(uint8_t devfn, bool pre = true) {
    const uint64_t a = kCtx + (devfn & 0x7Fu) * 32u;
    mem->write64(a, kPdir | (pre ? 1u << 4 : 0u) | (1u << 3) | (1u << 2) | 1);
    mem->write64(a + 8, 0);
    mem->write64(a + 16, 0);
    mem->write64(a + 24, 0);
    mem->write64(kPdir, kPtab | 1);
    sm_root(0, kCtx);
  }
  void first_stage(uint32_t pasid, uint16_t did) {
    auto pt = std::make_unique<X86Pt>(*mem, bump, 4, true);
    pt->set(kVa, fs_page(kPa));
    PasidE e;
    e.pgtt = 1;
    e.did = did;
    e.fsptr = pt->root();
    pasid_entry(pasid, e);
    pts.push_back(std::move(pt));
  }
  void prq_on(Tb& t, unsigned pqs = 0) {
    t.wr(R_PQH, 0, 8);
    t.wr(R_PQT, 0, 8);
    t.wr(R_PQA, kPrq | pqs, 8);
    t.wr(R_PECTL, 0);
  }
  // The descriptor in slot i of the queue.
  Desc slot(unsigned i) {
    Desc d;
    for (unsigned q = 0; q < 4; ++q) d[q] = mem->read64(kPrq + i * 32 + q * 8);
    return d;
  }
  std::unique_ptr<test::AtsTestDevice> dev, dev2;
  std::vector<std::unique_ptr<X86Pt>> pts;
};

// Cold caches: root entry (16 B), context entry (32 B), PASID directory entry (8 B), PASID-table entry (64 B),
// each 90 ns + bytes / 16 GB/s, then prq_latency and the 32-byte descriptor write.
const sc_time kCold = ns(91) + ns(92) + ns(90.5) + ns(94);
const sc_time kWrite = ns(20) + ns(92);

TEST_F(VtdPrqTest, PageRequestBecomesADescriptorAtTheTail) {
  build_devices();
  tables(kRid);
  first_stage(kPasid, 7);
  tb->watch = &iommu->prq_irq();
  const sc_time t0 = ns(1000);
  sc_time landed;
  run([&](Tb& t) {
    EXPECT_EQ(t.rd(R_ECAP, 8) & ECAP_PRS, ECAP_PRS);
    enable(t, true);
    prq_on(t);
    t.wait_until(t0);
    EXPECT_EQ(dev->send_page_request(kRid, pr(kVa + 0x123, 5, true, true, true), kPasid), tlm::TLM_OK_RESPONSE);
    landed = t0 + kCold + kWrite;
    t.wait_until(landed - k1ps);
    EXPECT_EQ(t.rd(R_PQT, 8), 0u);
    EXPECT_EQ(t.rd(R_PRS), 0u);
    t.wait_until(landed);
    sc_core::wait(SC_ZERO_TIME);
    EXPECT_EQ(t.rd(R_PQT, 8), 0x20u);
    EXPECT_EQ(t.rd(R_PRS), PRS_PPR);
    const Desc d = slot(0);
    EXPECT_EQ(d[0], 0x01ull | (1ull << 8) | (0x10ull << 16) | (3ull << 32));  // type 1, PP, RID, PASID
    EXPECT_EQ(d[1], 0x7000000ull | (5ull << 3) | 4 | 2 | 1);                   // page, PRGI 5, LPIG, WRR, RDR
    EXPECT_EQ(d[2], 0u);
    EXPECT_EQ(d[3], 0u);
    // Warm caches: a second request (privileged, execute, not last) lands prq_latency + write after it arrived.
    const sc_time t1 = ns(3000);
    t.wait_until(t1);
    dev->send_page_request(kRid, pr(0x8000, 9, false, true, false), kPasid, /*priv*/ true, /*exec*/ true);
    t.wait_until(t1 + kWrite - k1ps);
    EXPECT_EQ(t.rd(R_PQT, 8), 0x20u);
    t.wait_until(t1 + kWrite);
    sc_core::wait(SC_ZERO_TIME);
    EXPECT_EQ(t.rd(R_PQT, 8), 0x40u);
    const Desc e = slot(1);
    EXPECT_EQ(e[0], 0x01ull | (1ull << 8) | (0x10ull << 16) | (3ull << 32) | (1ull << 52) | (1ull << 53));
    EXPECT_EQ(e[1], 0x8000ull | (9ull << 3) | 1);  // not the last: LPIG clear
  });
  // One event: the second descriptor found PPR still set.
  ASSERT_EQ(tb->watch_times.size(), 1u);
  EXPECT_EQ(tb->watch_times[0], landed);
  EXPECT_EQ(stat("prq.requests"), 2);
  EXPECT_EQ(stat("prq.queued"), 2);
  EXPECT_TRUE(dev->prg_responses.empty());  // software answers queued requests, not the hardware
}

// Table 27: an accepted page request drops the IOTLB's translation of its page (first stage: page-selective
// within the PASID), so the next DMA walks again.
TEST_F(VtdPrqTest, AcceptedRequestInvalidatesItsPage) {
  build_devices();
  tables(kRid);
  first_stage(kPasid, 7);
  mem->write64(kPa, 0x1234);
  run([&](Tb& t) {
    enable(t, true);
    prq_on(t);
    EXPECT_EQ(t.read(kRid, kVa, kPasid).data, 0x1234u);
    EXPECT_EQ(t.read(kRid, kVa, kPasid).data, 0x1234u);
    EXPECT_EQ(stat("iotlb.hits"), 1);
    const double walks = stat("walk.walks");
    dev->send_page_request(kRid, pr(kVa, 0), kPasid);
    t.wait_until(sc_core::sc_time_stamp() + ns(1000));
    EXPECT_EQ(t.read(kRid, kVa, kPasid).data, 0x1234u);
    EXPECT_EQ(stat("walk.walks"), walks + 1);
    EXPECT_EQ(stat("iotlb.hits"), 1);
  });
  EXPECT_EQ(stat("prq.implicit_invalidations"), 1);
}

// A full queue (127 of 128 entries used) sets PRO and raises the event (PPR had been cleared); the dropped last
// request is answered Success by the hardware; while PRO is set requests are dropped silently (a last one still
// answered); once software consumes the queue and clears PRO, requests are written again.
TEST_F(VtdPrqTest, OverflowSetsProDropsAndAnswersLastRequestsWithSuccess) {
  build_devices();
  tables(kRid);
  first_stage(kPasid, 7);
  tb->watch = &iommu->prq_irq();
  sc_time full_at, pro_at, again_at;
  run([&](Tb& t) {
    enable(t, true);
    prq_on(t);
    t.wait_until(ns(1000));
    for (unsigned i = 0; i < 127; ++i) dev->send_page_request(kRid, pr(0x100000 + i * 0x1000, i & 0x1FF, false), kPasid);
    while (t.rd(R_PQT, 8) != 127u * 32) sc_core::wait(ns(100));
    t.wr(R_PRS, PRS_PPR);  // software serviced the event
    EXPECT_EQ(t.rd(R_PRS), 0u);
    full_at = sc_core::sc_time_stamp() + ns(100);
    t.wait_until(full_at);
    dev->send_page_request(kRid, pr(0x900000, 77), kPasid);  // last in its group: answered by the hardware
    sc_core::wait(ns(10));
    EXPECT_EQ(t.rd(R_PRS), PRS_PRO);
    EXPECT_EQ(t.rd(R_PQT, 8), 127u * 32);
    pro_at = sc_core::sc_time_stamp();
    dev->send_page_request(kRid, pr(0x901000, 78, false), kPasid);  // not last: dropped, no answer
    dev->send_page_request(kRid, pr(0, 0, true, false, false), kPasid);  // stop marker: dropped, no answer
    dev->send_page_request(kRid, pr(0x902000, 79), kPasid);           // last: answered Success
    sc_core::wait(ns(10));
    t.wr(R_PQH, 127u * 32, 8);  // software consumed everything; PRO still set: still dropped
    dev->send_page_request(kRid, pr(0x903000, 80, false), kPasid);
    sc_core::wait(ns(10));
    EXPECT_EQ(t.rd(R_PQT, 8), 127u * 32);
    t.wr(R_PRS, PRS_PRO);
    again_at = sc_core::sc_time_stamp();
    dev->send_page_request(kRid, pr(0x904000, 81, false), kPasid);
    t.wait_until(again_at + kWrite);
    sc_core::wait(SC_ZERO_TIME);
    EXPECT_EQ(t.rd(R_PQT, 8), 0u);  // slot 127 written, the tail wraps
    EXPECT_EQ(slot(127)[1], 0x904000ull | (81ull << 3) | 1);
  });
  ASSERT_EQ(dev->prg_responses.size(), 2u);
  const test::SeenPrgResponse& a = dev->prg_responses[0];
  EXPECT_EQ(a.rid, kRid);
  EXPECT_TRUE(a.pasid_valid);
  EXPECT_EQ(a.pasid, kPasid);
  EXPECT_EQ(a.prg_index, 77u);
  EXPECT_EQ(a.code, 0u);          // Success: the device retries and asks again
  EXPECT_EQ(a.arrived, full_at);  // warm caches: answered the moment it arrived
  EXPECT_EQ(dev->prg_responses[1].prg_index, 79u);
  EXPECT_EQ(dev->prg_responses[1].arrived, pro_at);
  // Events: the first descriptor (PPR), then PRO with PPR cleared; the last descriptor sets PPR again.
  ASSERT_EQ(tb->watch_times.size(), 3u);
  EXPECT_EQ(tb->watch_times[1], full_at);
  EXPECT_EQ(tb->watch_times[2], again_at + kWrite);
  EXPECT_EQ(stat("prq.overflows"), 1);
  EXPECT_EQ(stat("prq.dropped"), 5);
  EXPECT_EQ(stat("prq.auto_success"), 2);
  EXPECT_EQ(stat("prq.stop_markers"), 1);
  EXPECT_EQ(stat("prq.queued"), 128);
}

// Table 30/31: PRE clear is fault 47h, recorded as a page request ((T1, T2) = 01), and a last request is answered
// Invalid Request by the hardware; in legacy mode every page request is fault 32h.
TEST_F(VtdPrqTest, TableFaultsAreRecordedAndAnsweredInvalid) {
  build_devices();
  tables(kRid, /*pre*/ false);
  first_stage(kPasid, 7);
  run([&](Tb& t) {
    enable(t, true);
    prq_on(t);
    t.wait_until(ns(1000));
    dev->send_page_request(kRid, pr(kVa, 4, false), kPasid);  // not last: no answer
    dev->send_page_request(kRid, pr(kVa, 4, true), kPasid);
    t.wait_until(ns(3000));
    const Frcd f = frcd(t, 0);
    EXPECT_TRUE(f.f());
    EXPECT_EQ(f.fr(), 0x47u);
    EXPECT_EQ(f.sid(), kRid);
    EXPECT_TRUE(f.pp());
    EXPECT_EQ(f.pasid(), kPasid);
    EXPECT_EQ(f.fi(), kVa);
    EXPECT_TRUE((f.hi >> 28) & 1);  // T2
    EXPECT_FALSE(f.t1_read());
    EXPECT_EQ(t.rd(R_PQT, 8), 0u);
    EXPECT_EQ(t.rd(R_PRS), 0u);
    // Legacy mode.
    t.wr(R_RTADDR, kRoot, 8);
    t.wr(R_GCMD, GCMD_SRTP | gcmd);
    dev2->send_page_request(kRid2, pr(0x3000, 6), -1);
    t.wait_until(ns(4000));
    EXPECT_EQ(frcd(t, 2).fr(), 0x32u);
  });
  ASSERT_EQ(dev->prg_responses.size(), 1u);
  EXPECT_EQ(dev->prg_responses[0].code, 1u);  // Invalid Request
  EXPECT_EQ(dev->prg_responses[0].prg_index, 4u);
  ASSERT_EQ(dev2->prg_responses.size(), 1u);
  EXPECT_EQ(dev2->prg_responses[0].code, 1u);
  EXPECT_FALSE(dev2->prg_responses[0].pasid_valid);
  EXPECT_EQ(stat("prq.faults"), 3);
  EXPECT_EQ(stat("prq.auto_invalid"), 2);
  EXPECT_EQ(stat("fault_reasons.0x47"), 2);
}

// Page group responses go to the device named by RID, with the PASID when PP is set, pgr_latency after the
// descriptor was fetched; one for an unknown RID is executed without sending anything.
TEST_F(VtdPrqTest, PageGroupResponsesAreRoutedByRidAndPasid) {
  build_devices();
  tables(kRid);
  const sc_time t0 = ns(1000);
  run([&](Tb& t) {
    enable(t, true);
    t.wait_until(t0);
    // IQT write (40 ns), one fetch of two 32-byte descriptors (4 ns + 90 ns), then pgr_latency.
    push(t, {d_pgr(kRid2, 12, 0x1AB, 0x0), d_pgr(kRid, -1, 0x007, 0xF)});
    t.wait_until(ns(2000));
    submit(t, {d_pgr(0x0030, 1, 1, 0x1)});
    EXPECT_EQ(t.rd(R_FSTS), 0u);
  });
  ASSERT_EQ(dev2->prg_responses.size(), 1u);
  const test::SeenPrgResponse& a = dev2->prg_responses[0];
  EXPECT_EQ(a.rid, kRid2);
  EXPECT_TRUE(a.pasid_valid);
  EXPECT_EQ(a.pasid, 12u);
  EXPECT_EQ(a.prg_index, 0x1ABu);
  EXPECT_EQ(a.code, 0u);
  EXPECT_EQ(a.arrived, t0 + ns(40) + ns(94) + ns(10));
  ASSERT_EQ(dev->prg_responses.size(), 1u);
  const test::SeenPrgResponse& b = dev->prg_responses[0];
  EXPECT_EQ(b.rid, kRid);
  EXPECT_FALSE(b.pasid_valid);
  EXPECT_EQ(b.prg_index, 7u);
  EXPECT_EQ(b.code, 0xFu);
  EXPECT_EQ(b.arrived, a.arrived + ns(10));  // in queue order, each after its own pgr_latency
  EXPECT_EQ(stat("prq.responses"), 3);
  EXPECT_EQ(stat("prq.responses_no_device"), 1);
  EXPECT_EQ(stat("inv.commands"), 1);  // the wait only: responses are not invalidations
}

// A page group response is a 256-bit descriptor: in a 128-bit queue it is an invalid descriptor (IQE, IQEI 3).
TEST_F(VtdPrqTest, PageGroupResponseInA128BitQueueIsIqe) {
  build_devices();
  legacy_root(0, kCtx);
  run([&](Tb& t) {
    enable(t, false);
    push(t, {d_pgr(kRid, -1, 1, 0)});
    t.wait_until(ns(1000));
    EXPECT_EQ(t.rd(R_FSTS), FSTS_IQE);
    EXPECT_EQ(t.rd(R_IQERCD, 8) & 0xF, 3u);
    EXPECT_EQ(t.rd(R_IQH, 8), 0u);
  });
  EXPECT_TRUE(dev->prg_responses.empty());
}

// Invalidation wait with PD: its status write follows the descriptor writes of every page request received
// before it; without PD it does not wait for them.
TEST_F(VtdPrqTest, WaitWithPdCompletesAfterEarlierPageRequestsAreWritten) {
  vp.prq_latency = Time::ns(1000);  // long enough that a plain wait overtakes the request
  const sc_time write = ns(1000) + ns(92);
  build_devices();
  tables(kRid);
  first_stage(kPasid, 7);
  const sc_time t0 = ns(1000), t1 = ns(5000);
  uint64_t early = 99, at_pd = 99, at_plain_before = 99, at_plain = 99;
  run([&](Tb& t) {
    enable(t, true);
    prq_on(t);
    t.wait_until(t0);
    dev->send_page_request(kRid, pr(kVa, 1), kPasid);
    push(t, {d_wait_pd(1, kStatus)});
    // The wait is fetched at t0 + 40 + 92 ns; the request lands at t0 + kCold + write; wait_latency 20 ns.
    const sc_time done = t0 + kCold + write + ns(20);
    t.wait_until(done - k1ps);
    early = mem->read64(kStatus);
    t.wait_until(done);
    sc_core::wait(SC_ZERO_TIME);
    at_pd = mem->read64(kStatus);
    // Warm caches now; a plain wait right behind a page request completes before it lands.
    t.wait_until(t1);
    dev->send_page_request(kRid, pr(kVa, 2), kPasid);
    push(t, {d_wait(true, 2, kStatus)});
    const sc_time plain = t1 + ns(40) + ns(92) + ns(20);
    t.wait_until(plain - k1ps);
    at_plain_before = mem->read64(kStatus);
    t.wait_until(plain);
    sc_core::wait(SC_ZERO_TIME);
    at_plain = mem->read64(kStatus);
    EXPECT_EQ(t.rd(R_PQT, 8), 0x20u);  // the second request lands only at t1 + write
    t.wait_until(t1 + write);
    sc_core::wait(SC_ZERO_TIME);
    EXPECT_EQ(t.rd(R_PQT, 8), 0x40u);
  });
  EXPECT_EQ(early, 0u);
  EXPECT_EQ(at_pd, 1u);
  EXPECT_EQ(at_plain_before, 1u);
  EXPECT_EQ(at_plain, 2u);
  EXPECT_EQ(stat("prq.drains"), 1);
}

// PECTL.IM holds the event in IP; unmasking delivers it; servicing PPR clears IP.
TEST_F(VtdPrqTest, MaskedEventIsHeldUntilUnmasked) {
  build_devices();
  tables(kRid);
  first_stage(kPasid, 7);
  tb->watch = &iommu->prq_irq();
  sc_time unmask;
  run([&](Tb& t) {
    enable(t, true);
    prq_on(t);
    t.wr(R_PECTL, PECTL_IM);
    t.wait_until(ns(1000));
    dev->send_page_request(kRid, pr(kVa, 1), kPasid);
    t.wait_until(ns(2000));
    EXPECT_EQ(t.rd(R_PECTL), PECTL_IM | PECTL_IP);
    unmask = sc_core::sc_time_stamp();
    t.wr(R_PECTL, 0);
    EXPECT_EQ(t.rd(R_PECTL), 0u);
    t.wr(R_PECTL, PECTL_IM);
    dev->send_page_request(kRid, pr(kVa, 2), kPasid);  // PPR still set: no new event
    t.wait_until(ns(3000));
    EXPECT_EQ(t.rd(R_PECTL), PECTL_IM);
    t.wr(R_PRS, PRS_PPR);
    dev->send_page_request(kRid, pr(kVa, 3), kPasid);
    t.wait_until(ns(4000));
    EXPECT_EQ(t.rd(R_PECTL), PECTL_IM | PECTL_IP);
    t.wr(R_PRS, PRS_PPR);  // every condition serviced: IP goes
    EXPECT_EQ(t.rd(R_PECTL), PECTL_IM);
  });
  ASSERT_EQ(tb->watch_times.size(), 1u);
  EXPECT_EQ(tb->watch_times[0], unmask + ns(40));  // the register write's MMIO latency
}

// Without ECAP.PRS the registers are reserved (read zero) and PRE in a context entry is a reserved bit (42h).
TEST_F(VtdPrqTest, WithoutPrsTheRegistersReadZero) {
  vp.page_requests = false;
  build_devices();
  tables(kRid);
  first_stage(kPasid, 7);
  run([&](Tb& t) {
    EXPECT_EQ(t.rd(R_ECAP, 8) & ECAP_PRS, 0u);
    enable(t, true);
    t.wr(R_PQA, kPrq, 8);
    EXPECT_EQ(t.rd(R_PQA, 8), 0u);
    EXPECT_EQ(t.rd(R_PECTL), 0u);
    EXPECT_EQ(dev->send_page_request(kRid, pr(kVa, 1), kPasid), tlm::TLM_GENERIC_ERROR_RESPONSE);
    EXPECT_EQ(t.read(kRid, kVa, kPasid).io, IoStatus::ConfigFault);
    EXPECT_EQ(frcd(t, 0).fr(), 0x42u);
  });
}

// End to end with the endpoint model: a denied Translation Request becomes a Page Request, the test (as the
// driver) reads the descriptor, maps the page and answers with a page group response, and the device's retried
// access succeeds.
TEST_F(VtdPrqTest, EndpointPageFaultIsServicedThroughTheQueue) {
  build();
  EndpointParams ep_p;
  ep_p.ats.enabled = true;
  ep_p.pri.enabled = true;
  ep_p.pasid_bits = 20;
  Endpoint ep("ep", ep_p);
  ep.dma.bind(iommu->upstream);
  iommu->ats().down.bind(ep.from_link);
  iommu->ats().add_device(kRid, 0);
  ep.set_rid(kRid);
  BarHost host("host");
  host.bar.bind(ep.bar);
  tables(kRid);
  first_stage(kPasid, 7);
  const uint64_t va = kVa + 0x1000, pa = 0x6000000;
  std::vector<DmaRecord> recs;
  ep.set_observer([&](const DmaRecord& r) { recs.push_back(r); });
  Desc seen{};
  run([&](Tb& t) {
    enable(t, true);
    prq_on(t);
    ep.set_ats_enabled(true);
    ep.pri_enable(32);
    DmaJob j;
    j.iova = va + 0x40;
    j.count = 1;
    j.size = 64;
    j.window = 64;
    j.pasid_valid = true;
    j.pasid = kPasid;
    ep.submit(j);
    while (t.rd(R_PQT, 8) == 0) sc_core::wait(ns(100));
    seen = slot(0);
    pts[0]->set(va, fs_page(pa));  // the fault handler maps the page
    submit(t, {d_pgr(static_cast<uint16_t>((seen[0] >> 16) & 0xFFFF), static_cast<int>((seen[0] >> 32) & 0xFFFFF),
                     static_cast<uint16_t>((seen[1] >> 3) & 0x1FF), 0x0)});
    t.wr(R_PQH, 0x20, 8);
    sc_core::wait(ep.irq());
  });
  EXPECT_EQ(seen[0], 0x01ull | (1ull << 8) | (0x10ull << 16) | (3ull << 32));
  EXPECT_EQ(seen[1], va | (0ull << 3) | 4 | 1);  // PRGI 0, LPIG, RDR
  ASSERT_EQ(recs.size(), 1u);
  EXPECT_TRUE(recs[0].ok);
  EXPECT_TRUE(recs[0].translated);
  double v = 0;
  EXPECT_TRUE(ep.stats().find("pri.success", v));
  EXPECT_EQ(v, 1);
  EXPECT_EQ(stat("prq.queued"), 1);
  EXPECT_EQ(stat("prq.responses"), 1);
  EXPECT_EQ(stat("ats_translated"), 1);
  EXPECT_EQ(stat("ats_translation_requests"), 2);
}

}  // namespace
}  // namespace iommusim
