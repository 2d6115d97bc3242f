// Timeline recorder: event buffer, window and cap, and the Trace Event Format writer.
#include "models/common/timeline.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <map>

#include "models/common/units.h"

namespace iommusim::timeline {

bool on = false;

namespace {

struct State {
  Options opt;
  std::vector<Event> events;
  std::vector<TrackInfo> tracks;
  uint64_t dropped = 0, outside = 0;
};
State& st() {
  static State s;
  return s;
}

// Argument names per category, in the order hooks pass them; nullptr: unused.
constexpr const char* kArgNames[static_cast<size_t>(Cat::Count)][3] = {
    {"addr", "size", "ok"},       // Dma
    {"addr", "rid", "pasid"},     // Translate
    {"addr", "reads", "fault"},   // Walk
    {"index", "arg", nullptr},    // Command
    {"index", nullptr, nullptr},  // Completion
    {"commands", nullptr, nullptr},  // InvWait
    {"addr", "prg", "pasid"},     // PageRequest
    {"rid", "prg", "code"},       // PageResponse
    {"rid", "itag", nullptr},     // AtsInv
    {"addr", nullptr, nullptr},   // AtsTranslate
    {"rid", "vector", "cpu"},     // Irq
    {"addr", "rid", "code"},      // Fault
};

}  // namespace

const char* cat_name(Cat c) {
  switch (c) {
    case Cat::Dma: return "dma";
    case Cat::Translate: return "translate";
    case Cat::Walk: return "walk";
    case Cat::Command: return "command";
    case Cat::Completion: return "completion";
    case Cat::InvWait: return "inv_wait";
    case Cat::PageRequest: return "page_request";
    case Cat::PageResponse: return "page_response";
    case Cat::AtsInv: return "ats_inv";
    case Cat::AtsTranslate: return "ats_translate";
    case Cat::Irq: return "irq";
    case Cat::Fault: return "fault";
    default: return "unknown";
  }
}

const char* kind_name(Kind k) {
  switch (k) {
    case Kind::Endpoint: return "endpoints";
    case Kind::RootPort: return "root ports";
    case Kind::Iommu: return "IOMMUs";
    case Kind::Host: return "host";
    case Kind::IrqController: return "interrupt controllers";
    default: return "other";
  }
}

void open(const Options& o) {
  State& s = st();
  s = State{};
  s.opt = o;
  // Reserved up front so recording never allocates; pages are touched only as events arrive.
  s.events.reserve(static_cast<size_t>(o.max_events));
  on = true;
}

void close() {
  on = false;
  st() = State{};
}

Track track(Kind k, const std::string& name) {
  if (!on) return 0;
  auto& t = st().tracks;
  t.push_back({k, name});
  return static_cast<Track>(t.size());
}

Track track_of(Kind k, const std::string& name) {
  if (!on) return 0;
  const auto& t = st().tracks;
  for (size_t i = 0; i < t.size(); ++i)
    if (t[i].kind == k && t[i].name == name) return static_cast<Track>(i + 1);
  return track(k, name);
}

void record(Track t, Cat c, const char* name, uint64_t start_ps, uint64_t dur_ps, bool inst, uint64_t a0, uint64_t a1,
            uint64_t a2) {
  State& s = st();
  if (t == 0) return;  // a component elaborated before the timeline was opened
  // A span is kept when it overlaps the window; an instant (or empty span) when it lies inside.
  const uint64_t end = start_ps + dur_ps;
  const bool inside = start_ps < s.opt.end_ps && (dur_ps == 0 ? start_ps >= s.opt.start_ps : end > s.opt.start_ps);
  if (!inside) {
    ++s.outside;
    return;
  }
  if (s.events.size() >= s.opt.max_events) {
    ++s.dropped;
    return;
  }
  s.events.push_back(Event{start_ps, dur_ps, {a0, a1, a2}, name, t, c, inst});
}

void irq(const std::string& who, const char* what, const sc_core::sc_time& at, uint64_t rid, uint64_t vector,
         uint64_t cpu) {
  if (!on) return;
  record(track_of(Kind::IrqController, who), Cat::Irq, what, at.value(), 0, true, rid, vector, cpu);
}

const std::vector<Event>& events() { return st().events; }
uint64_t dropped() { return st().dropped; }
uint64_t outside_window() { return st().outside; }
const std::vector<TrackInfo>& tracks() { return st().tracks; }

std::string to_json() {
  using nlohmann::json;
  State& s = st();
  // Events sorted by start (recorded out of order under temporal decoupling); spans of one track
  // that overlap go to separate lanes (threads), which trace viewers need to draw them.
  std::vector<uint32_t> order(s.events.size());
  for (uint32_t i = 0; i < order.size(); ++i) order[i] = i;
  std::stable_sort(order.begin(), order.end(), [&](uint32_t a, uint32_t b) {
    return s.events[a].start_ps < s.events[b].start_ps;
  });
  std::vector<std::vector<uint64_t>> lane_end(s.tracks.size());  // per track: each lane's last end
  std::vector<uint32_t> lane(s.events.size(), 0);
  for (uint32_t i : order) {
    const Event& e = s.events[i];
    if (e.instant) continue;  // instants on lane 0
    auto& ends = lane_end[e.track - 1];
    size_t l = 0;
    while (l < ends.size() && ends[l] > e.start_ps) ++l;
    if (l == ends.size()) ends.push_back(0);
    ends[l] = e.start_ps + e.dur_ps;
    lane[i] = static_cast<uint32_t>(l);
  }

  json out;
  json& ev = out["traceEvents"] = json::array();
  // Metadata: one process per kind, one thread per track lane (tid = track id * 64 + lane).
  constexpr uint32_t kLanes = 64;
  bool kind_used[static_cast<size_t>(Kind::Count)] = {};
  for (const auto& t : s.tracks) kind_used[static_cast<size_t>(t.kind)] = true;
  for (size_t k = 0; k < static_cast<size_t>(Kind::Count); ++k) {
    if (!kind_used[k]) continue;
    const int pid = static_cast<int>(k) + 1;
    ev.push_back({{"ph", "M"}, {"name", "process_name"}, {"pid", pid}, {"tid", 0},
                  {"args", {{"name", kind_name(static_cast<Kind>(k))}}}});
    ev.push_back(
        {{"ph", "M"}, {"name", "process_sort_index"}, {"pid", pid}, {"tid", 0}, {"args", {{"sort_index", pid}}}});
  }
  for (size_t i = 0; i < s.tracks.size(); ++i) {
    const auto& t = s.tracks[i];
    const size_t lanes = std::max<size_t>(1, std::min<size_t>(lane_end[i].size(), kLanes));
    for (size_t l = 0; l < lanes; ++l) {
      const uint64_t tid = (i + 1) * kLanes + l;
      const std::string name = l == 0 ? t.name : t.name + " #" + std::to_string(l + 1);
      ev.push_back({{"ph", "M"}, {"name", "thread_name"}, {"pid", static_cast<int>(t.kind) + 1}, {"tid", tid},
                    {"args", {{"name", name}}}});
      ev.push_back({{"ph", "M"}, {"name", "thread_sort_index"}, {"pid", static_cast<int>(t.kind) + 1}, {"tid", tid},
                    {"args", {{"sort_index", tid}}}});
    }
  }
  out["displayTimeUnit"] = "ns";
  out["otherData"] = {{"events", s.events.size()}, {"dropped", s.dropped}, {"outside_window", s.outside},
                      {"window_start_us", static_cast<double>(s.opt.start_ps) / 1e6},
                      {"window_end_us", s.opt.end_ps == UINT64_MAX ? -1.0 : static_cast<double>(s.opt.end_ps) / 1e6},
                      {"max_events", s.opt.max_events}};
  // The events themselves are formatted directly (a DOM of a million events is slow and large):
  // times in microseconds printed exactly from picoseconds, names JSON-escaped once each.
  std::string doc = out.dump();
  const size_t close = doc.rfind(']');  // traceEvents is the last key: its array ends last
  std::string evs;
  evs.reserve(s.events.size() * 150);
  std::map<const char*, std::string> escaped;
  auto us = [](char* p, uint64_t ps) {
    return std::sprintf(p, "%llu.%06llu", static_cast<unsigned long long>(ps / 1000000),
                        static_cast<unsigned long long>(ps % 1000000));
  };
  for (uint32_t i : order) {
    const Event& e = s.events[i];
    const TrackInfo& t = s.tracks[e.track - 1];
    auto [it, fresh] = escaped.try_emplace(e.name);
    if (fresh) it->second = json(e.name).dump();
    char b[400];
    char* p = b;
    p += std::sprintf(p, ",{\"name\":%s,\"cat\":\"%s\",\"ph\":\"%s\",\"ts\":", it->second.c_str(), cat_name(e.cat),
                      e.instant ? "i\",\"s\":\"t" : "X");
    p += us(p, e.start_ps);
    if (!e.instant) {
      p += std::sprintf(p, ",\"dur\":");
      p += us(p, e.dur_ps);
    }
    p += std::sprintf(p, ",\"pid\":%d,\"tid\":%llu,\"args\":{", static_cast<int>(t.kind) + 1,
                      static_cast<unsigned long long>(uint64_t{e.track} * kLanes + std::min(lane[i], kLanes - 1)));
    const auto& names = kArgNames[static_cast<size_t>(e.cat)];
    const char* sep = "";
    for (int a = 0; a < 3; ++a) {
      if (!names[a]) continue;
      const bool addr = std::strcmp(names[a], "addr") == 0;  // addresses in hexadecimal, as strings
      p += std::sprintf(p, addr ? "%s\"%s\":\"0x%llx\"" : "%s\"%s\":%llu", sep, names[a],
                        static_cast<unsigned long long>(e.a[a]));
      sep = ",";
    }
    p += std::sprintf(p, "}}");
    evs.append(b, static_cast<size_t>(p - b));
  }
  if (ev.empty() && !evs.empty()) evs.erase(0, 1);  // no metadata: no comma before the first event
  doc.insert(close, evs);
  return doc;
}

bool write(const std::string& path) {
  std::ofstream f(path);
  f << to_json() << "\n";
  return static_cast<bool>(f);
}

bool parse_window(const std::string& s, uint64_t& start_ps, uint64_t& end_ps, std::string& err) {
  const auto colon = s.find(':');
  if (colon == std::string::npos || s.find(':', colon + 1) != std::string::npos) {
    err = "expected START:END with units (e.g. 10us:20us, :5ms, 1ms:)";
    return false;
  }
  const std::string a = s.substr(0, colon), b = s.substr(colon + 1);
  start_ps = 0;
  end_ps = UINT64_MAX;
  std::string why;
  if (!a.empty()) {
    const auto t = units::parse_time(a, &why);
    if (!t) { err = "start '" + a + "': " + why; return false; }
    start_ps = t->ps;
  }
  if (!b.empty()) {
    const auto t = units::parse_time(b, &why);
    if (!t) { err = "end '" + b + "': " + why; return false; }
    end_ps = t->ps;
  }
  if (end_ps <= start_ps) {
    err = "the end must be after the start";
    return false;
  }
  return true;
}

}  // namespace iommusim::timeline
