// Internal to the config reader: an origin-tracking YAML tree, layer merging, --set, param visitors.
#pragma once
#include <yaml-cpp/yaml.h>

#include <ostream>
#include <string>
#include <vector>

#include "platforms/config.h"

namespace iommusim::cfg {

// One YAML value. Every node remembers the file and line that last set it (for map entries, the
// key's line), so errors after merging `extends` layers and --set point at the right place.
struct Node {
  enum class K { Null, Scalar, Map, Seq };
  K k = K::Null;
  std::string key;         // set when this node is a map entry
  std::string s;           // scalar text
  std::vector<Node> kids;  // map entries (with key) or sequence elements
  Origin at;

  bool is_map() const { return k == K::Map; }
  bool is_seq() const { return k == K::Seq; }
  bool is_scalar() const { return k == K::Scalar; }
  const Node* get(const std::string& k) const;
  Node* get(const std::string& k);
  // The scalar `name` of a map element, or nullptr.
  const std::string* name() const;
};

const char* kind_word(Node::K k);  // "a map", "a list", ...

// "file:line" (or just "file" when line is 0, e.g. for --set).
std::string where(const Origin& o);
[[noreturn]] void fail(const Origin& o, const std::string& path, const std::string& what);

// Converts a parsed YAML node; with_lines=false gives every node line 0 (for --set values).
// `path` is the key path of `y`, for error messages.
Node from_yaml(const YAML::Node& y, const std::string& file, bool with_lines, const Origin& fallback,
               const std::string& path = "");
// Reads `path` and every file it extends, merged base-first. `from` is the extends key that named
// it (nullptr for the top-level file).
Node load_layers(const std::string& path, const Origin* from);
// Deep merge (see docs in config.h): over's values win, named lists merge by name.
void merge(Node& base, const Node& over);
// Applies one "a.b.c=value" override.
void apply_set(Node& root, const std::string& arg);

// Closest candidate by edit distance, or "" when none is reasonably close.
std::string closest(const std::string& word, const std::vector<std::string>& candidates);
std::string join(const std::vector<std::string>& v, const char* sep = ", ");

// Fills `p` from the map `m` (nullptr: keep all defaults). `structural` are the extra keys the
// section may hold; any other key that no parameter claims is an error.
void read_params(ParamsBase& p, const Node* m, const std::string& path, const Origin& at,
                 const std::vector<std::string>& structural);
// Emits every parameter as key/value pairs into the current (open) YAML map.
void write_params(YAML::Emitter& e, ParamsBase& p);

}  // namespace iommusim::cfg
