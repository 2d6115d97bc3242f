// Config tree: YAML files -> origin-tracking nodes, `extends` layering, deep merge, --set overrides.
#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "platforms/config_tree.h"

namespace iommusim::cfg {
namespace fs = std::filesystem;

const Node* Node::get(const std::string& name) const {
  for (const auto& c : kids)
    if (c.key == name) return &c;
  return nullptr;
}

Node* Node::get(const std::string& name) {
  return const_cast<Node*>(static_cast<const Node*>(this)->get(name));
}

const std::string* Node::name() const {
  if (!is_map()) return nullptr;
  const Node* n = get("name");
  return n && n->is_scalar() ? &n->s : nullptr;
}

const char* kind_word(Node::K k) {
  switch (k) {
    case Node::K::Null: return "nothing";
    case Node::K::Scalar: return "a scalar";
    case Node::K::Map: return "a map";
    case Node::K::Seq: return "a list";
  }
  return "?";
}

std::string where(const Origin& o) {
  return o.line > 0 ? o.file + ":" + std::to_string(o.line) : o.file;
}

void fail(const Origin& o, const std::string& path, const std::string& what) {
  std::string msg = where(o) + ": ";
  if (!path.empty()) msg += path + ": ";
  msg += what;
  // The one-line promise: YAML messages and user values could carry newlines.
  std::replace(msg.begin(), msg.end(), '\n', ' ');
  throw ConfigError(msg);
}

std::string join(const std::vector<std::string>& v, const char* sep) {
  std::string r;
  for (size_t i = 0; i < v.size(); ++i) r += (i ? sep : "") + v[i];
  return r;
}

namespace {

// Optimal-string-alignment distance: a transposition ("entires") counts as one edit.
size_t edit_distance(const std::string& a, const std::string& b) {
  const size_t n = a.size(), m = b.size();
  std::vector<std::vector<size_t>> d(n + 1, std::vector<size_t>(m + 1));
  for (size_t i = 0; i <= n; ++i) d[i][0] = i;
  for (size_t j = 0; j <= m; ++j) d[0][j] = j;
  for (size_t i = 1; i <= n; ++i)
    for (size_t j = 1; j <= m; ++j) {
      const size_t cost = std::tolower(a[i - 1]) == std::tolower(b[j - 1]) ? 0 : 1;
      d[i][j] = std::min({d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost});
      if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1]) d[i][j] = std::min(d[i][j], d[i - 2][j - 2] + 1);
    }
  return d[n][m];
}

std::string elem_label(const Node& e, size_t idx) {
  const std::string* n = e.name();
  return "[" + (n ? *n : std::to_string(idx)) + "]";
}

// A list merged element-by-name rather than replaced: every element is a map with a scalar name.
bool named_list(const Node& n) {
  return n.is_seq() && std::all_of(n.kids.begin(), n.kids.end(), [](const Node& e) { return e.name() != nullptr; });
}

}  // namespace

std::string closest(const std::string& word, const std::vector<std::string>& candidates) {
  std::string best;
  size_t best_d = std::max<size_t>(1, word.size() / 3) + 1;
  for (const auto& c : candidates) {
    const size_t d = edit_distance(word, c);
    if (d < best_d) { best_d = d; best = c; }
  }
  return best;
}

Node from_yaml(const YAML::Node& y, const std::string& file, bool with_lines, const Origin& fallback,
               const std::string& path) {
  Node n;
  n.at = fallback;
  if (with_lines && y.Mark().line >= 0) n.at = {file, y.Mark().line + 1};
  switch (y.Type()) {
    case YAML::NodeType::Undefined:
    case YAML::NodeType::Null:
      break;
    case YAML::NodeType::Scalar:
      n.k = Node::K::Scalar;
      n.s = y.Scalar();
      break;
    case YAML::NodeType::Sequence:
      n.k = Node::K::Seq;
      for (size_t i = 0; i < y.size(); ++i) {
        const YAML::Node e_y = y[i];
        const YAML::Node nm = e_y.IsMap() ? e_y["name"] : YAML::Node();
        const std::string label = nm.IsDefined() && nm.IsScalar() ? nm.Scalar() : std::to_string(i);
        Node e = from_yaml(e_y, file, with_lines, n.at, path + "[" + label + "]");
        n.kids.push_back(std::move(e));
      }
      break;
    case YAML::NodeType::Map:
      n.k = Node::K::Map;
      for (auto it = y.begin(); it != y.end(); ++it) {
        Origin ko = n.at;
        if (with_lines && it->first.Mark().line >= 0) ko = {file, it->first.Mark().line + 1};
        if (!it->first.IsScalar()) fail(ko, path, "map keys must be plain names");
        const std::string k = it->first.Scalar();
        const std::string kp = path.empty() ? k : path + "." + k;
        if (const Node* prev = n.get(k)) fail(ko, kp, "duplicate key (also set at line " + std::to_string(prev->at.line) + ")");
        Node c = from_yaml(it->second, file, with_lines, ko, kp);
        c.key = k;
        c.at = ko;  // a map entry is located by its key, also when the value starts on a later line
        n.kids.push_back(std::move(c));
      }
      break;
  }
  return n;
}

