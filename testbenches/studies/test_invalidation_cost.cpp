// Study `invalidation-cost` (configs/invalidation-cost-*.yaml): the same page and range unmaps on
// each architecture. Commands and waits are derived here from each driver's rule (R2.2-R2.4); CPU
// time waiting and throughput are compared with lazy mode.
#include <gtest/gtest.h>

#include "models/iommu/amdvi/amdvi.h"
#include "models/iommu/vtd/vtd.h"
#include "testbenches/study_util.h"

namespace iommusim::test {
namespace {

constexpr double kPages = 500, kRanges = 50, kRangePages = 256;

double iommu_stat(const StudyRun& r, const std::string& path) {
  double v = 0;
  EXPECT_TRUE(r.pf->iommus.at(0)->stats().find(path, v)) << "no statistic " << path;
  return v;
}

struct Cost {
  double commands, waits, wait_ns_per_unmap, gbit_s;
};

Cost measure(const std::string& cfg, const std::vector<std::string>& sets = {}) {
  const StudyRun r = run_study(cfg, sets);
  EXPECT_TRUE(r.sim.workloads_finished);
  EXPECT_EQ(r.host_stat("page.faults"), 0);
  EXPECT_EQ(r.host_stat("range.faults"), 0);
  const double wait_ps = r.host_stat("cpu.inv_wait_ps");
  const double bytes = r.host_stat("page.bytes") + r.host_stat("range.bytes");
  const double ps = r.host_stat("page.elapsed_ps") + r.host_stat("range.elapsed_ps");
  return {iommu_stat(r, "inv.commands"), iommu_stat(r, "inv.syncs"), wait_ps / 1000.0 / (kPages + kRanges),
          bytes * 8 / (ps / 1000.0)};
}

// Set-up before the workloads, per architecture: (commands, waits) of reset plus attach (VT-d:
// also the global IEC invalidation and wait of the interrupt remapping set-up).
struct Boot {
  double commands, waits;
};
constexpr Boot kSmmuBoot{3 + 2, 2}, kVtdBoot{3 + 2 + 3, 3}, kAmdBoot{2 + 3, 2};

TEST(InvalidationCost, SmmuV3WithRangeInvalidation) {
  const Cost c = measure("invalidation-cost-smmuv3.yaml");
  // R2.3 with RIL: any unmap below the whole-ASID threshold is one range TLBI_NH_VA (256 pages =
  // NUM 0, SCALE 8) and one CMD_SYNC.
  EXPECT_EQ(c.commands, kSmmuBoot.commands + 2 * (kPages + kRanges));
  EXPECT_EQ(c.waits, kSmmuBoot.waits + kPages + kRanges);
}

TEST(InvalidationCost, SmmuV3WithoutRangeInvalidation) {
  const Cost c = measure("invalidation-cost-smmuv3.yaml", {"platform.iommus.smmu0.range_invalidation=false"});
  // Without RIL one TLBI_NH_VA per 4 KiB page (1 MiB is below the 2 MiB ASID threshold), issued in
  // batches of 64 with one CMD_SYNC after the last batch.
  EXPECT_EQ(c.commands, kSmmuBoot.commands + (kPages * 2) + kRanges * (kRangePages + 1));
  EXPECT_EQ(c.waits, kSmmuBoot.waits + kPages + kRanges);
  const Cost ril = measure("invalidation-cost-smmuv3.yaml");
  EXPECT_GT(c.wait_ns_per_unmap, ril.wait_ns_per_unmap);  // 256 commands take longer than one
}

TEST(InvalidationCost, VtdPageSelectiveWithAddressMask) {
  const Cost c = measure("invalidation-cost-vtd.yaml");
  // R2.2: one PSI (AM 0 for a page, AM 8 for the size-aligned 1 MiB range) and one wait per unmap.
  EXPECT_EQ(c.commands, kVtdBoot.commands + 2 * (kPages + kRanges));
  EXPECT_EQ(c.waits, kVtdBoot.waits + kPages + kRanges);
}

TEST(InvalidationCost, AmdViOneCommandPerSpan) {
  const Cost c = measure("invalidation-cost-amdvi.yaml");
  // R2.4: INVALIDATE_IOMMU_PAGES over the power-of-two span and COMPLETION_WAIT per unmap.
  EXPECT_EQ(c.commands, kAmdBoot.commands + 2 * (kPages + kRanges));
  EXPECT_EQ(c.waits, kAmdBoot.waits + kPages + kRanges);
}

TEST(InvalidationCost, LazyRecoversThroughputOnEveryArchitecture) {
  for (const char* a : {"smmuv3", "vtd", "amdvi"}) {
    const std::string cfg = std::string("invalidation-cost-") + a + ".yaml";
    const Cost strict = measure(cfg);
    const Cost lazy = measure(cfg, {"platform.host.dma_mode=lazy", "platform.host.fq_timeout=1s"});
    EXPECT_GT(strict.wait_ns_per_unmap, 100.0) << a;  // each strict unmap waits for a round trip
    EXPECT_LT(lazy.wait_ns_per_unmap, strict.wait_ns_per_unmap / 10) << a;
    EXPECT_GT(lazy.gbit_s, strict.gbit_s) << a;
    RecordProperty(std::string(a) + "_strict_wait_ns_per_unmap", std::to_string(strict.wait_ns_per_unmap));
    RecordProperty(std::string(a) + "_throughput_lost_pct", std::to_string(100.0 * (1 - strict.gbit_s / lazy.gbit_s)));
  }
}

}  // namespace
}  // namespace iommusim::test
