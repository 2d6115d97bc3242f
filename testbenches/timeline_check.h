// Validation of a timeline file (Chrome Trace Event Format) as the recorder writes it, for the
// recorder's unit test, the study test and the CLI test: structure, declared tracks, durations,
// the window, and causal order between tracks (completions inside the waits that end on them).
#pragma once
#include <nlohmann/json.hpp>

#include <cmath>
#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <utility>
#include <vector>

namespace iommusim::test {

struct TimelineFacts {
  std::map<std::string, size_t> cats;  // events per category
  size_t spans = 0, instants = 0;
  size_t completions_matched = 0;   // completion instants preceded by their command on the same track
  size_t waits_checked = 0;         // host waits inside the window, each containing a completion
  size_t page_requests_checked = 0; // device page requests containing the IOMMU's receipt and response
  std::set<std::string> thread_names;
};

// Returns an empty string when `j` is a valid timeline whose events lie in [start_us, end_us),
// otherwise what is wrong. `causal`: also check the order facts between tracks. Facts are filled as
// far as the check got.
inline std::string check_timeline(const nlohmann::json& j, double start_us, double end_us, TimelineFacts& f,
                                  bool causal = true) {
  using nlohmann::json;
  constexpr double eps = 1e-6;  // 1 ps in microseconds
  if (!j.is_object()) return "not a JSON object";
  if (!j.contains("traceEvents") || !j["traceEvents"].is_array()) return "no traceEvents array";
  if (j.value("displayTimeUnit", "") != "ns") return "displayTimeUnit is not \"ns\"";
  std::set<int> procs;
  std::set<std::pair<int, uint64_t>> threads;
  for (const json& e : j["traceEvents"]) {
    if (!e.is_object() || !e.contains("ph") || !e["ph"].is_string()) return "event without ph: " + e.dump();
    if (e["ph"] != "M") continue;
    const std::string n = e.value("name", "");
    if (!e.contains("pid") || !e.contains("args") || !e["args"].is_object()) return "bad metadata: " + e.dump();
    if (n == "process_name") {
      procs.insert(e["pid"].get<int>());
    } else if (n == "thread_name") {
      threads.insert({e["pid"].get<int>(), e["tid"].get<uint64_t>()});
      f.thread_names.insert(e["args"].value("name", ""));
    } else if (n != "process_sort_index" && n != "thread_sort_index") {
      return "unknown metadata " + n;
    }
  }
  for (const auto& [pid, tid] : threads)
    if (!procs.count(pid)) return "thread in undeclared process " + std::to_string(pid);

  struct Ev { std::string name, cat; double ts, dur; bool instant; uint64_t track; json args; };
  std::vector<Ev> evs;
  for (const json& e : j["traceEvents"]) {
    const std::string ph = e["ph"].get<std::string>();
    if (ph == "M") continue;
    if (ph != "X" && ph != "i") return "unexpected phase " + ph;
    if (!e.contains("name") || !e["name"].is_string() || !e.contains("cat") || !e["cat"].is_string())
      return "event without name or cat: " + e.dump();
    if (!e.contains("ts") || !e["ts"].is_number()) return "event without ts: " + e.dump();
    if (!e.contains("pid") || !e.contains("tid")) return "event without pid/tid: " + e.dump();
    const std::pair<int, uint64_t> id{e["pid"].get<int>(), e["tid"].get<uint64_t>()};
    if (!threads.count(id)) return "event on an undeclared track: " + e.dump();
    Ev v{e["name"].get<std::string>(), e["cat"].get<std::string>(), e["ts"].get<double>(), 0, ph == "i",
         id.second / 64, e.value("args", json::object())};
    if (!v.instant) {
      if (!e.contains("dur") || !e["dur"].is_number()) return "X event without dur: " + e.dump();
      v.dur = e["dur"].get<double>();
      if (v.dur < 0) return "negative duration: " + e.dump();
    }
    if (v.ts < 0) return "negative ts: " + e.dump();
    const bool inside = v.ts < end_us - eps / 2 &&
                        (v.dur == 0 ? v.ts >= start_us - eps : v.ts + v.dur > start_us - eps);
    if (!inside) return "event outside the window: " + e.dump();
    ++f.cats[v.cat];
    ++(v.instant ? f.instants : f.spans);
    evs.push_back(std::move(v));
  }
  if (!causal) return "";  // a capped timeline may lack either end of a causal pair

  // A command queue's completion is signalled after its command (the latest one in that slot) ran.
  for (const Ev& c : evs) {
    if (c.cat != "completion") continue;
    const uint64_t idx = c.args.value("index", ~uint64_t{0});
    const Ev* cmd = nullptr;
    for (const Ev& k : evs)
      if (k.cat == "command" && k.track == c.track && k.args.value("index", ~uint64_t{0}) == idx &&
          k.ts <= c.ts + eps && (!cmd || k.ts > cmd->ts))
        cmd = &k;
    if (!cmd) {
      if (start_us > 0) continue;  // its command may lie before the window
      return c.name + " at " + std::to_string(c.ts) + " us without its command";
    }
    if (cmd->ts + cmd->dur > c.ts + eps)
      return c.name + " at " + std::to_string(c.ts) + " us before its command ended";
    ++f.completions_matched;
  }
  // Host software stops waiting only once an IOMMU has signalled a completion.
  for (const Ev& w : evs) {
    if (w.cat != "inv_wait" || w.ts < start_us || w.ts + w.dur >= end_us) continue;
    bool found = false;
    for (const Ev& c : evs) found |= c.cat == "completion" && c.ts >= w.ts - eps && c.ts <= w.ts + w.dur + eps;
    if (!found) return w.name + " at " + std::to_string(w.ts) + " us ended without a completion inside it";
    ++f.waits_checked;
  }
  // A device's page request is received by its IOMMU and answered while the device waits.
  for (const Ev& p : evs) {
    if (p.cat != "page_request" || p.instant || p.ts < start_us || p.ts + p.dur >= end_us) continue;
    const std::string addr = p.args.value("addr", "");
    const uint64_t prg = p.args.value("prg", uint64_t{0});
    bool received = false, answered = false;
    for (const Ev& r : evs) {
      if (r.ts < p.ts - eps || r.ts > p.ts + p.dur + eps) continue;
      received |= r.cat == "page_request" && r.instant && r.args.value("addr", "") == addr &&
                  r.args.value("prg", uint64_t{~0ull}) == prg;
      answered |= r.cat == "page_response" && r.instant && r.args.value("prg", uint64_t{~0ull}) == prg;
    }
    if (!received || !answered)
      return "page request " + addr + " at " + std::to_string(p.ts) + " us: " +
             (!received ? "no receipt at the IOMMU" : "no PRG response") + " while it was outstanding";
    ++f.page_requests_checked;
  }
  return "";
}

}  // namespace iommusim::test
