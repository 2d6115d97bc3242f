// Study `iotlb-reach` (configs/iotlb-reach*.yaml): latency is flat while the DMA window fits the
// IOTLB's reach and steps up by one table read's cost beyond it; the knee follows the IOTLB size
// and the step follows the memory latency; 2 MiB pages remove the knee.
#include <gtest/gtest.h>

#include "models/iommu/amdvi/amdvi_params.h"
#include "models/iommu/vtd/vtd_params.h"
#include "models/memory/sparse_memory.h"
#include "testbenches/study_util.h"

namespace iommusim::test {
namespace {

const char* kWindows[] = {"w4KiB", "w16KiB", "w64KiB", "w256KiB", "w1MiB", "w4MiB", "w16MiB", "w64MiB"};

double mean_ns(const StudyRun& r, const std::string& w) { return r.host_stat(w + ".latency_mean_ps") / 1000.0; }
double pages(const StudyRun& r, const std::string& w) { return r.host_stat(w + ".window") / 4096.0; }

// One walk with warm walk caches reads one 8-byte leaf descriptor: memory latency + its transfer
// time on the memory channel + the IOMMU's per-read overhead.
double read_cost_ns(const StudyRun& r) {
  const auto& mem = params_as<SparseMemoryParams>(*r.cfg.memory.params);
  const auto& iommu = r.cfg.iommus.at(0);
  const TranslationCoreParams& core =
      iommu.type == "vtd"     ? params_as<vtd::VtdParams>(*iommu.params).core
      : iommu.type == "amdvi" ? params_as<amdvi::AmdViParams>(*iommu.params).core
                              : params_as<smmuv3::SmmuV3Params>(*iommu.params).core;
  return mem.latency.as_ns() + 8.0 / mem.bandwidth_gbps + core.walk_read_latency.as_ns();
}

// Uniform random references over N pages with a C-entry fully associative IOTLB hit with
// probability C/N once warm, whatever the replacement policy.
double expected_ns(double hit_ns, double step_ns, double n_pages, double entries) {
  const double miss = n_pages <= entries ? 0.0 : 1.0 - entries / n_pages;
  return hit_ns + miss * step_ns;
}

void check_curve(const StudyRun& r, double entries, double tolerance) {
  ASSERT_TRUE(r.sim.workloads_finished);
  const double hit = mean_ns(r, "w4KiB");
  const double step = read_cost_ns(r);
  for (const char* w : kWindows) {
    const double n = pages(r, w);
    EXPECT_NEAR(mean_ns(r, w), expected_ns(hit, step, n, entries), tolerance * step)
        << w << " (" << n << " pages, " << entries << " IOTLB entries)";
    EXPECT_EQ(r.host_stat(std::string(w) + ".faults"), 0) << w;
  }
}

TEST(IotlbReach, PublishedShapeOnTheBroadwellPlatform) {
  const StudyRun r = run_study("iotlb-reach.yaml");
  check_curve(r, 64, 0.05);
  // pcie-bench anchors: ~600 ns with hits, ~880 ns once the window is far beyond the reach.
  EXPECT_NEAR(mean_ns(r, "w4KiB"), 600.0, 30.0);
  EXPECT_NEAR(mean_ns(r, "w64MiB"), 880.0, 45.0);
}

// The foundation's study, unchanged, on the other architectures: only the platform config differs.
class IotlbReachArch : public ::testing::TestWithParam<const char*> {};

TEST_P(IotlbReachArch, SameShape) {
  const StudyRun r = run_study(GetParam());
  check_curve(r, 64, 0.05);
  EXPECT_NEAR(mean_ns(r, "w4KiB"), 600.0, 30.0);
  EXPECT_NEAR(mean_ns(r, "w64MiB"), 880.0, 45.0);
}

INSTANTIATE_TEST_SUITE_P(Architectures, IotlbReachArch,
                         ::testing::Values("iotlb-reach-vtd.yaml", "iotlb-reach-amdvi.yaml"));

TEST(IotlbReach, KneeFollowsIotlbSize) {
  const StudyRun r = run_study("iotlb-reach.yaml", {"platform.iommus.smmu0.iotlb.entries=256"});
  check_curve(r, 256, 0.05);
  EXPECT_NEAR(mean_ns(r, "w1MiB"), mean_ns(r, "w4KiB"), 1.0);  // 256 pages now fit
}

TEST(IotlbReach, StepFollowsMemoryLatency) {
  double step_90 = 0, step_190 = 0, hit_90 = 0, hit_190 = 0;
  {
    const StudyRun r = run_study("iotlb-reach.yaml");
    hit_90 = mean_ns(r, "w4KiB");
    step_90 = (mean_ns(r, "w64MiB") - hit_90) / (1.0 - 64.0 / pages(r, "w64MiB"));
  }
  {
    const StudyRun r = run_study("iotlb-reach.yaml", {"platform.memory.latency=190ns"});
    check_curve(r, 64, 0.05);
    hit_190 = mean_ns(r, "w4KiB");
    step_190 = (mean_ns(r, "w64MiB") - hit_190) / (1.0 - 64.0 / pages(r, "w64MiB"));
  }
  // The DMA itself reads memory once, and so does each miss's walk: both move by 100 ns.
  EXPECT_NEAR(hit_190 - hit_90, 100.0, 2.0);
  EXPECT_NEAR(step_190 - step_90, 100.0, 10.0);
}

TEST(IotlbReach, TwoMegabytePagesHaveNoKnee) {
  const StudyRun r = run_study("iotlb-reach-2m.yaml");
  ASSERT_TRUE(r.sim.workloads_finished);
  const double hit = mean_ns(r, "w4KiB");
  for (const char* w : kWindows) EXPECT_NEAR(mean_ns(r, w), hit, 0.01 * hit) << w;
}

}  // namespace
}  // namespace iommusim::test
