// `iommusim run`: build the platform, simulate, write stats.json and the resolved config, print a summary.
#include "platforms/run.h"

#include <nlohmann/json.hpp>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>

#include "models/common/log.h"
#include "models/common/sim_time.h"
#include "models/common/timeline.h"
#include "models/host/linux_host.h"
#include "models/iommu/smmuv3/smmuv3.h"
#include "models/pcie/endpoint.h"
#include "platforms/platform.h"
#include "platforms/stats_dump.h"
#include "platforms/sweep_run.h"

#ifndef IOMMUSIM_VERSION
#define IOMMUSIM_VERSION "unknown"
#endif

namespace iommusim {
namespace {

// run.json: enough to rerun this output directory (the binary, its version, the directory and
// command line it ran from, the seed).
void write_run_info(const RunOptions& opts, const PlatformConfig& cfg) {
  namespace fs = std::filesystem;
  std::error_code ec;
  nlohmann::ordered_json j;
  j["version"] = IOMMUSIM_VERSION;
  j["config"] = cfg.path;
  j["seed"] = cfg.seed;
  j["cwd"] = fs::current_path(ec).string();
  const fs::path exe = fs::read_symlink("/proc/self/exe", ec);
  j["exe"] = ec ? std::string() : exe.string();
  j["command"] = opts.command;
  std::string rerun = "cd " + sweep::sh_quote(j["cwd"].get<std::string>()) + " &&";
  for (size_t i = 0; i < opts.command.size(); ++i)
    rerun += " " + sweep::sh_quote(i == 0 && !j["exe"].get<std::string>().empty() ? j["exe"].get<std::string>() : opts.command[i]);
  j["rerun"] = rerun;
  std::ofstream f(fs::path(opts.out_dir) / "run.json");
  f << j.dump(2) << "\n";
}

}  // namespace

int run_simulation(const PlatformConfig& cfg, const RunOptions& opts) {
  namespace fs = std::filesystem;
  // Log levels (config `log:` and -v/-q) are applied by the CLI before this is called.
  std::error_code ec;
  fs::create_directories(opts.out_dir, ec);
  if (ec) throw ConfigError("--out " + opts.out_dir + ": cannot create directory: " + ec.message());

  tlm::tlm_global_quantum::instance().set(to_sc(cfg.quantum));
  if (!opts.timeline.empty()) {  // before elaboration: models take their tracks in their constructors
    if (!std::ofstream(opts.timeline)) throw ConfigError("--timeline " + opts.timeline + ": cannot write file");
    timeline::open({opts.timeline_start_ps, opts.timeline_end_ps, opts.timeline_max_events});
  }
  struct TimelineOff { ~TimelineOff() { timeline::close(); } } timeline_off;
  auto pf = build_platform(cfg, default_registry());

  const SimResult sim = simulate(*pf, cfg, opts.progress);
  // A workload's input that proved bad mid-run (a trace line) is bad input like a config error.
  if (!pf->host->error().empty()) throw ConfigError(pf->host->error());
  const double wall_s = sim.wall_s;
  const bool finished = sim.workloads_finished;

  nlohmann::json j;
  auto& meta = j["meta"];
  meta["version"] = IOMMUSIM_VERSION;
  meta["config"] = cfg.path;
  meta["seed"] = cfg.seed;
  meta["sim_time_ns"] = to_ns(sc_core::sc_time_stamp());
  meta["wall_s"] = wall_s;
  meta["delta_cycles"] = sc_core::sc_delta_count();
  meta["workloads_finished"] = finished;
  const Summary s = summarize(*pf);
  j["summary"] = to_json(s);
  j["components"] = dump_module_stats();

  {
    std::ofstream f(fs::path(opts.out_dir) / "stats.json");
    f << j.dump(2) << "\n";
    if (!f) throw ConfigError("--out " + opts.out_dir + ": cannot write stats.json");
  }
  {
    std::ofstream f(fs::path(opts.out_dir) / "config.resolved.yaml");
    f << cfg.resolved_yaml;
  }
  write_run_info(opts, cfg);
  if (!opts.timeline.empty()) {
    if (!timeline::write(opts.timeline)) throw ConfigError("--timeline " + opts.timeline + ": cannot write file");
    if (opts.verbosity >= 0)
      std::cout << "timeline: " << timeline::events().size() << " events (" << timeline::dropped()
                << " dropped over --timeline-max-events) -> " << opts.timeline << "\n";
  }
  if (opts.verbosity >= 0) {
    print_summary(std::cout, s, sc_core::sc_time_stamp(), wall_s, opts.out_dir);
    std::cout << "workloads\n";
    print_workloads(std::cout, *pf);
  }
  if (!finished && opts.verbosity >= 0)
    std::cerr << "iommusim: warning: run.duration reached before the workloads finished\n";
  return 0;
}

}  // namespace iommusim
