// The timeline recorder: off costs nothing and records nothing, the window keeps what overlaps it,
// the cap counts what did not fit, and the JSON is Trace Event Format with lanes for overlapping spans.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "models/common/timeline.h"
#include "testbenches/timeline_check.h"

namespace iommusim::timeline {
namespace {

using sc_core::sc_time;
sc_time us(double v) { return sc_time::from_value(static_cast<uint64_t>(v * 1e6 + 0.5)); }

struct TimelineTest : ::testing::Test {
  void TearDown() override { close(); }
};

TEST_F(TimelineTest, OffRecordsNothing) {
  close();
  EXPECT_FALSE(on);
  EXPECT_EQ(track(Kind::Endpoint, "nic0"), 0u);
  span(1, Cat::Dma, "read", us(1), us(2), 1, 2, 3);
  instant(1, Cat::Fault, "f", us(1));
  EXPECT_TRUE(events().empty());
  EXPECT_TRUE(tracks().empty());
}

TEST_F(TimelineTest, WindowKeepsWhatOverlapsIt) {
  open({10'000'000, 20'000'000, 100});  // [10us, 20us)
  const Track t = track(Kind::Endpoint, "nic0");
  ASSERT_EQ(t, 1u);
  span(t, Cat::Dma, "before", us(1), us(5));        // ends before the window: out
  span(t, Cat::Dma, "ends at start", us(5), us(10));  // [5, 10) does not reach 10: out
  span(t, Cat::Dma, "into", us(9), us(11));         // overlaps the start: kept
  span(t, Cat::Dma, "inside", us(12), us(13));
  span(t, Cat::Dma, "out of", us(19), us(25));      // overlaps the end: kept
  span(t, Cat::Dma, "after", us(20), us(21));       // starts at the end: out
  instant(t, Cat::Fault, "at start", us(10));       // kept
  instant(t, Cat::Fault, "before start", us(9.999999));
  instant(t, Cat::Fault, "at end", us(20));         // out
  instant(t, Cat::Fault, "last ps", sc_time::from_value(20'000'000 - 1));  // kept
  std::vector<std::string> kept;
  for (const Event& e : events()) kept.push_back(e.name);
  EXPECT_EQ(kept, (std::vector<std::string>{"into", "inside", "out of", "at start", "last ps"}));
  EXPECT_EQ(outside_window(), 5u);
  EXPECT_EQ(dropped(), 0u);
}

TEST_F(TimelineTest, CapCountsDropped) {
  open({0, UINT64_MAX, 3});
  const Track t = track(Kind::Iommu, "smmu0");
  for (int i = 0; i < 5; ++i) instant(t, Cat::Fault, "f", us(i), static_cast<uint64_t>(i));
  ASSERT_EQ(events().size(), 3u);
  EXPECT_EQ(events()[2].a[0], 2u);  // the first three are kept
  EXPECT_EQ(dropped(), 2u);
  const auto j = nlohmann::json::parse(to_json());
  EXPECT_EQ(j["otherData"]["dropped"], 2);
  EXPECT_EQ(j["otherData"]["events"], 3);
}

TEST_F(TimelineTest, JsonIsTraceEventFormat) {
  open({});
  const Track nic = track(Kind::Endpoint, "nic0");
  const Track smmu = track(Kind::Iommu, "smmu0");
  const Track host = track(Kind::Host, "host.smmu0");
  // Two overlapping DMAs (need two lanes) and one after both (back on the first lane).
  span(nic, Cat::Dma, "read", us(1), us(3), 0x1000, 64, 1);
  span(nic, Cat::Dma, "write", us(2), us(4), 0x2000, 128, 1);
  span(nic, Cat::Dma, "read", us(5), us(6), 0x3000, 64, 0);
  span(smmu, Cat::Command, "CMD_SYNC", us(2), sc_time::from_value(2'500'000), 7, 0);
  instant(smmu, Cat::Completion, "CMD_SYNC complete", us(3), 7);
  span(host, Cat::InvWait, "CMD_SYNC wait", us(1.5), us(3.5), 2);
  const auto j = nlohmann::json::parse(to_json());

  test::TimelineFacts f;
  EXPECT_EQ(test::check_timeline(j, 0, 1e300, f), "");
  EXPECT_EQ(f.spans, 5u);
  EXPECT_EQ(f.instants, 1u);
  EXPECT_EQ(f.completions_matched, 1u);
  EXPECT_EQ(f.waits_checked, 1u);
  EXPECT_EQ(f.thread_names, (std::set<std::string>{"nic0", "nic0 #2", "smmu0", "host.smmu0"}));

  std::map<std::string, nlohmann::json> procs;
  std::vector<nlohmann::json> dma;
  for (const auto& e : j["traceEvents"]) {
    if (e["ph"] == "M" && e["name"] == "process_name") procs[e["args"]["name"].get<std::string>()] = e["pid"];
    if (e.value("cat", "") == "dma") dma.push_back(e);
  }
  EXPECT_EQ(procs.size(), 3u);
  EXPECT_TRUE(procs.count("endpoints") && procs.count("IOMMUs") && procs.count("host"));
  ASSERT_EQ(dma.size(), 3u);
  // Sorted by start; microseconds as numbers; the arguments named by category.
  EXPECT_EQ(dma[0]["ph"], "X");
  EXPECT_DOUBLE_EQ(dma[0]["ts"].get<double>(), 1.0);
  EXPECT_DOUBLE_EQ(dma[0]["dur"].get<double>(), 2.0);
  EXPECT_EQ(dma[0]["args"]["addr"], "0x1000");
  EXPECT_EQ(dma[0]["args"]["size"], 64);
  EXPECT_EQ(dma[0]["args"]["ok"], 1);
  EXPECT_EQ(dma[0]["pid"], procs["endpoints"]);
  EXPECT_NE(dma[0]["tid"], dma[1]["tid"]);  // overlapping: separate lanes
  EXPECT_EQ(dma[0]["tid"], dma[2]["tid"]);  // the first lane is free again
  for (const auto& e : j["traceEvents"])
    if (e["ph"] == "i") {
      EXPECT_EQ(e["s"], "t");
      EXPECT_FALSE(e.contains("dur"));
      EXPECT_DOUBLE_EQ(e["ts"].get<double>(), 3.0);
    }
}

TEST_F(TimelineTest, CheckerRejectsBrokenOrder) {
  open({});
  const Track smmu = track(Kind::Iommu, "smmu0");
  const Track host = track(Kind::Host, "host.smmu0");
  span(smmu, Cat::Command, "CMD_SYNC", us(2), us(4), 3);
  instant(smmu, Cat::Completion, "CMD_SYNC complete", us(3), 3);  // before its command ended
  test::TimelineFacts f;
  EXPECT_NE(test::check_timeline(nlohmann::json::parse(to_json()), 0, 1e300, f).find("before its command ended"),
            std::string::npos);
  open({});
  const Track h2 = track(Kind::Host, "host.smmu0");
  span(h2, Cat::InvWait, "CMD_SYNC wait", us(1), us(2), 1);  // no completion inside
  EXPECT_NE(test::check_timeline(nlohmann::json::parse(to_json()), 0, 1e300, f).find("without a completion"),
            std::string::npos);
  (void)host;
}

TEST_F(TimelineTest, ParseWindow) {
  uint64_t a = 0, b = 0;
  std::string err;
  EXPECT_TRUE(parse_window("10us:20us", a, b, err));
  EXPECT_EQ(a, 10'000'000u);
  EXPECT_EQ(b, 20'000'000u);
  EXPECT_TRUE(parse_window(":5ms", a, b, err));
  EXPECT_EQ(a, 0u);
  EXPECT_EQ(b, 5'000'000'000u);
  EXPECT_TRUE(parse_window("1ms:", a, b, err));
  EXPECT_EQ(a, 1'000'000'000u);
  EXPECT_EQ(b, UINT64_MAX);
  EXPECT_FALSE(parse_window("10us", a, b, err));
  EXPECT_NE(err.find("START:END"), std::string::npos);
  EXPECT_FALSE(parse_window("20us:10us", a, b, err));
  EXPECT_NE(err.find("after the start"), std::string::npos);
  EXPECT_FALSE(parse_window("fast:1ms", a, b, err));
  EXPECT_NE(err.find("start 'fast'"), std::string::npos);
}

}  // namespace
}  // namespace iommusim::timeline