namespace {

Node load_chain(const std::string& path, const Origin* from, std::vector<std::pair<std::string, std::string>>& chain) {
  std::error_code ec;
  const fs::path canon = fs::weakly_canonical(path, ec);
  const std::string key = ec ? path : canon.string();
  for (const auto& [c, shown] : chain)
    if (c == key) {
      std::string cyc;
      for (const auto& [c2, s2] : chain) cyc += s2 + " -> ";
      fail(*from, "extends", "extends cycle: " + cyc + path);
    }

  std::ifstream in(path);
  if (!in || fs::is_directory(path, ec)) {
    const std::string why = "cannot read config file '" + path + "'" + (fs::exists(path, ec) ? "" : " (no such file)");
    if (from) fail(*from, "extends", why);
    throw ConfigError(why);
  }
  std::stringstream ss;
  ss << in.rdbuf();
  YAML::Node y;
  try {
    y = YAML::Load(ss.str());
  } catch (const YAML::Exception& e) {
    fail({path, e.mark.line >= 0 ? e.mark.line + 1 : 0}, "", "YAML syntax error: " + e.msg);
  }
  Node root = from_yaml(y, path, true, {path, 1});
  if (root.k == Node::K::Null) root = Node{Node::K::Map, "", "", {}, {path, 1}};  // empty file
  if (!root.is_map()) fail(root.at, "", "the top level of a config must be a map, not " + std::string(kind_word(root.k)));

  auto ext = std::find_if(root.kids.begin(), root.kids.end(), [](const Node& c) { return c.key == "extends"; });
  if (ext == root.kids.end()) return root;
  if (!ext->is_scalar() || ext->s.empty()) fail(ext->at, "extends", "expected a file name, not " + std::string(kind_word(ext->k)));
  const fs::path base_path = (fs::path(path).parent_path() / ext->s).lexically_normal();
  const Origin ext_at = ext->at;
  root.kids.erase(ext);
  chain.emplace_back(key, path);
  Node base = load_chain(base_path.string(), &ext_at, chain);
  chain.pop_back();
  merge(base, root);
  return base;
}

}  // namespace

Node load_layers(const std::string& path, const Origin* from) {
  std::vector<std::pair<std::string, std::string>> chain;
  return load_chain(path, from, chain);
}

void merge(Node& base, const Node& over) {
  if (base.is_map() && over.is_map()) {
    for (const Node& c : over.kids) {
      if (Node* b = base.get(c.key)) {
        merge(*b, c);
      } else {
        base.kids.push_back(c);
      }
    }
    base.at = over.at;
    return;
  }
  if (named_list(base) && named_list(over) && !over.kids.empty()) {
    for (const Node& e : over.kids) {
      auto it = std::find_if(base.kids.begin(), base.kids.end(), [&](const Node& b) { return *b.name() == *e.name(); });
      if (it != base.kids.end()) {
        merge(*it, e);
      } else {
        base.kids.push_back(e);
      }
    }
    base.at = over.at;
    return;
  }
  const std::string key = base.key;
  base = over;
  base.key = key;
}

void apply_set(Node& root, const std::string& arg) {
  const Origin at{"--set " + arg, 0};
  const size_t eq = arg.find('=');
  if (eq == std::string::npos || eq == 0) fail(at, "", "expected key.path=value");
  const std::string keypath = arg.substr(0, eq), text = arg.substr(eq + 1);
  std::vector<std::string> segs;
  for (size_t p = 0;;) {
    const size_t d = keypath.find('.', p);
    segs.push_back(keypath.substr(p, d == std::string::npos ? std::string::npos : d - p));
    if (segs.back().empty()) fail(at, "", "empty segment in key path '" + keypath + "'");
    if (d == std::string::npos) break;
    p = d + 1;
  }
  if (segs[0] == "extends") fail(at, "extends", "cannot be overridden with --set");

  YAML::Node y;
  try {
    y = YAML::Load(text);
  } catch (const YAML::Exception& e) {
    fail(at, keypath, "invalid value: " + e.msg);
  }

  Node* cur = &root;
  std::string shown;
  for (size_t i = 0; i < segs.size(); ++i) {
    const std::string& seg = segs[i];
    if (cur->k == Node::K::Null) cur->k = Node::K::Map;  // "iotlb:" with nothing under it
    Node* next = nullptr;
    if (cur->is_map()) {
      shown += (shown.empty() ? "" : ".") + seg;
      next = cur->get(seg);
      if (!next) {
        Node n;
        n.key = seg;
        n.at = at;
        cur->kids.push_back(std::move(n));
        next = &cur->kids.back();
      }
    } else if (cur->is_seq()) {
      for (auto& e : cur->kids)
        if (e.name() && *e.name() == seg) next = &e;
      if (!next && seg.size() < 10 && std::all_of(seg.begin(), seg.end(), ::isdigit)) {
        const size_t idx = std::stoul(seg);
        if (idx < cur->kids.size()) next = &cur->kids[idx];
      }
      if (!next) {
        std::vector<std::string> names;
        for (size_t j = 0; j < cur->kids.size(); ++j) names.push_back(elem_label(cur->kids[j], j));
        fail(at, shown, "no element '" + seg + "' in this list (elements: " + (names.empty() ? "none" : join(names)) + ")");
      }
      shown += elem_label(*next, static_cast<size_t>(next - cur->kids.data()));
    } else {
      fail(at, shown, "is a scalar; cannot set '" + seg + "' inside it");
    }
    cur = next;
  }
  Node val = from_yaml(y, at.file, false, at, shown);
  merge(*cur, val);
  cur->at = at;
}

}  // namespace iommusim::cfg
