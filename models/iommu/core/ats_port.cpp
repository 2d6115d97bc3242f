// AtsPort: Invalidate Request / Completion bookkeeping for one IOMMU.
#include "models/iommu/core/ats_port.h"

#include <algorithm>
#include <bit>

#include "models/common/sim_time.h"
#include "models/pcie/ats_defs.h"

namespace iommusim {

using sc_core::sc_time;

AtsPort::AtsPort(sc_core::sc_module_name name, const AtsPortParams& p, StatGroup& parent)
    : sc_module(name),
      down("down"),
      p_(p),
      timeout_(to_sc(p.inv_timeout)),
      stats_("ats", &parent),
      requests_(stats_.counter("inv_requests", "ATS Invalidate Requests sent")),
      completions_(stats_.counter("inv_completions", "ATS invalidations completed by the device")),
      timeouts_(stats_.counter("inv_timeouts", "ATS invalidations that passed their time-out")),
      unexpected_(stats_.counter("unexpected_completions", "Invalidate Completions naming no outstanding ITag")),
      itag_stalls_(stats_.counter("itag_stalls", "requests that waited for a free ITag or queue slot")),
      prg_responses_(stats_.counter("prg_responses", "PRI PRG Response messages sent")),
      rtt_ns_(stats_.histogram("inv_rtt", "ns", "Invalidate Request sent to its last completion received")) {}

void AtsPort::add_device(uint16_t rid, unsigned port) {
  if (Device* d = find(rid)) {
    d->port = port;
    return;
  }
  devices_.push_back(Device{rid, port, 0, {}});
}

AtsPort::Device* AtsPort::find(uint16_t rid) {
  for (auto& d : devices_)
    if (d.rid == rid) return &d;
  return nullptr;
}
const AtsPort::Device* AtsPort::find(uint16_t rid) const { return const_cast<AtsPort*>(this)->find(rid); }

bool AtsPort::invalidate(uint16_t rid, bool pasid_valid, uint32_t pasid, uint64_t base, uint64_t size, bool global,
                         unsigned queue_depth, sc_time t) {
  Device* d = find(rid);
  if (!d || d->port >= static_cast<unsigned>(down.size())) return false;
  const unsigned depth = queue_depth == 0 || queue_depth > ats::kItags ? ats::kItags : queue_depth;
  if (t > sim_now()) sc_core::wait(t - sim_now());
  bool stalled = false;
  while (d->busy == ~uint32_t{0} || d->pending.size() >= depth) {
    stalled = true;
    sc_core::wait(changed_);
    d = find(rid);  // devices_ does not change after elaboration, but stay safe
  }
  if (stalled) ++itag_stalls_;
  const uint8_t itag = static_cast<uint8_t>(std::countr_one(d->busy));
  d->busy |= 1u << itag;
  d->pending.push_back(Pending{++seq_, itag, 1, 0, sim_now()});
  ++outstanding_;
  ++requests_;

  uint64_t body = ats::encode_inv_request(base, size, global);
  PcieExt* x;
  tlm::tlm_generic_payload* gp = pool_.acquire(x);
  gp->set_command(tlm::TLM_WRITE_COMMAND);
  gp->set_address(0);
  gp->set_data_ptr(reinterpret_cast<unsigned char*>(&body));
  gp->set_data_length(8);
  gp->set_streaming_width(8);
  x->rid = rid;  // ID-routed: the destination
  x->pasid = pasid;
  x->pasid_valid = pasid_valid;
  x->msg = MsgKind::AtsInvRequest;
  x->itag_or_prg = itag;
  sc_time delay = sc_core::SC_ZERO_TIME;
  down[d->port]->b_transport(*gp, delay);  // posted: the agent does not wait for the link
  gp->release();
  return true;
}

bool AtsPort::prg_response(uint16_t rid, bool pasid_valid, uint32_t pasid, uint16_t prg_index, uint8_t code,
                           sc_time t) {
  Device* d = find(rid);
  if (!d || d->port >= static_cast<unsigned>(down.size())) return false;
  if (t > sim_now()) sc_core::wait(t - sim_now());
  uint64_t body = 0;
  PcieExt* x;
  tlm::tlm_generic_payload* gp = pool_.acquire(x);
  gp->set_command(tlm::TLM_WRITE_COMMAND);
  gp->set_address(0);
  gp->set_data_ptr(reinterpret_cast<unsigned char*>(&body));
  gp->set_data_length(8);
  gp->set_streaming_width(8);
  x->rid = rid;
  x->pasid = pasid;
  x->pasid_valid = pasid_valid;
  x->msg = MsgKind::PrgResponse;
  x->itag_or_prg = prg_index;
  x->resp_code = code;
  sc_time delay = sc_core::SC_ZERO_TIME;
  down[d->port]->b_transport(*gp, delay);  // posted
  gp->release();
  ++prg_responses_;
  timeline::instant(tl_, timeline::Cat::PageResponse, "PRG response", sim_now(), rid, prg_index, code);
  return true;
}

unsigned AtsPort::completion(uint16_t rid, uint32_t itag_vector, uint8_t cc, sc_time t) {
  if (t > sim_now()) sc_core::wait(t - sim_now());  // the message has arrived only at t
  t = sim_now();
  Device* d = find(rid);
  if (!d) {
    ++unexpected_;
    return 1;
  }
  unsigned unexpected = 0;
  const uint8_t expected = cc == 0 ? 8 : cc;
  bool any = false;
  for (unsigned i = 0; i < ats::kItags; ++i) {
    if (!(itag_vector & (1u << i))) continue;
    auto it = std::find_if(d->pending.begin(), d->pending.end(), [&](const Pending& p) { return p.itag == i; });
    if (it == d->pending.end()) {
      ++unexpected_;
      ++unexpected;
      continue;
    }
    it->cc_expected = expected;
    if (++it->cc_seen < it->cc_expected) continue;
    rtt_ns_.record(static_cast<uint64_t>(to_ns(t - it->sent)));
    timeline::span(tl_, timeline::Cat::AtsInv, "ATS invalidation", it->sent, t, rid, i);
    d->busy &= ~(1u << i);
    d->pending.erase(it);
    --outstanding_;
    ++completions_;
    any = true;
  }
  if (any) changed_.notify(sc_core::SC_ZERO_TIME);
  return unexpected;
}

std::vector<uint16_t> AtsPort::drain(sc_time& t) {
  std::vector<uint16_t> timed_out;
  const uint64_t barrier = seq_;
  if (t > sim_now()) sc_core::wait(t - sim_now());
  for (;;) {
    // The oldest invalidation sent before the barrier that is still unanswered.
    const Pending* oldest = nullptr;
    for (const auto& d : devices_)
      for (const auto& p : d.pending)
        if (p.seq <= barrier && (!oldest || p.sent < oldest->sent)) oldest = &p;
    if (!oldest) break;
    const sc_time deadline = oldest->sent + timeout_, now = sim_now();
    if (now >= deadline) {
      // Every invalidation past its deadline has timed out; drop them all.
      for (auto& d : devices_) {
        const auto keep = std::remove_if(d.pending.begin(), d.pending.end(), [&](const Pending& p) {
          if (p.seq > barrier || p.sent + timeout_ > now) return false;
          d.busy &= ~(1u << p.itag);
          --outstanding_;
          ++timeouts_;
          if (std::find(timed_out.begin(), timed_out.end(), d.rid) == timed_out.end()) timed_out.push_back(d.rid);
          return true;
        });
        d.pending.erase(keep, d.pending.end());
      }
      changed_.notify(sc_core::SC_ZERO_TIME);
      continue;
    }
    sc_core::wait(deadline - now, changed_);
  }
  t = sim_now();
  return timed_out;
}

}  // namespace iommusim
