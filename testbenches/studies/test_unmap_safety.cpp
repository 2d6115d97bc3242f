// Study `unmap-safety` (configs/unmap-safety.yaml). A scoreboard watches every DMA of a device that
// reads at random over an IOVA window while the host concurrently maps and unmaps buffers in it:
// no DMA may succeed once the invalidation covering its page has completed (strict: when
// dma_unmap returns; lazy: when the flush queue's flush returns), and every DMA to a page whose
// mapping completed and is not being torn down must succeed. Ordering is exact to one quantum.
#include <gtest/gtest.h>
#include <sysc/kernel/sc_spawn.h>

#include <map>
#include <vector>

#include "models/common/rng.h"
#include "models/pcie/endpoint.h"
#include "testbenches/study_util.h"

namespace iommusim::test {
namespace {

enum class Ev { MapStart, MapDone, UnmapStart, InvDone };

class Scoreboard {
 public:
  explicit Scoreboard(uint64_t quantum_ps) : q_(quantum_ps) {}
  void event(uint64_t iova, uint64_t size, Ev e, uint64_t t) {
    for (uint64_t p = iova >> 12; p < (iova + size) >> 12; ++p) hist_[p].push_back({t, e});
  }
  void check(const DmaRecord& r) {
    const auto it = hist_.find(r.iova >> 12);
    const uint64_t t = r.issue_ps;
    // Certainly mapped: a map completed at least a quantum before, with no unmap starting up to a
    // quantum after. Certainly unmapped: never mapped by then, or the last invalidation completed
    // a quantum before and no new map started up to a quantum after.
    bool mapped = false, unmapped = true;
    if (it != hist_.end()) {
      for (const auto& [te, e] : it->second) {
        if (te > t + q_) break;
        switch (e) {
          case Ev::MapStart: unmapped = false; mapped = false; break;
          case Ev::MapDone: mapped = te + q_ <= t; break;
          case Ev::UnmapStart: mapped = false; break;
          case Ev::InvDone: unmapped = te + q_ <= t; break;
        }
      }
      for (const auto& [te, e] : it->second)  // anything starting within a quantum after t is a race
        if (te > t && te <= t + q_ && (e == Ev::UnmapStart)) mapped = false;
    }
    if (mapped) {
      ++must_succeed;
      if (!r.ok) ++spurious_faults;
    } else if (unmapped) {
      ++must_fault;
      if (r.ok) ++violations;
    } else {
      ++racy;
      if (r.ok && it != hist_.end()) ++racy_successes;
    }
  }
  uint64_t must_succeed = 0, must_fault = 0, racy = 0, racy_successes = 0, violations = 0, spurious_faults = 0;

