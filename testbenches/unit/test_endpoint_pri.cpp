// Endpoint PRI against a stand-in IOMMU: it answers Translation Requests from a hand-written table
// with a fixed latency, serves translated requests as memory, records Page Requests exactly as they
// arrive (the message body is decoded here by hand: Page Address [63:12], PRG Index [11:3], Last 2,
// Write 1, Read 0) and sends PRG Responses downstream, either from the test body or from a
// responder that "handles" each request after a fixed host latency. Every expected time is worked
// out here from the latencies below; registers are read through the BAR at the offsets of
// dma_job.h (PRI Control 0x210: Enable 0, Reset 1; Status 0x212: RF 0, UPRGI 1, Stopped 8,
// PASID Required 15; Capacity 0x214; Allocation 0x218; PASID Capability 0x220: Exec 1, Priv 2,
// width [12:8]; PASID Control 0x222).
#include <gtest/gtest.h>
#include <systemc>
#include <sysc/kernel/sc_spawn.h>
#include <tlm>
#include <tlm_utils/simple_initiator_socket.h>
#include <tlm_utils/simple_target_socket.h>

#include <cstring>
#include <deque>
#include <functional>
#include <memory>
#include <vector>

#include "models/common/payload_pool.h"
#include "models/common/pcie_ext.h"
#include "models/common/sim_time.h"
#include "models/pcie/ats_defs.h"
#include "models/pcie/endpoint.h"
#include "testbenches/sim_fixture.h"

namespace iommusim {
namespace {

using sc_core::SC_NS;
using sc_core::SC_US;
using sc_core::sc_time;

constexpr uint16_t kRid = 0x0210;
constexpr uint32_t R_CTRL = 0x210, R_STATUS = 0x212, R_CAPACITY = 0x214, R_ALLOC = 0x218, R_PASID_CAP = 0x220,
                   R_PASID_CTRL = 0x222;
constexpr uint16_t CTRL_ENABLE = 1, CTRL_RESET = 2;
constexpr uint16_t ST_RF = 1, ST_UPRGI = 2, ST_STOPPED = 1u << 8, ST_PASID_REQ = 1u << 15;
constexpr uint8_t RC_SUCCESS = 0x0, RC_INVALID = 0x1, RC_FAILURE = 0xF;

sc_time ns(double v) { return sc_time(v, SC_NS); }
sc_time ps(uint64_t v) { return sc_time::from_value(v); }

double stat(StatGroup& g, const char* path) {
  double v = -1;
  EXPECT_TRUE(g.find(path, v)) << path;
  return v;
}

struct Page {
  bool pasid_valid;
  uint32_t pasid;
  uint64_t va, pa;
  bool r, w;
};
struct SeenTreq {
  uint64_t addr;
  bool pasid_valid;
  uint32_t pasid;
  sc_time t;
};
struct SeenAccess {
  uint64_t addr;
  bool write;
  AddrType at;
  sc_time t;
};
// A Page Request message as it arrived, body fields decoded by hand.
struct SeenPr {
  uint64_t body;
  uint16_t rid;
  bool pasid_valid;
  uint32_t pasid;
  uint32_t hdr_prg;
  bool hdr_last;
  sc_time t;
  uint64_t addr() const { return body & ~uint64_t{0xFFF}; }
  uint16_t prg() const { return static_cast<uint16_t>((body >> 3) & 0x1FF); }
  bool last() const { return (body >> 2) & 1; }
  bool w() const { return (body >> 1) & 1; }
  bool r() const { return body & 1; }
  bool stop() const { return last() && !r() && !w(); }
};

struct PriAgent : sc_core::sc_module {
  tlm_utils::simple_target_socket<PriAgent> up{"up"};        // the endpoint's dma
  tlm_utils::simple_initiator_socket<PriAgent> down{"down"};  // the endpoint's from_link
  tlm_utils::simple_initiator_socket<PriAgent> mmio{"mmio"};  // the endpoint's BAR
  std::vector<Page> table;
  sc_time tr_latency = ns(500), mem_latency = ns(300);
  std::vector<SeenTreq> treqs;
  std::vector<SeenAccess> accesses;
  std::vector<SeenPr> prs;
  sc_core::sc_event pr_ev;
  // Responder: each page request (not stop markers) is answered `host_latency` after it arrived,
  // with `code`, after on_request (the "fault handler") ran.
  bool autorespond = false;
  sc_time host_latency = sc_time(1, SC_US);
  uint8_t code = RC_SUCCESS;
  std::function<void(const SeenPr&)> on_request;
  int outstanding = 0, max_outstanding = 0;  // page requests received and not yet answered

