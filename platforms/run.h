// Entry point of a simulation run: what `iommusim run` calls once the config is loaded.
#pragma once
#include <string>
#include <vector>

#include "platforms/config.h"

namespace iommusim {

struct RunOptions {
  std::string out_dir = "out";
  int verbosity = 0;  // -1 quiet, 0 normal, 1 -v, 2 -vv
  bool progress = false;             // progress line on stderr (platforms/progress.h)
  std::vector<std::string> command;  // the command line, recorded in out_dir/run.json
  // Trace-event JSON of the run (docs/timeline.md); empty: none. Window [start, end) in ps, event cap.
  std::string timeline;
  uint64_t timeline_start_ps = 0, timeline_end_ps = UINT64_MAX, timeline_max_events = 1'000'000;
};
// Builds the platform, simulates, writes out_dir/stats.json, out_dir/config.resolved.yaml and
// out_dir/run.json (version, seed, config, cwd, command line to rerun), prints the summary.
// Returns the process exit status. Throws ConfigError for problems found while building.
int run_simulation(const PlatformConfig& cfg, const RunOptions& opts);

}  // namespace iommusim
