// Unit tests for sweep files (platforms/sweep_spec.cpp): point expansion (product, zip, explicit
// points, seeds), the --set text each point gets, and one clear error per bad sweep file.
#include <gtest/gtest.h>
#include <yaml-cpp/yaml.h>

#include <regex>
#include <string>
#include <vector>

#include "platforms/config.h"
#include "platforms/sweep_spec.h"

namespace iommusim::sweep {
namespace {

using Strings = std::vector<std::string>;
const std::string kPath = "/study/sweeps/s.yaml";

Spec parse(const std::string& text, const Strings& extra = {}) { return parse_spec(text, kPath, extra); }

// The error parse_spec throws for `text`, or "" if it parses.
std::string error_of(const std::string& text) {
  try {
    parse(text);
  } catch (const ConfigError& e) {
    return e.what();
  }
  return "";
}

// Axis values of every point, row by row, as results.csv shows them.
std::vector<Strings> cells(const Spec& s) {
  std::vector<Strings> out;
  for (const auto& p : s.points) out.push_back(p.cells);
  return out;
}

TEST(SweepSpec, CartesianProductFirstAxisSlowest) {
  const Spec s = parse(
      "base: ../base.yaml\n"
      "axes:\n"
      "  - platform.iommus.smmu0.iotlb.entries: [64, 256]\n"
      "  - run.workloads.0.window: [4KiB, 64KiB, 1MiB]\n");
  EXPECT_EQ(s.base, "/study/base.yaml");
  EXPECT_EQ(s.columns, (Strings{"platform.iommus.smmu0.iotlb.entries", "run.workloads.0.window"}));
  const std::vector<Strings> want = {{"64", "4KiB"},  {"64", "64KiB"},  {"64", "1MiB"},
                                     {"256", "4KiB"}, {"256", "64KiB"}, {"256", "1MiB"}};
  EXPECT_EQ(cells(s), want);
  ASSERT_EQ(s.points.size(), 6u);
  EXPECT_EQ(s.points[0].id, "p0000");
  EXPECT_EQ(s.points[5].id, "p0005");
  EXPECT_EQ(s.points[4].index, 4u);
  EXPECT_EQ(s.points[4].sets, (Strings{"platform.iommus.smmu0.iotlb.entries=256", "run.workloads.0.window=64KiB"}));
  EXPECT_EQ(s.points[4].base, "/study/base.yaml");
  EXPECT_FALSE(s.points[4].seed.has_value());
}

TEST(SweepSpec, KeysInOneAxisMapVaryTogether) {
  const Spec s = parse(
      "base: b.yaml\n"
      "axes:\n"
      "  - run.workloads.0.window: [4KiB, 1MiB, 64MiB]\n"
      "    run.workloads.0.count: [100, 200, 300]\n"
      "  - platform.host.dma_mode: [strict, lazy]\n");
  const std::vector<Strings> want = {{"4KiB", "100", "strict"}, {"4KiB", "100", "lazy"},    {"1MiB", "200", "strict"},
                                     {"1MiB", "200", "lazy"},   {"64MiB", "300", "strict"}, {"64MiB", "300", "lazy"}};
  EXPECT_EQ(cells(s), want);
  EXPECT_EQ(s.points[3].sets,
            (Strings{"run.workloads.0.window=1MiB", "run.workloads.0.count=200", "platform.host.dma_mode=lazy"}));
}

TEST(SweepSpec, ExplicitPointsLeaveMissingKeysAtTheBase) {
  const Spec s = parse(
      "base: b.yaml\n"
      "points:\n"
      "  - { platform.host.dma_mode: strict }\n"
      "  - { platform.host.dma_mode: lazy, platform.host.fq_size: 16 }\n"
      "axes:\n"
      "  - run.workloads.0.buffer: [4KiB, 1MiB]\n");
  EXPECT_EQ(s.columns, (Strings{"platform.host.dma_mode", "platform.host.fq_size", "run.workloads.0.buffer"}));
  const std::vector<Strings> want = {
      {"strict", "", "4KiB"}, {"strict", "", "1MiB"}, {"lazy", "16", "4KiB"}, {"lazy", "16", "1MiB"}};
  EXPECT_EQ(cells(s), want);
  // No --set for a key the point does not name.
  EXPECT_EQ(s.points[1].sets, (Strings{"platform.host.dma_mode=strict", "run.workloads.0.buffer=1MiB"}));
  EXPECT_EQ(s.points[2].sets,
            (Strings{"platform.host.dma_mode=lazy", "platform.host.fq_size=16", "run.workloads.0.buffer=4KiB"}));
}

TEST(SweepSpec, SeedsAreTheInnermostAxis) {
  const Spec s = parse(
      "base: b.yaml\n"
      "axes:\n"
      "  - a.b: [1, 2]\n"
      "seeds: [5, 9, 7]\n");
  ASSERT_EQ(s.points.size(), 6u);
  const std::vector<uint64_t> seeds = {5, 9, 7, 5, 9, 7};
  for (size_t i = 0; i < 6; ++i) {
    ASSERT_TRUE(s.points[i].seed.has_value());
    EXPECT_EQ(*s.points[i].seed, seeds[i]) << i;
    EXPECT_EQ(s.points[i].cells, Strings{i < 3 ? "1" : "2"}) << i;
    EXPECT_EQ(s.points[i].sets.back(), "seed=" + std::to_string(seeds[i]));
  }
  EXPECT_EQ(s.columns, Strings{"a.b"});  // the seed has its own column, not an axis one

  const Spec r = parse("base: b.yaml\nrepeat: 3\n");
  ASSERT_EQ(r.points.size(), 3u);
  for (uint64_t i = 0; i < 3; ++i) EXPECT_EQ(*r.points[i].seed, i + 1);
  EXPECT_TRUE(r.columns.empty());
}

TEST(SweepSpec, NoAxesIsOnePointAtTheBase) {
  const Spec s = parse("base: b.yaml\nset: { run.duration: 1ms }\n");
  ASSERT_EQ(s.points.size(), 1u);
  EXPECT_EQ(s.points[0].sets, Strings{"run.duration=1ms"});
  EXPECT_TRUE(s.points[0].cells.empty());
}

TEST(SweepSpec, FixedOverridesComeFirstThenTheCommandLine) {
  const Spec s = parse(
      "base: b.yaml\n"
      "set:\n"
      "  platform.iommus.smmu0.iotlb: { entries: 64, ways: 0 }\n"
      "  run.duration: 2ms\n"
      "axes:\n"
      "  - x.y: [1]\n",
      {"run.duration=1ms"});
  ASSERT_EQ(s.points.size(), 1u);
  ASSERT_EQ(s.points[0].sets.size(), 4u);
  // Maps are passed in flow style; the child's --set parser must read back the same map.
  const YAML::Node m = YAML::Load(s.points[0].sets[0].substr(s.points[0].sets[0].find('=') + 1));
  EXPECT_EQ(s.points[0].sets[0].substr(0, s.points[0].sets[0].find('=')), "platform.iommus.smmu0.iotlb");
  ASSERT_TRUE(m.IsMap());
  EXPECT_EQ(m["entries"].as<std::string>(), "64");
  EXPECT_EQ(m["ways"].as<std::string>(), "0");
  EXPECT_EQ(s.points[0].sets[1], "run.duration=2ms");
  EXPECT_EQ(s.points[0].sets[2], "run.duration=1ms");
  EXPECT_EQ(s.points[0].sets[3], "x.y=1");
}

TEST(SweepSpec, ValuesSurviveTheRoundTripThroughSet) {
  // A quoted scalar that YAML would otherwise read as a map or a list stays one scalar.
  const Spec s = parse("base: b.yaml\naxes:\n  - k: ['a: b', '[1, 2]', plain]\n");
  ASSERT_EQ(s.points.size(), 3u);
  const Strings want = {"a: b", "[1, 2]", "plain"};
  for (size_t i = 0; i < 3; ++i) {
    EXPECT_EQ(s.points[i].cells, Strings{want[i]});
    const std::string& set = s.points[i].sets[0];
    const YAML::Node v = YAML::Load(set.substr(set.find('=') + 1));
    ASSERT_TRUE(v.IsScalar()) << set;
    EXPECT_EQ(v.Scalar(), want[i]);
  }
  // A list value (one axis value that is itself a list) is shown and passed in flow style.
  const Spec l = parse("base: b.yaml\naxes:\n  - k: [[1, 2], [3]]\n");
  EXPECT_EQ(l.points[0].cells, Strings{"[1, 2]"});
  EXPECT_EQ(l.points[1].sets, Strings{"k=[3]"});
}

TEST(SweepSpec, BaseAsAnAxisNamesConfigFiles) {
  const Spec s = parse(
      "base: ../a.yaml\n"
      "axes:\n"
      "  - base: [../a.yaml, /abs/b.yaml, sub/c.yaml]\n");
  ASSERT_EQ(s.points.size(), 3u);
  EXPECT_EQ(s.columns, Strings{"base"});
  EXPECT_EQ(s.points[0].base, "/study/a.yaml");
  EXPECT_EQ(s.points[1].base, "/abs/b.yaml");
  EXPECT_EQ(s.points[2].base, "/study/sweeps/sub/c.yaml");
  EXPECT_EQ(s.points[2].cells, Strings{"sub/c.yaml"});
  EXPECT_TRUE(s.points[2].sets.empty());  // not a --set
}

TEST(SweepSpec, IdsWidenPastTenThousandPoints) {
  const Spec s = parse("base: b.yaml\nrepeat: 10001\n");
  EXPECT_EQ(s.points.front().id, "p00000");
  EXPECT_EQ(s.points.back().id, "p10000");
  EXPECT_EQ(find_point(s, "p00042"), &s.points[42]);
  EXPECT_EQ(find_point(s, "42"), &s.points[42]);
  EXPECT_EQ(find_point(s, "10001"), nullptr);
  EXPECT_EQ(find_point(s, "p0042"), nullptr);
}

TEST(SweepSpec, StatsAndTimeout) {
  const Spec s = parse("base: b.yaml\nstats: [components.smmu0.iotlb.hits, meta.sim_time_ns]\ntimeout: 15min\n");
  EXPECT_EQ(s.stats, (Strings{"components.smmu0.iotlb.hits", "meta.sim_time_ns"}));
  EXPECT_DOUBLE_EQ(s.timeout_s, 900.0);
  EXPECT_DOUBLE_EQ(parse("base: b.yaml\ntimeout: 90\n").timeout_s, 90.0);
  EXPECT_DOUBLE_EQ(parse("base: b.yaml\ntimeout: 1.5s\n").timeout_s, 1.5);
  EXPECT_DOUBLE_EQ(parse("base: b.yaml\ntimeout: 2h\n").timeout_s, 7200.0);
  EXPECT_DOUBLE_EQ(parse("base: b.yaml\n").timeout_s, 0.0);
}

TEST(SweepSpec, CsvFieldsQuotedOnlyWhenNeeded) {
  EXPECT_EQ(csv_field("64KiB"), "64KiB");
  EXPECT_EQ(csv_field("0.25"), "0.25");
  EXPECT_EQ(csv_field("{a: 1, b: 2}"), "\"{a: 1, b: 2}\"");
  EXPECT_EQ(csv_field("say \"hi\""), "\"say \"\"hi\"\"\"");
  EXPECT_EQ(csv_field(""), "");
}

// Every bad sweep file: one line naming the file, the line and the key.
struct BadCase {
  const char* name;
  const char* text;
  const char* pattern;  // regex over the message
};

class SweepSpecErrors : public ::testing::TestWithParam<BadCase> {};

TEST_P(SweepSpecErrors, NamesFileLineAndKey) {
  const std::string msg = error_of(GetParam().text);
  ASSERT_FALSE(msg.empty()) << "parsed without error";
  EXPECT_TRUE(std::regex_search(msg, std::regex(GetParam().pattern))) << msg;
  EXPECT_EQ(msg.find('\n'), std::string::npos) << msg;
  EXPECT_EQ(msg.rfind(kPath + ":", 0), 0u) << msg;
}

const BadCase kBad[] = {
    {"MissingBase", "axes:\n  - a: [1]\n", "s\\.yaml:1: base: missing required key"},
    {"UnknownKey", "base: b.yaml\naxis:\n  - a: [1]\n", "s\\.yaml:2: axis: unknown key \\(did you mean 'axes'\\?\\)"},
    {"AxesNotAList", "base: b.yaml\naxes:\n  a: [1, 2]\n", "s\\.yaml:2: axes: expected a list of maps"},
    {"AxisValueNotAList", "base: b.yaml\naxes:\n  - a: 3\n",
     "s\\.yaml:3: axes\\[0\\]\\.a: expected a non-empty list.*set:"},
    {"AxisValuesEmpty", "base: b.yaml\naxes:\n  - a: []\n", "s\\.yaml:3: axes\\[0\\]\\.a: expected a non-empty list"},
    {"ZipLengthsDiffer", "base: b.yaml\naxes:\n  - a: [1, 2]\n    b: [1, 2, 3]\n",
     "s\\.yaml:4: axes\\[0\\]\\.b: has 3 values but a has 2"},
    {"SeedAsAxis", "base: b.yaml\naxes:\n  - seed: [1, 2]\n", "s\\.yaml:3: axes\\[0\\]\\.seed: .*seeds:"},
    {"SeedInSet", "base: b.yaml\nset: { seed: 3 }\n", "s\\.yaml:2: set\\.seed: "},
    {"KeyVariedTwice", "base: b.yaml\naxes:\n  - a.b: [1]\n  - a.b: [2]\n", "s\\.yaml:4: a\\.b: is varied twice"},
    {"BadKeyPath", "base: b.yaml\naxes:\n  - a..b: [1]\n", "s\\.yaml:3: axes\\[0\\]\\.a\\.\\.b: not a key path"},
    {"PointNotAMap", "base: b.yaml\npoints:\n  - 3\n", "s\\.yaml:3: points\\[0\\]: expected a map"},
    {"SeedsAndRepeat", "base: b.yaml\nseeds: [1]\nrepeat: 2\n", "s\\.yaml:3: repeat: give either"},
    {"BadSeed", "base: b.yaml\nseeds: [1, x]\n", "s\\.yaml:2: seeds\\[1\\]: expected an integer seed, got 'x'"},
    {"DuplicateSeed", "base: b.yaml\nseeds: [4, 4]\n", "s\\.yaml:2: seeds\\[1\\]: seed 4 is listed twice"},
    {"RepeatZero", "base: b.yaml\nrepeat: 0\n", "s\\.yaml:2: repeat: expected a number of repetitions"},
    {"BadTimeout", "base: b.yaml\ntimeout: soon\n", "s\\.yaml:2: timeout: expected a wall-clock time"},
    {"SummaryAsStat", "base: b.yaml\nstats: [summary.dma.requests]\n",
     "s\\.yaml:2: stats\\[0\\]: the summary is always"},
    {"BaseNotAFile", "base: [a, b]\n", "s\\.yaml:1: base: expected a config file name"},
    {"BaseAxisNotAFile", "base: b.yaml\naxes:\n  - base: [a.yaml, {x: 1}]\n",
     "s\\.yaml:3: axes\\[0\\]\\.base\\[1\\]: expected a config"},
    {"DuplicateKey", "base: b.yaml\nbase: c.yaml\n", "s\\.yaml:2: base: duplicate key"},
    {"NotAMap", "- a\n- b\n", "s\\.yaml:1: the top level of a sweep file must be a map"},
    {"YamlSyntax", "base: b.yaml\naxes: [\n", "s\\.yaml:[0-9]+: YAML syntax error"},
};
INSTANTIATE_TEST_SUITE_P(Bad, SweepSpecErrors, ::testing::ValuesIn(kBad),
                         [](const auto& info) { return std::string(info.param.name); });

TEST(SweepSpec, CommandLineSetCannotVaryTheSeedOrBase) {
  EXPECT_THROW(parse("base: b.yaml\n", {"seed=4"}), ConfigError);
  EXPECT_THROW(parse("base: b.yaml\n", {"base=x.yaml"}), ConfigError);
  EXPECT_THROW(parse("base: b.yaml\n", {"novalue"}), ConfigError);
}

}  // namespace
}  // namespace iommusim::sweep
