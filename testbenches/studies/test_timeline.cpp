// Timelines of shipped studies: valid trace-event JSON with every component's track declared, the
// categories each study exercises present, events inside the window, and the causal order between
// tracks (a completion after its command, a host wait ending on a completion, a page request
// received and answered while the device waited).
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "models/common/timeline.h"
#include "testbenches/study_util.h"
#include "testbenches/timeline_check.h"

namespace iommusim::test {
namespace {

struct Traced {
  nlohmann::json j;
  uint64_t dropped = 0, outside = 0;
  bool finished = false;
};

Traced run_traced(const std::string& config, const std::vector<std::string>& sets, const timeline::Options& o) {
  fresh_context();
  const PlatformConfig cfg = load_config(config_path(config), sets, default_registry());
  tlm::tlm_global_quantum::instance().set(sc_core::sc_time::from_value(cfg.quantum.ps));
  timeline::open(o);  // before elaboration: the models take their tracks
  Traced t;
  {
    auto pf = build_platform(cfg, default_registry());
    t.finished = simulate(*pf, cfg).workloads_finished;
    t.j = nlohmann::json::parse(timeline::to_json());
    t.dropped = timeline::dropped();
    t.outside = timeline::outside_window();
  }
  timeline::close();
  return t;
}

void expect_categories(const TimelineFacts& f, std::initializer_list<const char*> cats) {
  for (const char* c : cats) EXPECT_GT(f.cats.count(c) ? f.cats.at(c) : 0, 0u) << "no " << c << " events";
}

TEST(Timeline, AtcSafetyOnSmmuV3) {
  // The ATC-safety loop, shortened: map, ATS-translated DMA, strict unmap (TLBI + ATC_INV + CMD_SYNC).
  const Traced t = run_traced("atc-safety.yaml", {"run.workloads.probe.iterations=20"}, {});
  ASSERT_TRUE(t.finished);
  EXPECT_EQ(t.dropped, 0u);
  TimelineFacts f;
  ASSERT_EQ(check_timeline(t.j, 0, 1e300, f), "");
  expect_categories(f, {"dma", "ats_translate", "translate", "walk", "command", "completion", "inv_wait", "ats_inv"});
  // One track per component, named by its hierarchical name.
  for (const char* n : {"nic0", "smmu0", "smmu0.walker", "smmu0.ats", "host.smmu0"})
    EXPECT_TRUE(f.thread_names.count(n)) << "no track " << n;
  // Each strict unmap waits once for its CMD_SYNC (20 iterations), and each wait ended on a completion.
  EXPECT_GE(f.waits_checked, 20u);
  EXPECT_GE(f.completions_matched, f.waits_checked);
  // Every ATC_INV command is followed by one Invalidate Request round trip.
  size_t atc_inv_cmds = 0;
  for (const auto& e : t.j["traceEvents"])
    if (e.value("name", "") == "CMD_ATC_INV") ++atc_inv_cmds;
  EXPECT_GT(atc_inv_cmds, 0u);
  EXPECT_EQ(f.cats.at("ats_inv"), atc_inv_cmds);
}

TEST(Timeline, PageRequestsOnVtd) {
  const Traced t = run_traced(
      "iopf-vtd.yaml", {"run.workloads.acc0_iopf.iterations=1", "run.workloads.acc1_iopf.iterations=1"}, {});
  ASSERT_TRUE(t.finished);
  TimelineFacts f;
  ASSERT_EQ(check_timeline(t.j, 0, 1e300, f), "");
  expect_categories(f, {"dma", "ats_translate", "translate", "walk", "page_request", "page_response"});
  // 16 pages faulted in per device, each one page request received and answered while outstanding.
  EXPECT_GE(f.page_requests_checked, 32u);
  for (const char* n : {"acc0", "acc1", "dmar0", "dmar0.walker", "dmar0.ats", "host.iopf"})
    EXPECT_TRUE(f.thread_names.count(n)) << "no track " << n;
}

TEST(Timeline, WindowAndCapBoundALongRun) {
  // The whole loop runs (about 3 ms); only [100us, 600us) is kept.
  const Traced t =
      run_traced("atc-safety.yaml", {"run.workloads.probe.iterations=20"}, {100'000'000, 600'000'000, 1'000'000});
  ASSERT_TRUE(t.finished);
  TimelineFacts f;
  ASSERT_EQ(check_timeline(t.j, 100.0, 600.0, f), "");
  EXPECT_GT(f.spans, 0u);
  EXPECT_GT(t.outside, f.spans);  // most of the run lies outside
  EXPECT_EQ(t.j["otherData"]["window_start_us"], 100.0);
  EXPECT_GT(f.spans + f.instants, 50u);
  EXPECT_GT(f.waits_checked, 0u);
  // A cap smaller than the window's events: the first ones kept, the rest counted.
  const Traced c = run_traced("atc-safety.yaml", {"run.workloads.probe.iterations=20"}, {100'000'000, 600'000'000, 50});
  EXPECT_EQ(c.j["otherData"]["events"], 50);
  EXPECT_EQ(c.dropped + 50, f.spans + f.instants);
  TimelineFacts g;
  EXPECT_EQ(check_timeline(c.j, 100.0, 600.0, g, false), "");
}

}  // namespace
}  // namespace iommusim::test
