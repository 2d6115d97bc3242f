// The iommusim command line: run / check / list / sweep / --help / --version on Boost.Program_options.
#include "platforms/cli.h"

#include <boost/program_options.hpp>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>
#include <vector>

#include <unistd.h>

#include "models/common/log.h"
#include "models/common/timeline.h"
#include "models/common/units.h"
#include "platforms/config.h"
#include "platforms/ftrace_import.h"
#include "platforms/platform.h"
#include "platforms/registry.h"
#include "platforms/run.h"
#include "platforms/sweep_cli.h"

#ifndef IOMMUSIM_VERSION
#define IOMMUSIM_VERSION "unknown"
#endif

namespace iommusim::cli {
namespace po = boost::program_options;

const char* version() { return IOMMUSIM_VERSION; }

namespace {
std::vector<std::string> g_command;  // argv of this process, for the output directories' run records
}  // namespace

const std::vector<std::string>& command_line() { return g_command; }

namespace {

// Bad command-line usage (as opposed to a bad config): also exit status 2.
struct UsageError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

constexpr const char* kUsage =
    "usage: iommusim run CONFIG [--set key.path=value]... [--out DIR] [-v|-vv|-q] [--progress]\n"
    "                    [--timeline FILE [--timeline-window START:END] [--timeline-max-events N]]\n"
    "       iommusim check CONFIG [--set key.path=value]...\n"
    "       iommusim sweep SWEEP.yaml [--jobs N] [--out DIR] [--set key.path=value]... [-q]\n"
    "       iommusim sweep SWEEP.yaml --slurm [--submit] [--sbatch OPT]... [--out DIR]\n"
    "       iommusim list [TYPE]\n"
    "       iommusim import-ftrace TRACE.txt -o OUT.trace [--map MAPFILE] [--platform CONFIG] [--dma-rule R]\n"
    "       iommusim --help | --version\n";

constexpr const char* kHelp =
    "\n"
    "commands:\n"
    "  run     build the platform from CONFIG, simulate, write DIR/stats.json and DIR/config.resolved.yaml\n"
    "  check   load and validate CONFIG without simulating\n"
    "  list    model types by kind with their parameters, defaults, units and ranges\n"
    "  import-ftrace  convert a Linux iommu ftrace capture (tracefs trace or trace-cmd report text) into\n"
    "          a trace for the trace workload (docs/ftrace-import.md)\n"
    "  sweep   run every point of a sweep file (docs/sweeps.md) as its own process, locally or as a\n"
    "          Slurm array job; gather DIR/results.csv; re-running skips completed points\n"
    "\n"
    "--set overrides a config value after all files are merged, e.g.\n"
    "  --set platform.iommus.smmu0.iotlb.entries=128 --set run.duration=10us\n"
    "List elements are addressed by name (or index); the value is YAML (scalar, [..] or {..}).\n"
    "Run 'iommusim COMMAND --help' for a command's options.\n";

std::string one_line(std::string s) {
  std::replace(s.begin(), s.end(), '\n', ' ');
  while (!s.empty() && s.back() == ' ') s.pop_back();
  return s;
}

int report(const std::string& msg, int status) {
  std::cerr << "iommusim: error: " << one_line(msg) << std::endl;
  return status;
}

struct Parsed {
  po::variables_map vm;
  int verbose = 0;  // number of -v
};

// Parses a subcommand's arguments; -v may repeat (-v -v or -vv), which program_options cannot count.
// `positional` names the hidden option that takes the one positional argument.
Parsed parse(const std::vector<std::string>& args, const po::options_description& visible, const char* positional) {
  po::options_description desc;
  desc.add(visible).add_options()(positional, po::value<std::string>());
  po::positional_options_description pos;
  pos.add(positional, 1);
  const int style = po::command_line_style::default_style & ~po::command_line_style::allow_guessing;
  po::parsed_options parsed = po::command_line_parser(args).options(desc).positional(pos).style(style).run();
  Parsed p;
  auto& opts = parsed.options;
  p.verbose = static_cast<int>(std::count_if(opts.begin(), opts.end(), [](const po::option& o) { return o.string_key == "verbose"; }));
  opts.erase(std::remove_if(opts.begin(), opts.end(), [](const po::option& o) { return o.string_key == "verbose"; }), opts.end());
  po::store(parsed, p.vm);
  po::notify(p.vm);
  return p;
}

void add_common(po::options_description& d, bool verbosity) {
  d.add_options()("help,h", "show this help")(
      "set", po::value<std::vector<std::string>>()->composing()->value_name("key.path=value"),
      "override a config value (repeatable)");
  if (verbosity)
    d.add_options()("verbose,v", po::value<bool>()->zero_tokens(), "log info (-vv: debug)")("quiet,q", "only errors");
}

std::string need_config(const Parsed& p, const char* cmd) {
  if (!p.vm.count("config"))
    throw UsageError(std::string("missing CONFIG argument (usage: iommusim ") + cmd + " CONFIG ...)");
  return p.vm["config"].as<std::string>();
}

std::vector<std::string> sets_of(const Parsed& p) {
  return p.vm.count("set") ? p.vm["set"].as<std::vector<std::string>>() : std::vector<std::string>{};
}

int verbosity_of(const Parsed& p) {
  const bool quiet = p.vm.count("quiet") > 0;
  if (quiet && p.verbose) throw UsageError("-q and -v cannot be combined");
  return quiet ? -1 : std::min(p.verbose, 2);
}

// The config's `log:` levels, then -v/-q on top of the default.
void apply_log_levels(const PlatformConfig& cfg, int verbosity) {
  for (const auto& [prefix, level] : cfg.log_levels) {
    spdlog::level::level_enum l;
    if (!log::parse_level(level, l)) continue;  // validated by load_config
    if (prefix == "default") {
      log::set_default_level(l);
    } else {
      log::set_level(prefix, l);
    }
  }
  if (verbosity < 0) log::set_default_level(spdlog::level::err);
  if (verbosity == 1) log::set_default_level(spdlog::level::info);
  if (verbosity >= 2) log::set_default_level(spdlog::level::debug);
}

void timeline_options(const Parsed& p, RunOptions& opts) {
  if (p.vm.count("timeline")) opts.timeline = p.vm["timeline"].as<std::string>();
  if (p.vm.count("timeline") && opts.timeline.empty()) throw UsageError("--timeline needs a file name");
  for (const char* o : {"timeline-window", "timeline-max-events"})
    if (p.vm.count(o) && opts.timeline.empty()) throw UsageError(std::string("--") + o + " needs --timeline FILE");
  if (p.vm.count("timeline-window")) {
    const std::string w = p.vm["timeline-window"].as<std::string>();
    std::string err;
    if (!timeline::parse_window(w, opts.timeline_start_ps, opts.timeline_end_ps, err))
      throw UsageError("--timeline-window " + w + ": " + err);
  }
  if (p.vm.count("timeline-max-events")) {
    const std::string n = p.vm["timeline-max-events"].as<std::string>();
    std::string why;
    const auto v = units::parse_count(n, &why);
    if (!v || *v == 0 || *v > 100'000'000)
      throw UsageError("--timeline-max-events " + n + ": expected a count from 1 to 100000000" +
                       (why.empty() ? "" : " (" + why + ")"));
    opts.timeline_max_events = *v;
  }
}

int cmd_run(const std::vector<std::string>& args) {
  po::options_description d("iommusim run CONFIG options");
  add_common(d, true);
  d.add_options()("out,o", po::value<std::string>()->value_name("DIR"), "output directory (default: out)");
  d.add_options()("progress", "show the progress line also when stderr is not a terminal (never with -q or -v)");
  d.add_options()("timeline", po::value<std::string>()->value_name("FILE"),
                  "write a Chrome trace-event JSON timeline (Perfetto, chrome://tracing)")(
      "timeline-window", po::value<std::string>()->value_name("START:END"),
      "record only events in simulated time [START, END), e.g. 10us:20us, :5ms, 1ms:")(
      "timeline-max-events", po::value<std::string>()->value_name("N"),
      "keep at most N events (default 1000000, 56 bytes each); later ones are counted as dropped");
  const Parsed p = parse(args, d, "config");
  if (p.vm.count("help")) return std::cout << d, 0;
  RunOptions opts;
  opts.verbosity = verbosity_of(p);
  opts.command = g_command;
  opts.progress = opts.verbosity == 0 && (p.vm.count("progress") || isatty(2) == 1);
  if (p.vm.count("out")) opts.out_dir = p.vm["out"].as<std::string>();
  if (opts.out_dir.empty()) throw UsageError("--out needs a directory");
  timeline_options(p, opts);
  const PlatformConfig cfg = load_config(need_config(p, "run"), sets_of(p), default_registry());
  apply_log_levels(cfg, opts.verbosity);
  return run_simulation(cfg, opts);
}

int cmd_check(const std::vector<std::string>& args) {
  po::options_description d("iommusim check CONFIG options");
  add_common(d, true);
  const Parsed p = parse(args, d, "config");
  if (p.vm.count("help")) return std::cout << d, 0;
  const int verbosity = verbosity_of(p);
  const PlatformConfig cfg = load_config(need_config(p, "check"), sets_of(p), default_registry());
  // Elaborate too: the builder rejects topologies the models cannot make.
  build_platform(cfg, default_registry());
  if (verbosity >= 1) std::cout << cfg.resolved_yaml;
  if (verbosity >= 0)
    std::cout << "OK: " << cfg.iommus.size() << " iommus, " << cfg.root_ports.size() << " root ports, "
              << cfg.endpoints.size() << " endpoints, " << cfg.workloads.size() << " workloads ("
              << cfg.path << ")\n";
  return 0;
}

int cmd_list(const std::vector<std::string>& args) {
  po::options_description d("iommusim list [TYPE] options");
  d.add_options()("help,h", "show this help");
  const Parsed p = parse(args, d, "type");
  if (p.vm.count("help")) return std::cout << d, 0;
  const Registry& reg = default_registry();
  if (!p.vm.count("type")) {
    print_registry(std::cout, reg);
    return 0;
  }
  const std::string name = p.vm["type"].as<std::string>();
  const ModelType* t = reg.find(name);
  if (!t) {
    std::string names;
    for (const auto& [n, ty] : reg.all()) names += (names.empty() ? "" : ", ") + n;
    throw UsageError("unknown type '" + name + "' (types: " + names + ")");
  }
  std::cout << name << " (" << kind_name(t->kind) << ")  -  " << t->desc << "\n";
  auto params = t->make_params();
  print_params(std::cout, *params, 2);
  return 0;
}

int cmd_import_ftrace(const std::vector<std::string>& args) {
  po::options_description d("iommusim import-ftrace TRACE.txt options");
  d.add_options()("help,h", "show this help")("out,o", po::value<std::string>()->value_name("OUT.trace"),
                                               "trace file to write (required)")(
      "map", po::value<std::string>()->value_name("MAPFILE"),
      "'<device> <endpoint>' and 'task <comm>[*] <device>' lines (default: PCI 0000:03:00.0 -> pci-0000-03-00.0)")(
      "platform", po::value<std::string>()->value_name("CONFIG"),
      "check the endpoint names against CONFIG, or assign its endpoints to the devices in order")(
      "dma-rule", po::value<std::string>()->default_value("read")->value_name("read|write|none"),
      "what each mapped buffer's device does to it")(
      "dma-delay", po::value<std::string>()->default_value("1us")->value_name("TIME"),
      "DMA at map + TIME, at most halfway to the unmap")(
      "fault-size", po::value<std::string>()->default_value("64B")->value_name("BYTES"),
      "size of the access replayed for each io_page_fault");
  const Parsed p = parse(args, d, "input");
  if (p.vm.count("help")) return std::cout << d, 0;
  if (!p.vm.count("input")) throw UsageError("missing TRACE.txt argument (usage: iommusim import-ftrace TRACE.txt -o OUT.trace)");
  if (!p.vm.count("out") || p.vm["out"].as<std::string>().empty()) throw UsageError("import-ftrace needs -o OUT.trace");
  const std::string input = p.vm["input"].as<std::string>(), output = p.vm["out"].as<std::string>();
  ftrace::Options opt;
  const std::string rule = p.vm["dma-rule"].as<std::string>();
  if (rule == "read") opt.dma = ftrace::Options::Dma::Read;
  else if (rule == "write") opt.dma = ftrace::Options::Dma::Write;
  else if (rule == "none") opt.dma = ftrace::Options::Dma::None;
  else throw UsageError("--dma-rule " + rule + ": expected read, write or none");
  std::string why;
  const auto delay = units::parse_time(p.vm["dma-delay"].as<std::string>(), &why);
  if (!delay) throw UsageError("--dma-delay " + p.vm["dma-delay"].as<std::string>() + ": " + why);
  opt.dma_delay_ps = delay->ps;
  const auto fsize = units::parse_bytes(p.vm["fault-size"].as<std::string>(), &why);
  if (!fsize || *fsize == 0 || *fsize > 4096)
    throw UsageError("--fault-size " + p.vm["fault-size"].as<std::string>() + ": " + (fsize ? "expected 1B to 4KiB" : why));
  opt.fault_size = *fsize;
  if (p.vm.count("map")) {
    const std::string m = p.vm["map"].as<std::string>();
    std::ifstream mf(m);
    if (!mf) throw ftrace::ImportError(m + ": cannot read map file");
    opt.map = ftrace::parse_map_file(mf, m);
  }
  if (p.vm.count("platform")) {
    const PlatformConfig cfg = load_config(p.vm["platform"].as<std::string>(), {}, default_registry());
    for (const auto& e : cfg.endpoints) opt.platform_endpoints.push_back(e.name);
  }
  std::ifstream in(input);
  if (!in) throw ftrace::ImportError(input + ": cannot read trace file");
  opt.source_name = std::filesystem::path(input).filename().string();
  // Written beside the output and renamed at the end: a failed conversion leaves no partial trace.
  const std::string tmp = output + ".part";
  ftrace::Result r;
  try {
    std::ofstream out(tmp, std::ios::binary);
    if (!out) throw ftrace::ImportError(output + ": cannot write trace file");
    r = ftrace::convert(in, input, opt, out);
    out.close();
    if (!out) throw ftrace::ImportError(output + ": cannot write trace file");
    std::filesystem::rename(tmp, output);
  } catch (...) {
    std::error_code ec;
    std::filesystem::remove(tmp, ec);
    throw;
  }
  std::istringstream lines(r.summary());
  for (std::string l; std::getline(lines, l);) std::cerr << "iommusim: import-ftrace: " << l << "\n";
  return 0;
}

int dispatch(const std::vector<std::string>& args) {
  if (args.empty()) throw UsageError("missing command (try 'iommusim --help')");
  const std::string& cmd = args[0];
  const std::vector<std::string> rest(args.begin() + 1, args.end());
  if (cmd == "--help" || cmd == "-h" || cmd == "help") return std::cout << kUsage << kHelp, 0;
  if (cmd == "--version" || cmd == "-V") return std::cout << "iommusim " << version() << "\n", 0;
  if (cmd == "run") return cmd_run(rest);
  if (cmd == "check") return cmd_check(rest);
  if (cmd == "list") return cmd_list(rest);
  if (cmd == "import-ftrace") return cmd_import_ftrace(rest);
  if (cmd == "sweep") return sweep::cmd_sweep(rest);
  if (!cmd.empty() && cmd[0] == '-') throw UsageError("unknown option '" + cmd + "' (try 'iommusim --help')");
  throw UsageError("unknown command '" + cmd + "' (commands: run, check, list, sweep, import-ftrace)");
}

}  // namespace

int main(int argc, char** argv) {
  g_command.assign(argv, argv + argc);
  try {
    return dispatch(std::vector<std::string>(argv + 1, argv + argc));
  } catch (const ConfigError& e) {
    return report(e.what(), 2);
  } catch (const UsageError& e) {
    return report(e.what(), 2);
  } catch (const ftrace::ImportError& e) {
    return report(e.what(), 2);
  } catch (const po::error& e) {
    return report(e.what(), 2);
  } catch (const std::exception& e) {
    return report(e.what(), 1);  // not the user's input: a failure inside the simulator
  } catch (...) {
    return report("unknown internal error", 1);
  }
}

}  // namespace iommusim::cli
