// Helpers for study testbenches: load a shipped config with overrides, build, simulate, read stats.
#pragma once
#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "models/common/stats.h"
#include "models/host/linux_host.h"
#include "models/iommu/smmuv3/smmuv3.h"
#include "platforms/config.h"
#include "platforms/platform.h"
#include "testbenches/sim_fixture.h"

namespace iommusim::test {

inline std::string config_path(const std::string& name) { return std::string(IOMMUSIM_SOURCE_DIR) + "/configs/" + name; }

struct StudyRun {
  PlatformConfig cfg;
  std::unique_ptr<Platform> pf;
  SimResult sim;

  // A statistic of the host (e.g. "nic0.w3.latency_mean_ps") or of smmu i ("inv.commands").
  double host_stat(const std::string& path) const {
    double v = 0;
    EXPECT_TRUE(pf->host->stats().find(path, v)) << "no host statistic " << path;
    return v;
  }
  double smmu_stat(const std::string& path, size_t i = 0) const {
    double v = 0;
    EXPECT_TRUE(pf->smmus.at(i)->stats().find(path, v)) << "no smmu statistic " << path;
    return v;
  }
};

// Runs a shipped config in a fresh simulation context. One run per context: call again only after
// the previous StudyRun is destroyed.
inline StudyRun run_study(const std::string& config, const std::vector<std::string>& sets = {}) {
  fresh_context();
  StudyRun r;
  r.cfg = load_config(config_path(config), sets, default_registry());
  tlm::tlm_global_quantum::instance().set(sc_core::sc_time::from_value(r.cfg.quantum.ps));
  r.pf = build_platform(r.cfg, default_registry());
  r.sim = simulate(*r.pf, r.cfg);
  return r;
}

}  // namespace iommusim::test
