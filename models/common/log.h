// Per-module logging on spdlog: a logger per hierarchical module name, levels set by name prefix.
#pragma once
#include <spdlog/spdlog.h>

#include <memory>
#include <string>

namespace iommusim::log {

// Logger for a module; created on first use with the level that matches its name.
std::shared_ptr<spdlog::logger> get(const std::string& module_name);
// Default level for every logger, and an override for names starting with `prefix`.
void set_default_level(spdlog::level::level_enum lvl);
void set_level(const std::string& prefix, spdlog::level::level_enum lvl);
// Parse "trace|debug|info|warn|error|off"; false if unknown.
bool parse_level(const std::string& s, spdlog::level::level_enum& out);

}  // namespace iommusim::log
