// Calibration anchors (docs/calibration.md): default timings reproduce published measurements.
#include <gtest/gtest.h>
#include <sysc/kernel/sc_spawn.h>

#include "models/host/smmuv3_driver.h"
#include "testbenches/study_util.h"

namespace iommusim::test {
namespace {

// Kunpeng 920: a CMD_SYNC on an empty command queue completes 240-250 ns after the driver issues
// it (queue in local memory). Measured here from the CPU's first store of the command to its
// observing the completion, with every default.
TEST(Calibration, CmdSyncOnEmptyQueueTakesAbout245ns) {
  fresh_context();
  const PlatformConfig cfg = load_config(config_path("base-smmuv3.yaml"), {}, default_registry());
  auto pf = build_platform(cfg, default_registry());
  double ns = 0;
  sc_core::sc_spawn([&] {
    pf->host->wait_booted();
    sc_core::wait(sc_core::sc_time(1, sc_core::SC_US));  // the queue is idle
    auto& drv = dynamic_cast<host::SmmuV3Driver&>(pf->host->driver(0));
    const sc_core::sc_time t0 = sc_core::sc_time_stamp();
    drv.issue({}, true);
    ns = (sc_core::sc_time_stamp() - t0).to_seconds() * 1e9;
    sc_core::sc_stop();
  });
  sc_core::sc_report_handler::set_actions(sc_core::SC_INFO, sc_core::SC_DO_NOTHING);
  sc_core::sc_start(sc_core::sc_time(1, sc_core::SC_MS));
  EXPECT_GE(ns, 240.0 * 0.95);
  EXPECT_LE(ns, 250.0 * 1.05);
}

}  // namespace
}  // namespace iommusim::test
