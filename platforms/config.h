// Platform config loading: YAML files (+ extends, --set) -> validated PlatformConfig; params listing.
#pragma once
#include <cstdint>
#include <memory>
#include <ostream>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "models/common/params.h"
#include "platforms/registry.h"

namespace iommusim {

// Any problem with the user's input. what() is one line: "<file>:<line>: <key.path>: <problem>"
// ("--set <arg>: <key.path>: <problem>" for overrides).
struct ConfigError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// Where a value was (last) set; line 1-based, 0 when unknown or from --set.
struct Origin {
  std::string file;
  int line = 0;
};

struct Section {
  Kind kind = Kind::Memory;
  std::string name;
  std::string type;
  Origin origin;
  std::unique_ptr<ParamsBase> params;  // filled and validated
  std::string ref;                     // iommu (root port) / port (endpoint) / endpoint (workload), else empty
  uint16_t rid = 0;                    // endpoints only
};

struct PlatformConfig {
  std::string path;  // the top-level file
  uint64_t seed = 1;
  Time duration;
  // Temporal-decoupling quantum: initiators run ahead of the kernel by at most this much. Smaller
  // makes cross-thread ordering (host unmap vs device DMA) exact at finer grain, larger runs faster.
  Time quantum = Time::us(1);
  Section memory, host;
  Section interrupts;  // the CPU interrupt model
  std::vector<Section> iommus, root_ports, endpoints, workloads;
  std::vector<Section> irqchips;  // interrupt translation services (ITS)
  std::vector<std::pair<std::string, std::string>> log_levels;  // prefix ("default" for the default) -> level
  // Every section with every parameter written out (defaults included, with units); loadable again.
  std::string resolved_yaml;
  // Any section (memory, host, iommu, root port, endpoint, workload) by name; nullptr if none.
  const Section* find(const std::string& name) const;
};

// Loads `path` (following `extends`), applies `set_overrides` ("a.b.c=value"), validates against
// `reg`. Throws ConfigError.
PlatformConfig load_config(const std::string& path, const std::vector<std::string>& set_overrides,
                           const Registry& reg);

// `iommusim list`: every registered type grouped by kind with its parameters, defaults, units,
// ranges and descriptions.
void print_registry(std::ostream& os, const Registry& reg);
// One type's parameters, indented by `indent` spaces.
void print_params(std::ostream& os, ParamsBase& p, int indent);

}  // namespace iommusim
