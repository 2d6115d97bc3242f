// Endpoint ATS: the device ATC on its own, and the endpoint against a stand-in translation agent
// that answers Translation Requests from a hand-written table with a fixed latency, serves
// translated and untranslated requests as memory, sends Invalidate Requests downstream and records
// Invalidate Completions. Every expected time is computed here from the latencies below.
#include <gtest/gtest.h>
#include <systemc>
#include <sysc/kernel/sc_spawn.h>
#include <tlm>
#include <tlm_utils/simple_initiator_socket.h>
#include <tlm_utils/simple_target_socket.h>

#include <cstring>
#include <functional>
#include <memory>
#include <vector>

#include "models/common/payload_pool.h"
#include "models/common/pcie_ext.h"
#include "models/common/sim_time.h"
#include "models/pcie/atc.h"
#include "models/pcie/ats_defs.h"
#include "models/pcie/endpoint.h"
#include "testbenches/sim_fixture.h"

namespace iommusim {
namespace {

using sc_core::SC_NS;
using sc_core::SC_US;
using sc_core::sc_time;

constexpr uint64_t kKiB = 1024, kMiB = 1024 * kKiB;
constexpr uint16_t kRid = 0x0108;

sc_time ns(double v) { return sc_time(v, SC_NS); }
sc_time ps(uint64_t v) { return sc_time::from_value(v); }

double stat(StatGroup& g, const char* path) {
  double v = -1;
  EXPECT_TRUE(g.find(path, v)) << path;
  return v;
}

// ---- Atc on its own -------------------------------------------------------------------------------

AtcEntry entry(uint64_t va, uint64_t size, uint64_t pa, int pasid = -1, bool global = false) {
  AtcEntry e;
  e.va = va;
  e.pa = pa;
  e.shift = static_cast<uint8_t>(__builtin_ctzll(size));
  e.pasid_valid = pasid >= 0;
  e.pasid = pasid >= 0 ? static_cast<uint32_t>(pasid) : 0;
  e.r = e.w = true;
  e.global = global;
  return e;
}

class AtcTest : public test::SimTest {
 protected:
  StatGroup root{"dev"};
};

TEST_F(AtcTest, LookupBySizePasidAndGlobal) {
  Atc c(CacheParams(16, 0), 1, "atc", root);
  c.insert(entry(0x1000, 4 * kKiB, 0x91000));                  // no PASID
  c.insert(entry(0x200000, 2 * kMiB, 0x40000000, 5));          // PASID 5, 2 MiB
  c.insert(entry(0x400000, 4 * kKiB, 0x77000, 7, true));       // PASID 7, Global
  const AtcEntry* e = c.lookup(false, 0, 0x1abc);
  ASSERT_NE(e, nullptr);
  EXPECT_EQ(e->translate(0x1abc), 0x91abcu);
  EXPECT_EQ(c.lookup(true, 5, 0x1abc), nullptr);               // a PASID request never uses a non-PASID entry
  e = c.lookup(true, 5, 0x3ffff8);                             // last bytes of the 2 MiB range
  ASSERT_NE(e, nullptr);
  EXPECT_EQ(e->translate(0x3ffff8), 0x401ffff8u);
  EXPECT_EQ(c.lookup(true, 6, 0x200000), nullptr);             // other PASID
  EXPECT_EQ(c.lookup(true, 5, 0x400000 + 0x1000), nullptr);    // past the Global page
  e = c.lookup(true, 9, 0x400123);                             // Global: any PASID
  ASSERT_NE(e, nullptr);
  EXPECT_EQ(e->translate(0x400123), 0x77123u);
  EXPECT_EQ(c.lookup(false, 0, 0x400000), nullptr);            // but not requests without PASID
  EXPECT_EQ(stat(root, "atc.lookups"), 7);
  EXPECT_EQ(stat(root, "atc.hits"), 3);
  EXPECT_EQ(stat(root, "atc.misses"), 4);
  EXPECT_EQ(stat(root, "atc.fills"), 3);
}

// Entries: A no PASID, B PASID 1, C PASID 2, D PASID 2 Global, all in [0, 16 KiB); E PASID 1 far away.
struct Five {
  explicit Five(Atc& c) {
    c.insert(entry(0x0000, 4 * kKiB, 0xA000));
    c.insert(entry(0x1000, 4 * kKiB, 0xB000, 1));
    c.insert(entry(0x2000, 4 * kKiB, 0xC000, 2));
    c.insert(entry(0x3000, 4 * kKiB, 0xD000, 2, true));
    c.insert(entry(0x100000, 4 * kKiB, 0xE000, 1));
  }
};
bool has(Atc& c, bool pv, uint32_t pasid, uint64_t va) { return c.lookup(pv, pasid, va) != nullptr; }

TEST_F(AtcTest, InvalidateWithPasidHitsOnlyThatPasid) {
  Atc c(CacheParams(16, 0), 1, "atc", root);
  Five f(c);
  EXPECT_EQ(c.invalidate({0, 16 * kKiB}, true, 1, false), 1u);  // B only (E is out of range)
  EXPECT_FALSE(has(c, true, 1, 0x1000));
  EXPECT_TRUE(has(c, false, 0, 0x0000));
  EXPECT_TRUE(has(c, true, 2, 0x2000));
  EXPECT_TRUE(has(c, true, 2, 0x3000));
  EXPECT_TRUE(has(c, true, 1, 0x100000));
  // Without Global Invalidate a Global entry fetched under PASID 2 survives PASID 1's invalidation.
  EXPECT_TRUE(has(c, true, 1, 0x3000));
}

TEST_F(AtcTest, GlobalInvalidateAlsoHitsGlobalEntriesOfEveryPasid) {
  Atc c(CacheParams(16, 0), 1, "atc", root);
  Five f(c);
  EXPECT_EQ(c.invalidate({0, 16 * kKiB}, true, 1, true), 2u);  // B (PASID 1) and D (Global, PASID 2)
  EXPECT_FALSE(has(c, true, 1, 0x1000));
  EXPECT_FALSE(has(c, true, 2, 0x3000));
  EXPECT_TRUE(has(c, true, 2, 0x2000));  // C: PASID 2, not Global
  EXPECT_TRUE(has(c, false, 0, 0x0000));
}

TEST_F(AtcTest, InvalidateWithoutPasidHitsEveryPasidInRange) {
  Atc c(CacheParams(16, 0), 1, "atc", root);
  Five f(c);
  EXPECT_EQ(c.invalidate({0, 16 * kKiB}, false, 0, false), 4u);
  EXPECT_TRUE(has(c, true, 1, 0x100000));
  EXPECT_EQ(c.occupancy(), 1u);
  EXPECT_EQ(stat(root, "atc.invalidated"), 4);
}

TEST_F(AtcTest, RangesOverlapBothWaysAndSizeZeroIsEverything) {
  Atc c(CacheParams(16, 0), 1, "atc", root);
  c.insert(entry(0x200000, 2 * kMiB, 0x40000000));
  c.insert(entry(0x600000, 4 * kKiB, 0x50000000));
  c.insert(entry(0x601000, 4 * kKiB, 0x50001000));
  const uint64_t e0 = c.epoch();
  EXPECT_EQ(c.invalidate({0x3ff000, 4 * kKiB}, false, 0, false), 1u);  // a page inside the 2 MiB entry
  EXPECT_FALSE(has(c, false, 0, 0x200000));
  EXPECT_EQ(c.invalidate({0x800000, 4 * kKiB}, false, 0, false), 0u);
  EXPECT_EQ(c.epoch(), e0 + 2);                                       // even when nothing matched
  EXPECT_EQ(c.invalidate({0x600000, 2 * kMiB}, false, 0, false), 2u);  // a range covering two pages
  c.insert(entry(0x600000, 4 * kKiB, 0x50000000, 3));
  c.insert(entry(0x7ff000000000, 4 * kKiB, 0x1000));
  EXPECT_EQ(c.invalidate({0, ats::kAllRange}, false, 0, false), 2u);
  EXPECT_EQ(c.occupancy(), 0u);
  // The encoded forms the agent sends decode to these ranges.
  bool g = true;
  const ats::Range r = ats::decode_inv_request(ats::encode_inv_request(0x400000, 2 * kMiB, false), g);
  EXPECT_FALSE(g);
  EXPECT_EQ(r.base, 0x400000u);
  EXPECT_EQ(r.size, 2 * kMiB);
}

TEST_F(AtcTest, ReplacementEvictionAndErase) {
  Atc c(CacheParams(2, 0), 1, "atc", root);
  c.insert(entry(0x1000, 4 * kKiB, 0xA000));
  c.insert(entry(0x2000, 4 * kKiB, 0xB000));
  EXPECT_NE(c.lookup(false, 0, 0x1000), nullptr);  // 0x2000 becomes LRU
  AtcEntry again = entry(0x1000, 4 * kKiB, 0xF000);
  c.insert(again);                                  // same key: replaced, no eviction
  EXPECT_EQ(stat(root, "atc.evictions"), 0);
  EXPECT_EQ(c.lookup(false, 0, 0x1000)->pa, 0xF000u);
  c.insert(entry(0x3000, 4 * kKiB, 0xC000));       // evicts 0x2000
  EXPECT_EQ(stat(root, "atc.evictions"), 1);
  EXPECT_FALSE(has(c, false, 0, 0x2000));
  const AtcEntry* e = c.lookup(false, 0, 0x3000);
  c.erase(e);
  EXPECT_FALSE(has(c, false, 0, 0x3000));
  EXPECT_TRUE(has(c, false, 0, 0x1000));
  EXPECT_EQ(c.invalidate_all(), 1u);
  Atc off(CacheParams(0, 0), 1, "off", root);
  EXPECT_FALSE(off.enabled());
  EXPECT_EQ(off.insert(entry(0x1000, 4 * kKiB, 0xA000)), nullptr);
}

// ---- Endpoint against a stand-in translation agent -----------------------------------------------

struct Mapping {
  bool pasid_valid;
  uint32_t pasid;
  uint64_t va, size, pa;
  bool r, w, u, global;
};
struct SeenAccess {
  uint64_t addr;
  uint32_t len;
  bool write;
  AddrType at;
  bool pasid_valid;
  uint32_t pasid;
  uint16_t rid;
  sc_time t;  // when it reached the agent
};
struct SeenTreq {
  uint64_t addr;
  uint32_t len;
  bool nw;
  bool pasid_valid;
  uint32_t pasid;
  sc_time t;
};
struct SeenCpl {
  uint32_t itags;
  uint8_t cc;
  uint16_t rid;
  sc_time t;  // when it was sent
};

struct Agent : sc_core::sc_module {
  tlm_utils::simple_target_socket<Agent> up{"up"};          // the endpoint's dma binds here
  tlm_utils::simple_initiator_socket<Agent> down{"down"};   // binds to the endpoint's from_link
  tlm_utils::simple_initiator_socket<Agent> mmio{"mmio"};   // binds to the endpoint's BAR
  std::vector<Mapping> table;
  sc_time tr_latency = ns(500), mem_latency = ns(300);
  bool unsupported = false;                       // answer Translation Requests with an error (UR)
  bool tr_waits = false, mem_waits = false;       // wait inside b_transport instead of annotating
  std::vector<SeenAccess> accesses;
  std::vector<SeenTreq> treqs;
  std::vector<SeenCpl> cpls;
  sc_core::sc_event cpl_ev;

