// `iommusim sweep`: option parsing and the choice between a local run, Slurm scripts, one point
// (what a Slurm task runs) and the gather step.
#pragma once
#include <string>
#include <vector>

namespace iommusim::sweep {

// `args` follow the word "sweep". Returns the exit status: 0 every point ok, 1 some point failed
// or timed out; throws ConfigError for a bad sweep file or command line (exit status 2).
int cmd_sweep(const std::vector<std::string>& args);

}  // namespace iommusim::sweep