  SC_HAS_PROCESS(PriAgent);
  explicit PriAgent(sc_core::sc_module_name n) : sc_core::sc_module(n) {
    up.register_b_transport(this, &PriAgent::b_transport);
    SC_THREAD(responder);
  }
  void map(uint64_t va, uint64_t pa, int pasid = -1, bool r = true, bool w = true) {
    table.push_back({pasid >= 0, pasid >= 0 ? static_cast<uint32_t>(pasid) : 0, va, pa, r, w});
  }
  // Sends a PRG Response now (posted: it arrives at once).
  tlm::tlm_response_status respond(uint16_t prg, uint8_t rc, int pasid = -1, uint16_t rid = kRid) {
    uint64_t body = 0;
    PcieExt* x;
    tlm::tlm_generic_payload* gp = pool_.acquire(x);
    gp->set_command(tlm::TLM_WRITE_COMMAND);
    gp->set_data_ptr(reinterpret_cast<unsigned char*>(&body));
    gp->set_data_length(8);
    gp->set_streaming_width(8);
    x->rid = rid;
    x->msg = MsgKind::PrgResponse;
    x->itag_or_prg = prg;
    x->resp_code = rc;
    x->pasid_valid = pasid >= 0;
    x->pasid = pasid >= 0 ? static_cast<uint32_t>(pasid) : 0;
    sc_time d = sc_core::SC_ZERO_TIME;
    down->b_transport(*gp, d);
    const tlm::tlm_response_status st = gp->get_response_status();
    gp->release();
    --outstanding;
    return st;
  }
  uint32_t reg(uint32_t off, unsigned len, bool write = false, uint32_t v = 0) {
    tlm::tlm_generic_payload gp;
    gp.set_command(write ? tlm::TLM_WRITE_COMMAND : tlm::TLM_READ_COMMAND);
    gp.set_address(off);
    gp.set_data_ptr(reinterpret_cast<unsigned char*>(&v));
    gp.set_data_length(len);
    gp.set_streaming_width(len);
    sc_time d = sc_core::SC_ZERO_TIME;
    mmio->b_transport(gp, d);
    EXPECT_EQ(gp.get_response_status(), tlm::TLM_OK_RESPONSE) << std::hex << off;
    return v;
  }

