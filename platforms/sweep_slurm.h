// A sweep as a Slurm array job: one task per incomplete point, each running
// `iommusim sweep SWEEP --point $SLURM_ARRAY_TASK_ID` with the same binary, and a gather job
// after it (afterany) that builds results.csv. The binary, sweep file and output directory must be
// visible at the same paths on the compute nodes (a shared file system).
#pragma once
#include <string>
#include <vector>

#include "platforms/sweep_run.h"

namespace iommusim::sweep {

struct SlurmOptions {
  bool submit = false;                   // run sbatch, not only write the scripts
  bool throttle = false;                 // --jobs given: at most that many tasks at once (%N)
  std::vector<std::string> sbatch_opts;  // extra "#SBATCH ..." lines (--partition=..., --mem=...)
  std::vector<std::string> sweep_args;   // the sweep's --set arguments, repeated in every task
};

// "0-3,7,9-11" for the indices given (ascending).
std::string array_ranges(const std::vector<size_t>& idx);

// Writes DIR/slurm/{points.sbatch,gather.sbatch,submit.sh}; with submit, runs submit.sh.
// Returns the exit status.
int run_slurm(const Spec& s, const SweepOptions& o, const SlurmOptions& so);

}  // namespace iommusim::sweep
