// Sweep file parsing and point expansion: points x axes x seeds, first factor slowest.
#include "platforms/sweep_spec.h"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "models/common/units.h"
#include "platforms/config.h"
#include "platforms/config_tree.h"

namespace iommusim::sweep {
namespace fs = std::filesystem;
using cfg::fail;
using cfg::Node;

namespace {

// A value as the child's --set parser reads it back: scalars quoted where YAML needs it, lists
// and maps in flow style.
void emit(YAML::Emitter& e, const Node& n) {
  switch (n.k) {
    case Node::K::Null: e << YAML::Null; break;
    case Node::K::Scalar: e << n.s; break;
    case Node::K::Seq:
      e << YAML::Flow << YAML::BeginSeq;
      for (const Node& c : n.kids) emit(e, c);
      e << YAML::EndSeq;
      break;
    case Node::K::Map:
      e << YAML::Flow << YAML::BeginMap;
      for (const Node& c : n.kids) {
        e << YAML::Key << c.key << YAML::Value;
        emit(e, c);
      }
      e << YAML::EndMap;
      break;
  }
}

std::string yaml_text(const Node& n) {
  YAML::Emitter e;
  emit(e, n);
  return e.c_str();
}

// What results.csv shows for a value: the scalar as written, else its flow YAML.
std::string cell_text(const Node& n) { return n.is_scalar() ? n.s : yaml_text(n); }

struct Value {
  std::string yaml, cell;
};

// One factor of the product: keys that vary together and their rows of values (nullopt: the
// point leaves that key at the base config's value).
struct Factor {
  std::vector<std::string> keys;
  std::vector<Origin> key_at;
  std::vector<std::vector<std::optional<Value>>> rows;
};

const std::vector<std::string> kTopKeys = {"base", "set", "points", "axes", "seeds", "repeat", "stats", "timeout"};

void check_top_keys(const Node& root) {
  for (const Node& c : root.kids)
    if (std::find(kTopKeys.begin(), kTopKeys.end(), c.key) == kTopKeys.end()) {
      const std::string near = cfg::closest(c.key, kTopKeys);
      fail(c.at, c.key,
           "unknown key" + (near.empty() ? "" : " (did you mean '" + near + "'?)") +
               " (sweep keys: " + cfg::join(kTopKeys) + ")");
    }
}

// A --set-style key path; `where` is the sweep key holding it (for messages).
void check_key_path(const Node& entry, const std::string& where, bool allow_base) {
  const std::string& k = entry.key;
  const std::string shown = where + "." + k;
  if (k.empty() || k.front() == '.' || k.back() == '.' || k.find("..") != std::string::npos)
    fail(entry.at, shown, "not a key path (expected e.g. platform.iommus.smmu0.iotlb.entries)");
  if (k.find('=') != std::string::npos) fail(entry.at, shown, "a key path cannot contain '='");
  if (k == "seed") fail(entry.at, shown, "seeds vary through the sweep's 'seeds:' or 'repeat:' keys");
  if (k == "extends" || k.rfind("extends.", 0) == 0) fail(entry.at, shown, "cannot be overridden; use 'base'");
  if (k == "base" && !allow_base) fail(entry.at, shown, "the config file is the sweep's 'base:' key");
  if (k.rfind("base.", 0) == 0) fail(entry.at, shown, "'base' names a config file and has no keys below it");
}

std::string resolve_base(const std::string& sweep_path, const Node& v, const std::string& key) {
  if (!v.is_scalar() || v.s.empty())
    fail(v.at, key, "expected a config file name, not " + std::string(cfg::kind_word(v.k)));
  fs::path p(v.s);
  if (p.is_relative()) p = fs::path(sweep_path).parent_path() / p;
  std::error_code ec;
  const fs::path abs = fs::absolute(p, ec);
  return (ec ? p : abs).lexically_normal().string();
}

Factor points_factor(const Node& pts) {
  if (!pts.is_seq() || pts.kids.empty())
    fail(pts.at, "points",
         "expected a non-empty list of maps (key.path: value), not " +
             std::string(pts.is_seq() ? "an empty list" : cfg::kind_word(pts.k)));
  Factor f;
  for (size_t i = 0; i < pts.kids.size(); ++i) {
    const Node& p = pts.kids[i];
    const std::string label = "points[" + std::to_string(i) + "]";
    if (!p.is_map() || p.kids.empty())
      fail(p.at, label, "expected a map of key.path: value, not " + std::string(cfg::kind_word(p.k)));
    for (const Node& e : p.kids) {
      check_key_path(e, label, true);
      if (e.key == "base") resolve_base("", e, label + ".base");
      if (std::find(f.keys.begin(), f.keys.end(), e.key) == f.keys.end()) {
        f.keys.push_back(e.key);
        f.key_at.push_back(e.at);
      }
    }
  }
  for (const Node& p : pts.kids) {
    std::vector<std::optional<Value>> row(f.keys.size());
    for (const Node& e : p.kids) {
      const size_t col = static_cast<size_t>(std::find(f.keys.begin(), f.keys.end(), e.key) - f.keys.begin());
      row[col] = Value{yaml_text(e), cell_text(e)};
    }
    f.rows.push_back(std::move(row));
  }
  return f;
}

Factor axis_factor(const Node& a, size_t idx) {
  const std::string label = "axes[" + std::to_string(idx) + "]";
  if (!a.is_map() || a.kids.empty())
    fail(a.at, label,
         "expected a map of key.path: [values] (keys in one map vary together), not " +
             std::string(cfg::kind_word(a.k)));
  Factor f;
  size_t len = 0;
  for (const Node& e : a.kids) {
    check_key_path(e, label, true);
    if (!e.is_seq() || e.kids.empty())
      fail(e.at, label + "." + e.key,
           "expected a non-empty list of values, not " +
               std::string(e.is_seq() ? "an empty list" : cfg::kind_word(e.k)) +
               " (a value every point shares belongs in 'set:')");
    if (f.keys.empty()) {
      len = e.kids.size();
    } else if (e.kids.size() != len) {
      fail(e.at, label + "." + e.key,
           "has " + std::to_string(e.kids.size()) + " values but " + f.keys.front() + " has " + std::to_string(len) +
               "; keys in one axis map vary together " +
               "and need the same number of values (separate axes form a product)");
    }
    if (e.key == "base")
      for (size_t r = 0; r < e.kids.size(); ++r)
        resolve_base("", e.kids[r], label + ".base[" + std::to_string(r) + "]");
    f.keys.push_back(e.key);
    f.key_at.push_back(e.at);
  }
  for (size_t r = 0; r < len; ++r) {
    std::vector<std::optional<Value>> row;
    for (const Node& e : a.kids) row.push_back(Value{yaml_text(e.kids[r]), cell_text(e.kids[r])});
    f.rows.push_back(std::move(row));
  }
  return f;
}

std::vector<uint64_t> seed_list(const Node& root) {
  const Node* seeds = root.get("seeds");
  const Node* repeat = root.get("repeat");
  if (seeds && repeat) fail(repeat->at, "repeat", "give either 'seeds:' or 'repeat:', not both");
  std::vector<uint64_t> out;
  std::string why;
  if (repeat) {
    const auto n = repeat->is_scalar() ? units::parse_count(repeat->s, &why) : std::nullopt;
    if (!n || *n == 0 || *n > 100000)
      fail(repeat->at, "repeat",
           "expected a number of repetitions in [1, 100000], got " +
               (repeat->is_scalar() ? "'" + repeat->s + "'" : std::string(cfg::kind_word(repeat->k))));
    for (uint64_t s = 1; s <= *n; ++s) out.push_back(s);
  }
  if (seeds) {
    if (!seeds->is_seq() || seeds->kids.empty()) fail(seeds->at, "seeds", "expected a non-empty list of integers");
    for (size_t i = 0; i < seeds->kids.size(); ++i) {
      const Node& s = seeds->kids[i];
      const auto v = s.is_scalar() ? units::parse_count(s.s, &why) : std::nullopt;
      if (!v)
        fail(s.at, "seeds[" + std::to_string(i) + "]",
             "expected an integer seed, got " + (s.is_scalar() ? "'" + s.s + "'" : std::string(cfg::kind_word(s.k))));
      if (std::find(out.begin(), out.end(), *v) != out.end())
        fail(s.at, "seeds[" + std::to_string(i) + "]", "seed " + s.s + " is listed twice");
      out.push_back(*v);
    }
  }
  return out;
}

// "90", "90s", "15min", "2h" -> seconds.
double parse_timeout(const Node& t) {
  const std::string bad = "expected a wall-clock time such as 600 (seconds), 90s, 15min or 2h";
  if (!t.is_scalar()) fail(t.at, "timeout", bad + ", not " + cfg::kind_word(t.k));
  const std::string& s = t.s;
  size_t used = 0;
  double v = 0;
  try {
    v = std::stod(s, &used);
  } catch (const std::exception&) {
    fail(t.at, "timeout", bad + ", got '" + s + "'");
  }
  std::string unit = s.substr(used);
  unit.erase(0, unit.find_first_not_of(' '));
  double scale = 0;
  if (unit.empty() || unit == "s") scale = 1;
  if (unit == "min") scale = 60;
  if (unit == "h") scale = 3600;
  if (scale == 0 || !std::isfinite(v) || v <= 0) fail(t.at, "timeout", bad + ", got '" + s + "'");
  return v * scale;
}

}  // namespace

std::string csv_field(const std::string& v) {
  if (v.find_first_of(",\"\n\r") == std::string::npos) return v;
  std::string out = "\"";
  for (char c : v) out += c == '"' ? std::string("\"\"") : std::string(1, c);
  return out + "\"";
}

Spec parse_spec(const std::string& text, const std::string& path, const std::vector<std::string>& extra_sets) {
  YAML::Node y;
  try {
    y = YAML::Load(text);
  } catch (const YAML::Exception& e) {
    fail({path, e.mark.line >= 0 ? e.mark.line + 1 : 0}, "", "YAML syntax error: " + e.msg);
  }
  const Node root = cfg::from_yaml(y, path, true, {path, 1});
  if (!root.is_map())
    fail(root.at, "", "the top level of a sweep file must be a map, not " + std::string(cfg::kind_word(root.k)));
  check_top_keys(root);

  Spec s;
  s.path = path;
  const Node* base = root.get("base");
  if (!base) fail(root.at, "base", "missing required key (the config file every point starts from)");
  s.base = resolve_base(path, *base, "base");

  if (const Node* set = root.get("set")) {
    if (!set->is_map())
      fail(set->at, "set", "expected a map of key.path: value, not " + std::string(cfg::kind_word(set->k)));
    for (const Node& e : set->kids) {
      check_key_path(e, "set", false);
      if (e.key == "seed") continue;  // unreachable: check_key_path refuses it
      s.fixed_sets.push_back(e.key + "=" + yaml_text(e));
      s.fixed_where.push_back(cfg::where(e.at));
    }
  }
  for (const std::string& a : extra_sets) {
    const size_t eq = a.find('=');
    if (eq == std::string::npos || eq == 0) throw ConfigError("--set " + a + ": expected key.path=value");
    const std::string k = a.substr(0, eq);
    if (k == "seed")
      throw ConfigError("--set " + a + ": seed: seeds vary through the sweep's 'seeds:' or 'repeat:' keys");
    if (k == "base") throw ConfigError("--set " + a + ": base: the config file is the sweep's 'base:' key");
    s.fixed_sets.push_back(a);
    s.fixed_where.emplace_back();
  }

  std::vector<Factor> factors;
  if (const Node* pts = root.get("points")) factors.push_back(points_factor(*pts));
  if (const Node* axes = root.get("axes")) {
    if (!axes->is_seq() || axes->kids.empty())
      fail(axes->at, "axes",
           "expected a list of maps, one per axis (key.path: [values]; keys in one map vary "
           "together), not " +
               std::string(axes->is_seq() ? "an empty list" : cfg::kind_word(axes->k)));
    for (size_t i = 0; i < axes->kids.size(); ++i) factors.push_back(axis_factor(axes->kids[i], i));
  }
  for (const Factor& f : factors)
    for (size_t k = 0; k < f.keys.size(); ++k) {
      if (std::find(s.columns.begin(), s.columns.end(), f.keys[k]) != s.columns.end())
        fail(f.key_at[k], f.keys[k], "is varied twice (it is already an axis or point key)");
      s.columns.push_back(f.keys[k]);
    }
  const std::vector<uint64_t> seeds = seed_list(root);

  if (const Node* st = root.get("stats")) {
    if (!st->is_seq()) fail(st->at, "stats", "expected a list of dotted paths into stats.json");
    for (size_t i = 0; i < st->kids.size(); ++i) {
      const Node& e = st->kids[i];
      const std::string label = "stats[" + std::to_string(i) + "]";
      if (!e.is_scalar() || e.s.empty())
        fail(e.at, label, "expected a dotted path such as components.smmu0.iotlb.hits");
      if (e.s.rfind("summary.", 0) == 0) fail(e.at, label, "the summary is always in results.csv");
      if (std::find(s.columns.begin(), s.columns.end(), e.s) != s.columns.end() ||
          std::find(s.stats.begin(), s.stats.end(), e.s) != s.stats.end())
        fail(e.at, label, "'" + e.s + "' is already a column");
      s.stats.push_back(e.s);
    }
  }
  if (const Node* t = root.get("timeout")) s.timeout_s = parse_timeout(*t);

  // Odometer over the factors, the last (seeds) fastest.
  size_t total = seeds.empty() ? 1 : seeds.size();
  for (const Factor& f : factors) total *= f.rows.size();
  if (total > 1000000) fail(root.at, "axes", "the sweep has " + std::to_string(total) + " points (at most 1000000)");
  const size_t width = std::max<size_t>(4, std::to_string(total ? total - 1 : 0).size());
  std::vector<size_t> pos(factors.size(), 0);
  for (size_t i = 0; i < total; ++i) {
    Point p;
    p.index = i;
    p.id = std::to_string(i);
    p.id = "p" + std::string(width - p.id.size(), '0') + p.id;
    p.base = s.base;
    p.sets = s.fixed_sets;
    size_t rest = seeds.empty() ? i : i / seeds.size();
    for (size_t f = factors.size(); f-- > 0;) {
      pos[f] = rest % factors[f].rows.size();
      rest /= factors[f].rows.size();
    }
    for (size_t f = 0; f < factors.size(); ++f) {
      const auto& row = factors[f].rows[pos[f]];
      for (size_t k = 0; k < row.size(); ++k) {
        const std::string& key = factors[f].keys[k];
        if (!row[k]) {
          p.cells.emplace_back();
          continue;
        }
        p.cells.push_back(row[k]->cell);
        if (key == "base") {
          // The emitted text may be quoted; the cell is the file name as written.
          Node v;
          v.k = Node::K::Scalar;
          v.s = row[k]->cell;
          v.at = factors[f].key_at[k];
          p.base = resolve_base(path, v, key);
        } else {
          p.sets.push_back(key + "=" + row[k]->yaml);
        }
      }
    }
    if (!seeds.empty()) {
      p.seed = seeds[i % seeds.size()];
      p.sets.push_back("seed=" + std::to_string(*p.seed));
    }
    s.points.push_back(std::move(p));
  }
  return s;
}

Spec load_spec(const std::string& path, const std::vector<std::string>& extra_sets) {
  std::error_code ec;
  std::ifstream in(path);
  if (!in || fs::is_directory(path, ec))
    throw ConfigError("cannot read sweep file '" + path + "'" + (fs::exists(path, ec) ? "" : " (no such file)"));
  std::stringstream ss;
  ss << in.rdbuf();
  return parse_spec(ss.str(), path, extra_sets);
}

const Point* find_point(const Spec& s, const std::string& which) {
  for (const Point& p : s.points)
    if (p.id == which) return &p;
  if (!which.empty() && which.size() < 10 && std::all_of(which.begin(), which.end(), ::isdigit)) {
    const size_t i = std::stoul(which);
    if (i < s.points.size()) return &s.points[i];
  }
  return nullptr;
}

}  // namespace iommusim::sweep
