// VT-d end to end (configs/vtd-*.yaml): the host's VT-d driver programs the model through its
// registers and invalidation queue; the commands each policy issues are computed here from R2.2.
#include <gtest/gtest.h>

#include <cmath>

#include "models/host/host_params.h"
#include "models/iommu/amdvi/amdvi.h"
#include "models/iommu/vtd/vtd.h"
#include "testbenches/study_util.h"

namespace iommusim::test {
namespace {

double vtd_stat(const StudyRun& r, const std::string& path) {
  double v = 0;
  EXPECT_TRUE(r.pf->vtds.at(0)->stats().find(path, v)) << "no VT-d statistic " << path;
  return v;
}

// Boot: global context-cache + global IOTLB invalidation + wait; interrupt remapping set-up:
// global IEC invalidation + wait. Attach: device context-cache + domain IOTLB invalidation + wait.
constexpr double kBootDescs = 3 + 2 + 3, kBootWaits = 3;

TEST(VtdPlatform, StreamTranslatesThroughSecondStageTables) {
  const StudyRun r = run_study("vtd-stream.yaml");
  ASSERT_TRUE(r.sim.workloads_finished);
  EXPECT_EQ(r.host_stat("stream.faults"), 0);
  EXPECT_EQ(r.host_stat("stream.requests"), 20000);
  EXPECT_EQ(vtd_stat(r, "walk.walks"), 64);  // one per 4 KiB page of the 256 KiB window, then hits
  // The final unmap of 256 KiB (64 pages) is one page-selective invalidation with AM 6.
  EXPECT_EQ(vtd_stat(r, "inv.iotlb_page"), 1);
  EXPECT_EQ(vtd_stat(r, "inv.commands"), kBootDescs + 2);
}

TEST(VtdPlatform, StrictUnmapIsOnePageSelectiveInvalidationAndWait) {
  const StudyRun r = run_study("vtd-invalidation.yaml");
  ASSERT_TRUE(r.sim.workloads_finished);
  const double n = 1000;
  EXPECT_EQ(r.host_stat("rx.faults"), 0);
  EXPECT_EQ(vtd_stat(r, "inv.iotlb_page"), n);  // 16 pages, 16-page aligned IOVA: AM 4 covers it
  EXPECT_EQ(vtd_stat(r, "inv.iotlb_domain"), 1);  // the attach
  EXPECT_EQ(vtd_stat(r, "inv.waits"), kBootWaits + n);
  EXPECT_EQ(vtd_stat(r, "inv.commands"), kBootDescs + 2 * n);
}

TEST(VtdPlatform, AddressMaskAboveMamvFallsBackToDomainSelective) {
  // With CAP.MAMV = 3 a 16-page range needs AM 4: the driver must use a domain-selective flush.
  const StudyRun r = run_study("vtd-invalidation.yaml", {"platform.iommus.dmar0.mamv=3"});
  ASSERT_TRUE(r.sim.workloads_finished);
  EXPECT_EQ(vtd_stat(r, "inv.iotlb_page"), 0);
  EXPECT_EQ(vtd_stat(r, "inv.iotlb_domain"), 1 + 1000);
  EXPECT_EQ(r.host_stat("rx.faults"), 0);
}

TEST(VtdPlatform, LazyFlushesTheDomainOncePerFullQueue) {
  // The timer is pushed out so only full-queue flushes happen (the run takes ~24 ms).
  const StudyRun r =
      run_study("vtd-invalidation.yaml", {"platform.host.dma_mode=lazy", "platform.host.fq_timeout=1s"});
  ASSERT_TRUE(r.sim.workloads_finished);
  const auto& hp = params_as<host::HostParams>(*r.cfg.host.params);
  ASSERT_LT(r.host_stat("rx.elapsed_ps"), static_cast<double>(hp.fq_timeout.ps));
  const double flushes = std::floor((1000.0 - 1) / static_cast<double>(hp.fq_size));
  EXPECT_EQ(vtd_stat(r, "inv.iotlb_page"), 0);
  EXPECT_EQ(vtd_stat(r, "inv.iotlb_domain"), 1 + flushes);
  EXPECT_EQ(vtd_stat(r, "inv.commands"), kBootDescs + 2 * flushes);
}

}  // namespace
}  // namespace iommusim::test

