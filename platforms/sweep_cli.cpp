// `iommusim sweep` options (docs/sweeps.md).
#include "platforms/sweep_cli.h"

#include <boost/program_options.hpp>
#include <filesystem>
#include <iostream>
#include <thread>

#include "platforms/cli.h"
#include "platforms/config.h"
#include "platforms/sweep_run.h"
#include "platforms/sweep_slurm.h"
#include "platforms/sweep_spec.h"

namespace iommusim::sweep {
namespace po = boost::program_options;
namespace fs = std::filesystem;

int cmd_sweep(const std::vector<std::string>& args) {
  po::options_description d("iommusim sweep SWEEP.yaml options");
  d.add_options()("help,h", "show this help")("jobs,j", po::value<unsigned>()->value_name("N"),
                                              "points run at once (default: the number of CPUs)")(
      "out,o", po::value<std::string>()->value_name("DIR"), "output directory (default: out/sweeps/<sweep name>)")(
      "set", po::value<std::vector<std::string>>()->composing()->value_name("key.path=value"),
      "override a config value in every point (repeatable; after the sweep's set:)")("quiet,q",
                                                                                     "only errors (failed points)")(
      "slurm", "write DIR/slurm/*.sbatch: an array job over the incomplete points and a gather job")(
      "submit", "with --slurm: submit them with sbatch")(
      "sbatch", po::value<std::vector<std::string>>()->composing()->value_name("OPT"),
      "with --slurm: an extra #SBATCH option, e.g. --sbatch=--partition=short (repeatable)")(
      "point", po::value<std::string>()->value_name("ID"), "run only this point (index or id), as a Slurm task does")(
      "gather", "only build DIR/results.csv from the point directories");
  po::options_description all;
  all.add(d).add_options()("sweep", po::value<std::string>());
  po::positional_options_description pos;
  pos.add("sweep", 1);
  const int style = po::command_line_style::default_style & ~po::command_line_style::allow_guessing;
  po::variables_map vm;
  po::store(po::command_line_parser(args).options(all).positional(pos).style(style).run(), vm);
  po::notify(vm);
  if (vm.count("help")) return std::cout << d, 0;
  if (!vm.count("sweep")) throw ConfigError("missing SWEEP argument (usage: iommusim sweep SWEEP.yaml ...)");
  const bool slurm = vm.count("slurm") > 0, point = vm.count("point") > 0, gather_only = vm.count("gather") > 0;
  if (vm.count("submit") && !slurm) throw ConfigError("--submit needs --slurm");
  if (vm.count("sbatch") && !slurm) throw ConfigError("--sbatch needs --slurm");
  if (int(slurm) + int(point) + int(gather_only) > 1)
    throw ConfigError("--slurm, --point and --gather exclude each other");
  if (vm.count("jobs") && vm["jobs"].as<unsigned>() == 0) throw ConfigError("--jobs must be at least 1");

  const std::string path = vm["sweep"].as<std::string>();
  const std::vector<std::string> sets =
      vm.count("set") ? vm["set"].as<std::vector<std::string>>() : std::vector<std::string>{};
  Spec spec = load_spec(path, sets);
  resolve_seeds(spec);

  SweepOptions o;
  o.out_dir =
      vm.count("out") ? vm["out"].as<std::string>() : (fs::path("out") / "sweeps" / fs::path(path).stem()).string();
  if (o.out_dir.empty()) throw ConfigError("--out needs a directory");
  o.jobs = vm.count("jobs") ? vm["jobs"].as<unsigned>() : std::max(1u, std::thread::hardware_concurrency());
  o.verbosity = vm.count("quiet") ? -1 : 0;
  const std::vector<std::string>& argv = cli::command_line();
  o.exe = self_exe(argv.empty() ? "iommusim" : argv[0]);
  o.command = argv;

  if (point) {
    const std::string which = vm["point"].as<std::string>();
    const Point* p = find_point(spec, which);
    if (!p)
      throw ConfigError("--point " + which + ": no such point (" + spec.path + " has " +
                        std::to_string(spec.points.size()) + " points, " + spec.points.front().id + " to " +
                        spec.points.back().id + ")");
    const Status st = run_point(spec, *p, o);
    if (st != Status::Ok)
      std::cerr << "iommusim: point " << p->id << " " << status_name(st) << " (see " << point_dir(*p, o.out_dir)
                << ")\n";
    return st == Status::Ok ? 0 : 1;
  }
  if (gather_only) {
    std::error_code ec;
    if (!fs::is_directory(o.out_dir, ec))
      throw ConfigError("--out " + o.out_dir + ": no such directory to gather from");
    const Tally t = gather(spec, o.out_dir);
    if (o.verbosity >= 0)
      std::cout << "sweep: " << spec.points.size() << " points: " << t.ok << " ok, " << t.failed << " failed, "
                << t.timeout << " timed out -> " << (fs::path(o.out_dir) / "results.csv").string() << "\n";
    return t.failed || t.timeout ? 1 : 0;
  }
  write_sweep_info(spec, o);
  if (slurm) {
    SlurmOptions so;
    so.submit = vm.count("submit") > 0;
    so.throttle = vm.count("jobs") > 0;
    so.sweep_args = sets;
    if (vm.count("sbatch")) so.sbatch_opts = vm["sbatch"].as<std::vector<std::string>>();
    return run_slurm(spec, o, so);
  }
  return run_local(spec, o);
}

}  // namespace iommusim::sweep