 private:
  void b_transport(tlm::tlm_generic_payload& gp, sc_time& delay) {
    const PcieExt& x = *gp.get_extension<PcieExt>();
    const sc_time t = sc_core::sc_time_stamp() + delay;
    if (x.msg == MsgKind::PageRequest) {
      uint64_t body;
      std::memcpy(&body, gp.get_data_ptr(), 8);
      const SeenPr pr{body, x.rid, x.pasid_valid, x.pasid, x.itag_or_prg, x.last, t};
      prs.push_back(pr);
      if (!pr.stop()) {
        if (++outstanding > max_outstanding) max_outstanding = outstanding;
        if (autorespond) queue_.push_back(pr);
      }
      pr_ev.notify(delay);
      gp.set_response_status(tlm::TLM_OK_RESPONSE);
      return;
    }
    if (x.msg != MsgKind::None) {
      gp.set_response_status(tlm::TLM_OK_RESPONSE);
      return;
    }
    if (x.at == AddrType::TranslationRequest) {
      treqs.push_back({gp.get_address(), x.pasid_valid, x.pasid, t});
      delay += tr_latency;
      ats::Translation tr;  // R = W = 0 unless mapped
      for (const Page& m : table) {
        if (m.pasid_valid != x.pasid_valid || (m.pasid_valid && m.pasid != x.pasid)) continue;
        if (gp.get_address() != m.va) continue;
        tr.addr = m.pa;
        tr.r = m.r;
        tr.w = m.w;
      }
      const uint64_t v = ats::encode_completion(tr);
      std::memcpy(gp.get_data_ptr(), &v, 8);
      gp.set_response_status(tlm::TLM_OK_RESPONSE);
      return;
    }
    accesses.push_back({gp.get_address(), gp.is_write(), x.at, t});
    delay += mem_latency;
    gp.set_response_status(tlm::TLM_OK_RESPONSE);
  }
  void responder() {
    for (;;) {
      while (queue_.empty()) wait(pr_ev);
      const SeenPr pr = queue_.front();
      queue_.pop_front();
      const sc_time due = pr.t + host_latency;
      if (due > sc_core::sc_time_stamp()) wait(due - sc_core::sc_time_stamp());
      if (on_request) on_request(pr);
      respond(pr.prg(), code, pr.pasid_valid ? static_cast<int>(pr.pasid) : -1);
    }
  }
  std::deque<SeenPr> queue_;
  PayloadPool pool_;
};

DmaJob job(uint64_t iova, uint64_t count, uint32_t size = 64, uint64_t window = 4096, bool write = false, int pasid = -1) {
  DmaJob j;
  j.iova = iova;
  j.count = count;
  j.size = size;
  j.window = window;
  j.read_fraction = write ? 0.0 : 1.0;
  j.pasid_valid = pasid >= 0;
  j.pasid = pasid >= 0 ? static_cast<uint32_t>(pasid) : 0;
  return j;
}

class EndpointPri : public test::SimTest {
 protected:
  void SetUp() override {
    SimTest::SetUp();
    tlm::tlm_global_quantum::instance().set(sc_time(1, SC_US));
    p.ats.enabled = true;
    p.pri.enabled = true;
    p.pri.capacity = 16;
    p.pri.request_latency = Time::ns(10);
    p.pri.retry_latency = Time::ns(20);
    p.pasid_bits = 20;
  }
  // The endpoint's ATC lookup (default), the agent's latencies and the PRI latencies above.
  const sc_time kLookup = ns(2), kTr = ns(500), kMem = ns(300), kReq = ns(10), kRetry = ns(20);
  void build(uint32_t alloc = 8) {
    ep = std::make_unique<Endpoint>("ep", p);
    ag = std::make_unique<PriAgent>("agent");
    ep->dma.bind(ag->up);
    ag->down.bind(ep->from_link);
    ag->mmio.bind(ep->bar);
    ep->set_rid(kRid);
    ep->set_ats_enabled(true);
    if (alloc) ep->pri_enable(alloc);
    ep->set_observer([this](const DmaRecord& r) { recs.push_back(r); });
  }
  void run(std::function<void()> body) {
    sc_core::sc_spawn(std::move(body));
    sc_core::sc_start();
  }
  void dma(const DmaJob& j) {
    ep->submit(j);
    sc_core::wait(ep->irq());
  }
  void wait_until(const sc_time& t) {
    if (t > sc_core::sc_time_stamp()) sc_core::wait(t - sc_core::sc_time_stamp());
  }
  void wait_pr(size_t n) {
    while (ag->prs.size() < n) sc_core::wait(ag->pr_ev);
  }
  double s(const char* path) { return stat(ep->stats(), path); }

