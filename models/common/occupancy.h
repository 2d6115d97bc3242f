// Contention without context switches: a shared resource remembers when it is next free, and a
// request that finds it busy starts later by the difference (throughput saturates, queues build).
#pragma once
#include <systemc>

#include <algorithm>
#include <vector>

namespace iommusim {

class Occupancy {
 public:
  // Reserve the resource for `busy` starting no earlier than `arrival` (absolute times).
  // Returns the start time; the caller's completion is start + busy (+ any fixed latency).
  // Always inlined: it sits on every TLP's and memory burst's path.
  [[gnu::always_inline]] sc_core::sc_time reserve(const sc_core::sc_time& arrival, const sc_core::sc_time& busy) {
    const sc_core::sc_time start = arrival > next_free_ ? arrival : next_free_;
    wait_ += start - arrival;
    busy_ += busy;
    next_free_ = start + busy;
    return start;
  }
  const sc_core::sc_time& next_free() const { return next_free_; }
  const sc_core::sc_time& busy_time() const { return busy_; }
  const sc_core::sc_time& wait_time() const { return wait_; }

 private:
  sc_core::sc_time next_free_ = sc_core::SC_ZERO_TIME;
  sc_core::sc_time busy_ = sc_core::SC_ZERO_TIME;
  sc_core::sc_time wait_ = sc_core::SC_ZERO_TIME;
};

// A pool of N identical servers (page-table walkers, command executors): a request takes the
// server that frees up first. Bounded concurrency as occupancy, no threads.
class ServerPool {
 public:
  explicit ServerPool(size_t n = 1) : free_at_(n ? n : 1, sc_core::SC_ZERO_TIME) {}
  void resize(size_t n) { free_at_.assign(n ? n : 1, sc_core::SC_ZERO_TIME); }
  size_t size() const { return free_at_.size(); }
  // Pick the earliest-free server; returns its index and the time the request can start.
  size_t pick(const sc_core::sc_time& arrival, sc_core::sc_time& start) const {
    size_t best = 0;
    for (size_t i = 1; i < free_at_.size(); ++i)
      if (free_at_[i] < free_at_[best]) best = i;
    start = std::max(arrival, free_at_[best]);
    return best;
  }
  void occupy_until(size_t i, const sc_core::sc_time& t) { free_at_[i] = t; }

 private:
  std::vector<sc_core::sc_time> free_at_;
};

}  // namespace iommusim