 private:
  uint64_t q_;
  std::map<uint64_t, std::vector<std::pair<uint64_t, Ev>>> hist_;
};

struct Result {
  Scoreboard sb{0};
  uint64_t flushes = 0;
};

// The host thread maps/unmaps 16 KiB buffers at random; a device thread keeps a random 64 B read
// job running over the 1 MiB IOVA window below 4 GiB where the allocator places them.
Result run(bool lazy, const char* base = "base-smmuv3.yaml") {
  std::vector<std::string> sets = {"run.quantum=10ns", "platform.endpoints.nic0.outstanding=4"};
  if (lazy) {
    sets.push_back("platform.host.dma_mode=lazy");
    sets.push_back("platform.host.fq_size=100000");  // only the explicit flushes below
    sets.push_back("platform.host.fq_timeout=10s");
  }
  fresh_context();
  const PlatformConfig cfg = load_config(config_path(base), sets, default_registry());
  tlm::tlm_global_quantum::instance().set(sc_core::sc_time::from_value(cfg.quantum.ps));
  auto pf = build_platform(cfg, default_registry());
  Result res;
  res.sb = Scoreboard(cfg.quantum.ps);
  auto* host = pf->host;
  // Records are checked after the run: a mapping's IOVA is only known once dma_map returns, and
  // DMA may complete against it before that.
  std::vector<DmaRecord> records;
  pf->endpoints[0]->set_observer([&](const DmaRecord& r) { records.push_back(r); });
  bool done = false;
  constexpr uint64_t kBuf = 16 << 10, kWindowLo = (4ull << 30) - (1 << 20);

  sc_core::sc_spawn([&] {
    host->wait_booted();
    Rng rng(7, "unmap-safety");
    std::vector<uint64_t> pa(16), iova(16, 0);
    for (auto& p : pa) p = host->alloc_buffer(kBuf);
    std::vector<std::pair<uint64_t, uint64_t>> pending;  // lazy: unmapped, awaiting a flush
    for (int step = 0; step < 600; ++step) {
      const size_t b = rng.below(16);
      const uint64_t t0 = to_ps(sc_core::sc_time_stamp());
      if (iova[b]) {
        res.sb.event(iova[b], kBuf, Ev::UnmapStart, t0);
        host->dma_unmap(0, iova[b], kBuf);
        if (lazy) pending.emplace_back(iova[b], kBuf);
        else res.sb.event(iova[b], kBuf, Ev::InvDone, to_ps(sc_core::sc_time_stamp()));
        iova[b] = 0;
      } else {
        iova[b] = host->dma_map(0, pa[b], kBuf);
        EXPECT_GE(iova[b], kWindowLo);
        res.sb.event(iova[b], kBuf, Ev::MapStart, t0);
        res.sb.event(iova[b], kBuf, Ev::MapDone, to_ps(sc_core::sc_time_stamp()));
      }
      if (lazy && step % 50 == 49) {
        host->dma_domain(0).flush_queue();
        for (const auto& [i, s] : pending) res.sb.event(i, s, Ev::InvDone, to_ps(sc_core::sc_time_stamp()));
        pending.clear();
      }
      sc_core::wait(sc_core::sc_time(static_cast<double>(200 + rng.below(1500)), sc_core::SC_NS));
    }
    res.flushes = host->dma_domain(0).flushes();
    done = true;
  });
  sc_core::sc_spawn([&] {
    host->wait_booted();
    while (!done) {
      DmaJob j;
      j.iova = kWindowLo;
      j.window = 1 << 20;
      j.size = 64;
      j.pattern = DmaPattern::Random;
      j.count = 64;
      host->run_job(0, j);
    }
    sc_core::sc_stop();
  });
  sc_core::sc_report_handler::set_actions(sc_core::SC_INFO, sc_core::SC_DO_NOTHING);
  sc_core::sc_start(sc_core::sc_time(1, sc_core::SC_SEC));
  EXPECT_TRUE(done);
  for (const auto& r : records) res.sb.check(r);
  return res;
}

TEST(UnmapSafety, StrictNoDmaSucceedsAfterUnmapReturns) {
  const Result r = run(false);
  EXPECT_EQ(r.sb.violations, 0u);
  EXPECT_EQ(r.sb.spurious_faults, 0u);
  // The scoreboard must have had work on both sides to be able to fail.
  EXPECT_GT(r.sb.must_fault, 1000u);
  EXPECT_GT(r.sb.must_succeed, 300u);
}

TEST(UnmapSafety, LazyStaleUntilFlushThenFaults) {
  const Result r = run(true);
  EXPECT_EQ(r.sb.violations, 0u);
  EXPECT_EQ(r.sb.spurious_faults, 0u);
  EXPECT_GT(r.sb.must_fault, 1000u);
  EXPECT_GT(r.sb.must_succeed, 300u);
  EXPECT_EQ(r.flushes, 12u);
  // Lazy mode's window is real: unmapped pages were still reachable before their flush.
  EXPECT_GT(r.sb.racy_successes, 0u);
}

// The same scoreboard on the other architectures: only the platform differs.
class UnmapSafetyArch : public ::testing::TestWithParam<const char*> {};

TEST_P(UnmapSafetyArch, StrictAndLazyKeepTheirGuarantees) {
  for (bool lazy : {false, true}) {
    const Result r = run(lazy, GetParam());
    EXPECT_EQ(r.sb.violations, 0u) << (lazy ? "lazy" : "strict");
    EXPECT_EQ(r.sb.spurious_faults, 0u) << (lazy ? "lazy" : "strict");
    EXPECT_GT(r.sb.must_fault, 1000u);
    EXPECT_GT(r.sb.must_succeed, 300u);
  }
}

INSTANTIATE_TEST_SUITE_P(Architectures, UnmapSafetyArch, ::testing::Values("base-vtd.yaml", "base-amdvi.yaml"));

TEST(UnmapSafety, ShippedConfigProbesFaultInStrictMode) {
  const StudyRun r = run_study("unmap-safety.yaml");
  ASSERT_TRUE(r.sim.workloads_finished);
  EXPECT_EQ(r.host_stat("probe.probe_faults"), 500);
  EXPECT_EQ(r.host_stat("probe.probe_stale"), 0);
  EXPECT_EQ(r.host_stat("probe.faults"), 0);
}

TEST(UnmapSafety, ShippedConfigProbesHitStaleEntriesInLazyMode) {
  const StudyRun r = run_study("unmap-safety.yaml", {"platform.host.dma_mode=lazy"});
  ASSERT_TRUE(r.sim.workloads_finished);
  // Each probe right after a lazy unmap still finds the IOTLB entry the buffer's DMA just used.
  EXPECT_GT(r.host_stat("probe.probe_stale"), 0);
}

}  // namespace
}  // namespace iommusim::test