  EndpointParams p;
  std::unique_ptr<Endpoint> ep;
  std::unique_ptr<PriAgent> ag;
  std::vector<DmaRecord> recs;
};

// ---- registers ----------------------------------------------------------------------------------

TEST_F(EndpointPri, CapabilityRegistersFollowTheLayout) {
  p.pasid_exec = true;
  build(/*alloc*/ 0);
  run([&] {
    EXPECT_EQ(ag->reg(R_CAPACITY, 4), 16u);
    EXPECT_EQ(ag->reg(R_CTRL, 2), 0u);
    EXPECT_EQ(ag->reg(R_STATUS, 2), ST_STOPPED | ST_PASID_REQ);  // disabled, nothing outstanding
    EXPECT_EQ(ag->reg(R_PASID_CAP, 2), (20u << 8) | 2u);        // width 20, Execute supported
    ag->reg(R_PASID_CTRL, 2, true, 0x7);                          // Priv is not supported: dropped
    EXPECT_EQ(ag->reg(R_PASID_CTRL, 2), 0x3u);
    ag->reg(R_ALLOC, 4, true, 2048);
    EXPECT_EQ(ag->reg(R_ALLOC, 4), 2048u);
    ag->reg(R_CAPACITY, 4, true, 5);  // read-only
    EXPECT_EQ(ag->reg(R_CAPACITY, 4), 16u);
    ag->reg(R_CTRL, 2, true, CTRL_ENABLE | CTRL_RESET);  // Reset is ignored with Enable set, reads 0
    EXPECT_EQ(ag->reg(R_CTRL, 2), CTRL_ENABLE);
    EXPECT_EQ(ag->reg(R_STATUS, 2), ST_PASID_REQ);  // enabled: not Stopped
    ag->reg(R_STATUS, 2, true, 0xFFFF);             // RW1C bits clear, the read-only ones stay
    EXPECT_EQ(ag->reg(R_STATUS, 2), ST_PASID_REQ);
  });
  EXPECT_EQ(ep->pri_allocation(), 2048u);
}

TEST_F(EndpointPri, WithoutTheCapabilitiesTheRegistersReadZero) {
  p.pri.enabled = false;
  p.pasid_bits = 0;
  build(0);
  run([&] {
    ag->reg(R_ALLOC, 4, true, 32);
    ag->reg(R_CTRL, 2, true, CTRL_ENABLE);
    ag->reg(R_PASID_CTRL, 2, true, 1);
    EXPECT_EQ(ag->reg(R_CAPACITY, 4), 0u);
    EXPECT_EQ(ag->reg(R_ALLOC, 4), 0u);
    EXPECT_EQ(ag->reg(R_CTRL, 2), 0u);
    EXPECT_EQ(ag->reg(R_STATUS, 2), 0u);
    EXPECT_EQ(ag->reg(R_PASID_CAP, 2), 0u);
    EXPECT_EQ(ag->reg(R_PASID_CTRL, 2), 0u);
  });
  double v;
  EXPECT_FALSE(ep->stats().find("pri.requests", v));
}

// ---- the page request round trip ----------------------------------------------------------------

// Denied at lookup + TR = 502 ns; the Page Request leaves request_latency later (512 ns); the host
// maps the page and answers Success 1 us after it arrived (1512 ns); the retry's Translation
// Request goes out retry_latency + lookup later (1534 ns), completes at 2034 ns and the translated
// read completes at 2334 ns.
TEST_F(EndpointPri, SuccessRetriesTheTranslationAndTheAccessCompletes) {
  build();
  const sc_time denied = kLookup + kTr, sent = denied + kReq, answer = sent + sc_time(1, SC_US);
  const sc_time retry_tr = answer + kRetry + kLookup, done = retry_tr + kTr + kMem;
  uint64_t jobs_before = 99, jobs_at = 99;
  run([&] {
    ep->submit(job(0x7000040, 1, 64, 64, false, /*pasid*/ 5));
    wait_pr(1);
    const SeenPr pr = ag->prs[0];
    EXPECT_EQ(pr.t, sent);
    EXPECT_EQ(pr.body, 0x7000000u | (0u << 3) | 4u | 1u);  // page, PRG index 0, Last, Read
    EXPECT_EQ(pr.rid, kRid);
    EXPECT_TRUE(pr.pasid_valid);
    EXPECT_EQ(pr.pasid, 5u);
    EXPECT_EQ(pr.hdr_prg, 0u);
    EXPECT_TRUE(pr.hdr_last);
    EXPECT_EQ(ep->pri_outstanding(), 1u);
    EXPECT_EQ(ag->reg(R_STATUS, 2), ST_PASID_REQ);
    wait_until(answer);
    ag->map(0x7000000, 0x93000, 5);
    EXPECT_EQ(ag->respond(pr.prg(), RC_SUCCESS, 5), tlm::TLM_OK_RESPONSE);
    wait_until(done - ps(1));
    jobs_before = ep->jobs_done();
    wait_until(done);
    sc_core::wait(sc_core::SC_ZERO_TIME);
    jobs_at = ep->jobs_done();
  });
  EXPECT_EQ(jobs_before, 0u);
  EXPECT_EQ(jobs_at, 1u);
  ASSERT_EQ(ag->treqs.size(), 2u);
  EXPECT_EQ(ag->treqs[0].t, kLookup);
  EXPECT_EQ(ag->treqs[1].t, retry_tr);
  ASSERT_EQ(ag->accesses.size(), 1u);
  EXPECT_EQ(ag->accesses[0].addr, 0x93040u);
  EXPECT_EQ(ag->accesses[0].at, AddrType::Translated);
  EXPECT_EQ(ag->accesses[0].t, retry_tr + kTr);
  ASSERT_EQ(recs.size(), 1u);
  EXPECT_TRUE(recs[0].ok);
  EXPECT_TRUE(recs[0].translated);
  EXPECT_EQ(recs[0].issue_ps, 0u);
  EXPECT_EQ(recs[0].done_ps, to_ps(done));
  EXPECT_EQ(s("pri.requests"), 1);
  EXPECT_EQ(s("pri.success"), 1);
  EXPECT_EQ(s("ats.ats_denied"), 0);
  EXPECT_EQ(s("faults"), 0);
  ASSERT_NE(ep->pri_latency(), nullptr);
  EXPECT_EQ(ep->pri_latency()->count(), 1u);
  EXPECT_EQ(ep->pri_latency()->max(), to_ps(answer - sent));
  EXPECT_EQ(ep->pri_outstanding(), 0u);
}

// A write asks for write access only; the PRG index advances round robin.
TEST_F(EndpointPri, WriteAsksForWriteAndIndicesAdvance) {
  build();
  ag->autorespond = true;
  ag->on_request = [&](const SeenPr& pr) { ag->map(pr.addr(), 0x50000 + pr.addr(), -1); };
  run([&] {
    dma(job(0x3000, 1, 64, 64, /*write*/ true));
    dma(job(0x4000, 1, 64, 64, true));
  });
  ASSERT_EQ(ag->prs.size(), 2u);
  EXPECT_EQ(ag->prs[0].body, 0x3000u | (0u << 3) | 4u | 2u);  // Last, Write
  EXPECT_EQ(ag->prs[1].body, 0x4000u | (1u << 3) | 4u | 2u);  // PRG index 1
  EXPECT_FALSE(ag->prs[0].pasid_valid);
  ASSERT_EQ(ag->accesses.size(), 2u);
  EXPECT_TRUE(ag->accesses[0].write);
  EXPECT_EQ(ag->accesses[0].addr, 0x53000u);
  EXPECT_EQ(s("writes"), 2);
}

TEST_F(EndpointPri, InvalidRequestFailsTheAccessWhenTheResponseArrives) {
  build();
  const sc_time answer = kLookup + kTr + kReq + sc_time(1, SC_US);
  ag->autorespond = true;
  ag->code = RC_INVALID;
  run([&] { dma(job(0x7000000, 1, 64, 64, false, 5)); });
  ASSERT_EQ(recs.size(), 1u);
  EXPECT_FALSE(recs[0].ok);
  EXPECT_EQ(recs[0].done_ps, to_ps(answer));
  EXPECT_EQ(ag->treqs.size(), 1u);  // not retried
  EXPECT_EQ(ag->accesses.size(), 0u);
  EXPECT_EQ(s("pri.invalid"), 1);
  EXPECT_EQ(s("pri.success"), 0);
  EXPECT_EQ(s("faults"), 1);
  EXPECT_EQ(ep->last_result().faults, 1u);
}

// Response Failure: the access fails, Status.RF is set, and no page request is sent until Control.Reset
// and Enable again (clearing RF alone does not restart them).
TEST_F(EndpointPri, ResponseFailureStopsPageRequestsUntilReset) {
  build();
  ag->autorespond = true;
  ag->code = RC_FAILURE;
  uint32_t status_after = 0, status_cleared = 0;
  run([&] {
    dma(job(0x1000, 1));
    status_after = ag->reg(R_STATUS, 2);
    dma(job(0x2000, 1));  // fails like a device without PRI: no page request
    ag->reg(R_STATUS, 2, true, ST_RF);
    status_cleared = ag->reg(R_STATUS, 2);
    dma(job(0x2000, 1));  // still stopped
    EXPECT_EQ(ag->prs.size(), 1u);
    ag->code = RC_SUCCESS;
    ag->on_request = [&](const SeenPr& pr) { ag->map(pr.addr(), 0x80000); };
    ag->reg(R_CTRL, 2, true, 0);
    ag->reg(R_CTRL, 2, true, CTRL_RESET);
    ag->reg(R_CTRL, 2, true, CTRL_ENABLE);
    dma(job(0x2000, 1));  // page requests again
  });
  EXPECT_EQ(status_after, ST_RF | ST_PASID_REQ);
  EXPECT_EQ(status_cleared, ST_PASID_REQ);
  ASSERT_EQ(ag->prs.size(), 2u);
  EXPECT_EQ(ag->prs[1].addr(), 0x2000u);
  ASSERT_EQ(recs.size(), 4u);
  EXPECT_FALSE(recs[0].ok);
  EXPECT_FALSE(recs[1].ok);
  EXPECT_FALSE(recs[2].ok);
  EXPECT_TRUE(recs[3].ok);
  EXPECT_EQ(recs[1].done_ps - recs[1].issue_ps, to_ps(kLookup + kTr));  // failed at the denial
  EXPECT_EQ(s("pri.failure"), 1);
  EXPECT_EQ(s("pri.requests"), 2);
  EXPECT_EQ(s("ats.ats_denied"), 2);
}

// Success without a mapping: the retry is denied again and the access fails; no second page request.
TEST_F(EndpointPri, SecondDenialAfterSuccessFailsTheAccess) {
  build();
  ag->autorespond = true;
  run([&] { dma(job(0x9000, 1)); });
  EXPECT_EQ(ag->prs.size(), 1u);
  EXPECT_EQ(ag->treqs.size(), 2u);
  ASSERT_EQ(recs.size(), 1u);
  EXPECT_FALSE(recs[0].ok);
  // Retry Translation Request at answer + retry + lookup, denied tr_latency later.
  const sc_time answer = kLookup + kTr + kReq + sc_time(1, SC_US);
  EXPECT_EQ(recs[0].done_ps, to_ps(answer + kRetry + kLookup + kTr));
  EXPECT_EQ(s("pri.retry_denied"), 1);
  EXPECT_EQ(s("ats.ats_denied"), 1);
}

// Allocation 2, four requests to four unmapped pages at once: two page requests leave at the
// denial, the other two only as responses free the credits; never more than two outstanding.
TEST_F(EndpointPri, AllocationBoundsThePageRequestsInFlight) {
  build(/*alloc*/ 2);
  ag->autorespond = true;
  ag->on_request = [&](const SeenPr& pr) { ag->map(pr.addr(), 0x100000 + pr.addr()); };
  DmaJob j = job(0x10000, 4, 64, 4 * 4096);
  j.pattern = DmaPattern::Strided;
  j.stride = 4096;
  run([&] { dma(j); });
  const sc_time sent = kLookup + kTr + kReq, answered = sent + sc_time(1, SC_US);
  ASSERT_EQ(ag->prs.size(), 4u);
  EXPECT_EQ(ag->prs[0].t, sent);
  EXPECT_EQ(ag->prs[1].t, sent);
  EXPECT_EQ(ag->prs[2].t, answered);  // each freed by one of the first two responses
  EXPECT_EQ(ag->prs[3].t, answered);
  for (unsigned i = 0; i < 4; ++i) EXPECT_EQ(ag->prs[i].addr(), 0x10000u + 4096 * i) << i;
  EXPECT_EQ(ag->max_outstanding, 2);
  ASSERT_EQ(recs.size(), 4u);
  for (const DmaRecord& r : recs) EXPECT_TRUE(r.ok);
  EXPECT_EQ(s("pri.allocation_waits"), 2);
  EXPECT_EQ(s("pri.requests"), 4);
  EXPECT_EQ(s("pri.success"), 4);
}

// Requests to a page whose page request is outstanding wait for the same response.
TEST_F(EndpointPri, RequestsToAPageWithAPageRequestOutstandingWaitForIt) {
  build();
  ag->autorespond = true;
  ag->on_request = [&](const SeenPr& pr) { ag->map(pr.addr(), 0x60000); };
  run([&] { dma(job(0x5000, 4)); });  // four 64 B reads of one page
  EXPECT_EQ(ag->prs.size(), 1u);
  EXPECT_EQ(ag->treqs.size(), 2u);  // the first request's, and its retry (the others hit the new entry)
  ASSERT_EQ(recs.size(), 4u);
  for (const DmaRecord& r : recs) EXPECT_TRUE(r.ok);
  EXPECT_EQ(s("pri.coalesced"), 3);
}

// A response naming no outstanding group, or with the wrong PASID, sets UPRGI and changes nothing.
TEST_F(EndpointPri, UnexpectedResponsesSetUprgi) {
  build();
  uint32_t st1 = 0, st2 = 0, st3 = 0;
  run([&] {
    EXPECT_EQ(ag->respond(7, RC_SUCCESS), tlm::TLM_OK_RESPONSE);  // nothing outstanding
    st1 = ag->reg(R_STATUS, 2);
    ag->reg(R_STATUS, 2, true, ST_UPRGI);
    st2 = ag->reg(R_STATUS, 2);
    ep->submit(job(0x7000000, 1, 64, 64, false, 5));
    wait_pr(1);
    sc_core::wait(ns(100));
    ag->map(0x7000000, 0x93000, 5);
    ag->respond(ag->prs[0].prg(), RC_SUCCESS, 6);  // PASID 6: not this group's
    st3 = ag->reg(R_STATUS, 2);
    EXPECT_EQ(ep->pri_outstanding(), 1u);
    EXPECT_EQ(ag->respond(ag->prs[0].prg(), RC_SUCCESS, 5, 0x0300), tlm::TLM_ADDRESS_ERROR_RESPONSE);  // misrouted
    sc_core::wait(ns(100));
    ag->respond(ag->prs[0].prg(), RC_SUCCESS, 5);
    sc_core::wait(ep->irq());
    ag->respond(ag->prs[0].prg(), RC_SUCCESS, 5);  // answered already
  });
  EXPECT_EQ(st1, ST_UPRGI | ST_PASID_REQ);  // enabled: not Stopped
  EXPECT_EQ(st2, ST_PASID_REQ);
  EXPECT_EQ(st3, ST_UPRGI | ST_PASID_REQ);
  ASSERT_EQ(recs.size(), 1u);
  EXPECT_TRUE(recs[0].ok);
  EXPECT_EQ(s("pri.unexpected"), 3);
  EXPECT_EQ(s("pri.misrouted"), 1);
  EXPECT_EQ(s("pri.success"), 1);
}

// Without PASID Required the response's PASID is not compared.
TEST_F(EndpointPri, WithoutPasidRequiredTheIndexAloneMatches) {
  p.pri.pasid_required = false;
  build();
  ag->autorespond = true;
  ag->on_request = [&](const SeenPr& pr) {
    ag->map(pr.addr(), 0x93000, 5);
    ag->respond(pr.prg(), RC_SUCCESS);  // no PASID prefix; the responder's own answer follows, unexpected
  };
  uint32_t st = 0;
  run([&] {
    dma(job(0x7000000, 1, 64, 64, false, 5));
    st = ag->reg(R_STATUS, 2);
  });
  ASSERT_EQ(recs.size(), 1u);
  EXPECT_TRUE(recs[0].ok);
  EXPECT_EQ(st, ST_UPRGI);  // from the second answer; PASID Required reads clear
  EXPECT_EQ(s("pri.success"), 1);
}

// Control.Reset with Enable clear forgets the outstanding request: its access fails at once and a
// late response for it is unexpected.
TEST_F(EndpointPri, ResetForgetsOutstandingRequests) {
  build();
  const sc_time reset_at = sc_time(2, SC_US);
  uint32_t stopped_before = 1, stopped_after = 0;
  run([&] {
    ep->submit(job(0x1000, 1));
    wait_pr(1);
    wait_until(reset_at);
    ag->reg(R_CTRL, 2, true, 0);  // disable: the sent request is still outstanding
    stopped_before = ag->reg(R_STATUS, 2) & ST_STOPPED;
    ag->reg(R_CTRL, 2, true, CTRL_RESET);
    stopped_after = ag->reg(R_STATUS, 2) & ST_STOPPED;
    sc_core::wait(ep->irq());
    ag->respond(ag->prs[0].prg(), RC_SUCCESS);
  });
  EXPECT_EQ(stopped_before, 0u);
  EXPECT_EQ(stopped_after, ST_STOPPED);
  ASSERT_EQ(recs.size(), 1u);
  EXPECT_FALSE(recs[0].ok);
  EXPECT_EQ(recs[0].done_ps, to_ps(reset_at));
  EXPECT_EQ(s("pri.aborted"), 1);
  EXPECT_EQ(s("pri.unexpected"), 1);
}

// A Stop Marker waits for the PASID's outstanding page request to be answered; with nothing
// outstanding it leaves at once. Body: address 0, index 0, Last, R = W = 0; the PASID prefix.
TEST_F(EndpointPri, StopMarkerFollowsTheLastResponse) {
  build();
  ag->autorespond = true;
  ag->on_request = [&](const SeenPr& pr) { ag->map(pr.addr(), 0x93000, 5); };
  const sc_time answered = kLookup + kTr + kReq + sc_time(1, SC_US);
  const sc_time alone = sc_time(10, SC_US);
  run([&] {
    ep->submit(job(0x7000000, 1, 64, 64, false, 5));
    wait_pr(1);
    EXPECT_TRUE(ep->stop_pasid(5));
    EXPECT_EQ(ag->prs.size(), 1u);  // not yet: PASID 5 has a request outstanding
    sc_core::wait(ep->irq());
    wait_until(alone);
    EXPECT_TRUE(ep->stop_pasid(9));
  });
  ASSERT_EQ(ag->prs.size(), 3u);
  const SeenPr& m = ag->prs[1];
  EXPECT_EQ(m.body, 0x4u);
  EXPECT_TRUE(m.stop());
  EXPECT_TRUE(m.pasid_valid);
  EXPECT_EQ(m.pasid, 5u);
  EXPECT_EQ(m.t, answered);
  EXPECT_EQ(ag->prs[2].body, 0x4u);
  EXPECT_EQ(ag->prs[2].pasid, 9u);
  EXPECT_EQ(ag->prs[2].t, alone);
  EXPECT_EQ(s("pri.stop_markers"), 2);
  EXPECT_EQ(s("pri.requests"), 1);
  ASSERT_EQ(recs.size(), 1u);
  EXPECT_TRUE(recs[0].ok);
}

TEST_F(EndpointPri, DisabledPriFailsTheAccessAsBefore) {
  build(/*alloc*/ 0);  // capability present, never enabled
  run([&] {
    dma(job(0x1000, 1));
    EXPECT_FALSE(ep->stop_pasid(3));
  });
  EXPECT_EQ(ag->prs.size(), 0u);
  ASSERT_EQ(recs.size(), 1u);
  EXPECT_FALSE(recs[0].ok);
  EXPECT_EQ(recs[0].done_ps, to_ps(kLookup + kTr));
  EXPECT_EQ(s("ats.ats_denied"), 1);
  EXPECT_EQ(s("pri.requests"), 0);
}

// The stream behind a faulting request: with a window of 2, request 2 reuses request 0's slot and
// issues only once request 0 has completed after its page request.
TEST_F(EndpointPri, TheWindowWaitsForTheFaultingRequest) {
  p.outstanding = 2;
  build();
  ag->map(0x21000, 0xA1000);
  ag->autorespond = true;
  ag->on_request = [&](const SeenPr& pr) { ag->map(pr.addr(), 0xA0000); };
  DmaJob j = job(0x20000, 3, 64, 2 * 4096);
  j.pattern = DmaPattern::Strided;
  j.stride = 4096;  // pages 0x20000 (unmapped), 0x21000 (mapped), 0x20000 again
  run([&] { dma(j); });
  const sc_time answered = kLookup + kTr + kReq + sc_time(1, SC_US);
  const sc_time done0 = answered + kRetry + kLookup + kTr + kMem;
  ASSERT_EQ(recs.size(), 3u);
  // Completion order: request 1 (mapped) first, then 0, then 2.
  EXPECT_EQ(recs[0].iova, 0x21000u);
  EXPECT_EQ(recs[0].done_ps, to_ps(kLookup + kTr + kMem));
  EXPECT_EQ(recs[1].iova, 0x20000u);
  EXPECT_EQ(recs[1].done_ps, to_ps(done0));
  EXPECT_EQ(recs[2].issue_ps, to_ps(done0));
  EXPECT_EQ(recs[2].done_ps, to_ps(done0 + kLookup + kMem));  // an ATC hit on the retried entry
  for (const DmaRecord& r : recs) EXPECT_TRUE(r.ok);
}

}  // namespace
}  // namespace iommusim
