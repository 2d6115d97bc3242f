// Running a sweep's points: each as its own `iommusim run` process (a crash or bad point fails
// that point only), a bounded pool of them locally, resume from completed points, and the
// gather step that builds results.csv from the point directories.
#pragma once
#include <string>
#include <vector>

#include "platforms/sweep_spec.h"

namespace iommusim::sweep {

enum class Status { Ok, Failed, Timeout };
const char* status_name(Status s);  // "ok", "failed", "timeout"

struct SweepOptions {
  std::string out_dir;
  unsigned jobs = 1;
  int verbosity = 0;                 // -1 quiet (errors only), 0 normal
  std::string exe;                   // the iommusim binary the points run with (absolute)
  std::vector<std::string> command;  // this invocation's argv, recorded in DIR/sweep.json
};

// The binary of this process (/proc/self/exe), falling back to `argv0`.
std::string self_exe(const std::string& argv0);

// Loads every distinct base config with the fixed overrides (a failure is an input error of the
// whole sweep: every point would fail the same way) and gives points without a seeds axis the
// base config's seed. Throws ConfigError.
void resolve_seeds(Spec& s);
// DIR/sweep.yaml (a copy of the sweep file) and DIR/sweep.json (version, command line, cwd).
void write_sweep_info(const Spec& s, const SweepOptions& o);

// DIR/points/<id>/ of a point.
std::string point_dir(const Point& p, const std::string& out_dir);
// The point's run command: exe run BASE --set=... --out DIR/points/<id> -q.
std::vector<std::string> point_argv(const Point& p, const SweepOptions& o);
// What the completion marker holds: the point's config file and overrides.
std::string fingerprint(const Point& p);
// Complete: stats.json and the completion marker exist and the marker names this point's
// config and overrides (a changed sweep file re-runs the points it changed).
bool is_complete(const Point& p, const std::string& out_dir);
// Runs one point in the foreground (waits for it, honours the timeout), writing its status file
// and, on success, the completion marker.
Status run_point(const Spec& s, const Point& p, const SweepOptions& o);

// Runs every point not yet complete, at most o.jobs at a time, then gathers. Prints one line per
// finished point (on a terminal: one updated line, failures on lines of their own). Returns 0
// when every point is ok, 1 otherwise.
int run_local(const Spec& s, const SweepOptions& o);

struct Tally {
  size_t ok = 0, failed = 0, timeout = 0;
};
// Writes DIR/results.csv (atomically) from the point directories; see docs/sweeps.md.
Tally gather(const Spec& s, const std::string& out_dir);

// "a b" -> 'a b': safe for /bin/sh.
std::string sh_quote(const std::string& s);

}  // namespace iommusim::sweep
