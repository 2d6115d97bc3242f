// Progress line: an adaptive-period SystemC sampler of simulated time and endpoint counters.
#include "platforms/progress.h"

#include <sysc/kernel/sc_spawn.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <string>
#include <systemc>

#include "models/common/sim_time.h"
#include "models/host/workloads.h"
#include "models/pcie/endpoint.h"
#include "platforms/platform.h"

namespace iommusim {
namespace {
using Clock = std::chrono::steady_clock;

double since(Clock::time_point a, Clock::time_point b) { return std::chrono::duration<double>(b - a).count(); }

std::string sim_text(double ns) {
  char b[32];
  if (ns < 1e3)
    std::snprintf(b, sizeof b, "%.0f ns", ns);
  else if (ns < 1e6)
    std::snprintf(b, sizeof b, "%.3f us", ns / 1e3);
  else if (ns < 1e9)
    std::snprintf(b, sizeof b, "%.3f ms", ns / 1e6);
  else
    std::snprintf(b, sizeof b, "%.3f s", ns / 1e9);
  return b;
}

std::string rate_text(double r) {
  char b[32];
  if (r >= 1e6)
    std::snprintf(b, sizeof b, "%.2fM", r / 1e6);
  else if (r >= 1e3)
    std::snprintf(b, sizeof b, "%.1fk", r / 1e3);
  else
    std::snprintf(b, sizeof b, "%.0f", r);
  return b;
}

std::string eta_text(double s) {
  char b[32];
  const long t = static_cast<long>(s + 0.5);
  if (t >= 3600)
    std::snprintf(b, sizeof b, "%ldh%02ldm", t / 3600, t / 60 % 60);
  else if (t >= 60)
    std::snprintf(b, sizeof b, "%ldm%02lds", t / 60, t % 60);
  else
    std::snprintf(b, sizeof b, "%lds", t);
  return b;
}

}  // namespace

struct ProgressLine::State {
  Platform* pf = nullptr;
  bool tty = false;
  bool stopped = false;
  double duration_ns = 0;
  uint64_t dma_total = 0;  // requests every workload issues when all are streams; 0: unknown
  bool other_workloads = false;
  Clock::time_point wall0, last_print;
  uint64_t dma_at_print = 0;
  bool printed = false;

  uint64_t dma() const {
    uint64_t n = 0;
    for (const Endpoint* e : pf->endpoints) n += e->requests();
    return n;
  }

  void print(Clock::time_point now, bool last) {
    const uint64_t d = dma();
    const double dt = since(last_print, now), elapsed = since(wall0, now);
    const double sim_ns = to_ns(sc_core::sc_time_stamp());
    const double rate = last ? (elapsed > 0 ? static_cast<double>(d) / elapsed : 0)
                             : (dt > 0 ? static_cast<double>(d - dma_at_print) / dt : 0);
    std::string line = "sim " + sim_text(sim_ns) + "  " + rate_text(rate) + " DMA/s";
    // The run ends at run.duration or when the workloads are done, whichever is first.
    double frac = duration_ns > 0 ? sim_ns / duration_ns : 0;
    const bool by_count = dma_total > 0;
    if (by_count) frac = std::max(frac, static_cast<double>(d) / static_cast<double>(dma_total));
    frac = std::min(frac, 1.0);
    if (last) {
      line += "  done in " + eta_text(elapsed);
    } else if (frac > 0.001) {
      char pct[16];
      std::snprintf(pct, sizeof pct, "%.0f%%", 100 * frac);
      // Workloads other than counted streams may end the run before run.duration: an upper bound.
      line += "  " + std::string(pct) + (by_count || !other_workloads ? "  ETA " : "  ETA <= ") +
              eta_text(elapsed * (1 - frac) / frac);
    }
    if (tty)
      std::fprintf(stderr, "\r\033[K%s", line.c_str());
    else
      std::fprintf(stderr, "progress: %s\n", line.c_str());
    std::fflush(stderr);
    last_print = now;
    dma_at_print = d;
    printed = true;
  }
};

ProgressLine::ProgressLine(Platform& pf, const PlatformConfig& cfg, bool tty) : st_(std::make_shared<State>()) {
  st_->pf = &pf;
  st_->tty = tty;
  st_->duration_ns = static_cast<double>(cfg.duration.ps) / 1000.0;
  bool all_streams = !cfg.workloads.empty();
  for (const Section& w : cfg.workloads) {
    if (w.type != "stream") {
      all_streams = false;
      continue;
    }
    const auto& p = params_as<host::StreamWorkloadParams>(*w.params);
    st_->dma_total += p.count + p.warmup;
  }
  if (!all_streams) st_->dma_total = 0;
  st_->other_workloads = !cfg.workloads.empty() && !all_streams;

  st_->wall0 = st_->last_print = Clock::now();
  std::shared_ptr<State> st = st_;
  sc_core::sc_spawn(
      [st] {
        sc_core::sc_time period(1, sc_core::SC_US);
        const sc_core::sc_time min_period(100, sc_core::SC_NS), max_period(10, sc_core::SC_MS);
        const double interval = st->tty ? 0.25 : 5.0;  // wall seconds between lines
        st->wall0 = st->last_print = Clock::now();
        Clock::time_point last_wake = st->wall0;
        for (;;) {
          sc_core::wait(period);
          if (st->stopped) return;
          const Clock::time_point now = Clock::now();
          // Aim at 10-100 wakes per wall-clock second whatever the simulation speed.
          const double woke = since(last_wake, now);
          last_wake = now;
          if (woke < 0.01 && period < max_period) period *= 2;
          if (woke > 0.1 && period > min_period) period /= 2;
          if (since(st->last_print, now) >= interval) st->print(now, false);
          // Alone, this thread would keep a finished simulation alive until run.duration.
          if (!sc_core::sc_pending_activity()) return;
        }
      },
      "iommusim_progress");
}

ProgressLine::~ProgressLine() { st_->stopped = true; }

void ProgressLine::finish() {
  st_->stopped = true;
  if (st_->tty) {
    if (st_->printed) std::fprintf(stderr, "\r\033[K");
    std::fflush(stderr);
    return;
  }
  st_->print(Clock::now(), true);
}

}  // namespace iommusim
