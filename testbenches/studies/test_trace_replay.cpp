// Trace replay (configs/trace-replay.yaml, traces/): strict unmap makes the example trace's DMA after
// unmap fault while the earlier DMAs succeed; lazy unmap lets it through; replay errors stop the run.
#include <gtest/gtest.h>
#include <sysc/kernel/sc_spawn.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "models/common/sim_time.h"
#include "models/host/linux_host.h"
#include "models/pcie/endpoint.h"
#include "platforms/config.h"
#include "platforms/platform.h"
#include "testbenches/sim_fixture.h"

namespace iommusim::test {
namespace {
namespace fs = std::filesystem;

class TraceReplayTest : public SimTest {
 protected:
  // Builds the config, records every DMA, runs until the workloads end (or the run stops).
  void run(const std::string& config, const std::vector<std::string>& sets = {}) {
    cfg_ = load_config(config, sets, default_registry());
    tlm::tlm_global_quantum::instance().set(to_sc(cfg_.quantum));
    pf_ = build_platform(cfg_, default_registry());
    pf_->endpoints.at(0)->set_observer([this](const DmaRecord& r) { dmas_.push_back(r); });
    sc_core::sc_spawn([this] {
      sc_core::wait(pf_->host->workloads_done());
      finished_ = true;
      sc_core::sc_stop();
    });
    sc_core::sc_report_handler::set_actions(sc_core::SC_INFO, sc_core::SC_DO_NOTHING);
    sc_core::sc_start(to_sc(cfg_.duration));
  }
  double stat(const std::string& name) {
    double v = -1;
    EXPECT_TRUE(pf_->host->stats().find("replay." + name, v)) << name;
    return v;
  }
  // A config in a scratch directory replaying `trace` on the base platform.
  std::string scratch(const std::string& trace) {
    dir_ = fs::temp_directory_path() / ("trace_replay_" + std::to_string(::getpid()) + "_" +
                                        ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::create_directories(dir_);
    std::ofstream(dir_ / "t.trace") << trace;
    std::ofstream(dir_ / "c.yaml") << "extends: " << IOMMUSIM_SOURCE_DIR << "/configs/base-smmuv3.yaml\n"
                                   << "run:\n  duration: 1ms\n  workloads:\n"
                                   << "    - { name: replay, endpoint: nic0, type: trace, file: t.trace }\n";
    return (dir_ / "c.yaml").string();
  }
  void TearDown() override {
    if (!dir_.empty()) fs::remove_all(dir_);
  }
  std::string example() const { return std::string(IOMMUSIM_SOURCE_DIR) + "/configs/trace-replay.yaml"; }

  PlatformConfig cfg_;
  std::unique_ptr<Platform> pf_;
  std::vector<DmaRecord> dmas_;
  bool finished_ = false;
  fs::path dir_;
};

// Requests of the example trace, in order: 4 descriptor reads; 16 KiB of tx in 64 requests of
// 256 B; a 1500 B frame into rx (5 x 256 B + 220 B); 2 write-backs; 1 read after unmap.
constexpr uint64_t kRequests = 4 + 64 + 6 + 2 + 1;
constexpr uint64_t kBytesBeforeUnmap = 4 * 64 + 16384 + 1500 + 2 * 16;

TEST_F(TraceReplayTest, StrictUnmapFaultsTheDmaAfterUnmap) {
  run(example());
  ASSERT_EQ(pf_->host->error(), "");
  ASSERT_TRUE(finished_);
  EXPECT_EQ(stat("events"), 11);
  EXPECT_EQ(stat("host_ops"), 6);
  EXPECT_EQ(stat("device_ops"), 5);
  EXPECT_EQ(stat("requests"), kRequests);
  EXPECT_EQ(stat("faults"), 1);
  EXPECT_EQ(stat("bytes"), kBytesBeforeUnmap);
  EXPECT_EQ(pf_->endpoints[0]->faults(), 1u);
  EXPECT_EQ(pf_->endpoints[0]->bytes(), kBytesBeforeUnmap);
  // Every request before the unmaps succeeded; the last one, to tx's old IOVA, faulted.
  ASSERT_EQ(dmas_.size(), kRequests);
  for (size_t i = 0; i + 1 < dmas_.size(); ++i) EXPECT_TRUE(dmas_[i].ok) << "request " << i;
  const DmaRecord& after = dmas_.back();
  EXPECT_FALSE(after.ok);
  EXPECT_EQ(after.iova, dmas_[4].iova);  // the first tx request
  EXPECT_FALSE(after.write);
  EXPECT_GE(after.issue_ps, to_ps(sc_core::sc_time(300, sc_core::SC_US)));
  // Writes went to rx and the ring, reads to ring and tx, each split at 256 B.
  for (size_t i = 0; i < 4; ++i) EXPECT_EQ(dmas_[i].size, 64u);
  for (size_t i = 4; i < 68; ++i) EXPECT_EQ(dmas_[i].size, 256u);
  EXPECT_EQ(dmas_[73].size, 220u);
  EXPECT_TRUE(dmas_[68].write);
  // Open loop: the maps and the transmit queue behind the previous op on their actor.
  EXPECT_GE(stat("late_events"), 3);
  EXPECT_GT(stat("lateness_ps"), 0);
}

TEST_F(TraceReplayTest, LazyUnmapLeavesAStaleTranslation) {
  run(example(), {"platform.host.dma_mode=lazy"});
  ASSERT_EQ(pf_->host->error(), "");
  ASSERT_TRUE(finished_);
  EXPECT_EQ(stat("requests"), kRequests);
  EXPECT_EQ(stat("faults"), 0);  // the IOTLB still holds tx's entry: the flush queue has not run
  EXPECT_EQ(stat("bytes"), kBytesBeforeUnmap + 64);
}

TEST_F(TraceReplayTest, ClosedLoopIgnoresTimestamps) {
  run(example(), {"run.workloads.replay.mode=closed"});
  ASSERT_EQ(pf_->host->error(), "");
  ASSERT_TRUE(finished_);
  EXPECT_EQ(stat("faults"), 1);
  EXPECT_EQ(stat("bytes"), kBytesBeforeUnmap);
  EXPECT_EQ(stat("late_events"), 0);
  EXPECT_LT(stat("elapsed_ps"), to_ps(sc_core::sc_time(300, sc_core::SC_US)));  // no idle gaps
}

TEST_F(TraceReplayTest, RawIovaAfterUnmapFaults) {
  // The first 4 KiB mapping of an empty domain gets the top page below 4 GiB (dma_32bit_first).
  run(scratch("0 host dma_map buf=a size=4KiB\n"
              "1us nic0 write iova=0xfffff000 size=64\n"
              "2us host dma_unmap buf=a\n"
              "3us nic0 write iova=0xfffff000 size=64\n"
              "4us nic0 read iova=0x1000 size=64 count=2 stride=4KiB   # never mapped\n"));
  ASSERT_EQ(pf_->host->error(), "");
  ASSERT_TRUE(finished_);
  ASSERT_EQ(dmas_.size(), 4u);
  EXPECT_TRUE(dmas_[0].ok);
  EXPECT_FALSE(dmas_[1].ok);
  EXPECT_FALSE(dmas_[2].ok);
  EXPECT_EQ(dmas_[3].iova, 0x2000u);
  EXPECT_EQ(stat("faults"), 3);
}

TEST_F(TraceReplayTest, UnknownActorStopsTheRun) {
  run(scratch("0 host dma_map buf=a size=4KiB\n# comment\n10us nic9 read buf=a size=64\n20us nic0 read buf=a size=64\n"));
  EXPECT_EQ(pf_->host->error(), (dir_ / "t.trace").string() + ":3: unknown actor 'nic9' (actors: host, nic0)");
  EXPECT_FALSE(finished_);
  EXPECT_TRUE(dmas_.empty());  // the run stopped at the bad line
  EXPECT_LT(sc_core::sc_time_stamp(), sc_core::sc_time(20, sc_core::SC_US));
}

TEST_F(TraceReplayTest, HandleErrorsNameTheLine) {
  const std::string f = "t.trace:";
  const auto error_of = [&](const std::string& trace) {
    pf_.reset();  // the previous run's modules go with their own context
    fresh_context();
    dmas_.clear();
    finished_ = false;
    run(scratch(trace));
    return fs::path(pf_->host->error()).filename().string();
  };
  EXPECT_EQ(error_of("0 host dma_map buf=a size=4KiB\n1us host dma_unmap buf=a\n2us nic0 read buf=a size=64\n"),
            f + "3: buffer 'a' is not mapped (dma_unmap at line 2)");
  EXPECT_EQ(error_of("0 nic0 read buf=b size=64\n"), f + "1: buffer 'b' is not mapped (no dma_map before this line)");
  EXPECT_EQ(error_of("0 host dma_map buf=a size=4KiB\n0 host dma_map buf=a size=4KiB\n"),
            f + "2: buffer 'a' is already mapped (dma_map at line 1)");
  EXPECT_EQ(error_of("0 host dma_unmap buf=a\n"), f + "1: buffer 'a' is not mapped (no dma_map before this line)");
  EXPECT_EQ(error_of("0 host dma_map buf=a size=4KiB\n1us nic0 read buf=a offset=4000 size=128\n"),
            f + "2: access up to offset 4128 is outside buffer 'a' (4KiB)");
  EXPECT_EQ(error_of("0 nic0 read iova=@z size=64\n"), f + "1: iova=@z: buffer 'z' was never mapped");
  EXPECT_EQ(error_of("0 host dma_map buf=a size=4KiB dev=nic7\n"), f + "1: dev=nic7: unknown endpoint (endpoints: nic0)");
  EXPECT_EQ(error_of("0 host wait time=1us\n1us host bogus\n"),
            f + "2: unknown op 'bogus' for host (host ops: dma_map, dma_unmap, mmap, touch, munmap, mprotect, bind, unbind, "
                "exit, wait, request_irq, free_irq, ioas_alloc, ioas_allow, ioas_map, ioas_unmap, hwpt_alloc, attach, replace, detach, msi_iova)");
}

}  // namespace
}  // namespace iommusim::test
