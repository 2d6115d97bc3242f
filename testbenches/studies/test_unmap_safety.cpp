// Study `unmap-safety` (configs/unmap-safety.yaml). A scoreboard watches every DMA of a device that
// reads at random over an IOVA window while the host concurrently maps and unmaps buffers in it:
// no DMA may succeed once the invalidation covering its page has completed (strict: when
// dma_unmap returns; lazy: when the flush queue's flush returns), and every DMA to a page whose
// mapping completed and is not being torn down must succeed. Ordering is exact to one quantum.
#include <gtest/gtest.h>
#include <sysc/kernel/sc_spawn.h>

#include <algorithm>
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
  // A request is translated between its issue and the moment its memory access leaves the device
  // (sent): at once without ATS, after an ATC lookup and perhaps a Translation Request round trip
  // with it. It must succeed when its page was certainly mapped at issue and no unmap started
  // before it left; it must fault when, as it left, the page was certainly unmapped.
  void check(const DmaRecord& r) {
    const auto it = hist_.find(r.iova >> 12);
    const uint64_t t = r.issue_ps, ts = std::max(r.sent_ps, r.issue_ps);
    // Certainly mapped at t: a map completed at least a quantum before, and no unmap starts up to a
    // quantum after the request left. Certainly unmapped at ts: never mapped by then, or the last
    // invalidation completed a quantum before and no new map started up to a quantum after.
    bool mapped = false, unmapped = true;
    if (it != hist_.end()) {
      for (const auto& [te, e] : it->second) {
        if (te > t + q_) break;
        if (e == Ev::MapStart || e == Ev::UnmapStart) mapped = false;
        if (e == Ev::MapDone) mapped = te + q_ <= t;
      }
      for (const auto& [te, e] : it->second) {
        if (te > ts + q_) break;
        if (e == Ev::MapStart) unmapped = false;
        if (e == Ev::InvDone) unmapped = te + q_ <= ts;
        if (e == Ev::UnmapStart && te > t) mapped = false;  // an unmap racing the request
      }
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
  uint64_t translated = 0, atc_hits = 0;  // ATS runs: the device used its ATC
};

// The host thread maps/unmaps 16 KiB buffers at random; a device thread keeps a random 64 B read
// job running over the 1 MiB IOVA window below 4 GiB where the allocator places them.
Result run(bool lazy, const char* base = "base-smmuv3.yaml", const std::vector<std::string>& extra = {}) {
  std::vector<std::string> sets = {"run.quantum=10ns", "platform.endpoints.nic0.outstanding=4"};
  sets.insert(sets.end(), extra.begin(), extra.end());
  if (lazy) {
    sets.push_back("platform.host.dma_mode=lazy");
    sets.push_back("platform.host.fq_size=100000");  // only the explicit flushes below
    sets.push_back("platform.host.fq_timeout=10s");
  }
  fresh_context();
  PlatformConfig cfg = load_config(config_path(base), sets, default_registry());
  cfg.workloads.clear();  // the scoreboard must see only its own traffic on nic0
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
  double v = 0;
  if (pf->endpoints[0]->stats().find("ats.translated_requests", v)) res.translated = static_cast<uint64_t>(v);
  if (pf->endpoints[0]->stats().find("atc.hits", v)) res.atc_hits = static_cast<uint64_t>(v);
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

// Study `atc-safety`: the same scoreboard with the device caching translations in its ATC (ATS).
// A DMA now succeeds from the ATC without reaching the IOMMU's tables, so the guarantee holds only if
// every invalidation also reached the ATC and was waited for.
struct AtsArch {
  const char* base;
  const char* iommu_set;  // the IOMMU's ATS capability
  const char* name;
};
class AtcSafety : public ::testing::TestWithParam<AtsArch> {};

TEST_P(AtcSafety, NoDeviceAccessUsesAnInvalidatedAtcEntry) {
  for (bool lazy : {false, true}) {
    const Result r = run(lazy, GetParam().base, {GetParam().iommu_set, "platform.endpoints.nic0.ats.enabled=true"});
    EXPECT_EQ(r.sb.violations, 0u) << (lazy ? "lazy" : "strict");
    EXPECT_EQ(r.sb.spurious_faults, 0u) << (lazy ? "lazy" : "strict");
    EXPECT_GT(r.sb.must_fault, 1000u);
    EXPECT_GT(r.sb.must_succeed, 300u);
    // The ATC was really in use: translated requests, most of them ATC hits.
    EXPECT_GT(r.translated, 300u);
    EXPECT_GT(r.atc_hits, r.translated / 4);  // a good share of translated requests came from the ATC
  }
}

INSTANTIATE_TEST_SUITE_P(Architectures, AtcSafety,
                         ::testing::Values(AtsArch{"base-smmuv3.yaml", "platform.iommus.smmu0.ats=true", "smmuv3"},
                                           AtsArch{"base-vtd.yaml", "platform.iommus.dmar0.device_tlb=true", "vtd"},
                                           AtsArch{"base-amdvi.yaml", "platform.iommus.ivhd0.iotlb_support=true", "amdvi"},
                                           // nic0 behind smmu0 of the heterogeneous platform
                                           AtsArch{"mixed.yaml", "platform.iommus.smmu0.ats=true", "mixed"}),
                         [](const ::testing::TestParamInfo<AtsArch>& i) { return std::string(i.param.name); });

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
