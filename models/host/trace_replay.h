// Trace replay: issues the events of a trace file (TraceReader) as host kernel calls and device DMA jobs.
#pragma once
#include <systemc>

#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include <spdlog/logger.h>

#include "models/common/stats.h"
#include "models/host/trace_reader.h"
#include "models/host/workloads.h"

namespace iommusim::host {

class LinuxHost;

// One `trace` workload. Open loop: the calling thread reads events and hands each, at its
// timestamp, to a helper thread per actor (host or endpoint), which runs its events in order and
// counts how late each started. Closed loop: the calling thread runs every event itself, in order.
// Buffer handles, processes and their binds are resolved when an event is issued, in file order (see
// traces/README.md). Host ops report their result code (0 or -errno) as counters and at info level;
// a failing op is part of the trace's behaviour, not bad input, so the replay goes on.
class TraceReplay {
 public:
  // At most this many issued events wait per actor; the reader stalls beyond (bounded memory).
  static constexpr size_t kQueueDepth = 64;

  TraceReplay(LinuxHost& host, unsigned default_ep, const TraceWorkloadParams& p, StatGroup& g);
  ~TraceReplay();
  // Replays the whole trace from a SystemC thread. A bad event (TraceError) ends the run through
  // LinuxHost::fail_run, and then this never returns.
  void run();

 private:
  struct Binding;
  struct BindOp;
  struct Process;
  struct Item;
  struct Actor;

  Item prepare(TraceEvent&& ev);
  void execute(Item& it);
  Process& process(const TraceEvent& ev, bool create);
  void host_op(Item& it);
  void device_op(Item& it);
  void iommufd_op(Item& it);
  void report(const TraceEvent& ev, int err, const std::string& detail);
  void job(unsigned ep, const TraceEvent& ev, uint64_t iova, uint64_t size, uint64_t stride, uint64_t count);
  Actor& actor(const Item& it);
  void actor_thread(Actor* a);
  unsigned endpoint(const std::string& name, const TraceEvent& ev, bool actor);
  [[noreturn]] void fail(const TraceEvent& ev, const std::string& what) const;
  [[noreturn]] void stop(const std::string& msg);

  LinuxHost& h_;
  unsigned default_ep_;
  TraceWorkloadParams p_;
  sc_core::sc_time t0_;
  std::unordered_map<std::string, std::shared_ptr<Binding>> names_;  // latest binding per handle
  std::unordered_map<std::string, std::unique_ptr<Process>> procs_;  // by mm= name; pointers stay valid
  std::map<std::string, unsigned> ep_cache_;
  std::map<int, std::unique_ptr<Actor>> actors_;  // -1: host, else endpoint index
  sc_core::sc_event host_done_, exited_, never_;  // host_done_: a dma_map, mmap or bind completed

  Counter& events_;
  Counter& host_ops_;
  Counter& device_ops_;
  Counter& requests_;
  Counter& bytes_;
  Counter& faults_;
  Counter& late_;
  Counter& lateness_ps_;
  Counter& max_lateness_ps_;
  Counter& elapsed_ps_;
  std::shared_ptr<spdlog::logger> log_;
  struct Result {
    TraceEvent::Op op;
    int err;
    Counter* c;
  };
  std::vector<Result> results_;  // "<op>_<code>" counters, created on first use
  StatGroup& g_;
  // iommufd: object names (id=) and named physical buffers of ioas_map / msi_iova.
  struct Object {
    uint32_t id;
    uint64_t line;
    bool failed;
  };
  struct Buf {
    uint64_t pa, size, line;
  };
  std::map<std::string, Object> objects_;
  std::map<std::string, Buf> bufs_;
  static constexpr unsigned kMaxResults = 1024;  // per-op entries of `results`; counters go on beyond
  unsigned listed_ = 0;
};

}  // namespace iommusim::host