  explicit Agent(sc_core::sc_module_name n) : sc_core::sc_module(n) { up.register_b_transport(this, &Agent::b_transport); }

  void map(uint64_t va, uint64_t size, uint64_t pa, bool r = true, bool w = true, int pasid = -1, bool u = false,
           bool global = false) {
    table.push_back({pasid >= 0, pasid >= 0 ? static_cast<uint32_t>(pasid) : 0, va, size, pa, r, w, u, global});
  }
  // Sends an Invalidate Request now (posted: it arrives at the endpoint at once).
  void invalidate(uint64_t base, uint64_t size, uint8_t itag, int pasid = -1, bool global = false) {
    uint64_t body = ats::encode_inv_request(base, size, global);
    PcieExt* x;
    tlm::tlm_generic_payload* gp = pool_.acquire(x);
    gp->set_command(tlm::TLM_WRITE_COMMAND);
    gp->set_data_ptr(reinterpret_cast<unsigned char*>(&body));
    gp->set_data_length(8);
    gp->set_streaming_width(8);
    x->rid = kRid;
    x->msg = MsgKind::AtsInvRequest;
    x->pasid_valid = pasid >= 0;
    x->pasid = pasid >= 0 ? static_cast<uint32_t>(pasid) : 0;
    x->itag_or_prg = itag;
    sc_time d = sc_core::SC_ZERO_TIME;
    down->b_transport(*gp, d);
    EXPECT_TRUE(gp->is_response_ok());
    gp->release();
  }
  tlm::tlm_response_status reg(bool write, uint16_t& v) {
    tlm::tlm_generic_payload gp;
    gp.set_command(write ? tlm::TLM_WRITE_COMMAND : tlm::TLM_READ_COMMAND);
    gp.set_address(kAtsControlOffset);
    gp.set_data_ptr(reinterpret_cast<unsigned char*>(&v));
    gp.set_data_length(2);
    gp.set_streaming_width(2);
    sc_time d = sc_core::SC_ZERO_TIME;
    mmio->b_transport(gp, d);
    return gp.get_response_status();
  }

