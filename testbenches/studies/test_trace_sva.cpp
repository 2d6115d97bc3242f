// Trace replay of process address spaces and SVA (configs/trace-sva.yaml, traces/sva-fault.trace):
// the DMA outcomes, host-op result codes and page requests the sample trace must produce, derived
// from its lines; result codes of failing ops that the replay reports and goes past; and the
// replay errors (device not bound, wrong kind of buffer, exited process) with their lines.
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
#include "models/host/mm.h"
#include "models/pcie/endpoint.h"
#include "platforms/config.h"
#include "platforms/platform.h"
#include "testbenches/sim_fixture.h"

namespace iommusim::test {
namespace {
namespace fs = std::filesystem;
constexpr uint64_t kPage = 4096;

class TraceSvaTest : public SimTest {
 protected:
  struct Dma {
    unsigned ep;
    DmaRecord r;
  };
  void run(const std::string& config, const std::vector<std::string>& sets = {}) {
    pf_.reset();  // a previous run's modules go with their own context
    fresh_context();
    dmas_.clear();
    finished_ = false;
    cfg_ = load_config(config, sets, default_registry());
    tlm::tlm_global_quantum::instance().set(to_sc(cfg_.quantum));
    pf_ = build_platform(cfg_, default_registry());
    for (unsigned i = 0; i < pf_->endpoints.size(); ++i)
      pf_->endpoints[i]->set_observer([this, i](const DmaRecord& r) { dmas_.push_back({i, r}); });
    sc_core::sc_spawn([this] {
      sc_core::wait(pf_->host->workloads_done());
      finished_ = true;
      sc_core::sc_stop();
    });
    sc_core::sc_report_handler::set_actions(sc_core::SC_INFO, sc_core::SC_DO_NOTHING);
    sc_core::sc_start(to_sc(cfg_.duration));
  }
  // The replay's own statistic; 0 when the result it counts never occurred (counters of results
  // are created on first use).
  double stat(const std::string& name, bool must_exist = true) {
    double v = 0;
    const bool found = pf_->host->stats().find("replay." + name, v);
    if (must_exist) EXPECT_TRUE(found) << name;
    return v;
  }
  double host_stat(const std::string& path) {
    double v = -1;
    EXPECT_TRUE(pf_->host->stats().find(path, v)) << path;
    return v;
  }
  unsigned ep(const std::string& name) { return *pf_->host->find_endpoint(name); }
  double ep_stat(const std::string& name, const std::string& path) {
    double v = 0;
    pf_->endpoints.at(ep(name))->stats().find(path, v);
    return v;
  }
  std::vector<DmaRecord> of(const std::string& name) {
    std::vector<DmaRecord> v;
    for (const auto& d : dmas_)
      if (d.ep == ep(name)) v.push_back(d.r);
    return v;
  }
  // A config in a scratch directory replaying `trace` on the trace-sva platform.
  std::string scratch(const std::string& trace) {
    dir_ = fs::temp_directory_path() / ("trace_sva_" + std::to_string(::getpid()) + "_" +
                                        ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::create_directories(dir_);
    std::ofstream(dir_ / "t.trace") << trace;
    std::ofstream(dir_ / "c.yaml") << "extends: " << IOMMUSIM_SOURCE_DIR << "/configs/trace-sva.yaml\n"
                                   << "run:\n  workloads:\n"
                                   << "    - { name: replay, endpoint: acc0, type: trace, file: t.trace }\n";
    return (dir_ / "c.yaml").string();
  }
  std::string error_of(const std::string& trace) {
    run(scratch(trace));
    EXPECT_FALSE(finished_);
    return fs::path(pf_->host->error()).filename().string();
  }
  void TearDown() override {
    if (!dir_.empty()) fs::remove_all(dir_);
  }
  static std::string sample() { return std::string(IOMMUSIM_SOURCE_DIR) + "/configs/trace-sva.yaml"; }

  PlatformConfig cfg_;
  std::unique_ptr<Platform> pf_;
  std::vector<Dma> dmas_;
  bool finished_ = false;
  fs::path dir_;
};

// The sample trace, line by line (256 B requests, 4 KiB pages). Buffers are placed top-down from
// the mmap base: `in` (32 KiB, 8 pages) just below it, `out` (16 KiB, 4 pages) below `in`.
const uint64_t kIn = host::MmOptions{}.mmap_base - 32 * 1024;
const uint64_t kOut = kIn - 16 * 1024;
// acc0: the 32 KiB read of `in` (128 requests; pages 0-1 touched by the CPU, 2-7 fault through
// PRI and succeed), a read of page 0 (kept by the partial munmap), then three that must fault:
// iova=@in after the whole munmap, a write to `out` after mprotect r, a read after exit.
constexpr uint64_t kAcc0Ok = 128 + 1, kAcc0Faults = 3;
constexpr uint64_t kAcc0PageRequests = 6 + 3;
// acc1: the 16 KiB write of the populated `out` (64), 8 reads of `in`'s now resident pages, then
// the read of the hole the partial munmap left, which faults (its page request is answered Invalid).
constexpr uint64_t kAcc1Ok = 64 + 8, kAcc1Faults = 1;
constexpr uint64_t kAcc1PageRequests = 1;
constexpr uint64_t kBytes = 32768 + 64 + 16384 + 8 * 64;

class TraceSvaSample : public TraceSvaTest, public ::testing::WithParamInterface<const char*> {};

TEST_P(TraceSvaSample, DmaOutcomesResultsAndPageRequests) {
  run(sample(), {std::string("run.workloads.replay.mode=") + GetParam()});
  ASSERT_EQ(pf_->host->error(), "");
  ASSERT_TRUE(finished_);
  EXPECT_EQ(stat("events"), 23);
  EXPECT_EQ(stat("host_ops"), 15);
  EXPECT_EQ(stat("device_ops"), 8);
  EXPECT_EQ(stat("requests"), kAcc0Ok + kAcc0Faults + kAcc1Ok + kAcc1Faults);
  EXPECT_EQ(stat("faults"), kAcc0Faults + kAcc1Faults);
  EXPECT_EQ(stat("bytes"), kBytes);

  // acc0: everything before the whole munmap succeeded, everything after faulted, at the addresses
  // the trace names.
  const auto a0 = of("acc0");
  ASSERT_EQ(a0.size(), kAcc0Ok + kAcc0Faults);
  for (size_t i = 0; i < kAcc0Ok; ++i) EXPECT_TRUE(a0[i].ok) << "acc0 request " << i;
  for (size_t i = 0; i < 128; ++i) EXPECT_EQ(a0[i].iova & ~(kPage - 1), kIn + i / 16 * kPage) << i;
  EXPECT_EQ(a0[128].iova, kIn);
  EXPECT_FALSE(a0[129].ok);
  EXPECT_EQ(a0[129].iova, kIn);  // iova=@in
  EXPECT_FALSE(a0[129].write);
  EXPECT_FALSE(a0[130].ok);
  EXPECT_EQ(a0[130].iova, kOut);
  EXPECT_TRUE(a0[130].write);  // denied by mprotect r
  EXPECT_FALSE(a0[131].ok);
  EXPECT_EQ(a0[131].iova, kOut);  // after exit
  EXPECT_GE(a0[131].issue_ps, to_ps(sc_core::sc_time(GetParam() == std::string("open") ? 1100 : 0, sc_core::SC_US)));

  const auto a1 = of("acc1");
  ASSERT_EQ(a1.size(), kAcc1Ok + kAcc1Faults);
  for (size_t i = 0; i < kAcc1Ok; ++i) EXPECT_TRUE(a1[i].ok) << "acc1 request " << i;
  for (size_t i = 0; i < 64; ++i) EXPECT_TRUE(a1[i].write);
  for (size_t i = 64; i < 72; ++i) EXPECT_EQ(a1[i].iova, kIn + (i - 64) * kPage);
  EXPECT_FALSE(a1[72].ok);
  EXPECT_EQ(a1[72].iova, kIn + 16 * 1024);  // the hole
  EXPECT_TRUE(of("acc2").empty());
  EXPECT_TRUE(of("nic0").empty());

  // One page request per page a device touched while the CPU tables had no entry for it (or not
  // the right one); the host answered the six resident-able pages Success, the rest Invalid.
  EXPECT_EQ(ep_stat("acc0", "pri.requests"), kAcc0PageRequests);
  EXPECT_EQ(ep_stat("acc1", "pri.requests"), kAcc1PageRequests);
  EXPECT_EQ(ep_stat("acc0", "pri.success"), 6);
  EXPECT_EQ(ep_stat("acc0", "pri.invalid"), 3);
  EXPECT_EQ(ep_stat("acc1", "pri.invalid"), 1);
  EXPECT_EQ(host_stat("iopf.groups"), kAcc0PageRequests + kAcc1PageRequests);
  EXPECT_EQ(host_stat("iopf.success"), 6);
  EXPECT_EQ(host_stat("iopf.invalid"), 4);

  // Every host op's result, as the trace's comments say.
  EXPECT_EQ(stat("mmap_ok"), 2);
  EXPECT_EQ(stat("touch_ok"), 1);
  EXPECT_EQ(stat("touch_efault"), 1);
  EXPECT_EQ(stat("bind_ok"), 2);
  EXPECT_EQ(stat("bind_einval"), 1);      // acc2: dmar1 has no first-stage translation
  EXPECT_EQ(stat("bind_eopnotsupp"), 1);  // nic0: no PASID capability
  EXPECT_EQ(stat("munmap_ok"), 2);
  EXPECT_EQ(stat("mprotect_ok"), 1);
  EXPECT_EQ(stat("unbind_ok"), 2);
  EXPECT_EQ(stat("unbind_enoent"), 1);  // acc2, whose bind failed
  EXPECT_EQ(stat("exit_ok"), 1);
  EXPECT_EQ(stat("bind_ebusy", false), 0);
  EXPECT_EQ(host_stat("sva.binds"), 2);
  EXPECT_EQ(host_stat("sva.bind_errors"), 2);
  EXPECT_EQ(host_stat("sva.unbinds"), 2);
  // The CPU faulted in `out` (populate) and pages 0-1 of `in`; the devices' page requests the other six.
  EXPECT_EQ(host_stat("mm1.faults"), 4 + 2 + 6 + 4 + 1);  // + the write touch and the four invalid requests
}

INSTANTIATE_TEST_SUITE_P(Modes, TraceSvaSample, ::testing::Values("open", "closed"),
                         [](const ::testing::TestParamInfo<const char*>& i) { return std::string(i.param); });

TEST_F(TraceSvaTest, FailingOpsAreResultsAndTheReplayGoesOn) {
  // acc1 supports one PASID only (PASID 1): the second process gets PASID 2 from acc0's bind.
  const std::string trace =
      "0     host mmap     mm=p buf=a size=16KiB\n"
      "+0    host bind     dev=acc0 mm=p\n"                    // PASID 1
      "+0    host bind     dev=acc0 mm=p\n"                    // a second reference
      "+0    host bind     dev=acc0 mm=q\n"                    // PASID 2
      "+0    host bind     dev=acc1 mm=q\n"                    // -EOVERFLOW
      "+0    host munmap   buf=a offset=100 size=4KiB\n"       // -EINVAL: not page aligned
      "+0    host munmap   buf=a offset=4KiB size=4KiB\n"      // 0: a hole
      "+0    host mprotect buf=a prot=r\n"                     // -ENOMEM: the range has a hole
      "+0    host touch    buf=a offset=4KiB size=1\n"         // -EFAULT: no VMA
      "+0    host unbind   dev=acc0 mm=p\n"                    // 0, one reference left
      "10us  acc0 read     sva=p buf=a size=64\n"              // still bound: faults in, succeeds
      "30us  host unbind   dev=acc0 mm=p\n"                    // 0 (after the read: no race)
      "+0    host unbind   dev=acc0 mm=p\n"                    // -ENOENT
      "+0    host unbind   dev=acc1 mm=q\n";                   // -ENOENT
  run(scratch(trace), {"platform.endpoints.acc1.pasid_bits=1"});
  ASSERT_EQ(pf_->host->error(), "");
  ASSERT_TRUE(finished_);
  EXPECT_EQ(stat("bind_ok"), 3);
  EXPECT_EQ(stat("bind_eoverflow"), 1);
  EXPECT_EQ(stat("munmap_einval"), 1);
  EXPECT_EQ(stat("munmap_ok"), 1);
  EXPECT_EQ(stat("mprotect_enomem"), 1);
  EXPECT_EQ(stat("touch_efault"), 1);
  EXPECT_EQ(stat("unbind_ok"), 2);
  EXPECT_EQ(stat("unbind_enoent"), 2);
  EXPECT_EQ(stat("mmap_ok"), 1);
  EXPECT_EQ(stat("host_ops", true), 13);
  ASSERT_EQ(dmas_.size(), 1u);
  EXPECT_TRUE(dmas_[0].r.ok);
  EXPECT_EQ(ep_stat("acc0", "pri.requests"), 1);
}

TEST_F(TraceSvaTest, ReplayErrorsNameTheLine) {
  const std::string f = "t.trace:";
  const std::string mm = "0 host mmap mm=p buf=a size=4KiB\n";
  EXPECT_EQ(error_of(mm + "1us acc0 read sva=p buf=a size=64\n"),
            f + "2: acc0 is not bound to process 'p' (no bind before this line)");
  EXPECT_EQ(error_of(mm + "0 host bind dev=acc0 mm=p\n0 host unbind dev=acc0 mm=p\n1us acc0 read sva=p buf=a size=64\n"),
            f + "4: acc0 is not bound to process 'p' (unbind at line 3)");
  EXPECT_EQ(error_of("0 host bind dev=acc2 mm=p\n" + mm + "1us acc2 read sva=p buf=a size=64\n"),
            f + "3: acc2 is not bound to process 'p' (bind at line 1 failed: -EINVAL)");
  EXPECT_EQ(error_of("0 acc0 read sva=q iova=0x1000 size=64\n"),
            f + "1: process 'q' does not exist (no mmap or bind before this line)");
  EXPECT_EQ(error_of(mm + "0 acc0 read buf=a size=64\n"), f + "2: buffer 'a' is memory of process 'p' (mmap at line 1): use sva=p");
  EXPECT_EQ(error_of(mm + "0 host bind dev=acc0 mm=p\n0 host dma_map buf=b size=4KiB\n0 acc0 read sva=p buf=b size=64\n"),
            f + "4: buffer 'b' is a DMA buffer (dma_map at line 3), not memory of process 'p'");
  EXPECT_EQ(error_of(mm + "0 host mmap mm=r buf=c size=4KiB\n0 host bind dev=acc0 mm=r\n0 acc0 read sva=r buf=a size=64\n"),
            f + "4: buffer 'a' is memory of process 'p', not 'r'");
  EXPECT_EQ(error_of(mm + "0 host mmap mm=p buf=a size=4KiB\n"), f + "2: buffer 'a' is already mapped (mmap at line 1)");
  EXPECT_EQ(error_of(mm + "0 host dma_unmap buf=a\n"), f + "2: buffer 'a' is memory of process 'p' (mmap at line 1): use munmap");
  EXPECT_EQ(error_of("0 host dma_map buf=b size=4KiB\n0 host touch buf=b\n"),
            f + "2: buffer 'b' is a DMA buffer (dma_map at line 1), not process memory");
  EXPECT_EQ(error_of("0 host touch buf=z\n"), f + "1: buffer 'z' is not mapped (no mmap before this line)");
  EXPECT_EQ(error_of(mm + "0 host munmap buf=a\n0 host mprotect buf=a prot=r\n"),
            f + "3: buffer 'a' is not mapped (munmap at line 2)");
  EXPECT_EQ(error_of(mm + "0 host touch buf=a offset=1KiB size=4KiB\n"),
            f + "2: access up to offset 5120 is outside buffer 'a' (4KiB)");
  EXPECT_EQ(error_of(mm + "0 host munmap buf=a offset=4KiB\n"), f + "2: offset 4096 is outside buffer 'a' (4KiB)");
  EXPECT_EQ(error_of(mm + "0 host exit mm=p\n0 host touch buf=a\n"), f + "3: process 'p' has exited (exit at line 2)");
  EXPECT_EQ(error_of(mm + "0 host exit mm=p\n0 host bind dev=acc0 mm=p\n"), f + "3: process 'p' has exited (exit at line 2)");
  EXPECT_EQ(error_of(mm + "0 host exit mm=p\n0 host exit mm=p\n"), f + "3: process 'p' has already exited (exit at line 2)");
  EXPECT_EQ(error_of("0 host exit mm=q\n"), f + "1: process 'q' does not exist (no mmap or bind before this line)");
  EXPECT_EQ(error_of("0 host bind dev=acc9 mm=p\n"), f + "1: dev=acc9: unknown endpoint (endpoints: acc0, acc1, acc2, nic0)");
  // An mmap larger than the address space fails (-ENOMEM, a result); using its buffer cannot be replayed.
  EXPECT_EQ(error_of("0 host mmap mm=p buf=a size=200TiB\n0 host touch buf=a\n"),
            f + "2: buffer 'a' is not mapped (mmap at line 1 failed: -ENOMEM)");
  EXPECT_EQ(stat("mmap_enomem"), 1);
  EXPECT_EQ(error_of("0 host mmap mm=p buf=a size=200TiB\n0 host bind dev=acc0 mm=p\n1us acc0 read sva=p iova=@a size=8\n"),
            f + "3: iova=@a: buffer 'a' is not mapped (mmap at line 1 failed: -ENOMEM)");
}

}  // namespace
}  // namespace iommusim::test
