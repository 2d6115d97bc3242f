// SMMUv3 stall model: a stage-1 fault of a stream whose CD has S set holds the transaction in the
// SMMU and records the event with Stall = 1 and a STAG; software answers with CMD_RESUME (retry or
// abort) naming StreamID and STAG, or terminates every stalled transaction of a stream with
// CMD_STALL_TERM. At most IDR5.STALL_MAX transactions are held; beyond that, or when the event
// cannot be recorded, the fault terminates the transaction as without stalling.
#include "models/common/sim_time.h"
#include "models/iommu/smmuv3/smmuv3.h"

namespace iommusim::smmuv3 {

SmmuV3::StallOutcome SmmuV3::stall(Event& ev, sc_core::sc_time& t) {
  Stalled* slot = nullptr;
  for (auto& s : stalls_)
    if (!s.busy) {
      slot = &s;
      break;
    }
  const unsigned log2 = static_cast<unsigned>(qbase::LOG2SIZE.get(eventq_base_));
  if (!slot || !(cr0_ & cr0::EVTQEN) || queue_full(eventq_prod_, eventq_cons_, log2)) return StallOutcome::NotStalled;
  // STAGs are unique among outstanding stalls: skip any still in use.
  uint16_t stag;
  bool clash;
  do {
    stag = next_stag_++;
    clash = false;
    for (const auto& s : stalls_) clash |= s.busy && s.stag == stag;
  } while (clash);
  slot->busy = true;
  slot->sid = ev.sid;
  slot->stag = stag;
  slot->state = Stalled::State::Waiting;
  ev.stall = true;
  ev.stag = stag;
  record_event(ev, t);
  ++stalled_;
  const auto wake = slot->wake;  // the slot may be reused once freed; keep the event alive
  if (t > sim_now()) sc_core::wait(t - sim_now());
  while (slot->state == Stalled::State::Waiting) sc_core::wait(*wake);
  const bool retry = slot->state == Stalled::State::Retry;
  slot->busy = false;
  t = sim_now();
  ++(retry ? stall_retries_ : stall_aborts_);
  return retry ? StallOutcome::Retry : StallOutcome::Abort;
}

void SmmuV3::resume(uint32_t sid, uint16_t stag, bool retry, const sc_core::sc_time& t) {
  for (auto& s : stalls_)
    if (s.busy && s.state == Stalled::State::Waiting && s.sid == sid && s.stag == stag) {
      s.state = retry ? Stalled::State::Retry : Stalled::State::Abort;
      s.wake->notify(t > sim_now() ? t - sim_now() : sc_core::SC_ZERO_TIME);
      return;
    }
  // A RESUME naming no stalled transaction is ignored (the architecture allows stale STAGs).
}

void SmmuV3::stall_term(uint32_t sid, const sc_core::sc_time& t) {
  for (auto& s : stalls_)
    if (s.busy && s.state == Stalled::State::Waiting && s.sid == sid) {
      s.state = Stalled::State::Abort;
      s.wake->notify(t > sim_now() ? t - sim_now() : sc_core::SC_ZERO_TIME);
    }
}

}  // namespace iommusim::smmuv3