 private:
  void b_transport(tlm::tlm_generic_payload& gp, sc_time& delay) {
    const PcieExt& x = *gp.get_extension<PcieExt>();
    const sc_time t = sc_core::sc_time_stamp() + delay;
    if (x.msg == MsgKind::AtsInvCompletion) {
      uint64_t z;
      std::memcpy(&z, gp.get_data_ptr(), 8);
      EXPECT_EQ(z, 0u);
      cpls.push_back({x.itag_or_prg, x.cc, x.rid, t});
      cpl_ev.notify(sc_core::SC_ZERO_TIME);
      gp.set_response_status(tlm::TLM_OK_RESPONSE);
      return;
    }
    if (x.at == AddrType::TranslationRequest) {
      treqs.push_back({gp.get_address(), gp.get_data_length(), x.nw, x.pasid_valid, x.pasid, t});
      finish(delay, tr_latency, tr_waits);
      if (unsupported) {
        gp.set_response_status(tlm::TLM_COMMAND_ERROR_RESPONSE);
        return;
      }
      ats::Translation tr;  // R=W=0 unless mapped
      for (const Mapping& m : table) {
        const uint64_t a = gp.get_address();
        if (m.pasid_valid != x.pasid_valid || (m.pasid_valid && m.pasid != x.pasid && !m.global)) continue;
        if (a < m.va || a - m.va >= m.size) continue;
        tr.addr = m.pa;
        tr.size = m.size;
        tr.r = m.r;
        tr.w = m.w;
        tr.u = m.u;
        tr.global = m.global;
      }
      const uint64_t v = ats::encode_completion(tr);
      std::memcpy(gp.get_data_ptr(), &v, 8);
      gp.set_response_status(tlm::TLM_OK_RESPONSE);
      return;
    }
    accesses.push_back({gp.get_address(), gp.get_data_length(), gp.is_write(), x.at, x.pasid_valid, x.pasid, x.rid, t});
    finish(delay, mem_latency, mem_waits);
    gp.set_response_status(tlm::TLM_OK_RESPONSE);
  }
  void finish(sc_time& delay, const sc_time& lat, bool waits) {
    if (waits) {
      wait(delay + lat);
      delay = sc_core::SC_ZERO_TIME;
    } else {
      delay += lat;
    }
  }
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

class EndpointAts : public test::SimTest {
 protected:
  void SetUp() override {
    SimTest::SetUp();
    tlm::tlm_global_quantum::instance().set(sc_time(1, SC_US));
    p.ats.enabled = true;
    // The endpoint's defaults, and the agent's; every expectation is computed from these.
    kLookup = ns(2);
    kInv = sc_time(1, SC_US);
    kTr = ns(500);
    kMem = ns(300);
  }
  sc_time kLookup, kInv, kTr, kMem;
  void build(bool enable = true) {
    ep = std::make_unique<Endpoint>("ep", p);
    ag = std::make_unique<Agent>("agent");
    ep->dma.bind(ag->up);
    ag->down.bind(ep->from_link);
    ag->mmio.bind(ep->bar);
    ep->set_rid(kRid);
    if (enable) ep->set_ats_enabled(true);
    ep->set_observer([this](const DmaRecord& r) { recs.push_back(r); });
  }
  void run(std::function<void()> body) {
    sc_core::sc_spawn(std::move(body));
    sc_core::sc_start();
  }
  // Thread context: runs a job to completion.
  void dma(const DmaJob& j) {
    ep->submit(j);
    sc_core::wait(ep->irq());
  }
  void wait_until(const sc_time& t) {
    if (t > sc_core::sc_time_stamp()) sc_core::wait(t - sc_core::sc_time_stamp());
  }
  double s(const char* path) { return stat(ep->stats(), path); }

