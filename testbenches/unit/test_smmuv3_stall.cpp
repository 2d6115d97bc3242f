// SMMUv3 stall model: stage-1 faults of a stream with CD.S (bit 44) held in the SMMU until
// CMD_RESUME (0x44: SID [63:32], Action [13:12] 0 terminate / 1 retry / 2 abort; STAG dword1 [15:0])
// or CMD_STALL_TERM (0x45). Stall events carry Stall (dword1 bit 31) and the STAG (dword1 [15:0]).
#include <gtest/gtest.h>
#include <sysc/kernel/sc_spawn.h>

#include "testbenches/unit/smmuv3_tb.h"

namespace iommusim {
namespace {

using namespace smmu_tb;

constexpr uint64_t kCdStall = 1ull << 44;
Cmd2 cmd_resume(uint32_t sid, uint16_t stag, unsigned action) {
  return {0x44 | (uint64_t{action} << 12) | (uint64_t{sid} << 32), stag};
}
Cmd2 cmd_stall_term(uint32_t sid) { return {0x45 | (uint64_t{sid} << 32), 0}; }

class SmmuStallTest : public SmmuTest {
 protected:
  void stall_stream(uint32_t sid, uint64_t ttb0, bool stall = true) {
    put_ste_linear(sid, ste_s1(kCd + sid * 64));
    auto d = cd(0x20 + sid, ttb0);
    if (stall) d[0] |= kCdStall;
    put_cd(kCd + sid * 64, d);
  }
  // Starts a DMA read in its own thread; done/result land in the given variables.
  void async_read(Tb& t, uint16_t sid, uint64_t va, bool& done, DmaResult& res, sc_time& at) {
    sc_core::sc_spawn([&t, sid, va, &done, &res, &at] {
      res = t.read(sid, va);
      at = sc_core::sc_time_stamp();
      done = true;
    });
  }
  void wait_events(Tb& t, uint32_t n) {
    for (int i = 0; i < 10000 && t.rd(R_EVENTQ_PROD) < n; ++i) sc_core::wait(ns(10));
    ASSERT_EQ(t.rd(R_EVENTQ_PROD), n);
  }
};

TEST_F(SmmuStallTest, StalledReadCompletesAfterResumeRetryOnceMapped) {
  sp.stall = true;
  build();
  Pt pt(*mem, bump, 12, 48);
  pt.set(0x10000000, s1_page(0x40001000));  // makes the tables; the faulting page is next to it
  mem->write64(0x40002010, 0x5151515151515151ull);
  stall_stream(4, pt.root());
  run([&](Tb& t) {
    enable(t, linear_cfg(4));
    bool done = false;
    DmaResult res;
    sc_time at;
    async_read(t, 4, 0x10001010, done, res, at);
    wait_events(t, 1);
    const auto rec = event_record(0);
    EXPECT_EQ(rec[0] & 0xFF, 0x10u);  // F_TRANSLATION
    EXPECT_TRUE(rec[1] & (1ull << 31)) << "Stall bit";
    const uint16_t stag = static_cast<uint16_t>(rec[1] & 0xFFFF);
    EXPECT_EQ(rec[2], 0x10001010u);
    sc_core::wait(ns(5000));
    EXPECT_FALSE(done);  // still held
    EXPECT_EQ(stat("events.stalled"), 1);
    // Software maps the page (the walk cached nothing for it) and resumes with retry.
    pt.set(0x10001000, s1_page(0x40002000));
    const sc_time before_resume = sc_core::sc_time_stamp();
    submit(t, {cmd_resume(4, stag, 1)});
    for (int i = 0; i < 1000 && !done; ++i) sc_core::wait(ns(10));
    ASSERT_TRUE(done);
    EXPECT_EQ(res.st, tlm::TLM_OK_RESPONSE);
    EXPECT_EQ(res.data, 0x5151515151515151ull);
    EXPECT_GT(at, before_resume);
    EXPECT_EQ(stat("events.stall_retries"), 1);
    EXPECT_EQ(t.rd(R_EVENTQ_PROD), 1u);  // the retry succeeded: no second event
  });
}

TEST_F(SmmuStallTest, ResumeAbortAndStallTermFailTheTransactions) {
  sp.stall = true;
  build();
  Pt pt(*mem, bump, 12, 48);
  pt.set(0x10000000, s1_page(0x40001000));
  stall_stream(4, pt.root());
  stall_stream(5, pt.root());
  run([&](Tb& t) {
    enable(t, linear_cfg(4));
    bool d1 = false, d2 = false;
    DmaResult r1, r2;
    sc_time a1, a2;
    async_read(t, 4, 0x20000000, d1, r1, a1);
    wait_events(t, 1);
    async_read(t, 5, 0x20001000, d2, r2, a2);
    wait_events(t, 2);
    const uint16_t stag = static_cast<uint16_t>(event_record(0)[1] & 0xFFFF);
    submit(t, {cmd_resume(4, static_cast<uint16_t>(stag + 100), 1)});  // unknown STAG: ignored
    EXPECT_FALSE(d1);
    submit(t, {cmd_resume(4, stag, 2), cmd_stall_term(5)});
    for (int i = 0; i < 1000 && !(d1 && d2); ++i) sc_core::wait(ns(10));
    ASSERT_TRUE(d1 && d2);
    EXPECT_NE(r1.st, tlm::TLM_OK_RESPONSE);
    EXPECT_EQ(r1.io, IoStatus::Aborted);
    EXPECT_EQ(r2.io, IoStatus::Aborted);
    EXPECT_EQ(stat("events.stall_aborts"), 2);
  });
}

TEST_F(SmmuStallTest, WithoutCdStallOrBeyondStallMaxTheFaultTerminates) {
  sp.stall = true;
  sp.max_stalls = 1;
  build();
  Pt pt(*mem, bump, 12, 48);
  pt.set(0x10000000, s1_page(0x40001000));
  stall_stream(4, pt.root());
  stall_stream(6, pt.root(), /*stall=*/false);
  run([&](Tb& t) {
    enable(t, linear_cfg(4));
    // CD.S clear: an ordinary terminated fault, recorded without Stall.
    DmaResult r = t.read(6, 0x30000000);
    EXPECT_NE(r.st, tlm::TLM_OK_RESPONSE);
    EXPECT_FALSE(event_record(0)[1] & (1ull << 31));
    // One stall slot: the first fault stalls, the second terminates at once.
    bool d1 = false;
    DmaResult r1;
    sc_time a1;
    async_read(t, 4, 0x30001000, d1, r1, a1);
    wait_events(t, 2);
    r = t.read(4, 0x30002000);
    EXPECT_NE(r.st, tlm::TLM_OK_RESPONSE);
    EXPECT_FALSE(d1);
    EXPECT_TRUE(event_record(1)[1] & (1ull << 31));
    EXPECT_FALSE(event_record(2)[1] & (1ull << 31));
    submit(t, {cmd_stall_term(4)});
    for (int i = 0; i < 1000 && !d1; ++i) sc_core::wait(ns(10));
    EXPECT_TRUE(d1);
  });
}

TEST_F(SmmuStallTest, SmmuWithoutStallModelReportsTerminateOnly) {
  sp.stall = false;
  build();
  Pt pt(*mem, bump, 12, 48);
  stall_stream(4, pt.root());
  run([&](Tb& t) {
    enable(t, linear_cfg(4));
    EXPECT_EQ((t.rd(0x0) >> 24) & 3, 1u);  // IDR0.STALL_MODEL: terminate only
    const DmaResult r = t.read(4, 0x30000000);
    EXPECT_NE(r.st, tlm::TLM_OK_RESPONSE);
    EXPECT_FALSE(event_record(0)[1] & (1ull << 31));
  });
}

}  // namespace
}  // namespace iommusim
