// SMMUv3 PRI queue (IDR0.PRI) against a stand-in device that sends PCIe Page Requests and records the PRG
// Responses it receives, and end to end with the endpoint model. Words are composed by hand at their Arm IHI
// 0070 positions: IDR0.PRI bit 16, IDR1.PRIQS [15:11], IDR3.PPS bit 5; CR0.PRIQEN bit 1; PRIQ_BASE 0xC0 (ADDR
// [51:5], LOG2SIZE [4:0]), PRIQ_PROD 0x100C8 / PRIQ_CONS 0x100CC (index, wrap bit, OVFLG / OVACKFLG bit 31);
// PRI queue entry dword0 StreamID [31:0], SubstreamID [51:32], Priv 58, Exec 59, Read 60, Write 61, Last 62,
// SSV 63, dword1 PRGIndex [8:0], page address [63:12]; CMD_PRI_RESP 0x41 with SSV 11, SubstreamID [31:12],
// StreamID [63:32], dword1 PRGIndex [8:0], Resp [13:12]; CMDQ_CONS.ERR [30:24] (CERROR_ILL 1). Expected times
// come from the fixture's memory (90 ns + 62.5 ps per byte) and the SMMU's latencies.
#include <gtest/gtest.h>
#include <tlm_utils/simple_initiator_socket.h>

#include <memory>

#include "models/pcie/endpoint.h"
#include "models/pcie/pri_defs.h"
#include "testbenches/ats_test_device.h"
#include "testbenches/unit/smmuv3_tb.h"