  EndpointParams p;
  std::unique_ptr<Endpoint> ep;
  std::unique_ptr<Agent> ag;
  std::vector<DmaRecord> recs;
};

TEST_F(EndpointAts, OneTranslationRequestServesEveryAccessToItsPage) {
  build();
  ag->map(0x10000, 4 * kKiB, 0x80000);
  run([&] { dma(job(0x10000, 16)); });
  ASSERT_EQ(ag->treqs.size(), 1u);
  ASSERT_EQ(ag->accesses.size(), 16u);
  ASSERT_EQ(recs.size(), 16u);
  // Requests 0-7 (the outstanding window) reach the ATC at 2 ns; request 0 misses and its
  // Translation Request completes at 502 ns; 1-7 find the entry pending and wait for it.
  const sc_time ready = kLookup + kTr;
  for (unsigned i = 0; i < 16; ++i) {
    EXPECT_EQ(ag->accesses[i].addr, 0x80000u + 64 * i);
    EXPECT_EQ(ag->accesses[i].at, AddrType::Translated);
    EXPECT_TRUE(recs[i].ok);
    EXPECT_TRUE(recs[i].translated);
    const sc_time done = i < 8 ? ready + kMem : ready + kMem + kLookup + kMem;  // 8-15 issue when 0-7 complete
    EXPECT_EQ(recs[i].done_ps, to_ps(done)) << i;
  }
  EXPECT_EQ(s("atc.lookups"), 16);
  EXPECT_EQ(s("atc.misses"), 1);
  EXPECT_EQ(s("atc.hits"), 15);
  EXPECT_EQ(s("atc.fills"), 1);
  EXPECT_EQ(s("ats.translation_requests"), 1);
  EXPECT_EQ(s("ats.translated_requests"), 16);
  EXPECT_EQ(s("faults"), 0);
}

TEST_F(EndpointAts, TranslatedRequestCarriesTranslatedAddressPlusOffset) {
  build();
  ag->map(0x10000, 4 * kKiB, 0x80000, true, true, 4);
  run([&] { dma(job(0x10123, 1, 16, 16, false, 4)); });
  ASSERT_EQ(ag->treqs.size(), 1u);
  const SeenTreq& t = ag->treqs[0];
  EXPECT_EQ(t.addr, 0x10000u);  // page aligned
  EXPECT_EQ(t.len, 8u);
  EXPECT_FALSE(t.nw);
  EXPECT_TRUE(t.pasid_valid);
  EXPECT_EQ(t.pasid, 4u);
  ASSERT_EQ(ag->accesses.size(), 1u);
  const SeenAccess& a = ag->accesses[0];
  EXPECT_EQ(a.addr, 0x80123u);
  EXPECT_EQ(a.len, 16u);
  EXPECT_EQ(a.at, AddrType::Translated);
  EXPECT_EQ(a.rid, kRid);
  EXPECT_TRUE(a.pasid_valid);
  EXPECT_EQ(a.pasid, 4u);
  EXPECT_EQ(a.t, t.t + kTr);  // issued the moment the completion arrived
}

TEST_F(EndpointAts, TwoMegabyteTranslationCoversEveryPageInIt) {
  build();
  ag->map(0x200000, 2 * kMiB, 0x40000000);
  DmaJob j = job(0x200000, 512, 64, 2 * kMiB);
  j.pattern = DmaPattern::Strided;
  j.stride = 4096;
  run([&] { dma(j); });
  ASSERT_EQ(ag->treqs.size(), 1u);
  ASSERT_EQ(ag->accesses.size(), 512u);
  for (unsigned i = 0; i < 512; ++i) EXPECT_EQ(ag->accesses[i].addr, 0x40000000u + 4096u * i) << i;
  EXPECT_EQ(ep->atc()->occupancy(), 1u);
  EXPECT_EQ(s("atc.misses"), 1);
}

TEST_F(EndpointAts, DeniedTranslationFailsTheAccess) {
  build();
  run([&] {
    dma(job(0x10000, 1));
    dma(job(0x10000, 1));  // a denial is not cached: asked again
  });
  EXPECT_EQ(ag->treqs.size(), 2u);
  EXPECT_EQ(ag->accesses.size(), 0u);
  ASSERT_EQ(recs.size(), 2u);
  EXPECT_FALSE(recs[0].ok);
  EXPECT_FALSE(recs[0].translated);
  EXPECT_EQ(recs[0].done_ps, to_ps(kLookup + kTr));
  EXPECT_EQ(s("ats.ats_denied"), 2);
  EXPECT_EQ(s("faults"), 2);
  EXPECT_EQ(ep->atc()->occupancy(), 0u);
}

TEST_F(EndpointAts, ErrorResponseToTranslationRequestFailsTheAccess) {
  build();
  ag->map(0x10000, 4 * kKiB, 0x80000);
  ag->unsupported = true;
  run([&] { dma(job(0x10000, 1)); });
  EXPECT_EQ(ag->accesses.size(), 0u);
  EXPECT_EQ(s("ats.translation_errors"), 1);
  EXPECT_EQ(s("ats.ats_denied"), 0);
  EXPECT_EQ(s("faults"), 1);
}

TEST_F(EndpointAts, UBitSendsTheAccessUntranslated) {
  build();
  ag->map(0x10000, 4 * kKiB, 0x80000, true, true, -1, /*u=*/true);
  run([&] { dma(job(0x10000, 4)); });
  EXPECT_EQ(ag->treqs.size(), 1u);  // the U entry is cached too
  ASSERT_EQ(ag->accesses.size(), 4u);
  for (unsigned i = 0; i < 4; ++i) {
    EXPECT_EQ(ag->accesses[i].addr, 0x10000u + 64 * i);
    EXPECT_EQ(ag->accesses[i].at, AddrType::Untranslated);
    EXPECT_FALSE(recs[i].translated);
    EXPECT_TRUE(recs[i].ok);
  }
  EXPECT_EQ(s("ats.untranslated_u"), 4);
  EXPECT_EQ(s("ats.translated_requests"), 0);
}

TEST_F(EndpointAts, MissingPermissionIsRequestedOnceMore) {
  build();
  ag->map(0x10000, 4 * kKiB, 0x80000, true, false);  // read-only
  ag->map(0x20000, 4 * kKiB, 0x90000, true, false);
  run([&] {
    dma(job(0x10000, 1));
    ag->table[0].w = true;  // the agent now grants writes to the first page
    dma(job(0x10000, 1, 64, 4096, true));
    dma(job(0x20000, 1, 64, 4096, true));  // still read-only: re-requested once, then fails
  });
  EXPECT_EQ(ag->treqs.size(), 4u);
  ASSERT_EQ(ag->accesses.size(), 2u);
  EXPECT_TRUE(ag->accesses[1].write);
  EXPECT_EQ(ag->accesses[1].addr, 0x80000u);
  ASSERT_EQ(recs.size(), 3u);
  EXPECT_TRUE(recs[1].ok);
  EXPECT_FALSE(recs[2].ok);
  EXPECT_EQ(s("ats.permission_retries"), 2);
  EXPECT_EQ(s("ats.ats_denied"), 1);
}

TEST_F(EndpointAts, AfterTheCompletionTheOldTranslationIsNotUsed) {
  build();
  ag->map(0x10000, 4 * kKiB, 0x80000);
  sc_time sent;
  run([&] {
    dma(job(0x10000, 1));
    ag->table[0].pa = 0xA0000;  // the host remaps the page and invalidates
    sent = sc_core::sc_time_stamp();
    ag->invalidate(0x10000, 4 * kKiB, 3);
    sc_core::wait(ag->cpl_ev);
    dma(job(0x10040, 1));
  });
  ASSERT_EQ(ag->cpls.size(), 1u);
  EXPECT_EQ(ag->cpls[0].itags, 1u << 3);
  EXPECT_EQ(ag->cpls[0].cc, 1u);
  EXPECT_EQ(ag->cpls[0].rid, kRid);
  EXPECT_EQ(ag->cpls[0].t, sent + kInv);
  ASSERT_EQ(ag->accesses.size(), 2u);
  EXPECT_EQ(ag->accesses[0].addr, 0x80000u);
  EXPECT_EQ(ag->accesses[1].addr, 0xA0040u);
  EXPECT_EQ(ag->treqs.size(), 2u);
  EXPECT_EQ(s("ats.inv_received"), 1);
  EXPECT_EQ(s("ats.inv_completed"), 1);
  EXPECT_EQ(s("atc.invalidated"), 1);
}

TEST_F(EndpointAts, EntriesGoWhenTheInvalidationStarts) {
  build();
  ag->map(0x10000, 4 * kKiB, 0x80000);
  run([&] {
    dma(job(0x10000, 1));
    ag->table[0].pa = 0xA0000;
    ag->invalidate(0x10000, 4 * kKiB, 0);
    sc_core::wait(ns(100));  // well before the completion
    dma(job(0x10000, 1));
    EXPECT_TRUE(ag->cpls.empty());
  });
  ASSERT_EQ(ag->accesses.size(), 2u);
  EXPECT_EQ(ag->accesses[1].addr, 0xA0000u);
  EXPECT_EQ(ag->treqs.size(), 2u);
}

// Completion timing with nothing in flight: exactly arrival + inv_latency, not a picosecond before.
TEST_F(EndpointAts, CompletionIsSentInvLatencyAfterArrival) {
  build();
  const sc_time arrival(3, SC_US);
  size_t before = 99;
  run([&] {
    wait_until(arrival);
    ag->invalidate(0, ats::kAllRange, 7);
    wait_until(arrival + kInv - ps(1));
    before = ag->cpls.size();
  });
  EXPECT_EQ(before, 0u);
  ASSERT_EQ(ag->cpls.size(), 1u);
  EXPECT_EQ(ag->cpls[0].t, arrival + kInv);
  EXPECT_EQ(ag->cpls[0].itags, 1u << 7);
}

// A request issued before the invalidation completes after arrival + inv_latency: the completion
// follows it, at exactly its completion time.
TEST_F(EndpointAts, CompletionFollowsEveryIssuedRequest) {
  build();
  ag->mem_latency = sc_time(5, SC_US);
  ag->map(0x10000, 4 * kKiB, 0x80000);
  const sc_time arrival(1, SC_US);
  const sc_time dma_done = kLookup + kTr + ag->mem_latency;  // 5.502 us > arrival + inv_latency
  size_t before = 99;
  run([&] {
    ep->submit(job(0x10000, 1));
    wait_until(arrival);
    ag->invalidate(0x50000, 4 * kKiB, 1);  // another page: the rule covers every issued request
    wait_until(dma_done - ps(1));
    before = ag->cpls.size();
  });
  ASSERT_EQ(recs.size(), 1u);
  EXPECT_EQ(recs[0].done_ps, to_ps(dma_done));
  EXPECT_EQ(before, 0u);
  ASSERT_EQ(ag->cpls.size(), 1u);
  EXPECT_EQ(ag->cpls[0].t, dma_done);
}

// The same when the target keeps the request inside its transport call (the engine has issued it
// but does not know its completion time yet when the invalidation starts).
TEST_F(EndpointAts, CompletionWaitsForARequestStillInTransport) {
  build();
  ag->mem_latency = sc_time(5, SC_US);
  ag->mem_waits = true;
  ag->map(0x10000, 4 * kKiB, 0x80000);
  const sc_time dma_done = kLookup + kTr + ag->mem_latency;
  run([&] {
    ep->submit(job(0x10000, 1));
    wait_until(sc_time(1, SC_US));
    ag->invalidate(0x10000, 4 * kKiB, 1);
  });
  ASSERT_EQ(ag->cpls.size(), 1u);
  EXPECT_EQ(ag->cpls[0].t, dma_done);
}

// A Translation Completion that was outstanding while an invalidation ran is not trusted.
TEST_F(EndpointAts, TranslationOutstandingAcrossAnInvalidationIsAskedAgain) {
  build();
  ag->tr_waits = true;
  ag->map(0x10000, 4 * kKiB, 0x80000);
  run([&] {
    ep->submit(job(0x10000, 1));
    wait_until(ns(100));  // the Translation Request is inside the agent until 502 ns
    ag->table[0].pa = 0xA0000;
    ag->invalidate(0x10000, 4 * kKiB, 2);
  });
  EXPECT_EQ(ag->treqs.size(), 2u);
  EXPECT_EQ(s("ats.stale_translations"), 1);
  ASSERT_EQ(ag->accesses.size(), 1u);
  EXPECT_EQ(ag->accesses[0].addr, 0xA0000u);
  EXPECT_EQ(recs[0].done_ps, to_ps(kLookup + kTr + kTr + kMem));
  EXPECT_EQ(ag->cpls[0].t, ns(100) + kInv);
}

TEST_F(EndpointAts, QueueDepthLimitsConcurrentInvalidations) {
  p.ats.inv_queue_depth = 2;
  build();
  const sc_time arrival(1, SC_US);
  size_t at_2x_minus = 99;
  run([&] {
    wait_until(arrival);
    for (uint8_t t = 0; t < 4; ++t) ag->invalidate(0x1000 * t, 4 * kKiB, t);
    wait_until(arrival + 2 * kInv - ps(1));
    at_2x_minus = ag->cpls.size();
  });
  ASSERT_EQ(ag->cpls.size(), 4u);
  EXPECT_EQ(at_2x_minus, 2u);
  const sc_time want[4] = {arrival + kInv, arrival + kInv, arrival + 2 * kInv, arrival + 2 * kInv};
  for (unsigned i = 0; i < 4; ++i) {
    const SeenCpl* c = nullptr;
    for (const auto& x : ag->cpls)
      if (x.itags == 1u << i) c = &x;
    ASSERT_NE(c, nullptr) << i;
    EXPECT_EQ(c->t, want[i]) << i;
  }
  EXPECT_EQ(s("ats.inv_queue_overflow"), 2);
  EXPECT_EQ(s("ats.inv_completed"), 4);
}

TEST_F(EndpointAts, PasidScopedAndUnscopedInvalidation) {
  build();
  ag->map(0x10000, 4 * kKiB, 0x81000, true, true, 1);
  ag->map(0x10000, 4 * kKiB, 0x82000, true, true, 2);
  auto both = [&] {
    dma(job(0x10000, 1, 64, 4096, false, 1));
    dma(job(0x10000, 1, 64, 4096, false, 2));
  };
  std::vector<size_t> treqs;
  run([&] {
    both();
    treqs.push_back(ag->treqs.size());
    ag->invalidate(0x10000, 4 * kKiB, 0, /*pasid=*/1);
    sc_core::wait(ag->cpl_ev);
    both();
    treqs.push_back(ag->treqs.size());
    ag->invalidate(0x10000, 4 * kKiB, 1);  // no PASID: every PASID
    sc_core::wait(ag->cpl_ev);
    both();
    treqs.push_back(ag->treqs.size());
  });
  EXPECT_EQ(treqs, (std::vector<size_t>{2, 3, 5}));
  ASSERT_EQ(ag->accesses.size(), 6u);
  EXPECT_EQ(ag->accesses[0].addr, 0x81000u);
  EXPECT_EQ(ag->accesses[1].addr, 0x82000u);
}

TEST_F(EndpointAts, GlobalTranslationServesEveryPasidUntilGlobalInvalidate) {
  build();
  ag->map(0x20000, 4 * kKiB, 0x90000, true, true, 1, false, /*global=*/true);
  std::vector<size_t> treqs;
  run([&] {
    dma(job(0x20000, 1, 64, 4096, false, 1));
    dma(job(0x20000, 1, 64, 4096, false, 2));  // hits the Global entry
    treqs.push_back(ag->treqs.size());
    ag->invalidate(0x20000, 4 * kKiB, 0, /*pasid=*/2, /*global=*/false);
    sc_core::wait(ag->cpl_ev);
    dma(job(0x20000, 1, 64, 4096, false, 2));  // still cached: fetched under PASID 1
    treqs.push_back(ag->treqs.size());
    ag->invalidate(0x20000, 4 * kKiB, 1, /*pasid=*/2, /*global=*/true);
    sc_core::wait(ag->cpl_ev);
    dma(job(0x20000, 1, 64, 4096, false, 2));
    treqs.push_back(ag->treqs.size());
  });
  EXPECT_EQ(treqs, (std::vector<size_t>{1, 1, 2}));
  ASSERT_EQ(ag->accesses.size(), 4u);
  for (const auto& a : ag->accesses) EXPECT_EQ(a.addr, 0x90000u);
}

TEST_F(EndpointAts, DisabledAtsSendsPlainUntranslatedRequests) {
  build(/*enable=*/false);
  ag->map(0x10000, 4 * kKiB, 0x80000);
  run([&] { dma(job(0x10000, 4)); });
  EXPECT_FALSE(ep->ats_enabled());
  EXPECT_TRUE(ag->treqs.empty());
  ASSERT_EQ(ag->accesses.size(), 4u);
  for (unsigned i = 0; i < 4; ++i) {
    EXPECT_EQ(ag->accesses[i].addr, 0x10000u + 64 * i);
    EXPECT_EQ(ag->accesses[i].at, AddrType::Untranslated);
    EXPECT_EQ(recs[i].done_ps, to_ps(kMem));  // no lookup latency either
  }
  EXPECT_EQ(s("ats.translation_requests"), 0);
  EXPECT_EQ(s("atc.lookups"), 0);
}

TEST_F(EndpointAts, WithoutTheCapabilityNothingChanges) {
  p.ats.enabled = false;
  build();  // set_ats_enabled(true) is ignored
  ag->map(0x10000, 4 * kKiB, 0x80000);
  uint16_t v = 0;
  run([&] {
    uint16_t w = kAtsControlEnable;
    EXPECT_EQ(ag->reg(true, w), tlm::TLM_OK_RESPONSE);
    EXPECT_EQ(ag->reg(false, v), tlm::TLM_OK_RESPONSE);
    dma(job(0x10000, 2));
  });
  EXPECT_EQ(v, 0u);
  EXPECT_FALSE(ep->ats_enabled());
  EXPECT_EQ(ep->atc(), nullptr);
  EXPECT_TRUE(ag->treqs.empty());
  EXPECT_EQ(ag->accesses.size(), 2u);
  double x;
  EXPECT_FALSE(ep->stats().find("ats.translation_requests", x));
}

TEST_F(EndpointAts, ControlRegisterThroughTheBar) {
  p.ats.stu = 8 * kKiB;
  build(/*enable=*/false);
  ag->map(0x10000, 16 * kKiB, 0x80000);
  uint16_t reset = 0, on = 0, off = 0;
  size_t occ_on = 0;
  run([&] {
    EXPECT_EQ(ag->reg(false, reset), tlm::TLM_OK_RESPONSE);
    uint16_t w = kAtsControlEnable | 2;  // enable, STU = 16 KiB
    ag->reg(true, w);
    ag->reg(false, on);
    EXPECT_TRUE(ep->ats_enabled());
    dma(job(0x13000, 1));
    occ_on = ep->atc()->occupancy();
    w = 2;
    ag->reg(true, w);  // disable: the ATC is flushed
    ag->reg(false, off);
    dma(job(0x13000, 1));
  });
  EXPECT_EQ(reset, 1u);  // STU 8 KiB = 2^1 pages, Enable clear
  EXPECT_EQ(on, kAtsControlEnable | 2);
  EXPECT_EQ(off, 2u);
  EXPECT_FALSE(ep->ats_enabled());
  ASSERT_EQ(ag->treqs.size(), 1u);
  EXPECT_EQ(ag->treqs[0].addr, 0x10000u);  // aligned to the STU
  EXPECT_EQ(occ_on, 1u);
  EXPECT_EQ(ep->atc()->occupancy(), 0u);
  ASSERT_EQ(ag->accesses.size(), 2u);
  EXPECT_EQ(ag->accesses[0].addr, 0x83000u);
  EXPECT_EQ(ag->accesses[0].at, AddrType::Translated);
  EXPECT_EQ(ag->accesses[1].addr, 0x13000u);
  EXPECT_EQ(ag->accesses[1].at, AddrType::Untranslated);
}

TEST_F(EndpointAts, MisroutedOrUnknownDownstreamMessagesAreRejected) {
  build();
  tlm::tlm_response_status st = tlm::TLM_OK_RESPONSE;
  run([&] {
    PayloadPool pool;
    PcieExt* x;
    tlm::tlm_generic_payload* gp = pool.acquire(x);
    uint64_t body = 0;
    gp->set_command(tlm::TLM_WRITE_COMMAND);
    gp->set_data_ptr(reinterpret_cast<unsigned char*>(&body));
    gp->set_data_length(8);
    gp->set_streaming_width(8);
    x->rid = kRid + 1;
    x->msg = MsgKind::AtsInvRequest;
    sc_time d = sc_core::SC_ZERO_TIME;
    ag->down->b_transport(*gp, d);
    st = gp->get_response_status();
    gp->release();
  });
  EXPECT_NE(st, tlm::TLM_OK_RESPONSE);
  EXPECT_EQ(s("ats.inv_rejected"), 1);
  EXPECT_EQ(s("ats.inv_received"), 0);
  EXPECT_TRUE(ag->cpls.empty());
}

}  // namespace
}  // namespace iommusim
