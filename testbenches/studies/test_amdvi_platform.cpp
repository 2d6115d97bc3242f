// AMD-Vi end to end (configs/amdvi-invalidation.yaml): the host's AMD-Vi driver programs the model
// through its device table and command buffer; command counts are computed here from R2.4.
#include <gtest/gtest.h>

#include <cmath>

#include "models/host/host_params.h"
#include "models/iommu/amdvi/amdvi.h"
#include "testbenches/study_util.h"

namespace iommusim::test {
namespace {

double amd_stat(const StudyRun& r, const std::string& path) {
  double v = 0;
  EXPECT_TRUE(r.pf->amdvis.at(0)->stats().find(path, v)) << "no AMD-Vi statistic " << path;
  return v;
}

// Boot: INVALIDATE_IOMMU_ALL + COMPLETION_WAIT. Attach: INVALIDATE_DEVTAB_ENTRY +
// INVALIDATE_IOMMU_PAGES (whole domain) + COMPLETION_WAIT.
constexpr double kBootCmds = 2 + 3, kBootWaits = 2;

TEST(AmdViPlatform, StrictUnmapIsOnePagesCommandAndWait) {
  const StudyRun r = run_study("amdvi-invalidation.yaml");
  ASSERT_TRUE(r.sim.workloads_finished);
  const double n = 1000;
  EXPECT_EQ(r.host_stat("rx.faults"), 0);
  EXPECT_EQ(r.host_stat("rx.iterations"), n);
  EXPECT_EQ(amd_stat(r, "inv.waits"), kBootWaits + n);
  EXPECT_EQ(amd_stat(r, "inv.commands"), kBootCmds + 2 * n);
  EXPECT_EQ(amd_stat(r, "walk.walks"), 16 * n);  // every 4 KiB page walks again after its invalidation
}

TEST(AmdViPlatform, LazyFlushesTheDomainOncePerFullQueue) {
  const StudyRun r =
      run_study("amdvi-invalidation.yaml", {"platform.host.dma_mode=lazy", "platform.host.fq_timeout=1s"});
  ASSERT_TRUE(r.sim.workloads_finished);
  const auto& hp = params_as<host::HostParams>(*r.cfg.host.params);
  const double flushes = std::floor((1000.0 - 1) / static_cast<double>(hp.fq_size));
  EXPECT_EQ(r.host_stat("rx.faults"), 0);
  EXPECT_EQ(amd_stat(r, "inv.waits"), kBootWaits + flushes);
  EXPECT_EQ(amd_stat(r, "inv.commands"), kBootCmds + 2 * flushes);
}

}  // namespace
}  // namespace iommusim::test
