// Replay of the imported ftrace sample (configs/trace-ftrace.yaml, traces/ftrace-sample.*): the
// counts the capture implies, computed here from traces/ftrace-sample.txt itself (not from the
// converter): one dma_map per map event, one dma_unmap per mapping an unmap event covers, every
// mapped byte moved once by the DMA rule, and exactly the capture's io_page_faults faulting, on
// the device they name.
#include <gtest/gtest.h>
#include <sysc/kernel/sc_spawn.h>

#include <cstdio>
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

// What the sample says, read with sscanf on the kernel's TP_printk formats.
struct Expected {
  uint64_t maps = 0, unmapped = 0, bytes = 0, requests = 0, faults = 0, nic_faults = 0;
};

Expected from_sample(const std::string& path, uint64_t request_size, uint64_t fault_size) {
  Expected x;
  struct Range {
    unsigned long long iova, size;
  };
  std::vector<Range> live;
  std::ifstream in(path);
  EXPECT_TRUE(in) << path;
  for (std::string l; std::getline(in, l);) {
    unsigned long long iova = 0, end = 0, pa = 0, size = 0, unmapped = 0;
    char dev[32] = {};
    unsigned flags = 0;
    size_t p;
    if ((p = l.find(": map: ")) != std::string::npos &&
        std::sscanf(l.c_str() + p, ": map: IOMMU: iova=0x%llx - 0x%llx paddr=0x%llx size=%llu", &iova, &end, &pa, &size) == 4) {
      ++x.maps;
      x.bytes += size;
      x.requests += (size + request_size - 1) / request_size;  // sizes are whole pages: no 4 KiB split
      live.push_back({iova, size});
    } else if ((p = l.find(": unmap: ")) != std::string::npos &&
               std::sscanf(l.c_str() + p, ": unmap: IOMMU: iova=0x%llx - 0x%llx size=%llu unmapped_size=%llu", &iova, &end,
                           &size, &unmapped) == 4) {
      for (size_t i = 0; i < live.size();) {
        if (live[i].iova >= iova && live[i].iova + live[i].size <= iova + unmapped) {
          ++x.unmapped;
          live.erase(live.begin() + static_cast<long>(i));
        } else {
          ++i;
        }
      }
    } else if ((p = l.find(": io_page_fault: ")) != std::string::npos &&
               std::sscanf(l.c_str() + p, ": io_page_fault: IOMMU:%*s %31s iova=0x%llx flags=0x%x", dev, &iova, &flags) == 3) {
      ++x.faults;
      x.requests += (fault_size + request_size - 1) / request_size;
      if (std::string(dev) == "0000:03:00.0") ++x.nic_faults;
    }
  }
  return x;
}

class TraceFtraceTest : public SimTest {
 protected:
  void run(const std::vector<std::string>& sets = {}) {
    cfg_ = load_config(std::string(IOMMUSIM_SOURCE_DIR) + "/configs/trace-ftrace.yaml", sets, default_registry());
    tlm::tlm_global_quantum::instance().set(to_sc(cfg_.quantum));
    pf_ = build_platform(cfg_, default_registry());
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
  PlatformConfig cfg_;
  std::unique_ptr<Platform> pf_;
  bool finished_ = false;
};

TEST_F(TraceFtraceTest, SampleReplaysWithTheCountsTheCaptureImplies) {
  const Expected x = from_sample(std::string(IOMMUSIM_SOURCE_DIR) + "/traces/ftrace-sample.txt", 256, 64);
  ASSERT_GT(x.maps, 200u);  // the sample is the few-hundred-event capture the docs describe
  ASSERT_EQ(x.faults, 1u);
  run();
  ASSERT_EQ(pf_->host->error(), "");
  ASSERT_TRUE(finished_);
  EXPECT_EQ(stat("dma_map_ok"), x.maps);
  EXPECT_EQ(stat("dma_unmap_ok"), x.unmapped);
  EXPECT_EQ(stat("host_ops"), x.maps + x.unmapped);
  EXPECT_EQ(stat("device_ops"), x.maps + x.faults);  // one rule DMA per mapping, one access per fault
  EXPECT_EQ(stat("requests"), x.requests);
  EXPECT_EQ(stat("bytes"), x.bytes);   // every mapped byte once; the fault moves nothing
  EXPECT_EQ(stat("faults"), x.faults);
  ASSERT_EQ(pf_->endpoints.size(), 2u);
  EXPECT_EQ(pf_->endpoints[0]->faults(), x.nic_faults);  // nic0 = 0000:03:00.0 (traces/ftrace-sample.map)
  EXPECT_EQ(pf_->endpoints[1]->faults(), x.faults - x.nic_faults);
  EXPECT_EQ(pf_->endpoints[0]->bytes() + pf_->endpoints[1]->bytes(), x.bytes);
}

TEST_F(TraceFtraceTest, ClosedLoopGivesTheSameCounts) {
  // Each event waits for the previous one: no DMA races its unmap, the use after unmap still faults.
  const Expected x = from_sample(std::string(IOMMUSIM_SOURCE_DIR) + "/traces/ftrace-sample.txt", 256, 64);
  run({"run.workloads.replay.mode=closed"});
  ASSERT_EQ(pf_->host->error(), "");
  ASSERT_TRUE(finished_);
  EXPECT_EQ(stat("dma_map_ok"), x.maps);
  EXPECT_EQ(stat("dma_unmap_ok"), x.unmapped);
  EXPECT_EQ(stat("bytes"), x.bytes);
  EXPECT_EQ(stat("faults"), x.faults);
  EXPECT_EQ(stat("late_events"), 0);
}

}  // namespace
}  // namespace iommusim::test
