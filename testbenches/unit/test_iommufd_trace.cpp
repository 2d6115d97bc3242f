// The iommufd trace ops: the shipped seed-002 trace (traces/iommufd-resv.trace, self-checking with
// expect=) replayed by configs/trace-iommufd.yaml, its per-line results and DMA outcomes; a wrong
// expectation and malformed iommufd lines are errors naming file, line and key.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cerrno>
#include <filesystem>
#include <fstream>

#include "models/host/trace_reader.h"
#include "testbenches/study_util.h"

namespace iommusim::test {
namespace {

TEST(IommufdTrace, ShippedTraceMeetsItsExpectations) {
  StudyRun r = run_study("trace-iommufd.yaml");
  ASSERT_EQ(r.pf->host->error(), "");
  EXPECT_TRUE(r.sim.workloads_finished);
  // Per-line results (line numbers of traces/iommufd-resv.trace).
  EXPECT_EQ(r.host_stat("replay.line7_attach"), -EADDRINUSE);
  EXPECT_EQ(r.host_stat("replay.line9_attach"), -EADDRINUSE);
  EXPECT_EQ(r.host_stat("replay.line10_ioas_unmap"), -ENOENT);
  EXPECT_EQ(r.host_stat("replay.line12_attach"), 0);
  EXPECT_EQ(r.host_stat("replay.line13_ioas_map"), -EINVAL);
  EXPECT_EQ(r.host_stat("replay.line15_ioas_map"), -EEXIST);
  EXPECT_EQ(r.host_stat("replay.line27_hwpt_alloc"), -EADDRINUSE);
  EXPECT_EQ(r.host_stat("replay.line30_hwpt_alloc"), -EADDRINUSE);
  EXPECT_EQ(r.host_stat("replay.line38_ioas_map"), -ENOSPC);
  // Counters by op and result.
  EXPECT_EQ(r.host_stat("replay.attach_eaddrinuse"), 2);
  EXPECT_EQ(r.host_stat("replay.attach_ok"), 2);
  EXPECT_EQ(r.host_stat("replay.replace_ok"), 3);
  EXPECT_EQ(r.host_stat("replay.replace_einval"), 1);
  EXPECT_EQ(r.host_stat("replay.hwpt_alloc_eaddrinuse"), 2);
  // DMA: nic0's four accesses (three MSI writes across replaces, one read of a page mapped before
  // H1 existed) succeed; nic1 reads 8 KiB (32 requests of 256 B) and 64 B, writes the doorbell
  // twice: the read of IOVA B's page after moving to IOAS A and the write after detach fault.
  EXPECT_EQ(r.host_stat("replay.requests"), 4 + 32 + 1 + 2);
  EXPECT_EQ(r.host_stat("replay.faults"), 2);
  // Slot 0: into H0 (msi_iova), H1 (replace) and HB2 (nic1's attach installs the context's doorbells).
  EXPECT_EQ(r.host_stat("iommufd.msi_installs"), 3);
}

struct TempFiles {
  std::filesystem::path dir;
  explicit TempFiles(const std::string& trace) {
    dir = std::filesystem::temp_directory_path() / ("iommusim-iommufd-trace-" + std::to_string(::getpid()));
    std::filesystem::create_directories(dir);
    std::ofstream(dir / "t.trace") << trace;
    std::ofstream(dir / "t.yaml") << "extends: " << config_path("base-smmuv3.yaml") << R"(
run:
  duration: 1ms
  workloads:
    - { name: replay, endpoint: nic0, type: trace, mode: closed, file: t.trace }
)";
  }
};

TEST(IommufdTrace, WrongExpectationFailsTheRunNamingTheLine) {
  TempFiles f("0 host ioas_alloc id=A\n+0 host attach dev=nic0 pt=A expect=EINVAL\n+0 host detach dev=nic0\n");
  fresh_context();
  const PlatformConfig cfg = load_config((f.dir / "t.yaml").string(), {}, default_registry());
  auto pf = build_platform(cfg, default_registry());
  simulate(*pf, cfg);
  const std::string err = pf->host->error();
  EXPECT_NE(err.find("t.trace:2: attach returned 0, expected -EINVAL"), std::string::npos) << err;
}

TEST(IommufdTrace, BadLinesNameFileLineAndKey) {
  const auto parse = [](const std::string& line) -> std::string {
    const auto p = std::filesystem::temp_directory_path() / ("iommusim-iommufd-bad-" + std::to_string(::getpid()));
    std::ofstream(p) << line << "\n";
    try {
      host::TraceReader rd(p.string());
      host::TraceEvent ev;
      while (rd.next(ev)) {
      }
    } catch (const host::TraceError& e) {
      return e.what();
    }
    return "";
  };
  EXPECT_NE(parse("0 host attach dev=nic0 pt=A expect=EFOO").find(":1: expect=EFOO: expected 0 or an errno name"),
            std::string::npos);
  EXPECT_NE(parse("0 host attach dev=nic0").find(":1: missing key 'pt' for attach"), std::string::npos);
  EXPECT_NE(parse("0 host ioas_unmap ioas=A iova=0x1000").find(":1: ioas_unmap takes iova= and size= together"),
            std::string::npos);
  EXPECT_NE(parse("0 host ioas_map ioas=A size=4KiB iova=@x").find(":1: iova=@x: ioas_map takes an address"),
            std::string::npos);
  EXPECT_NE(parse("0 host hwpt_alloc id=9x dev=nic0 ioas=A").find(":1: id=9x: not a valid object name"),
            std::string::npos);
  EXPECT_NE(parse("0 host detach dev=nic0 pt=A").find(":1: unknown key 'pt' for detach"), std::string::npos);
  EXPECT_NE(parse("0 host wait time=1us expect=0").find(":1: unknown key 'expect' for wait"), std::string::npos);
  EXPECT_EQ(parse("0 host ioas_map ioas=A size=4KiB prot=r expect=-EEXIST"), "");
}

}  // namespace
}  // namespace iommusim::test
