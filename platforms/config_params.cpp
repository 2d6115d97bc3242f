// ParamVisitor implementations: YAML reader (fill + validate), resolved-YAML writer, `list` printer.
#include <charconv>
#include <cmath>
#include <iomanip>
#include <sstream>

#include "models/common/units.h"
#include "platforms/config_tree.h"

namespace iommusim::cfg {
namespace {

constexpr Time kTimeMax{UINT64_MAX};

bool real_unbounded(double v) { return !std::isfinite(v) || std::fabs(v) >= 1e300; }

// Shortest text that parses back to the same double, so resolved configs reload bit-identically.
std::string exact_real(double v, const char* unit) {
  char buf[64];
  auto r = std::to_chars(buf, buf + sizeof buf, v);
  return std::string(buf, r.ptr) + unit;
}

// "[1, 4096]", "[4KiB, ...]" or "" when the whole type range is allowed.
std::string range_text(const std::string& lo, const std::string& hi, bool lo_free, bool hi_free) {
  if (lo_free && hi_free) return "";
  return "[" + lo + ", " + (hi_free ? std::string("...") : hi) + "]";
}

std::string count_range(uint64_t lo, uint64_t hi) {
  return range_text(std::to_string(lo), std::to_string(hi), lo == 0, hi == UINT64_MAX);
}
std::string bytes_range(uint64_t lo, uint64_t hi) {
  return range_text(units::format_bytes(lo), units::format_bytes(hi), lo == 0, hi == UINT64_MAX);
}
std::string time_range(Time lo, Time hi) {
  return range_text(units::format_time(lo), units::format_time(hi), lo.ps == 0, hi.ps == kTimeMax.ps);
}
std::string real_range(double lo, double hi, const char* unit) {
  return range_text(units::format_real(lo, unit), units::format_real(hi, unit), real_unbounded(lo), real_unbounded(hi));
}

std::string choice_list(std::initializer_list<const char*> names) {
  std::string r;
  for (const char* n : names) r += (r.empty() ? "" : ", ") + std::string(n);
  return r;
}

class Reader final : public ParamVisitor {
 public:
  Reader(const Node* m, const std::string& path, const Origin& at, const std::vector<std::string>& structural) {
    stack_.push_back({m, path, at, structural});
  }
  void finish() { check_unknown(stack_.back()); }

  void count(const char* key, uint64_t& v, const char* desc, uint64_t min, uint64_t max) override {
    (void)desc;
    std::string path;
    const Node* n = lookup(key, path);
    if (!n) return;
    std::string why;
    auto r = units::parse_count(scalar(n, path, "an integer"), &why);
    if (!r) fail(n->at, path, why + ", got '" + n->s + "'");
    if (*r < min || *r > max) out_of_range(n, path, count_range(min, max));
    v = *r;
  }
  void bytes(const char* key, uint64_t& v, const char* desc, uint64_t min, uint64_t max) override {
    (void)desc;
    std::string path;
    const Node* n = lookup(key, path);
    if (!n) return;
    std::string why;
    auto r = units::parse_bytes(scalar(n, path, "a size such as 4KiB"), &why);
    if (!r) fail(n->at, path, why + ", got '" + n->s + "'");
    if (*r < min || *r > max) out_of_range(n, path, bytes_range(min, max));
    v = *r;
  }
  void time(const char* key, Time& v, const char* desc, Time min, Time max) override {
    (void)desc;
    std::string path;
    const Node* n = lookup(key, path);
    if (!n) return;
    std::string why;
    auto r = units::parse_time(scalar(n, path, "a time such as 80ns"), &why);
    if (!r) fail(n->at, path, why + ", got '" + n->s + "'");
    if (r->ps < min.ps || r->ps > max.ps) out_of_range(n, path, time_range(min, max));
    v = *r;
  }
  void real(const char* key, double& v, const char* unit, const char* desc, double min, double max) override {
    (void)desc;
    std::string path;
    const Node* n = lookup(key, path);
    if (!n) return;
    std::string why;
    auto r = units::parse_real(scalar(n, path, "a number"), unit, &why);
    if (!r) fail(n->at, path, why + ", got '" + n->s + "'");
    if (*r < min || *r > max) out_of_range(n, path, real_range(min, max, unit));
    v = *r;
  }
  void flag(const char* key, bool& v, const char* desc) override {
    (void)desc;
    std::string path;
    const Node* n = lookup(key, path);
    if (!n) return;
    const std::string& s = scalar(n, path, "true or false");
    if (s != "true" && s != "false") fail(n->at, path, "expected true or false, got '" + s + "'");
    v = s == "true";
  }
  void text(const char* key, std::string& v, const char* desc) override {
    (void)desc;
    std::string path;
    const Node* n = lookup(key, path);
    if (n) v = scalar(n, path, "a string");
  }
  void choice(const char* key, int& idx, std::initializer_list<const char*> names, const char* desc) override {
    (void)desc;
    std::string path;
    const Node* n = lookup(key, path);
    if (!n) return;
    const std::string& s = scalar(n, path, "one of: " + choice_list(names));
    int i = 0;
    for (const char* c : names) {
      if (s == c) {
        idx = i;
        return;
      }
      ++i;
    }
    fail(n->at, path, "unknown value '" + s + "' (choices: " + choice_list(names) + ")");
  }

