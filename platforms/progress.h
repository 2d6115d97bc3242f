// The progress line of a long run: simulated time, DMA requests per wall-clock second and, when
// the end is known, the fraction done and an ETA, on stderr.
//
// A SystemC thread samples it: it wakes every `period` of simulated time, which it adapts so that
// it wakes a few times per wall-clock second, and reads the endpoints' request counters. Nothing
// runs on the DMA path; without a ProgressLine the thread does not exist. The thread also ends
// when it is the only activity left, so it never keeps an otherwise finished simulation running
// up to run.duration.
#pragma once
#include <memory>

#include "platforms/config.h"

namespace iommusim {
struct Platform;

class ProgressLine {
 public:
  // Spawns the sampling thread; call before sc_start. `tty`: redraw one line in place (\r);
  // otherwise print a line every few seconds and a last one at finish().
  ProgressLine(Platform& pf, const PlatformConfig& cfg, bool tty);
  ~ProgressLine();
  ProgressLine(const ProgressLine&) = delete;
  ProgressLine& operator=(const ProgressLine&) = delete;
  // After sc_start returned: clears the line (terminal) or prints the final one.
  void finish();

  struct State;

 private:
  std::shared_ptr<State> st_;
};

}  // namespace iommusim
