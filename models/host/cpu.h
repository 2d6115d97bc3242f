// The host CPU running kernel code: every software step charges its cost as simulated time on the
// calling thread, and the time is accounted by category so CPU time is part of every result.
#pragma once
#include <systemc>

#include "models/common/sim_time.h"
#include "models/common/stats.h"

namespace iommusim::host {

class Cpu {
 public:
  explicit Cpu(StatGroup& parent)
      : stats_("cpu", &parent),
        busy_ps_(stats_.counter("busy_ps", "CPU time spent in kernel IOMMU code, including spinning on syncs")),
        map_ps_(stats_.counter("map_ps", "CPU time in dma_map")),
        unmap_ps_(stats_.counter("unmap_ps", "CPU time in dma_unmap (including strict-mode waits)")),
        inv_wait_ps_(stats_.counter("inv_wait_ps", "CPU time spinning until an invalidation sync completed")),
        flush_ps_(stats_.counter("flush_ps", "CPU time in lazy-mode flush-queue flushes")) {}

  enum class Cat { Map, Unmap, InvWait, Flush, Other };
  // Charge `t` of CPU time to `c` and let simulated time pass on this thread.
  void spend(const sc_core::sc_time& t, Cat c) {
    if (t == sc_core::SC_ZERO_TIME) return;
    account(t, c);
    sc_core::wait(t);
  }
  // Account time that already passed on this thread (e.g. a spin wait).
  void account(const sc_core::sc_time& t, Cat c) {
    const uint64_t ps = to_ps(t);
    busy_ps_ += ps;
    switch (c) {
      case Cat::Map: map_ps_ += ps; break;
      case Cat::Unmap: unmap_ps_ += ps; break;
      case Cat::InvWait: inv_wait_ps_ += ps; break;
      case Cat::Flush: flush_ps_ += ps; break;
      case Cat::Other: break;
    }
  }
  // The category the current kernel path charges to (set by the DMA API around map/unmap/flush).
  Cat current = Cat::Other;
  uint64_t busy_ps() const { return busy_ps_.v; }
  uint64_t inv_wait_ps() const { return inv_wait_ps_.v; }

 private:
  StatGroup stats_;
  Counter& busy_ps_;
  Counter& map_ps_;
  Counter& unmap_ps_;
  Counter& inv_wait_ps_;
  Counter& flush_ps_;
};

}  // namespace iommusim::host