 protected:
  bool enter(const char* key, const char* desc) override {
    (void)desc;
    std::string path;
    const Node* n = lookup(key, path);
    if (n && n->k == Node::K::Null) n = nullptr;  // "iotlb:" alone keeps the defaults
    if (n && !n->is_map()) fail(n->at, path, "expected a map of parameters, not " + std::string(kind_word(n->k)));
    stack_.push_back({n, path, n ? n->at : stack_.back().at, {}});
    return true;
  }
  void leave() override {
    check_unknown(stack_.back());
    stack_.pop_back();
  }

 private:
  struct Frame {
    const Node* m;
    std::string path;
    Origin at;
    std::vector<std::string> valid;  // keys seen so far at this level
  };

  const Node* lookup(const char* key, std::string& path) {
    Frame& f = stack_.back();
    f.valid.emplace_back(key);
    path = f.path + "." + key;
    return f.m ? f.m->get(key) : nullptr;
  }
  static const std::string& scalar(const Node* n, const std::string& path, const std::string& expect) {
    if (n->k == Node::K::Null) fail(n->at, path, "missing value (expected " + expect + ")");
    if (!n->is_scalar()) fail(n->at, path, "expected " + expect + ", not " + kind_word(n->k));
    return n->s;
  }
  [[noreturn]] static void out_of_range(const Node* n, const std::string& path, const std::string& range) {
    fail(n->at, path, "value " + n->s + " is out of range (allowed " + range + ")");
  }
  static void check_unknown(const Frame& f) {
    if (!f.m) return;
    for (const Node& c : f.m->kids) {
      if (std::find(f.valid.begin(), f.valid.end(), c.key) != f.valid.end()) continue;
      const std::string hint = closest(c.key, f.valid);
      fail(c.at, f.path + "." + c.key,
           hint.empty() ? "unknown key (valid keys: " + join(f.valid) + ")" : "unknown key (did you mean '" + hint + "'?)");
    }
  }

  std::vector<Frame> stack_;
};

class Writer final : public ParamVisitor {
 public:
  explicit Writer(YAML::Emitter& e) : e_(e) {}
  void count(const char* key, uint64_t& v, const char*, uint64_t, uint64_t) override { put(key, std::to_string(v)); }
  void bytes(const char* key, uint64_t& v, const char*, uint64_t, uint64_t) override { put(key, units::format_bytes(v)); }
  void time(const char* key, Time& v, const char*, Time, Time) override { put(key, units::format_time(v)); }
  void real(const char* key, double& v, const char* unit, const char*, double, double) override { put(key, exact_real(v, unit)); }
  void flag(const char* key, bool& v, const char*) override { put(key, v ? "true" : "false"); }
  void text(const char* key, std::string& v, const char*) override {
    e_ << YAML::Key << key << YAML::Value << YAML::DoubleQuoted << v;  // always quoted: "" and "~" stay strings
  }
  void choice(const char* key, int& idx, std::initializer_list<const char*> names, const char*) override {
    put(key, idx >= 0 && static_cast<size_t>(idx) < names.size() ? names.begin()[idx] : "?");
  }

