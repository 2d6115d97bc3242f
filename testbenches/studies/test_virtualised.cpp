// Virtualised platform (configs/virtualised.yaml): an emulated SMMUv3 charges a trap per command
// and per sync. Strict mode loses most of its throughput (timing-anchors.md: ~80% for an emulated
// vIOMMU in strict mode); lazy mode amortises the traps over 256 unmaps.
#include <gtest/gtest.h>

#include "testbenches/study_util.h"

namespace iommusim::test {
namespace {

TEST(Virtualised, StrictPaysTheTrapOnEveryUnmap) {
  double native = 0, emulated = 0, emulated_sync_ns = 0;
  {
    const StudyRun r = run_study("strict-vs-lazy.yaml");
    native = r.host_stat("stream.throughput_gbit_s");
  }
  {
    const StudyRun r = run_study("virtualised.yaml");
    ASSERT_TRUE(r.sim.workloads_finished);
    emulated = r.host_stat("stream.throughput_gbit_s");
    const auto& p = params_as<smmuv3::SmmuV3Params>(*r.cfg.iommus.at(0).params);
    emulated_sync_ns = (2 * p.trap_per_command.ps + p.trap_per_sync.ps) / 1000.0;  // TLBI + SYNC
    // Each strict unmap still issues one TLBI and one SYNC: the traps add time, not commands.
    EXPECT_EQ(r.smmu_stat("inv.syncs"), 2 + 3000);
    EXPECT_EQ(r.smmu_stat("inv.tlbi_va"), 3000);
  }
  EXPECT_LT(emulated, native * 0.35);  // most of the throughput is lost to traps
  EXPECT_GT(emulated_sync_ns, 0);
}

TEST(Virtualised, LazyAmortisesTheTraps) {
  double strict = 0, lazy = 0;
  {
    const StudyRun r = run_study("virtualised.yaml");
    strict = r.host_stat("stream.throughput_gbit_s");
  }
  {
    const StudyRun r = run_study("virtualised.yaml", {"platform.host.dma_mode=lazy"});
    ASSERT_TRUE(r.sim.workloads_finished);
    lazy = r.host_stat("stream.throughput_gbit_s");
  }
  EXPECT_GT(lazy, strict * 3);
}

}  // namespace
}  // namespace iommusim::test
