// Unit tests for the sweep's gather step and resume markers (platforms/sweep_run.cpp) and the
// Slurm array ranges: results.csv built from hand-written point directories and compared with the
// expected text byte for byte.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "platforms/sweep_run.h"
#include "platforms/sweep_slurm.h"
#include "platforms/sweep_spec.h"

namespace iommusim::sweep {
namespace {
namespace fs = std::filesystem;

void write(const fs::path& p, const std::string& text) {
  fs::create_directories(p.parent_path());
  std::ofstream(p) << text;
}

std::string read(const fs::path& p) {
  std::ifstream in(p);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

struct TmpDir {
  fs::path path = fs::temp_directory_path() / ("iommusim-sweep-" + std::to_string(getpid()) + "-" +
                                               ::testing::UnitTest::GetInstance()->current_test_info()->name());
  TmpDir() { fs::remove_all(path); }
  ~TmpDir() { fs::remove_all(path); }
};

// A stats.json as `iommusim run` writes it (summary keys in the file's order, not sorted).
const char* kStats = R"({
  "meta": { "version": "0.1.0-test", "seed": 3, "sim_time_ns": 1500.5 },
  "summary": { "iotlb.hit_rate": 0.5, "dma.requests": 10, "dma.latency_p50_ns": 612.25 },
  "components": {
    "smmu0.iotlb": { "hits": 7, "name": "lru" },
    "smmu0": { "walk": { "reads": 2 } },
    "nic0": { "latency": { "count": 4, "p99": 123.5 } }
  }
})";

TEST(SweepResults, GatherBuildsOneRowPerPointInOrder) {
  TmpDir tmp;
  Spec s = parse_spec(
      "base: b.yaml\n"
      "axes:\n"
      "  - a.b: [1, 2]\n"
      "  - c: ['x,y']\n"
      "seeds: [3, 4]\n"
      "stats: [components.smmu0.iotlb.hits, components.smmu0.walk.reads, components.nic0.latency, "
      "meta.version, components.nope]\n",
      (tmp.path / "s.yaml").string());
  ASSERT_EQ(s.points.size(), 4u);
  const fs::path out = tmp.path / "out";
  // p0000 ran and completed; p0001 timed out; p0002 has stats but no marker (the run did not end
  // well); p0003's marker is for other overrides (the sweep file changed since).
  for (const char* id : {"p0000", "p0002", "p0003"}) write(out / "points" / id / "stats.json", kStats);
  write(out / "points/p0000/complete", fingerprint(s.points[0]));
  write(out / "points/p0001/status", "timeout\nkilled after 2s\n");
  write(out / "points/p0003/complete", fingerprint(s.points[0]));
  EXPECT_TRUE(is_complete(s.points[0], out.string()));
  EXPECT_FALSE(is_complete(s.points[2], out.string()));
  EXPECT_FALSE(is_complete(s.points[3], out.string()));

  const Tally t = gather(s, out.string());
  EXPECT_EQ(t.ok, 1u);
  EXPECT_EQ(t.timeout, 1u);
  EXPECT_EQ(t.failed, 2u);
  const std::string want =
      "point,a.b,c,seed,status,iotlb.hit_rate,dma.requests,dma.latency_p50_ns,components.smmu0.iotlb.hits,"
      "components.smmu0.walk.reads,components.nic0.latency,meta.version,components.nope\n"
      "p0000,1,\"x,y\",3,ok,0.5,10,612.25,7,2,\"{\"\"count\"\":4,\"\"p99\"\":123.5}\",0.1.0-test,\n"
      "p0001,1,\"x,y\",4,timeout,,,,,,,,\n"
      "p0002,2,\"x,y\",3,failed,,,,,,,,\n"
      "p0003,2,\"x,y\",4,failed,,,,,,,,\n";
  EXPECT_EQ(read(out / "results.csv"), want);
  EXPECT_FALSE(fs::exists(out / "results.csv.tmp"));
}

TEST(SweepResults, NoCompletePointGivesNoSummaryColumns) {
  TmpDir tmp;
  Spec s = parse_spec("base: b.yaml\naxes:\n  - k: [a]\n", (tmp.path / "s.yaml").string());
  s.points[0].seed = 1;  // what resolve_seeds takes from the base config
  fs::create_directories(tmp.path / "out");
  gather(s, (tmp.path / "out").string());
  EXPECT_EQ(read(tmp.path / "out/results.csv"), "point,k,seed,status\np0000,a,1,failed\n");
}

TEST(SweepResults, PointCommandRunsTheSameBinary) {
  Spec s = parse_spec("base: /c/b.yaml\naxes:\n  - k.x: [5]\nseeds: [2]\n", "/c/s.yaml", {"run.duration=1ms"});
  SweepOptions o;
  o.exe = "/bin/iommusim";
  o.out_dir = "/o";
  EXPECT_EQ(point_argv(s.points[0], o),
            (std::vector<std::string>{"/bin/iommusim", "run", "/c/b.yaml", "--set=run.duration=1ms", "--set=k.x=5",
                                      "--set=seed=2", "--out=/o/points/p0000", "-q"}));
}

TEST(SweepResults, SlurmArrayRanges) {
  EXPECT_EQ(array_ranges({0, 1, 2, 3}), "0-3");
  EXPECT_EQ(array_ranges({0, 2, 3, 4, 7, 9, 10}), "0,2-4,7,9-10");
  EXPECT_EQ(array_ranges({5}), "5");
  EXPECT_EQ(array_ranges({}), "");
}

TEST(SweepResults, ShellQuoting) {
  EXPECT_EQ(sh_quote("/usr/bin/iommusim"), "/usr/bin/iommusim");
  EXPECT_EQ(sh_quote("--set=a.b=1"), "--set=a.b=1");
  EXPECT_EQ(sh_quote("a b"), "'a b'");
  EXPECT_EQ(sh_quote("it's"), "'it'\\''s'");
  EXPECT_EQ(sh_quote("{entries: 64}"), "'{entries: 64}'");
  EXPECT_EQ(sh_quote(""), "''");
}

}  // namespace
}  // namespace iommusim::sweep