 protected:
  bool enter(const char* key, const char*) override {
    e_ << YAML::Key << key << YAML::Value << YAML::BeginMap;
    return true;
  }
  void leave() override { e_ << YAML::EndMap; }

 private:
  void put(const char* key, const std::string& v) { e_ << YAML::Key << key << YAML::Value << v; }
  YAML::Emitter& e_;
};

class Printer final : public ParamVisitor {
 public:
  Printer(std::ostream& os, int indent) : os_(os), indent_(indent) {}
  void count(const char* key, uint64_t& v, const char* desc, uint64_t min, uint64_t max) override {
    row(key, "count", std::to_string(v), count_range(min, max), desc);
  }
  void bytes(const char* key, uint64_t& v, const char* desc, uint64_t min, uint64_t max) override {
    row(key, "bytes", units::format_bytes(v), bytes_range(min, max), desc);
  }
  void time(const char* key, Time& v, const char* desc, Time min, Time max) override {
    row(key, "time", units::format_time(v), time_range(min, max), desc);
  }
  void real(const char* key, double& v, const char* unit, const char* desc, double min, double max) override {
    row(key, *unit ? std::string("real ") + unit : std::string("real"), units::format_real(v, unit),
        real_range(min, max, unit), desc);
  }
  void flag(const char* key, bool& v, const char* desc) override { row(key, "flag", v ? "true" : "false", "", desc); }
  void text(const char* key, std::string& v, const char* desc) override { row(key, "text", "\"" + v + "\"", "", desc); }
  void choice(const char* key, int& idx, std::initializer_list<const char*> names, const char* desc) override {
    std::string opts;
    for (const char* n : names) opts += (opts.empty() ? "" : "|") + std::string(n);
    row(key, "choice", idx >= 0 && static_cast<size_t>(idx) < names.size() ? names.begin()[idx] : "?", opts, desc);
  }

 protected:
  bool enter(const char* key, const char* desc) override {
    os_ << std::string(indent_, ' ') << key << ":  " << desc << "\n";
    indent_ += 2;
    return true;
  }
  void leave() override { indent_ -= 2; }

 private:
  void row(const char* key, const std::string& kind, const std::string& def, const std::string& range,
           const char* desc) {
    const int keyw = std::max(1, 30 - indent_);
    os_ << std::string(indent_, ' ') << std::left << std::setw(keyw) << key << ' ' << std::setw(11) << kind << ' '
        << std::setw(12) << def << ' ' << std::setw(24) << range << ' ' << desc << "\n";
  }
  std::ostream& os_;
  int indent_;
};

}  // namespace

void read_params(ParamsBase& p, const Node* m, const std::string& path, const Origin& at,
                 const std::vector<std::string>& structural) {
  Reader r(m, path, at, structural);
  p.visit(r);
  r.finish();
}

void write_params(YAML::Emitter& e, ParamsBase& p) {
  Writer w(e);
  p.visit(w);
}

}  // namespace iommusim::cfg

namespace iommusim {

void print_params(std::ostream& os, ParamsBase& p, int indent) {
  cfg::Printer pr(os, indent);
  p.visit(pr);
}

void print_registry(std::ostream& os, const Registry& reg) {
  static const Kind kinds[] = {Kind::Memory, Kind::Iommu, Kind::IrqChip, Kind::RootPort, Kind::Endpoint, Kind::Host, Kind::Interrupts, Kind::Workload};
  bool first = true;
  for (Kind k : kinds) {
    const auto types = reg.of_kind(k);
    if (types.empty()) continue;
    os << (first ? "" : "\n") << kind_name(k) << " types:\n";
    first = false;
    for (const ModelType* t : types) {
      os << "  " << t->name << "  -  " << t->desc << "\n";
      auto p = t->make_params();
      print_params(os, *p, 4);
    }
  }
}

}  // namespace iommusim