namespace iommusim {
namespace {

using namespace smmu_tb;

constexpr uint32_t R_IDR0 = 0x0, R_IDR1 = 0x4, R_IDR3 = 0xC, R_PRIQ_BASE = 0xC0, R_PRIQ_PROD = 0x100C8,
                   R_PRIQ_CONS = 0x100CC;
constexpr uint32_t CR0_PRIQEN = 1u << 1, OVFLG = 1u << 31;
constexpr uint64_t kPriq = 0x230000;
constexpr uint16_t kSid = 3;
constexpr uint64_t kEats = 1ull << 28;

pri::PageRequest pr(uint64_t addr, uint16_t prg, bool last = true, bool r = true, bool w = false) {
  pri::PageRequest p;
  p.addr = addr;
  p.prg_index = prg;
  p.last = last;
  p.read = r;
  p.write = w;
  return p;
}
Cmd2 cmd_pri_resp(uint32_t sid, int ssid, uint16_t prg, unsigned resp) {
  uint64_t d0 = 0x41 | (uint64_t{sid} << 32);
  if (ssid >= 0) d0 |= (1ull << 11) | (uint64_t(ssid) << 12);
  return {d0, uint64_t{prg} | (uint64_t{resp} << 12)};
}

struct BarHost : sc_core::sc_module {
  tlm_utils::simple_initiator_socket<BarHost> bar{"bar"};
  explicit BarHost(sc_core::sc_module_name n) : sc_core::sc_module(n) {}
};

class SmmuPriTest : public SmmuTest {
 protected:
  SmmuPriTest() {
    sp.ats = true;
    sp.pri = true;
    sp.priq_latency = Time::ns(20);
  }
  void build_with_device() {
    build();
    dev = std::make_unique<test::AtsTestDevice>("dev");
    smmu->ats().down.bind(dev->from_iommu);
    dev->to_iommu.bind(smmu->upstream);
    smmu->ats().add_device(kSid, 0);
  }
  void priq_on(Tb& t, unsigned log2) {
    t.wr(R_PRIQ_BASE, kPriq | log2, 8);
    t.wr(R_PRIQ_PROD, 0);
    t.wr(R_PRIQ_CONS, 0);
    t.wr(R_CR0, CR0_SMMUEN | CR0_EVTQEN | CR0_CMDQEN | CR0_PRIQEN);
  }
  std::pair<uint64_t, uint64_t> entry(unsigned i) { return {mem->read64(kPriq + i * 16), mem->read64(kPriq + i * 16 + 8)}; }
  std::unique_ptr<test::AtsTestDevice> dev;
};

// The entry write: priq_latency, then 16 bytes (1 ns + 90 ns).
const sc_time kWrite = ns(20) + ns(91);

TEST_F(SmmuPriTest, PageRequestsBecomeEntriesAtProd) {
  build_with_device();
  tb->watch = &smmu->priq_irq();
  const sc_time t0 = ns(1000), t1 = ns(2000), t2 = ns(3000);
  run([&](Tb& t) {
    EXPECT_EQ(t.rd(R_IDR0) & (1u << 16), 1u << 16);
    EXPECT_EQ((t.rd(R_IDR1) >> 11) & 0x1F, 19u);
    EXPECT_EQ(t.rd(R_IDR3) & (1u << 5), 1u << 5);
    enable(t, linear_cfg(4));
    priq_on(t, 3);
    t.wait_until(t0);
    dev->send_page_request(kSid, pr(0x12345000, 0x1A5, true, true, true), 5, /*priv*/ true);
    t.wait_until(t0 + kWrite - k1ps);
    EXPECT_EQ(t.rd(R_PRIQ_PROD), 0u);
    t.wait_until(t0 + kWrite);
    sc_core::wait(SC_ZERO_TIME);
    EXPECT_EQ(t.rd(R_PRIQ_PROD), 1u);
    t.wait_until(t1);
    dev->send_page_request(kSid, pr(0x7000, 0x002, false), -1, /*priv*/ true);  // no PASID: no Priv
    t.wait_until(t2);
    dev->send_page_request(kSid, pr(0, 0, true, false, false), 5);  // a stop marker: queued, never answered
    t.wait_until(ns(4000));
    EXPECT_EQ(t.rd(R_PRIQ_PROD), 3u);
  });
  auto e = entry(0);
  EXPECT_EQ(e.first, 3ull | (5ull << 32) | (1ull << 58) | (1ull << 60) | (1ull << 61) | (1ull << 62) | (1ull << 63));
  EXPECT_EQ(e.second, 0x12345000ull | 0x1A5);
  e = entry(1);
  EXPECT_EQ(e.first, 3ull | (1ull << 60));
  EXPECT_EQ(e.second, 0x7000ull | 0x2);
  e = entry(2);
  EXPECT_EQ(e.first, 3ull | (5ull << 32) | (1ull << 62) | (1ull << 63));
  EXPECT_EQ(e.second, 0u);
  ASSERT_EQ(tb->watch_times.size(), 3u);
  EXPECT_EQ(tb->watch_times[0], t0 + kWrite);
  EXPECT_TRUE(dev->prg_responses.empty());
  EXPECT_EQ(stat("priq.queued"), 3);
  EXPECT_EQ(stat("priq.stop_markers"), 1);
}

// 8.1: with the queue full, a page request toggles PROD.OVFLG; while the overflow is unacknowledged every
// request is discarded and last ones are answered Success (the request's PASID, IDR3.PPS = 1); writing
// CONS.OVACKFLG to match ends it.
TEST_F(SmmuPriTest, OverflowDiscardsAndAnswersLastRequestsWithSuccess) {
  build_with_device();
  sc_time over, during, again;
  run([&](Tb& t) {
    enable(t, linear_cfg(4));
    priq_on(t, 1);  // two entries
    t.wait_until(ns(1000));
    dev->send_page_request(kSid, pr(0x1000, 1, false), 5);
    dev->send_page_request(kSid, pr(0x2000, 1, false), 5);
    t.wait_until(ns(2000));
    EXPECT_EQ(t.rd(R_PRIQ_PROD), 2u);  // index 0 with the wrap bit: full
    over = sc_core::sc_time_stamp();
    dev->send_page_request(kSid, pr(0x3000, 9), 5);  // its overflow: answered Success with PASID 5
    sc_core::wait(ns(10));
    EXPECT_EQ(t.rd(R_PRIQ_PROD), OVFLG | 2u);
    t.wr(R_PRIQ_CONS, 2);  // software consumed both, but did not acknowledge: still overflowing
    during = sc_core::sc_time_stamp();
    dev->send_page_request(kSid, pr(0x4000, 10), -1);               // Success, no PASID
    dev->send_page_request(kSid, pr(0x5000, 11, false), 5);         // not last: silently ignored
    dev->send_page_request(kSid, pr(0, 0, true, false, false), 5);  // stop marker: no response
    sc_core::wait(ns(10));
    EXPECT_EQ(t.rd(R_PRIQ_PROD), OVFLG | 2u);
    t.wr(R_PRIQ_CONS, OVFLG | 2u);  // acknowledged
    again = sc_core::sc_time_stamp();
    dev->send_page_request(kSid, pr(0x6000, 12, false), 5);
    t.wait_until(again + kWrite);
    sc_core::wait(SC_ZERO_TIME);
    EXPECT_EQ(t.rd(R_PRIQ_PROD), OVFLG | 3u);
  });
  ASSERT_EQ(dev->prg_responses.size(), 2u);
  const test::SeenPrgResponse& a = dev->prg_responses[0];
  EXPECT_EQ(a.rid, kSid);
  EXPECT_TRUE(a.pasid_valid);
  EXPECT_EQ(a.pasid, 5u);
  EXPECT_EQ(a.prg_index, 9u);
  EXPECT_EQ(a.code, 0u);
  EXPECT_EQ(a.arrived, over);
  const test::SeenPrgResponse& b = dev->prg_responses[1];
  EXPECT_FALSE(b.pasid_valid);
  EXPECT_EQ(b.prg_index, 10u);
  EXPECT_EQ(b.code, 0u);
  EXPECT_EQ(b.arrived, during);
  EXPECT_EQ(entry(0).second, 0x6000ull | 12);
  EXPECT_EQ(stat("priq.overflows"), 1);
  EXPECT_EQ(stat("priq.dropped"), 4);
  EXPECT_EQ(stat("priq.auto_success"), 2);
}

// 8.2: with PRIQEN clear every last request is answered Response Failure, without a PASID.
TEST_F(SmmuPriTest, DisabledQueueAnswersResponseFailure) {
  build_with_device();
  run([&](Tb& t) {
    enable(t, linear_cfg(4));  // PRIQEN clear
    t.wait_until(ns(1000));
    dev->send_page_request(kSid, pr(0x1000, 4), 5);
    dev->send_page_request(kSid, pr(0x2000, 5, false), 5);
    t.wait_until(ns(2000));
  });
  ASSERT_EQ(dev->prg_responses.size(), 1u);
  EXPECT_EQ(dev->prg_responses[0].code, 0xFu);
  EXPECT_FALSE(dev->prg_responses[0].pasid_valid);
  EXPECT_EQ(dev->prg_responses[0].prg_index, 4u);
  EXPECT_EQ(stat("priq.auto_failure"), 1);
  EXPECT_EQ(stat("priq.queued"), 0);
}

// CMD_PRI_RESP: Resp 0b10 Success, 0b01 Invalid Request, 0b00 Response Failure, a PASID only with SSV; each
// other_cmd_latency after the fetch; Resp 0b11 is ILLEGAL.
TEST_F(SmmuPriTest, PriRespSendsThePrgResponse) {
  build_with_device();
  const sc_time t0 = ns(1000);
  uint32_t err = 99;
  run([&](Tb& t) {
    enable(t, linear_cfg(4));
    t.wait_until(t0);
    push(t, {cmd_pri_resp(kSid, 7, 0x155, 2), cmd_pri_resp(kSid, -1, 0x002, 1), cmd_pri_resp(kSid, -1, 0x003, 0)});
    t.wait_until(ns(2000));
    push(t, {cmd_pri_resp(kSid, -1, 0x004, 3)});
    t.wait_until(ns(3000));
    err = (t.rd(R_CMDQ_CONS) >> 24) & 0x7F;
  });
  EXPECT_EQ(err, 1u);  // CERROR_ILL
  ASSERT_EQ(dev->prg_responses.size(), 3u);
  // PROD write (40 ns), a fetch of three 16-byte commands (3 ns + 90 ns), 10 ns each.
  const sc_time first = t0 + ns(40) + ns(93) + ns(10);
  EXPECT_EQ(dev->prg_responses[0].code, 0x0u);
  EXPECT_TRUE(dev->prg_responses[0].pasid_valid);
  EXPECT_EQ(dev->prg_responses[0].pasid, 7u);
  EXPECT_EQ(dev->prg_responses[0].prg_index, 0x155u);
  EXPECT_EQ(dev->prg_responses[0].arrived, first);
  EXPECT_EQ(dev->prg_responses[1].code, 0x1u);
  EXPECT_FALSE(dev->prg_responses[1].pasid_valid);
  EXPECT_EQ(dev->prg_responses[1].arrived, first + ns(10));
  EXPECT_EQ(dev->prg_responses[2].code, 0xFu);
  EXPECT_EQ(dev->prg_responses[2].prg_index, 3u);
  EXPECT_EQ(stat("priq.responses"), 3);
}

TEST_F(SmmuPriTest, WithoutPriPageRequestsAreRefusedAndPriRespIgnored) {
  sp.pri = false;
  build_with_device();
  run([&](Tb& t) {
    EXPECT_EQ(t.rd(R_IDR0) & (1u << 16), 0u);
    enable(t, linear_cfg(4));
    t.wr(R_PRIQ_BASE, kPriq | 3, 8);
    EXPECT_EQ(t.rd(R_PRIQ_BASE, 8), 0u);  // RES0
    EXPECT_EQ(dev->send_page_request(kSid, pr(0x1000, 1), 5), tlm::TLM_GENERIC_ERROR_RESPONSE);
    submit(t, {cmd_pri_resp(kSid, -1, 1, 3)});  // not even checked: accepted and ignored, as before
  });
  EXPECT_TRUE(dev->prg_responses.empty());
}

// End to end: the endpoint's denied Translation Request becomes a PRI queue entry; the test (as the driver)
// maps the page and answers CMD_PRI_RESP Success; the retried access succeeds.
TEST_F(SmmuPriTest, EndpointPageFaultIsServicedThroughThePriQueue) {
  build();
  EndpointParams ep_p;
  ep_p.ats.enabled = true;
  ep_p.pri.enabled = true;
  Endpoint ep("ep", ep_p);
  ep.dma.bind(smmu->upstream);
  smmu->ats().down.bind(ep.from_link);
  smmu->ats().add_device(kSid, 0);
  ep.set_rid(kSid);
  BarHost host("host");
  host.bar.bind(ep.bar);
  Pt pt(*mem, bump, 12, 48);
  pt.set(0x10000000, s1_page(0x40001000));
  Ste s = ste_s1(kCd + kSid * 64);
  s.d[1] |= kEats;
  put_ste_linear(kSid, s);
  put_cd(kCd + kSid * 64, cd(0x13, pt.root()));
  std::vector<DmaRecord> recs;
  ep.set_observer([&](const DmaRecord& r) { recs.push_back(r); });
  std::pair<uint64_t, uint64_t> seen;
  run([&](Tb& t) {
    enable(t, linear_cfg(4));
    priq_on(t, 3);
    ep.set_ats_enabled(true);
    ep.pri_enable(8);
    DmaJob j;
    j.iova = 0x10001040;  // the page after the mapped one
    j.count = 1;
    j.size = 64;
    j.window = 64;
    ep.submit(j);
    while (t.rd(R_PRIQ_PROD) == 0) sc_core::wait(ns(100));
    seen = entry(0);
    pt.set(0x10001000, s1_page(0x40002000));
    submit(t, {cmd_pri_resp(static_cast<uint32_t>(seen.first & 0xFFFFFFFF), -1, static_cast<uint16_t>(seen.second & 0x1FF), 2)});
    t.wr(R_PRIQ_CONS, 1);
    sc_core::wait(ep.irq());
  });
  EXPECT_EQ(seen.first, uint64_t{kSid} | (1ull << 60) | (1ull << 62));  // Read, Last, no SSV
  EXPECT_EQ(seen.second, 0x10001000ull);                                 // PRGIndex 0
  ASSERT_EQ(recs.size(), 1u);
  EXPECT_TRUE(recs[0].ok);
  EXPECT_TRUE(recs[0].translated);
  EXPECT_EQ(stat("priq.queued"), 1);
  EXPECT_EQ(stat("priq.responses"), 1);
  EXPECT_EQ(stat("ats_translation_requests"), 2);
}

}  // namespace
}  // namespace iommusim
