// Slurm scripts for a sweep: an array job over the incomplete points and a gather job after it.
#include "platforms/sweep_slurm.h"

#include <sys/wait.h>

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>

#include "platforms/config.h"

namespace iommusim::sweep {
namespace fs = std::filesystem;

std::string array_ranges(const std::vector<size_t>& idx) {
  std::string out;
  for (size_t i = 0; i < idx.size();) {
    size_t j = i;
    while (j + 1 < idx.size() && idx[j + 1] == idx[j] + 1) ++j;
    out += (out.empty() ? "" : ",") + std::to_string(idx[i]) + (j > i ? "-" + std::to_string(idx[j]) : "");
    i = j + 1;
  }
  return out;
}

namespace {

void write_script(const fs::path& p, const std::string& text) {
  std::ofstream f(p);
  f << text;
  if (!f) throw ConfigError("--out " + p.parent_path().string() + ": cannot write " + p.filename().string());
  f.close();
  fs::permissions(p, fs::perms::owner_exec | fs::perms::group_exec | fs::perms::others_exec, fs::perm_options::add);
}

// The sweep command every task repeats, without its final options.
std::string sweep_command(const Spec& s, const SweepOptions& o, const SlurmOptions& so) {
  std::error_code ec;
  std::string c = sh_quote(o.exe) + " sweep " + sh_quote(fs::absolute(s.path, ec).lexically_normal().string());
  c += " --out " + sh_quote(fs::absolute(o.out_dir, ec).lexically_normal().string());
  for (const auto& a : so.sweep_args) c += " --set " + sh_quote(a);
  return c;
}

std::string header(const std::string& name, const std::string& log, const SlurmOptions& so) {
  std::string h = "#!/bin/sh\n";
  h += "#SBATCH --job-name=" + name + "\n";
  h += "#SBATCH --output=" + log + "\n";
  h += "#SBATCH --ntasks=1\n#SBATCH --cpus-per-task=1\n";
  for (const auto& opt : so.sbatch_opts) h += "#SBATCH " + opt + "\n";
  return h;
}

}  // namespace

int run_slurm(const Spec& s, const SweepOptions& o, const SlurmOptions& so) {
  std::error_code ec;
  const fs::path out = fs::absolute(o.out_dir, ec).lexically_normal();
  const fs::path dir = out / "slurm";
  fs::create_directories(dir, ec);
  if (ec) throw ConfigError("--out " + o.out_dir + ": cannot create " + dir.string() + ": " + ec.message());
  const std::string name = "iommusim-" + fs::path(s.path).stem().string();
  const std::string cmd = sweep_command(s, o, so);

  std::vector<size_t> todo;
  for (const Point& p : s.points)
    if (!is_complete(p, o.out_dir)) todo.push_back(p.index);

  std::string points = header(name, (dir / "point-%a.log").string(), so);
  points += "#SBATCH --array=" + array_ranges(todo) + (so.throttle ? "%" + std::to_string(o.jobs) : "") + "\n";
  // Slurm's limit leaves the point's own timeout room to report itself.
  if (s.timeout_s > 0)
    points += "#SBATCH --time=" + std::to_string(static_cast<long>(std::ceil(s.timeout_s / 60.0)) + 2) + "\n";
  points += "# One sweep point per array task (its index is the point's number).\n";
  points += "exec " + cmd + " --point \"$SLURM_ARRAY_TASK_ID\" -q\n";
  std::string gather = header(name + "-gather", (dir / "gather.log").string(), so);
  gather += "# Builds results.csv once every point task has ended (dependency afterany).\n";
  gather += "exec " + cmd + " --gather\n";
  std::string submit =
      "#!/bin/sh\n# Submits the sweep's points as one array job and the gather step after it.\nset -e\n";
  submit += "cd " + sh_quote(dir.string()) + "\n";
  if (todo.empty()) {
    submit += "gather=$(sbatch --parsable gather.sbatch)\n";
    submit += "echo \"every point is complete; gather job ${gather%%;*}\"\n";
  } else {
    submit += "points=$(sbatch --parsable points.sbatch)\npoints=${points%%;*}\n";
    submit += "gather=$(sbatch --parsable --dependency=afterany:$points gather.sbatch)\n";
    submit += "echo \"points job $points (" + std::to_string(todo.size()) + " tasks), gather job ${gather%%;*}\"\n";
  }
  if (!todo.empty()) write_script(dir / "points.sbatch", points);
  write_script(dir / "gather.sbatch", gather);
  write_script(dir / "submit.sh", submit);

  const std::string submit_sh = sh_quote((dir / "submit.sh").string());
  if (!so.submit) {
    if (o.verbosity >= 0)
      std::cout << "wrote " << (dir / "points.sbatch").string() << " (" << todo.size() << " of " << s.points.size()
                << " points) and " << (dir / "gather.sbatch").string() << "; submit with: sh " << submit_sh << "\n";
    return 0;
  }
  std::fflush(stdout);
  const int rc = std::system(("sh " + submit_sh).c_str());
  if (rc != 0) {
    std::cerr << "iommusim: error: submitting the sweep failed (" << submit_sh << " exited "
              << (WIFEXITED(rc) ? WEXITSTATUS(rc) : rc) << "); the scripts are in " << dir.string() << "\n";
    return 1;
  }
  if (o.verbosity >= 0) std::cout << "results.csv appears in " << out.string() << " when the gather job has run\n";
  return 0;
}

}  // namespace iommusim::sweep
