// SMMUv3 ATS: Translation Requests, translated transactions, and CMD_ATC_INV + CMD_SYNC round trips
// to a stand-in device. Descriptors and commands are raw dwords at the architectural positions
// (Arm IHI 0070: STE.EATS dword1 [29:28]; CMD_ATC_INV 0x40 with SID [63:32], SSID [31:12], SSV 11,
// G 9, Size dword1 [5:0], Address dword1 [63:12]; F_BAD_ATS_TREQ 0x05, F_TRANSL_FORBIDDEN 0x07;
// CERROR_ATC_INV_SYNC 3 in CMDQ_CONS [30:24]).
#include <gtest/gtest.h>

#include "testbenches/ats_test_device.h"
#include "testbenches/unit/smmuv3_tb.h"

namespace iommusim {
namespace {

using namespace smmu_tb;

constexpr uint64_t kEats = 1ull << 28;  // STE.EATS = 0b01: full ATS
constexpr uint32_t kCerrAtcInvSync = 3;

Cmd2 cmd_atc_inv(uint32_t sid, uint64_t addr, unsigned size, bool global = false, int ssid = -1) {
  uint64_t d0 = 0x40 | (global ? 1ull << 9 : 0) | (uint64_t{sid} << 32);
  if (ssid >= 0) d0 |= (1ull << 11) | (uint64_t(ssid) << 12);
  return {d0, (addr & mask(63, 12)) | size};
}

class SmmuAtsTest : public SmmuTest {
 protected:
  void build_with_device(uint16_t rid) {
    build();
    dev = std::make_unique<test::AtsTestDevice>("dev");
    smmu->ats().down.bind(dev->from_iommu);
    dev->to_iommu.bind(smmu->upstream);
    smmu->ats().add_device(rid, 0);
  }
  void ats_stream(uint32_t sid, uint64_t ttb0, bool ats = true) {
    Ste s = ste_s1(kCd + sid * 64);
    if (ats) s.d[1] |= kEats;
    put_ste_linear(sid, s);
    put_cd(kCd + sid * 64, cd(0x10 + sid, ttb0));
  }
  uint32_t cons_err(Tb& t) { return (t.rd(R_CMDQ_CONS) >> 24) & 0x7F; }
  bool sync_consumed(Tb& t) { return (t.rd(R_CMDQ_CONS) & ((2u << kCmdqLog2) - 1)) == prod; }
  std::unique_ptr<test::AtsTestDevice> dev;
};

TEST_F(SmmuAtsTest, TranslationRequestReturnsLeafSizeAndPermissions) {
  sp.ats = true;
  build_with_device(3);
  Pt pt(*mem, bump, 12, 48);
  pt.set(0x10000000, s1_page(0x40001000));                          // RW, user
  pt.set(0x10001000, s1_page(0x40002000, S1_USER | S1_RO | D_NG));  // read-only
  pt.set(0x20000000, s1_page(0x60000000) & ~D_TYPE, 2);             // 2 MiB block at level 2
  ats_stream(3, pt.root());
  run([&](Tb& t) {
    sp.ats = true;
    enable(t, linear_cfg(4));
    DmaResult r;
    ats::Translation tr = t.ats_translate(3, 0x10000000, -1, false, r);
    EXPECT_EQ(r.st, tlm::TLM_OK_RESPONSE);
    EXPECT_EQ(tr.addr, 0x40001000u);
    EXPECT_EQ(tr.size, 4096u);
    EXPECT_TRUE(tr.r);
    EXPECT_TRUE(tr.w);
    EXPECT_FALSE(tr.u);
    tr = t.ats_translate(3, 0x10001000, -1, false, r);
    EXPECT_EQ(tr.addr, 0x40002000u);
    EXPECT_TRUE(tr.r);
    EXPECT_FALSE(tr.w);
    // Any page of the block gets the whole block, as one S-bit-encoded range.
    tr = t.ats_translate(3, 0x20123000, -1, false, r);
    EXPECT_EQ(tr.addr, 0x60000000u);
    EXPECT_EQ(tr.size, 2u << 20);
    EXPECT_TRUE(tr.r && tr.w);
    // Not mapped: a successful completion granting nothing, and no event record.
    tr = t.ats_translate(3, 0x30000000, -1, false, r);
    EXPECT_EQ(r.st, tlm::TLM_OK_RESPONSE);
    EXPECT_FALSE(tr.r);
    EXPECT_FALSE(tr.w);
    EXPECT_EQ(t.rd(R_EVENTQ_PROD), 0u);
    EXPECT_EQ(stat("ats_translation_requests"), 4);
  });
}

TEST_F(SmmuAtsTest, TranslatedTransactionGoesToMemoryWithoutWalk) {
  sp.ats = true;
  build_with_device(3);
  Pt pt(*mem, bump, 12, 48);
  ats_stream(3, pt.root());
  mem->write64(0x40005008, 0xABCDEF0123456789ull);
  run([&](Tb& t) {
    enable(t, linear_cfg(4));
    const DmaResult r = t.translated_access(3, 0x40005008, false);
    EXPECT_EQ(r.st, tlm::TLM_OK_RESPONSE);
    EXPECT_EQ(r.data, 0xABCDEF0123456789ull);
    EXPECT_EQ(stat("walk.walks"), 0);
    EXPECT_EQ(stat("iotlb.hits") + stat("iotlb.misses"), 0);
    EXPECT_EQ(stat("ats_translated"), 1);
  });
}

TEST_F(SmmuAtsTest, StreamWithoutEatsRefusesAtsTraffic) {
  sp.ats = true;
  build_with_device(3);
  Pt pt(*mem, bump, 12, 48);
  pt.set(0x10000000, s1_page(0x40001000));
  ats_stream(3, pt.root(), /*ats=*/false);
  run([&](Tb& t) {
    enable(t, linear_cfg(4));
    DmaResult r;
    t.ats_translate(3, 0x10000000, -1, false, r);
    EXPECT_NE(r.st, tlm::TLM_OK_RESPONSE);
    r = t.translated_access(3, 0x40001000, true);
    EXPECT_NE(r.st, tlm::TLM_OK_RESPONSE);
    ASSERT_EQ(t.rd(R_EVENTQ_PROD), 2u);
    EXPECT_EQ(event_record(0)[0] & 0xFF, 0x05u);  // F_BAD_ATS_TREQ
    EXPECT_EQ(event_record(0)[0] >> 32, 3u);      // StreamID
    EXPECT_EQ(event_record(1)[0] & 0xFF, 0x07u);  // F_TRANSL_FORBIDDEN
    // An ordinary untranslated DMA still translates.
    EXPECT_EQ(t.read(3, 0x10000000).st, tlm::TLM_OK_RESPONSE);
  });
}

TEST_F(SmmuAtsTest, SmmuWithoutAtsIgnoresEats) {
  sp.ats = false;  // IDR0.ATS clear: EATS is not honoured
  build_with_device(3);
  Pt pt(*mem, bump, 12, 48);
  ats_stream(3, pt.root());
  run([&](Tb& t) {
    enable(t, linear_cfg(4));
    DmaResult r;
    t.ats_translate(3, 0x10000000, -1, false, r);
    EXPECT_NE(r.st, tlm::TLM_OK_RESPONSE);
  });
}

TEST_F(SmmuAtsTest, CmdSyncCompletesExactlyWhenTheInvalidateCompletionArrives) {
  sp.ats = true;
  build_with_device(3);
  Pt pt(*mem, bump, 12, 48);
  ats_stream(3, pt.root());
  const sc_time L(1500, SC_NS);
  dev->latency = L;
  run([&](Tb& t) {
    enable(t, linear_cfg(4));
    // 16 KiB at 0x7000_4000 (Size 2) for SSID 5, then a sync.
    push(t, {cmd_atc_inv(3, 0x70004000, 2, false, 5), cmd_sync()});
    while (dev->seen.empty()) sc_core::wait(ns(1));
    const test::SeenInvalidation& s = dev->seen[0];
    EXPECT_EQ(s.rid, 3u);
    EXPECT_TRUE(s.pasid_valid);
    EXPECT_EQ(s.pasid, 5u);
    EXPECT_FALSE(s.global);
    EXPECT_EQ(s.range.base, 0x70004000u);
    EXPECT_EQ(s.range.size, 0x4000u);
    const sc_time done = s.arrived + L;  // the device's completion reaches the SMMU directly
    t.wait_until(done - k1ps);
    EXPECT_FALSE(sync_consumed(t));
    t.wait_until(done);
    for (int i = 0; i < 4; ++i) sc_core::wait(SC_ZERO_TIME);  // the completion's deltas
    EXPECT_TRUE(sync_consumed(t));
    EXPECT_EQ(stat("ats.inv_requests"), 1);
    EXPECT_EQ(stat("ats.inv_completions"), 1);
    EXPECT_EQ(stat("inv.atc_inv"), 1);
  });
}

TEST_F(SmmuAtsTest, AtcInvForAStreamWithoutDeviceCompletesAtOnce) {
  sp.ats = true;
  build_with_device(3);
  Pt pt(*mem, bump, 12, 48);
  ats_stream(3, pt.root());
  run([&](Tb& t) {
    enable(t, linear_cfg(4));
    submit(t, {cmd_atc_inv(9, 0, 52)});  // Size 52: everything
    EXPECT_TRUE(dev->seen.empty());
    EXPECT_EQ(stat("inv.atc_inv_no_device"), 1);
  });
}

TEST_F(SmmuAtsTest, UnansweredInvalidationStopsTheSyncWithCerrorAtcInvSync) {
  sp.ats = true;
  sp.ats_port.inv_timeout = Time::us(10);
  build_with_device(3);
  Pt pt(*mem, bump, 12, 48);
  ats_stream(3, pt.root());
  dev->answer = false;
  run([&](Tb& t) {
    enable(t, linear_cfg(4));
    push(t, {cmd_atc_inv(3, 0, 52, /*global=*/true), cmd_sync()});
    while (dev->seen.empty()) sc_core::wait(ns(1));
    EXPECT_EQ(dev->seen[0].range.size, ats::kAllRange);
    EXPECT_TRUE(dev->seen[0].global);
    const sc_time deadline = dev->seen[0].arrived + sc_time(10, sc_core::SC_US);
    t.wait_until(deadline - k1ps);
    EXPECT_EQ(t.rd(R_GERROR) & 1u, 0u);  // CMDQ_ERR is bit 0
    t.wait_until(deadline);
    for (int i = 0; i < 4; ++i) sc_core::wait(SC_ZERO_TIME);
    EXPECT_EQ(t.rd(R_GERROR) & 1u, 1u);
    EXPECT_EQ(cons_err(t), kCerrAtcInvSync);
    EXPECT_FALSE(sync_consumed(t));  // CONS stays on the CMD_SYNC
    EXPECT_EQ(stat("ats.inv_timeouts"), 1);
  });
}

}  // namespace
}  // namespace iommusim
