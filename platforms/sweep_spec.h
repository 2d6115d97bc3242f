// Sweep files (docs/sweeps.md): a base config, fixed overrides and axes expanded into points.
// Pure: reads the sweep file only, never a platform config; a point's config is checked by the
// process that runs it.
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace iommusim::sweep {

// One point of a sweep: a config file and the --set overrides that make it.
struct Point {
  size_t index = 0;
  std::string id;                  // "p0003": zero-padded index, also its directory name
  std::string base;                // config file (the sweep's `base`, or a `base` axis value)
  std::vector<std::string> sets;   // "key.path=yaml": the sweep's fixed overrides, then the point's
                                   // axis values in column order, then seed=N
  std::vector<std::string> cells;  // one per Spec::columns: the value as written, "" where left at base
  std::optional<uint64_t> seed;    // from seeds:/repeat:; otherwise the base config's seed
};

struct Spec {
  std::string path;                      // the sweep file
  std::string base;                      // default config file, resolved against the sweep file's directory
  std::vector<std::string> fixed_sets;   // `set:` then the command line's --set, as "key.path=yaml"
  std::vector<std::string> fixed_where;  // per fixed_sets entry: "<file>:<line>" in the sweep file, "" for --set
  std::vector<std::string> columns;      // axis key paths exactly as written, in column order
  std::vector<std::string> stats;        // extra results.csv columns: dotted paths into stats.json
  double timeout_s = 0;                  // per point, wall clock; 0: none
  std::vector<Point> points;             // in point order
};

// Parses and expands sweep file text. `path` names the file in messages and anchors relative
// `base` paths; `extra_sets` ("key.path=value", from the command line) follow the file's `set:`.
// Throws ConfigError ("<file>:<line>: <key>: <problem>").
Spec parse_spec(const std::string& text, const std::string& path, const std::vector<std::string>& extra_sets = {});
// Reads `path` and parses it.
Spec load_spec(const std::string& path, const std::vector<std::string>& extra_sets = {});

// The point named by `which`: its index ("3") or id ("p0003"); nullptr when there is none.
const Point* find_point(const Spec& s, const std::string& which);

// A CSV field: as is, or double-quoted (quotes doubled) when it holds a comma, quote or newline.
std::string csv_field(const std::string& v);

}  // namespace iommusim::sweep
