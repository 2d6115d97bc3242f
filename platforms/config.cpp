// Config semantics: sections, types, names, references and rids; the resolved-config writer.
#include "platforms/config.h"

#include <algorithm>
#include <cstdio>

#include "models/common/log.h"
#include "models/common/units.h"
#include "platforms/config_tree.h"

namespace iommusim {

// Declared in registry.h; lives here because config errors and `list` are its users.
const char* kind_name(Kind k) {
  switch (k) {
    case Kind::Memory: return "memory";
    case Kind::Iommu: return "iommu";
    case Kind::RootPort: return "root_port";
    case Kind::Endpoint: return "endpoint";
    case Kind::Host: return "host";
    case Kind::Workload: return "workload";
    case Kind::Interrupts: return "interrupts";
    case Kind::IrqChip: return "irqchip";
  }
  return "?";
}

const Section* PlatformConfig::find(const std::string& name) const {
  if (memory.name == name) return &memory;
  if (host.name == name) return &host;
  if (interrupts.name == name) return &interrupts;
  for (const auto* v : {&iommus, &irqchips, &root_ports, &endpoints, &workloads})
    for (const auto& s : *v)
      if (s.name == name) return &s;
  return nullptr;
}

namespace {
using cfg::fail;
using cfg::Node;

// How one kind of section looks in the file.
struct Shape {
  Kind kind;
  const char* default_name;  // nullptr: name required
  const char* default_type;  // nullptr: type required
  const char* ref_key;       // nullptr: no reference
  bool has_rid;
};

constexpr Shape kMemory{Kind::Memory, "mem", "sparse_memory", nullptr, false};
constexpr Shape kIommu{Kind::Iommu, nullptr, nullptr, nullptr, false};
constexpr Shape kRootPort{Kind::RootPort, nullptr, "pcie_root_port", "iommu", false};
constexpr Shape kEndpoint{Kind::Endpoint, nullptr, "pcie_endpoint", "port", true};
constexpr Shape kHost{Kind::Host, "host", "linux_host", nullptr, false};
constexpr Shape kInterrupts{Kind::Interrupts, "irq", "cpu_interrupts", nullptr, false};
constexpr Shape kIrqChip{Kind::IrqChip, nullptr, "gic_its", nullptr, false};
constexpr Shape kWorkload{Kind::Workload, "", "stream", "endpoint", false};  // "": named wl<index>

std::string hex16(unsigned v) {
  char b[8];
  std::snprintf(b, sizeof b, "0x%04x", v);
  return b;
}

bool valid_name(const std::string& s) {
  if (s.empty() || !(std::isalpha(static_cast<unsigned char>(s[0])) || s[0] == '_')) return false;
  return std::all_of(s.begin(), s.end(), [](char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-'; });
}

// Rejects keys of a structural map that are not in `valid`.
void check_keys(const Node& m, const std::string& path, const std::vector<std::string>& valid) {
  for (const Node& c : m.kids) {
    if (std::find(valid.begin(), valid.end(), c.key) != valid.end()) continue;
    const std::string p = path.empty() ? c.key : path + "." + c.key;
    const std::string hint = cfg::closest(c.key, valid);
    fail(c.at, p, hint.empty() ? "unknown key (valid keys: " + cfg::join(valid) + ")" : "unknown key (did you mean '" + hint + "'?)");
  }
}

// A map-valued entry, or nullptr when absent or empty.
const Node* get_map(const Node& parent, const char* key, const std::string& path) {
  const Node* n = parent.get(key);
  if (!n || n->k == Node::K::Null) return nullptr;
  if (!n->is_map()) fail(n->at, path, "expected a map, not " + std::string(cfg::kind_word(n->k)));
  return n;
}

const Node* get_list(const Node* parent, const char* key, const std::string& path) {
  const Node* n = parent ? parent->get(key) : nullptr;
  if (!n || n->k == Node::K::Null) return nullptr;
  if (!n->is_seq()) fail(n->at, path, "expected a list, not " + std::string(cfg::kind_word(n->k)));
  return n;
}

const std::string& get_scalar(const Node* n, const std::string& path, const char* expect) {
  if (n->k == Node::K::Null) fail(n->at, path, std::string("missing value (expected ") + expect + ")");
  if (!n->is_scalar()) fail(n->at, path, std::string("expected ") + expect + ", not " + cfg::kind_word(n->k));
  return n->s;
}

// Accepts a 16-bit integer or a PCI "bus:dev.fn" ("01:00.0").
uint16_t parse_rid(const Node* n, const std::string& path) {
  const std::string& s = get_scalar(n, path, "a requester ID such as 0x0100 or 01:00.0");
  unsigned bus, dev, fn;
  char tail;
  if (s.find(':') != std::string::npos) {
    if (std::sscanf(s.c_str(), "%x:%x.%x%c", &bus, &dev, &fn, &tail) != 3 || bus > 0xff || dev > 0x1f || fn > 7)
      fail(n->at, path, "expected a requester ID such as 0x0100 or bus:dev.fn (01:00.0), got '" + s + "'");
    return static_cast<uint16_t>(bus << 8 | dev << 3 | fn);
  }
  std::string why;
  auto v = units::parse_count(s, &why);
  if (!v) fail(n->at, path, why + ", got '" + s + "'");
  if (*v > 0xffff) fail(n->at, path, "value " + s + " is out of range (allowed [0x0000, 0xffff])");
  return static_cast<uint16_t>(*v);
}

class Loader {
 public:
  explicit Loader(const Registry& reg) : reg_(reg) {}

  PlatformConfig load(const Node& root) {
    PlatformConfig c;
    check_keys(root, "", {"seed", "platform", "run", "log"});
    if (const Node* s = root.get("seed")) {
      std::string why;
      auto v = units::parse_count(get_scalar(s, "seed", "an integer"), &why);
      if (!v) fail(s->at, "seed", why + ", got '" + s->s + "'");
      c.seed = *v;
    }

    const Node* plat = get_map(root, "platform", "platform");
    if (plat) check_keys(*plat, "platform", {"memory", "iommus", "irqchips", "root_ports", "endpoints", "host", "interrupts"});
    const Origin plat_at = plat ? plat->at : root.at;
    c.memory = section(kMemory, plat ? get_map(*plat, "memory", "platform.memory") : nullptr, "platform.memory", plat_at);
    c.iommus = sections(kIommu, plat, "iommus", "platform.iommus");
    c.irqchips = sections(kIrqChip, plat, "irqchips", "platform.irqchips");
    c.root_ports = sections(kRootPort, plat, "root_ports", "platform.root_ports");
    c.endpoints = sections(kEndpoint, plat, "endpoints", "platform.endpoints");
    c.host = section(kHost, plat ? get_map(*plat, "host", "platform.host") : nullptr, "platform.host", plat_at);
    c.interrupts = section(kInterrupts, plat ? get_map(*plat, "interrupts", "platform.interrupts") : nullptr,
                           "platform.interrupts", plat_at);

    const Node* run = get_map(root, "run", "run");
    if (run) check_keys(*run, "run", {"duration", "quantum", "workloads"});
    const Node* dur = run ? run->get("duration") : nullptr;
    if (!dur) fail(run ? run->at : root.at, "run.duration", "missing required key");
    std::string why;
    auto d = units::parse_time(get_scalar(dur, "run.duration", "a time such as 1ms"), &why);
    if (!d) fail(dur->at, "run.duration", why + ", got '" + dur->s + "'");
    if (d->ps == 0) fail(dur->at, "run.duration", "must be greater than 0");
    c.duration = *d;
    if (const Node* q = run ? run->get("quantum") : nullptr) {
      auto qv = units::parse_time(get_scalar(q, "run.quantum", "a time such as 1us"), &why);
      if (!qv) fail(q->at, "run.quantum", why + ", got '" + q->s + "'");
      if (qv->ps == 0 || qv->ps > Time::ms(1).ps) fail(q->at, "run.quantum", "must be in (0, 1ms]");
      c.quantum = *qv;
    }
    c.workloads = sections(kWorkload, run, "workloads", "run.workloads");

    if (const Node* lg = get_map(root, "log", "log")) {
      for (const Node& e : lg->kids) {
        const std::string p = "log." + e.key;
        const std::string& lvl = get_scalar(&e, p, "a log level");
        spdlog::level::level_enum l;
        if (!log::parse_level(lvl, l))
          fail(e.at, p, "unknown log level '" + lvl + "' (choices: trace, debug, info, warn, error, off)");
        c.log_levels.emplace_back(e.key, lvl);
      }
    }

    check_names(c);
    check_refs(c);
    return c;
  }

 private:
  std::vector<Section> sections(const Shape& sh, const Node* parent, const char* key, const std::string& path) {
    std::vector<Section> out;
    const Node* list = get_list(parent, key, path);
    if (!list) return out;
    for (size_t i = 0; i < list->kids.size(); ++i) {
      const Node& e = list->kids[i];
      const std::string* nm = e.name();
      const std::string ep = path + "[" + (nm ? *nm : std::to_string(i)) + "]";
      if (!e.is_map()) fail(e.at, ep, "expected a map, not " + std::string(cfg::kind_word(e.k)));
      out.push_back(section(sh, &e, ep, e.at, i));
    }
    return out;
  }

  // `m` nullptr: the section is absent and takes its defaults (memory, host).
  Section section(const Shape& sh, const Node* m, const std::string& path, const Origin& parent_at, size_t index = 0) {
    Section s;
    s.kind = sh.kind;
    s.origin = m ? m->at : parent_at;
    std::vector<std::string> structural{"name", "type"};

    const Node* n = m ? m->get("name") : nullptr;
    if (n) {
      s.name = get_scalar(n, path + ".name", "a name");
      if (!valid_name(s.name))
        fail(n->at, path + ".name", "invalid name '" + s.name + "' (letters, digits, '_' and '-', starting with a letter or '_')");
    } else if (!sh.default_name) {
      fail(s.origin, path + ".name", "missing required key");
    } else {
      s.name = *sh.default_name ? sh.default_name : "wl" + std::to_string(index);
    }

    const Node* t = m ? m->get("type") : nullptr;
    if (t) {
      s.type = get_scalar(t, path + ".type", "a type name");
    } else if (!sh.default_type) {
      fail(s.origin, path + ".type", "missing required key");
    } else {
      s.type = sh.default_type;
    }
    const ModelType* mt = reg_.find(s.type);
    if (!mt || mt->kind != sh.kind) {
      std::vector<std::string> names;
      for (const ModelType* o : reg_.of_kind(sh.kind)) names.push_back(o->name);
      std::string what = "unknown " + std::string(kind_name(sh.kind)) + " type '" + s.type + "'";
      if (mt) what += " (it is a " + std::string(kind_name(mt->kind)) + " type)";
      const std::string hint = cfg::closest(s.type, names);
      if (!hint.empty()) what += "; did you mean '" + hint + "'?";
      what += " (" + std::string(kind_name(sh.kind)) + " types: " + (names.empty() ? "none registered" : cfg::join(names)) + ")";
      fail(t ? t->at : s.origin, path + ".type", what);
    }

    if (sh.ref_key) {
      structural.push_back(sh.ref_key);
      const Node* r = m ? m->get(sh.ref_key) : nullptr;
      if (!r) fail(s.origin, path + "." + sh.ref_key, "missing required key");
      s.ref = get_scalar(r, path + "." + sh.ref_key, "a name");
      ref_at_.push_back(r->at);
    }
    if (sh.has_rid) {
      structural.push_back("rid");
      const Node* r = m ? m->get("rid") : nullptr;
      if (!r) fail(s.origin, path + ".rid", "missing required key");
      s.rid = parse_rid(r, path + ".rid");
      rid_at_.push_back(r->at);
    }

    s.params = mt->make_params();
    cfg::read_params(*s.params, m, path, s.origin, structural);
    paths_.push_back(path);
    name_at_.push_back(n ? n->at : s.origin);
    return s;
  }

  // Sections in the order section() saw them, to pair with paths_/name_at_.
  static std::vector<const Section*> in_order(const PlatformConfig& c) {
    std::vector<const Section*> v{&c.memory};
    for (const auto& s : c.iommus) v.push_back(&s);
    for (const auto& s : c.irqchips) v.push_back(&s);
    for (const auto& s : c.root_ports) v.push_back(&s);
    for (const auto& s : c.endpoints) v.push_back(&s);
    v.push_back(&c.host);
    v.push_back(&c.interrupts);
    for (const auto& s : c.workloads) v.push_back(&s);
    return v;
  }

  void check_names(const PlatformConfig& c) {
    const auto all = in_order(c);
    for (size_t i = 0; i < all.size(); ++i)
      for (size_t j = 0; j < i; ++j)
        if (all[i]->name == all[j]->name)
          fail(name_at_[i], paths_[i] + ".name",
               "duplicate name '" + all[i]->name + "' (also " + paths_[j] + " at " + cfg::where(name_at_[j]) + ")");
    for (size_t i = 0; i < c.endpoints.size(); ++i)
      for (size_t j = 0; j < i; ++j)
        if (c.endpoints[i].rid == c.endpoints[j].rid)
          fail(rid_at_[i], "platform.endpoints[" + c.endpoints[i].name + "].rid",
               "duplicate rid " + hex16(c.endpoints[i].rid) + " (also used by " + c.endpoints[j].name + " at " +
                   cfg::where(rid_at_[j]) + ")");
  }

  void check_refs(const PlatformConfig& c) {
    size_t k = 0;  // ref_at_ holds root ports, then endpoints, then workloads
    auto check = [&](const std::vector<Section>& from, const char* list, const char* key,
                     const std::vector<Section>& to, const char* what, const char* what_plural) {
      for (const Section& s : from) {
        const Origin at = ref_at_[k++];
        if (std::any_of(to.begin(), to.end(), [&](const Section& t) { return t.name == s.ref; })) continue;
        std::vector<std::string> names;
        for (const Section& t : to) names.push_back(t.name);
        fail(at, std::string(list) + "[" + s.name + "]." + key,
             "no " + std::string(what) + " named '" + s.ref + "' (" +
                 (names.empty() ? "there are no " + std::string(what_plural) : std::string(what_plural) + ": " + cfg::join(names)) + ")");
      }
    };
    check(c.root_ports, "platform.root_ports", "iommu", c.iommus, "iommu", "iommus");
    check(c.endpoints, "platform.endpoints", "port", c.root_ports, "root port", "root ports");
    check(c.workloads, "run.workloads", "endpoint", c.endpoints, "endpoint", "endpoints");
  }

  const Registry& reg_;
  std::vector<std::string> paths_;
  std::vector<Origin> name_at_, ref_at_, rid_at_;
};

void emit_section(YAML::Emitter& e, const Section& s) {
  e << YAML::BeginMap << YAML::Key << "name" << YAML::Value << s.name << YAML::Key << "type" << YAML::Value << s.type;
  switch (s.kind) {
    case Kind::RootPort: e << YAML::Key << "iommu" << YAML::Value << s.ref; break;
    case Kind::Endpoint:
      e << YAML::Key << "port" << YAML::Value << s.ref << YAML::Key << "rid" << YAML::Value << hex16(s.rid);
      break;
    case Kind::Workload: e << YAML::Key << "endpoint" << YAML::Value << s.ref; break;
    default: break;
  }
  cfg::write_params(e, *s.params);
  e << YAML::EndMap;
}

void emit_list(YAML::Emitter& e, const char* key, const std::vector<Section>& v) {
  e << YAML::Key << key << YAML::Value << YAML::BeginSeq;
  for (const Section& s : v) emit_section(e, s);
  e << YAML::EndSeq;
}

std::string resolve(const PlatformConfig& c) {
  YAML::Emitter e;
  e << YAML::BeginMap;
  e << YAML::Key << "seed" << YAML::Value << std::to_string(c.seed);
  e << YAML::Key << "platform" << YAML::Value << YAML::BeginMap;
  e << YAML::Key << "memory" << YAML::Value;
  emit_section(e, c.memory);
  emit_list(e, "iommus", c.iommus);
  if (!c.irqchips.empty()) emit_list(e, "irqchips", c.irqchips);
  emit_list(e, "root_ports", c.root_ports);
  emit_list(e, "endpoints", c.endpoints);
  e << YAML::Key << "host" << YAML::Value;
  emit_section(e, c.host);
  e << YAML::Key << "interrupts" << YAML::Value;
  emit_section(e, c.interrupts);
  e << YAML::EndMap;
  e << YAML::Key << "run" << YAML::Value << YAML::BeginMap;
  e << YAML::Key << "duration" << YAML::Value << units::format_time(c.duration);
  e << YAML::Key << "quantum" << YAML::Value << units::format_time(c.quantum);
  emit_list(e, "workloads", c.workloads);
  e << YAML::EndMap;
  if (!c.log_levels.empty()) {
    e << YAML::Key << "log" << YAML::Value << YAML::BeginMap;
    for (const auto& [k, v] : c.log_levels) e << YAML::Key << k << YAML::Value << v;
    e << YAML::EndMap;
  }
  e << YAML::EndMap;
  return std::string(e.c_str()) + "\n";
}

}  // namespace

PlatformConfig load_config(const std::string& path, const std::vector<std::string>& set_overrides,
                           const Registry& reg) {
  Node root = cfg::load_layers(path, nullptr);
  for (const auto& s : set_overrides) cfg::apply_set(root, s);
  PlatformConfig c = Loader(reg).load(root);
  c.path = path;
  c.resolved_yaml = resolve(c);
  return c;
}

}  // namespace iommusim
