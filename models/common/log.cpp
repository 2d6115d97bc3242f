// Per-module logging implementation.
#include "models/common/log.h"

#include <spdlog/sinks/stdout_color_sinks.h>

#include <mutex>
#include <utility>
#include <vector>

namespace iommusim::log {
namespace {
struct State {
  std::mutex m;
  spdlog::level::level_enum def = spdlog::level::warn;
  std::vector<std::pair<std::string, spdlog::level::level_enum>> overrides;
  spdlog::sink_ptr sink = std::make_shared<spdlog::sinks::stderr_color_sink_mt>();
};
State& state() {
  static State s;
  return s;
}
spdlog::level::level_enum level_for(const State& s, const std::string& name) {
  auto lvl = s.def;
  size_t best = 0;
  for (const auto& [p, l] : s.overrides)
    if (name.compare(0, p.size(), p) == 0 && p.size() >= best) { best = p.size(); lvl = l; }
  return lvl;
}
}  // namespace

std::shared_ptr<spdlog::logger> get(const std::string& module_name) {
  auto& s = state();
  std::lock_guard g(s.m);
  if (auto l = spdlog::get(module_name)) return l;
  auto l = std::make_shared<spdlog::logger>(module_name, s.sink);
  l->set_pattern("[%n] %l: %v");
  l->set_level(level_for(s, module_name));
  spdlog::register_logger(l);
  return l;
}

void set_default_level(spdlog::level::level_enum lvl) {
  auto& s = state();
  std::lock_guard g(s.m);
  s.def = lvl;
  spdlog::apply_all([&](const std::shared_ptr<spdlog::logger>& l) { l->set_level(level_for(s, l->name())); });
}

void set_level(const std::string& prefix, spdlog::level::level_enum lvl) {
  auto& s = state();
  std::lock_guard g(s.m);
  s.overrides.emplace_back(prefix, lvl);
  spdlog::apply_all([&](const std::shared_ptr<spdlog::logger>& l) { l->set_level(level_for(s, l->name())); });
}

bool parse_level(const std::string& s, spdlog::level::level_enum& out) {
  static const std::pair<const char*, spdlog::level::level_enum> names[] = {
      {"trace", spdlog::level::trace}, {"debug", spdlog::level::debug}, {"info", spdlog::level::info},
      {"warn", spdlog::level::warn},   {"error", spdlog::level::err},   {"off", spdlog::level::off}};
  for (const auto& [n, l] : names)
    if (s == n) { out = l; return true; }
  return false;
}

}  // namespace iommusim::log
