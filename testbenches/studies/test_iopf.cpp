// Study `iopf` (seed 003; configs/iopf-{vtd,amdvi,smmuv3}.yaml): devices touching process memory that
// is not populated. On VT-d and AMD-Vi the faults travel as PCIe Page Requests (page request queue,
// PPR log); on SMMUv3 as stalls. Checked here, against expectations derived from the scenario:
//  - every page request group is answered exactly once, and routed to the device (RID) and PASID
//    that asked: each device's faults land in its own process, none is answered to the other;
//  - an address without a VMA is answered Invalid Request (RESUME abort on SMMUv3) and the access fails;
//  - a device never has more page requests outstanding than its allocation;
//  - the fault cost amortised over 1 / 100 / 1000 / 5000 passes over the buffer rises toward the
//    fault-free throughput, as the published curve does (timing-anchors.md).
#include <gtest/gtest.h>
#include <sysc/kernel/sc_spawn.h>

#include <cstdio>
#include <string>
#include <vector>

#include "models/common/sim_time.h"
#include "models/host/mm.h"
#include "models/iommu/vtd/vtd.h"
#include "models/pcie/endpoint.h"
#include "testbenches/study_util.h"

namespace iommusim::test {
namespace {

constexpr uint64_t kPage = 4096;

struct Arch {
  const char* config;
  const char* name;
  bool pri;  // PCIe PRI (VT-d, AMD-Vi) rather than SMMUv3 stalls
};

struct Scenario {
  PlatformConfig cfg;
  std::unique_ptr<Platform> pf;
  host::LinuxHost* h = nullptr;
};

Scenario build(const Arch& a, std::vector<std::string> sets = {}) {
  fresh_context();
  Scenario s;
  s.cfg = load_config(config_path(a.config), sets, default_registry());
  s.cfg.workloads.clear();
  tlm::tlm_global_quantum::instance().set(sc_core::sc_time::from_value(s.cfg.quantum.ps));
  s.pf = build_platform(s.cfg, default_registry());
  s.h = s.pf->host;
  return s;
}

void simulate_until_stopped() {
  sc_core::sc_report_handler::set_actions(sc_core::SC_INFO, sc_core::SC_DO_NOTHING);
  sc_core::sc_start(sc_core::sc_time(10, sc_core::SC_SEC));
}

double ep_stat(Scenario& s, unsigned ep, const char* path) {
  double v = 0;
  s.pf->endpoints.at(ep)->stats().find(path, v);
  return v;
}
double host_stat(Scenario& s, const std::string& path) {
  double v = 0;
  EXPECT_TRUE(s.h->stats().find(path, v)) << path;
  return v;
}

DmaJob job(uint64_t va, uint64_t pages, uint32_t pasid, uint32_t size = 64, uint64_t count = 0) {
  DmaJob j;
  j.iova = va;
  j.window = pages * kPage;
  j.size = size;
  j.pattern = DmaPattern::Strided;
  j.stride = kPage;
  j.count = count ? count : pages;
  j.pasid = pasid;
  j.pasid_valid = true;
  return j;
}

class Iopf : public ::testing::TestWithParam<Arch> {};

TEST_P(Iopf, EveryGroupAnsweredOnceAndRoutedByRidAndPasid) {
  Scenario s = build(GetParam());
  constexpr uint64_t kPages = 48;
  JobResult r0, r1;
  host::Mm* mm[2] = {};
  uint32_t pasid[2] = {};
  int done = 0;
  sc_core::sc_spawn([&] {
    s.h->wait_booted();
    for (int i = 0; i < 2; ++i) {
      mm[i] = &s.h->create_mm();
      ASSERT_EQ(s.h->sva_bind(static_cast<unsigned>(i), *mm[i], pasid[i]), 0);
    }
    ASSERT_NE(pasid[0], pasid[1]);
    const uint64_t va0 = mm[0]->mmap(kPages * kPage, {}).addr;
    const uint64_t va1 = mm[1]->mmap(kPages * kPage, {}).addr;
    // Both devices fault at once, each on its own process's unpopulated pages.
    sc_core::sc_spawn([&, va1] {
      r1 = s.h->run_job(1, job(va1, kPages, pasid[1]));
      if (++done == 2) sc_core::sc_stop();
    });
    r0 = s.h->run_job(0, job(va0, kPages, pasid[0]));
    if (++done == 2) sc_core::sc_stop();
  });
  simulate_until_stopped();
  ASSERT_EQ(done, 2);
  EXPECT_EQ(r0.faults, 0u);
  EXPECT_EQ(r1.faults, 0u);
  // Each process got exactly its own device's pages: the handler was found by (RID, PASID).
  EXPECT_EQ(mm[0]->resident_pages(), kPages);
  EXPECT_EQ(mm[1]->resident_pages(), kPages);
  // One group per page, each answered once, with Success.
  EXPECT_EQ(host_stat(s, "iopf.groups"), 2.0 * kPages);
  EXPECT_EQ(host_stat(s, "iopf.success"), 2.0 * kPages);
  EXPECT_EQ(host_stat(s, "iopf.invalid"), 0.0);
  EXPECT_EQ(host_stat(s, "iopf.no_handler"), 0.0);
  if (GetParam().pri) {
    for (unsigned ep : {0u, 1u}) {
      SCOPED_TRACE(ep);
      EXPECT_EQ(ep_stat(s, ep, "pri.requests"), static_cast<double>(kPages));
      EXPECT_EQ(ep_stat(s, ep, "pri.success"), static_cast<double>(kPages));  // each answered once
      EXPECT_EQ(ep_stat(s, ep, "pri.unexpected"), 0.0);  // no response for a group it did not send
      EXPECT_EQ(ep_stat(s, ep, "pri.misrouted"), 0.0);
    }
  }
}

TEST_P(Iopf, InvalidAddressesAreAnsweredInvalidRequest) {
  Scenario s = build(GetParam());
  JobResult r;
  host::Mm* mm = nullptr;
  sc_core::sc_spawn([&] {
    s.h->wait_booted();
    mm = &s.h->create_mm();
    uint32_t pasid = 0;
    ASSERT_EQ(s.h->sva_bind(0, *mm, pasid), 0);
    const uint64_t va = mm->mmap(16 * kPage, {}).addr;
    ASSERT_TRUE(mm->munmap(va + 8 * kPage, 8 * kPage).err == 0);  // a hole: no VMA there
    r = s.h->run_job(0, job(va, 16, pasid));
    sc_core::sc_stop();
  });
  simulate_until_stopped();
  EXPECT_EQ(r.requests, 16u);
  EXPECT_EQ(r.faults, 8u);  // the eight pages without a VMA, and only those
  EXPECT_EQ(mm->resident_pages(), 8u);
  EXPECT_EQ(host_stat(s, "iopf.invalid"), 8.0);
  EXPECT_EQ(host_stat(s, "iopf.success"), 8.0);
  if (GetParam().pri) {
    EXPECT_EQ(ep_stat(s, 0, "pri.invalid"), 8.0);  // the device saw Invalid Request and failed them
    EXPECT_EQ(ep_stat(s, 0, "pri.success"), 8.0);
  }
}

INSTANTIATE_TEST_SUITE_P(Platforms, Iopf,
                         ::testing::Values(Arch{"iopf-vtd.yaml", "vtd", true}, Arch{"iopf-amdvi.yaml", "amdvi", true},
                                           Arch{"iopf-smmuv3.yaml", "smmuv3", false},
                                           Arch{"iopf-mixed.yaml", "mixed", true}),
                         [](const ::testing::TestParamInfo<Arch>& i) { return std::string(i.param.name); });

class IopfPri : public ::testing::TestWithParam<Arch> {};

// With an allocation of 2 and 8 requests in flight, page requests queue behind the allocation:
// never more than 2 outstanding, and every fault still resolved.
TEST_P(IopfPri, PageRequestsStayWithinTheOutstandingAllocation) {
  Scenario s = build(GetParam(), {"platform.endpoints.acc0.pri.capacity=2"});
  JobResult r;
  sc_core::sc_spawn([&] {
    s.h->wait_booted();
    host::Mm& mm = s.h->create_mm();
    uint32_t pasid = 0;
    ASSERT_EQ(s.h->sva_bind(0, mm, pasid), 0);
    EXPECT_EQ(s.h->pci_device(0).pri_alloc, 2u);  // min(capacity, what the driver asks): R3.2
    const uint64_t va = mm.mmap(32 * kPage, {}).addr;
    r = s.h->run_job(0, job(va, 32, pasid));
    sc_core::sc_stop();
  });
  simulate_until_stopped();
  EXPECT_EQ(r.faults, 0u);
  EXPECT_EQ(ep_stat(s, 0, "pri.requests"), 32.0);
  EXPECT_GT(ep_stat(s, 0, "pri.allocation_waits"), 0.0);
  // The host never held more groups than the device may have outstanding.
  EXPECT_LE(host_stat(s, "iopf.max_pending"), 2.0);
  EXPECT_GE(host_stat(s, "iopf.max_pending"), 1.0);
}

// VT-d page request queue overflow (R3.1): a 128-entry queue, a host slow to service it (2 us per
// descriptor) and two devices that may each have 128 page requests outstanding. Requests finding the queue full set PRO and are dropped; the unit
// answers each dropped last request with Success itself, the device retries, is denied again and
// fails that access (it does not ask twice). Every request is still answered exactly once, the host
// handles exactly what was queued, and once the queue drained the same pages fault in normally.
TEST(IopfOverflow, DroppedRequestsAreAnsweredByTheUnitAndTheQueueRecovers) {
  Scenario s = build(Arch{"iopf-vtd.yaml", "vtd", true},
                     {"platform.host.prq_order=0", "platform.host.cost.prq_entry=2us", "platform.endpoints.acc0.outstanding=128",
                      "platform.endpoints.acc1.outstanding=128", "platform.endpoints.acc0.pri.capacity=512",
                      "platform.endpoints.acc1.pri.capacity=512"});
  constexpr uint64_t kPages = 192;
  JobResult first[2], again[2];
  int done = 0;
  sc_core::sc_spawn([&] {
    s.h->wait_booted();
    host::Mm* mm[2];
    uint32_t pasid[2];
    uint64_t va[2];
    for (unsigned i = 0; i < 2; ++i) {
      mm[i] = &s.h->create_mm();
      ASSERT_EQ(s.h->sva_bind(i, *mm[i], pasid[i]), 0);
      EXPECT_EQ(s.h->pci_device(i).pri_alloc, 128u);  // min(512, the queue's 128 entries)
      va[i] = mm[i]->mmap(kPages * kPage, {}).addr;
    }
    sc_core::sc_spawn([&, va, pasid] {
      first[1] = s.h->run_job(1, job(va[1], kPages, pasid[1]));
      ++done;
    });
    first[0] = s.h->run_job(0, job(va[0], kPages, pasid[0]));
    while (done < 1) sc_core::wait(sc_core::sc_time(1, sc_core::SC_US));
    // The host drains the full queue at 2 us a descriptor, then clears PRO (R3.1): 2 ms is plenty.
    sc_core::wait(sc_core::sc_time(2, sc_core::SC_MS));
    // 16 pages at a time, so this pass cannot overflow the queue itself.
    for (unsigned i = 0; i < 2; ++i)
      for (uint64_t p = 0; p < kPages; p += 16) {
        const JobResult r = s.h->run_job(i, job(va[i] + p * kPage, 16, pasid[i]));
        again[i].requests += r.requests;
        again[i].faults += r.faults;
      }
    sc_core::sc_stop();
  });
  simulate_until_stopped();
  auto unit = [&](const char* p) {
    double v = 0;
    EXPECT_TRUE(s.pf->vtds.at(0)->stats().find(std::string("prq.") + p, v)) << p;
    return v;
  };
  // The first burst: 2 x 128 page requests (the window's first 128 pages of each device) against a
  // ring that holds 127 and a host that takes 2 us per descriptor while they arrive within ~30 us
  // (one queue write each, ~110 ns apart): at most 127 + 15 queued, so at least 114 dropped.
  EXPECT_GE(unit("overflows"), 1.0);
  EXPECT_GE(unit("dropped"), 114.0);
  EXPECT_EQ(unit("auto_success"), unit("dropped"));  // every request is a last one
  double requests = 0, faults = 0;
  for (unsigned i = 0; i < 2; ++i) {
    SCOPED_TRACE(i);
    const double sent = ep_stat(s, i, "pri.requests");
    EXPECT_EQ(ep_stat(s, i, "pri.success") + ep_stat(s, i, "pri.invalid") + ep_stat(s, i, "pri.failure"), sent);
    EXPECT_EQ(ep_stat(s, i, "pri.unexpected"), 0.0);
    requests += sent;
    faults += static_cast<double>(first[i].faults);
    EXPECT_EQ(again[i].faults, 0u);  // once drained, the queue takes requests again
    EXPECT_EQ(again[i].requests, kPages);
  }
  EXPECT_EQ(unit("requests"), requests);
  EXPECT_EQ(host_stat(s, "iopf.groups"), unit("queued"));   // the host saw what was queued, once
  EXPECT_EQ(faults, unit("auto_success"));                  // each dropped request failed its access
  EXPECT_EQ(unit("queued") + unit("dropped"), requests);
}

INSTANTIATE_TEST_SUITE_P(Platforms, IopfPri,
                         ::testing::Values(Arch{"iopf-vtd.yaml", "vtd", true}, Arch{"iopf-amdvi.yaml", "amdvi", true},
                                           Arch{"iopf-mixed.yaml", "mixed", true}),
                         [](const ::testing::TestParamInfo<Arch>& i) { return std::string(i.param.name); });

// The amortisation curve (timing-anchors.md: 17.2% of the fault-free throughput with every page
// faulting, 52.1 / 91.5 / 98.1% after 100 / 1000 / 5000 repetitions). Here: N passes over a buffer
// whose pages fault on the first pass only, against N passes over the same buffer populated. The
// faults cost F once, so throughput relative to fault-free is N*T0 / (N*T0 + F): rising with N
// toward 1. The test measures T0 and F once and checks each N against that closed form.
class IopfAmortisation : public ::testing::TestWithParam<Arch> {};

double pass_time_ns(const Arch& a, uint64_t passes, bool populated) {
  Scenario s = build(a);
  constexpr uint64_t kPages = 16;
  double ns = 0;
  JobResult r;
  sc_core::sc_spawn([&] {
    s.h->wait_booted();
    host::Mm& mm = s.h->create_mm();
    uint32_t pasid = 0;
    ASSERT_EQ(s.h->sva_bind(0, mm, pasid), 0);
    const uint64_t va = mm.mmap(kPages * kPage, {}, populated).addr;
    // One job of `passes` sequential sweeps of 512-byte reads over the buffer.
    DmaJob j = job(va, kPages, pasid, 512);
    j.pattern = DmaPattern::Sequential;
    j.count = passes * kPages * kPage / 512;
    const sc_core::sc_time t0 = sc_core::sc_time_stamp();
    r = s.h->run_job(0, j);
    ns = to_ns(sc_core::sc_time_stamp() - t0);
    sc_core::sc_stop();
  });
  simulate_until_stopped();
  EXPECT_EQ(r.faults, 0u);
  return ns;
}

TEST_P(IopfAmortisation, FaultCostAmortisesOverRepetitions) {
  const double f = pass_time_ns(GetParam(), 1, false) - pass_time_ns(GetParam(), 1, true);  // the 16 faults
  ASSERT_GT(f, 0.0);
  double prev = 0;
  for (uint64_t n : {1, 100, 1000, 5000}) {
    const double faulting = pass_time_ns(GetParam(), n, false);
    const double clean = pass_time_ns(GetParam(), n, true);
    const double ratio = clean / faulting;
    std::printf("[ iopf %s ] %5llu passes: %.1f%% of fault-free throughput\n", GetParam().name,
                static_cast<unsigned long long>(n), 100 * ratio);
    EXPECT_NEAR(faulting - clean, f, 0.02 * f) << n;  // paid once, not per pass
    EXPECT_GT(ratio, prev) << n;
    prev = ratio;
    if (n == 1) {
      EXPECT_LT(ratio, 0.5);  // faulting every page costs most of the throughput (published: 17.2%)
    }
    if (n == 5000) {
      EXPECT_GT(ratio, 0.95);  // published: 98.1%
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Platforms, IopfAmortisation,
                         ::testing::Values(Arch{"iopf-vtd.yaml", "vtd", true}, Arch{"iopf-amdvi.yaml", "amdvi", true},
                                           Arch{"iopf-smmuv3.yaml", "smmuv3", false}),
                         [](const ::testing::TestParamInfo<Arch>& i) { return std::string(i.param.name); });

}  // namespace
}  // namespace iommusim::test
