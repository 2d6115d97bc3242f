// Timeline recorder: what happened when, per component, written at the end of a run as Chrome
// trace-event JSON (opens in Perfetto or chrome://tracing).
//
// Models take a track at elaboration (one per component instance, named by its hierarchical name,
// grouped into a process by kind) and record spans and instants as fixed-size records into a buffer
// reserved up front. With no timeline open every hook is one predictable branch on `timeline::on`:
// the inline functions below test it and call the out-of-line recorder only when it is set, so the
// arguments are not even computed. Events outside the window [start, end) are not stored; past the
// event cap they are counted as dropped.
//
// Not modelled: flow arrows between tracks (a DMA and the walk it caused share only their times and
// addresses), counters, nesting within a track (spans that overlap are spread over lanes instead).
#pragma once
#include <systemc>

#include <cstdint>
#include <string>
#include <vector>

namespace iommusim::timeline {

// The processes tracks are grouped into.
enum class Kind : uint8_t { Endpoint, RootPort, Iommu, Host, IrqController, Count };
// What an event is; each category has fixed argument names (kArgNames in timeline.cpp).
enum class Cat : uint8_t {
  Dma,           // a DMA request, issue to completion (addr, size, ok)
  Translate,     // an IOMMU's translation of one request, arrival to its output (addr, rid, pasid)
  Walk,          // a page-table walk, walker start to leaf or fault (addr, reads, fault)
  Command,       // an invalidation-queue command executed, start to done (index, arg)
  Completion,    // a sync / wait command's completion signalled (index)
  InvWait,       // host software waiting for an invalidation to complete (commands)
  PageRequest,   // a page request, from the device sending it to its response arriving (addr, prg, pasid)
  PageResponse,  // a PRG Response sent by an IOMMU (rid, prg, code)
  AtsInv,        // an ATS Invalidate Request, sent to its completion (rid, itag)
  AtsTranslate,  // a device's Translation Request, sent to its completion (addr)
  Irq,           // an interrupt remapped or delivered (rid, vector, cpu)
  Fault,         // a fault recorded by an IOMMU (addr, rid, code)
  Count
};
const char* cat_name(Cat c);
const char* kind_name(Kind k);

using Track = uint32_t;  // 0: no track (timeline off at elaboration)

struct Event {
  uint64_t start_ps, dur_ps;
  uint64_t a[3];
  const char* name;  // static storage: never copied
  Track track;
  Cat cat;
  bool instant;
};

struct Options {
  uint64_t start_ps = 0, end_ps = UINT64_MAX;  // window [start, end)
  uint64_t max_events = 1'000'000;             // 56 B each
};

extern bool on;

// Starts recording (clears earlier tracks and events); tracks registered from now on are kept.
void open(const Options& o);
// Stops recording and forgets everything.
void close();
// A new track (cold, elaboration time): 0 when no timeline is open.
Track track(Kind k, const std::string& name);
// Shared by hooks in models that are not modules (a walker inside an IOMMU): the track of that name if it exists.
Track track_of(Kind k, const std::string& name);

[[gnu::cold]] void record(Track t, Cat c, const char* name, uint64_t start_ps, uint64_t dur_ps, bool is_instant,
                          uint64_t a0, uint64_t a1, uint64_t a2);

inline void span(Track t, Cat c, const char* name, const sc_core::sc_time& start, const sc_core::sc_time& end,
                 uint64_t a0 = 0, uint64_t a1 = 0, uint64_t a2 = 0) {
  if (on) [[unlikely]]
    record(t, c, name, start.value(), end > start ? (end - start).value() : 0, false, a0, a1, a2);
}
inline void instant(Track t, Cat c, const char* name, const sc_core::sc_time& at, uint64_t a0 = 0, uint64_t a1 = 0,
                    uint64_t a2 = 0) {
  if (on) [[unlikely]] record(t, c, name, at.value(), 0, true, a0, a1, a2);
}

// Entry point for interrupt controllers and CPUs: one interrupt delivered (or lost) at `at`, on the
// track of the controller named `who` (created on first use).
void irq(const std::string& who, const char* what, const sc_core::sc_time& at, uint64_t rid, uint64_t vector,
         uint64_t cpu);

// What was recorded (tests) and how much did not fit.
const std::vector<Event>& events();
uint64_t dropped();
uint64_t outside_window();
struct TrackInfo { Kind kind; std::string name; };
const std::vector<TrackInfo>& tracks();  // index = track id - 1

// The Trace Event Format document: {"traceEvents": [...], "displayTimeUnit": "ns", "otherData": {...}}.
std::string to_json();
// Writes to_json() to path; false on an I/O error.
bool write(const std::string& path);

// "10us:20us", ":5ms", "1ms:" (times with units); false with a reason in err.
bool parse_window(const std::string& s, uint64_t& start_ps, uint64_t& end_ps, std::string& err);

}  // namespace iommusim::timeline