namespace iommusim::test {
namespace {

// configs/mixed.yaml: three IOMMUs of two architectures under one host, each driver applying its
// own rule to the same kind of unmap (R2.2, R2.3).
TEST(VtdPlatform, DeviceTlbInvalidationTimeOutIsRecoveredFrom) {
  // The device answers Invalidate Requests only after 1 s, the unit gives up after 20 us: every wait
  // behind a device-TLB invalidation ends in ITE. The driver clears ITE and resubmits the batch once
  // (qi_ite_retries 1), then gives up with -ETIMEDOUT; the queue goes on and the next unmap's
  // descriptors complete. Each unmap's batch (page-selective IOTLB, device-TLB, wait) so runs twice.
  const double n = 20;
  const StudyRun r = run_study("vtd-invalidation.yaml",
                               {"platform.iommus.dmar0.device_tlb=true", "platform.iommus.dmar0.ats.inv_timeout=20us",
                                "platform.endpoints.nic0.ats.enabled=true", "platform.endpoints.nic0.ats.inv_latency=1s",
                                "platform.host.qi_ite_retries=1", "run.workloads.0.iterations=20"});
  ASSERT_TRUE(r.sim.workloads_finished);
  EXPECT_EQ(r.host_stat("rx.faults"), 0);
  const double ite = r.host_stat("dmar0.ite"), gave_up = r.host_stat("dmar0.ite_gave_up");
  EXPECT_EQ(vtd_stat(r, "ats.inv_timeouts"), ite);  // every time-out the unit recorded was seen and cleared
  EXPECT_EQ(ite, 2 * gave_up);                      // one retry per submission, then -ETIMEDOUT
  EXPECT_GE(gave_up, n);                            // at least every unmap's (the attach may add one)
  EXPECT_LE(gave_up, n + 1);
  // Each unmap's IOTLB invalidation ran in both tries (device_tlb makes the unit scalable, so the DMA
  // domain is first stage: PASID-based IOTLB descriptors).
  EXPECT_EQ(vtd_stat(r, "inv.pasid_iotlb") + vtd_stat(r, "inv.iotlb_page"), 2 * n);
  // Every wait submitted completed in the end: the aborted ones rerun once ITE was cleared.
  EXPECT_EQ(vtd_stat(r, "inv.waits"), r.host_stat("dmar0.waits"));
}

TEST(MixedPlatform, EachDriverInvalidatesByItsOwnRule) {
  const StudyRun r = run_study("mixed.yaml");
  ASSERT_TRUE(r.sim.workloads_finished);
  EXPECT_EQ(r.host_stat("nic0_rx.faults"), 0);
  EXPECT_EQ(r.host_stat("nic1_rx.faults"), 0);
  EXPECT_EQ(r.host_stat("ssd0_rd.faults"), 0);
  // A 16 KiB unmap: one range TLBI_NH_VA with RIL (smmu0), one per 4 KiB page without (smmu1).
  EXPECT_EQ(r.smmu_stat("inv.tlbi_va", 0), 500);
  EXPECT_EQ(r.smmu_stat("inv.tlbi_va", 1), 4 * 500);
  EXPECT_EQ(r.smmu_stat("inv.syncs", 1), 2 + 500);  // boot, attach, one per unmap
  // VT-d: the 4 MiB stream buffer's unmap is one page-selective invalidation with AM 10.
  double psi = 0;
  ASSERT_TRUE(r.pf->vtds.at(0)->stats().find("inv.iotlb_page", psi));
  EXPECT_EQ(psi, 1);
  // AMD-Vi: one INVALIDATE_IOMMU_PAGES + COMPLETION_WAIT per unmap (R2.4), after boot and attach.
  double amd_cmds = 0;
  ASSERT_TRUE(r.pf->amdvis.at(0)->stats().find("inv.commands", amd_cmds));
  EXPECT_EQ(amd_cmds, 5 + 2 * 500);
  EXPECT_EQ(r.host_stat("gpu0_rx.faults"), 0);
}

}  // namespace
}  // namespace iommusim::test
