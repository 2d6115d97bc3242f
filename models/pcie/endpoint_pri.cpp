// PCIe endpoint: the Page Request Interface (PCIe Base spec, "PRI") and the PASID-free stop-marker
// API. Everything here runs only after a denied translation; the ATC-hit path never enters it.
//
// Time: the engine thread does all the work (sending Page Requests, retrying translations), so its
// temporal decoupling holds: a response is acted on at its arrival time (plus retry_latency) as
// long as the engine is not held inside a transport call then. Responses arrive in the IOMMU's
// thread through from_link and are only recorded there.
#include <algorithm>
#include <cstring>
#include <stdexcept>
#include <string>

#include "models/common/sim_time.h"
#include "models/pcie/endpoint.h"
#include "models/pcie/pri_defs.h"

namespace iommusim {

using sc_core::sc_time;

namespace {
constexpr uint16_t kPrgMask = (1u << pri::kPrgIndexBits) - 1;
const sc_time& held() { return sc_core::sc_max_time(); }  // a credit held by a request in flight
}  // namespace

Endpoint::PriStats::PriStats(StatGroup& parent)
    : g("pri", &parent),
      requests(g.counter("requests", "Page Requests sent (one page each, Last set)")),
      success(g.counter("success", "PRG Responses with Success")),
      invalid(g.counter("invalid", "PRG Responses with Invalid Request: their accesses failed")),
      failure(g.counter("failure", "PRG Responses with Response Failure (or a reserved code): their accesses failed "
                                   "and page requests stopped")),
      unexpected(g.counter("unexpected", "PRG Responses naming no outstanding group (Status.UPRGI set)")),
      misrouted(g.counter("misrouted", "PRG Responses for another requester ID")),
      stop_markers(g.counter("stop_markers", "Stop Markers sent")),
      allocation_waits(g.counter("allocation_waits", "Page Requests held back until a response freed a credit of the "
                                                     "allocation")),
      coalesced(g.counter("coalesced", "requests that waited on a page request already outstanding for their page")),
      retry_denied(g.counter("retry_denied", "retried translations denied again after Success: the access failed")),
      aborted(g.counter("aborted", "page requests forgotten by Control.Reset or disable: their accesses failed")),
      request_errors(g.counter("request_errors", "Page Requests the fabric refused (no PRI upstream): their accesses "
                                                 "failed")),
      latency(g.histogram("latency", "ps", "Page Request sent to its PRG Response received")) {}

void Endpoint::pri_setup() {
  if (!p_.ats.enabled) throw std::invalid_argument(std::string(name()) + ": pri.enabled needs ats.enabled");
  if (p_.pri.capacity < 1 || p_.pri.capacity > (1u << pri::kPrgIndexBits))
    throw std::invalid_argument(std::string(name()) + ": pri.capacity must be 1-512");
  pri_stats_ = std::make_unique<PriStats>(stats_);
  pri_request_latency_ = to_sc(p_.pri.request_latency);
  pri_retry_latency_ = to_sc(p_.pri.retry_latency);
  // Every group has a waiter and every waiter a window slot: the window bounds both, so nothing
  // below allocates once running.
  pri_groups_.resize(p_.outstanding);
  pri_slots_.resize(p_.outstanding);
  pri_answered_.reserve(p_.outstanding);
  pri_prg_.assign(size_t{1} << pri::kPrgIndexBits, 0);
  pri_credit_free_.reserve(p_.pri.capacity);
}

const Histogram* Endpoint::pri_latency() const { return pri_stats_ ? &pri_stats_->latency : nullptr; }

// ---- registers ------------------------------------------------------------------------------------

uint16_t Endpoint::pri_status() const {
  if (!p_.pri.enabled) return 0;
  uint16_t v = pri_status_;
  // Stopped: not enabled and every request issued has been answered.
  if (!(pri_ctrl_ & kPriControlEnable) && pri_sent_ == 0) v |= kPriStatusStopped;
  if (p_.pri.pasid_required) v |= kPriStatusPasidRequired;
  return v;
}

void Endpoint::write_pri_status(uint16_t v) {
  if (p_.pri.enabled) pri_status_ &= static_cast<uint16_t>(~(v & (kPriStatusRf | kPriStatusUprgi)));
}

void Endpoint::write_pri_allocation(uint32_t v) {
  if (p_.pri.enabled) pri_alloc_reg_ = v;
}

void Endpoint::write_pri_control(uint16_t v) {
  if (!p_.pri.enabled) return;
  const sc_time t = sim_now();
  const bool was = pri_ctrl_ & kPriControlEnable, on = v & kPriControlEnable;
  if (was && !on) pri_abort(true, t);  // requests still waiting for a credit may not be sent any more
  if (!on && (v & kPriControlReset)) {
    // Reset (only with Enable clear): the credit counter and every outstanding request's state go.
    pri_abort(false, t);
    pri_rf_stop_ = false;
  }
  pri_ctrl_ = on ? kPriControlEnable : 0;  // Reset reads as 0
  if (!was && on) {
    pri_rf_stop_ = false;
    // The allocation is latched when Enable is set with nothing outstanding (software sets it
    // before enabling); more than the capacity is capped at it.
    if (pri_sent_ == 0 || pri_credit_free_.empty())
      pri_credit_free_.assign(std::min<uint64_t>(pri_alloc_reg_, p_.pri.capacity), t);
  }
  pri_update_on();
}

void Endpoint::pri_enable(uint32_t allocation) {
  write_pri_allocation(allocation);
  write_pri_control(kPriControlEnable);
}

// ---- responses (the IOMMU's thread) ---------------------------------------------------------------

void Endpoint::pri_link(tlm::tlm_generic_payload& gp, const PcieExt& x, sc_time& delay) {
  PriStats& st = *pri_stats_;
  if (!gp.is_write() || gp.get_data_length() != 8) {
    gp.set_response_status(tlm::TLM_COMMAND_ERROR_RESPONSE);
    return;
  }
  if (x.rid != rid_) {  // ID-routed to another function
    ++st.misrouted;
    gp.set_response_status(tlm::TLM_ADDRESS_ERROR_RESPONSE);
    return;
  }
  gp.set_response_status(tlm::TLM_OK_RESPONSE);  // posted
  const int g = pri_prg_[x.itag_or_prg & kPrgMask] - 1;
  bool match = g >= 0 && pri_groups_[g].st == PriState::Sent;
  if (match && p_.pri.pasid_required && pri_groups_[g].pasid_valid)
    match = x.pasid_valid && x.pasid == pri_groups_[g].pasid;
  if (!match) {
    ++st.unexpected;
    pri_status_ |= kPriStatusUprgi;
    return;
  }
  pri_prg_[pri_groups_[g].prg] = 0;
  --pri_sent_;
  timeline::span(tl_, timeline::Cat::PageRequest, "page request", pri_groups_[g].sent, sim_now() + delay,
                 pri_groups_[g].page, pri_groups_[g].prg, pri_groups_[g].pasid);
  const uint8_t c = x.resp_code;
  const bool known = c == static_cast<uint8_t>(pri::Response::Success) ||
                     c == static_cast<uint8_t>(pri::Response::InvalidRequest);
  pri_answer(g, known ? c : static_cast<uint8_t>(pri::Response::ResponseFailure), sim_now() + delay);
}

void Endpoint::pri_answer(int g, uint8_t code, const sc_time& arrival) {
  PriGroup& G = pri_groups_[g];
  G.st = PriState::Answered;
  G.code = code;
  G.arrival = arrival;
  auto it = std::upper_bound(pri_answered_.begin(), pri_answered_.end(), arrival,
                             [this](const sc_time& t, int k) { return t < pri_groups_[k].arrival; });
  pri_answered_.insert(it, g);  // capacity reserved: no allocation
  const sc_time now = sim_now();
  pri_event_.notify(arrival > now ? arrival - now : sc_core::SC_ZERO_TIME);
}

// Reset (everything) or disable (waiting_only: the requests not yet sent): the requests are
// answered with kPriAborted, so the engine fails their accesses.
void Endpoint::pri_abort(bool waiting_only, const sc_time& t) {
  for (int g = 0; g < static_cast<int>(pri_groups_.size()); ++g) {
    PriGroup& G = pri_groups_[g];
    if (G.st == PriState::NeedCredit) {
      pri_answer(g, kPriAborted, std::max(t, G.ready));
    } else if (G.st == PriState::Sent && !waiting_only) {
      pri_prg_[G.prg] = 0;
      --pri_sent_;
      G.credit = -1;
      pri_answer(g, kPriAborted, std::max(t, G.sent));
    }
  }
  if (!waiting_only) {
    for (auto& c : pri_credit_free_) c = t;
    for (int g : pri_answered_) pri_groups_[g].credit = -1;  // answered but not yet acted on
  }
}

// ---- the engine's side ----------------------------------------------------------------------------

// A group this request may wait on: same page and PASID, asking for the access it needs, not yet
// answered.
int Endpoint::pri_find(const DmaJob& j, uint64_t iova, bool write) const {
  const uint64_t page = iova & ~uint64_t{0xFFF};
  for (int g = 0; g < static_cast<int>(pri_groups_.size()); ++g) {
    const PriGroup& G = pri_groups_[g];
    if ((G.st == PriState::NeedCredit || G.st == PriState::Sent) && G.page == page &&
        G.pasid_valid == j.pasid_valid && (!G.pasid_valid || G.pasid == j.pasid) && (write ? G.write : G.read))
      return g;
  }
  return -1;
}

void Endpoint::pri_defer(const DmaJob& j, size_t slot, uint64_t iova, uint32_t len, bool write, const sc_time& issue,
                         const PriNeed& need, sc_time& now) {
  PriWaiter& w = pri_slots_[slot];
  w = PriWaiter{true, -1, iova, len, write, issue, need.at};
  ++pri_waiters_;
  int g = need.join;
  if (g >= 0) {
    ++pri_stats_->coalesced;
  } else {
    g = 0;
    while (pri_groups_[g].st != PriState::Free) ++g;  // fewer groups than slots: one is free
    PriGroup& G = pri_groups_[g];
    G = PriGroup{};
    G.st = PriState::NeedCredit;
    G.page = iova & ~uint64_t{0xFFF};
    G.pasid_valid = j.pasid_valid;
    G.pasid = j.pasid_valid ? j.pasid : 0;
    G.read = need.read;
    G.write = need.write;
    G.ready = need.at + pri_request_latency_;
    G.seq = ++pri_seq_;
    ++pri_live_;
  }
  // Waiters in issue order: the first retries first.
  int* tail = &pri_groups_[g].first;
  while (*tail >= 0) tail = &pri_slots_[*tail].next;
  *tail = static_cast<int>(slot);
  // Responses already received free their credits first.
  while (!pri_answered_.empty()) pri_service_one(j, now);
  pri_pump(j, now);
}

// Sends the groups waiting for a credit, oldest first, while credits are free; fails them when page
// requests may no longer be issued.
void Endpoint::pri_pump(const DmaJob& j, sc_time& now) {
  for (;;) {
    int g = -1;
    for (int k = 0; k < static_cast<int>(pri_groups_.size()); ++k)
      if (pri_groups_[k].st == PriState::NeedCredit && (g < 0 || pri_groups_[k].seq < pri_groups_[g].seq)) g = k;
    if (g < 0) return;
    if (!pri_on_) {
      pri_fail_group(j, g, pri_groups_[g].ready, now);
      continue;
    }
    int c = -1;
    for (int k = 0; k < static_cast<int>(pri_credit_free_.size()); ++k)
      if (pri_credit_free_[k] != held() && (c < 0 || pri_credit_free_[k] < pri_credit_free_[c])) c = k;
    if (c < 0) return;  // every credit is in flight: the next response sends it
    pri_send(j, g, c, std::max(pri_groups_[g].ready, pri_credit_free_[c]), now);
  }
}

void Endpoint::pri_send(const DmaJob& j, int g, int credit, sc_time t, sc_time& now) {
  PriStats& st = *pri_stats_;
  PriGroup& G = pri_groups_[g];
  if (t > G.ready) ++st.allocation_waits;
  // The next free PRG index, round robin (never more in flight than credits, at most 512).
  uint16_t idx = pri_next_prg_;
  while (pri_prg_[idx]) idx = static_cast<uint16_t>((idx + 1) & kPrgMask);
  pri_next_prg_ = static_cast<uint16_t>((idx + 1) & kPrgMask);
  G.prg = idx;
  G.credit = credit;
  G.st = PriState::Sent;  // before the message: a stand-in IOMMU may answer inside the call
  G.sent = t;
  pri_credit_free_[credit] = held();
  pri_prg_[idx] = g + 1;
  ++pri_sent_;
  ++st.requests;
  pri::PageRequest r;
  r.addr = G.page;
  r.prg_index = idx;
  r.last = true;
  r.read = G.read;
  r.write = G.write;
  if (pri_send_message(pri::encode(r), G.pasid_valid, G.pasid, idx, t, now)) return;
  // Refused (an IOMMU without PRI): no response will come.
  ++st.request_errors;
  if (G.st == PriState::Sent) {
    pri_prg_[idx] = 0;
    --pri_sent_;
    pri_credit_free_[credit] = t;
    G.credit = -1;
    pri_fail_group(j, g, t, now);
  }
}

bool Endpoint::pri_send_message(uint64_t body, bool pasid_valid, uint32_t pasid, uint16_t prg, sc_time t,
                                sc_time& now) {
  PcieExt* xp;
  tlm::tlm_generic_payload* gp = pool_.acquire(xp);
  gp->set_command(tlm::TLM_WRITE_COMMAND);
  gp->set_address(0);
  gp->set_data_ptr(reinterpret_cast<unsigned char*>(&body));
  gp->set_data_length(8);
  gp->set_streaming_width(8);
  PcieExt& x = *xp;
  x.rid = rid_;
  x.pasid_valid = pasid_valid;
  x.pasid = pasid_valid ? pasid : 0;
  x.msg = MsgKind::PageRequest;
  x.itag_or_prg = prg;
  x.last = body & 4;
  sc_time delay = t > now ? t - now : sc_core::SC_ZERO_TIME;
  dma->b_transport(*gp, delay);  // posted: the returned delay is the message's, not ours
  now = sim_now();
  const bool ok = gp->is_response_ok();
  gp->release();
  return ok;
}

// Acts on the earliest response received: retries the group's requests after Success, fails them
// otherwise, frees the credit, then sends what waited for it.
void Endpoint::pri_service_one(const DmaJob& j, sc_time& now) {
  PriStats& st = *pri_stats_;
  const int g = pri_answered_.front();
  pri_answered_.erase(pri_answered_.begin());
  PriGroup& G = pri_groups_[g];
  const bool aborted = G.code == kPriAborted;
  const bool success = G.code == static_cast<uint8_t>(pri::Response::Success);
  if (aborted) {
    ++st.aborted;
  } else {
    if (G.credit >= 0) pri_credit_free_[G.credit] = G.arrival;
    G.credit = -1;
    st.latency.record((G.arrival - G.sent).value());
    if (success) {
      ++st.success;
    } else if (G.code == static_cast<uint8_t>(pri::Response::InvalidRequest)) {
      ++st.invalid;
    } else {
      // Response Failure: the function issues no more page requests until reset or re-enabled.
      ++st.failure;
      pri_status_ |= kPriStatusRf;
      pri_rf_stop_ = true;
      pri_update_on();
    }
  }
  for (int s = G.first; s >= 0;) {
    PriWaiter& w = pri_slots_[s];
    const int next = w.next;
    sc_time done;
    bool translated = false, ok = false;
    if (!aborted && success) {
      // Retried once: a second denial fails the access.
      PriNeed again;
      again.allow = false;
      ok = ats_access(j, w.iova, w.len, w.write, std::max(G.arrival + pri_retry_latency_, w.at), now, done, translated,
                      &again);
      if (again.fault) ++st.retry_denied;
    } else {
      done = std::max(G.arrival, w.at);
    }
    complete(j, w.iova, w.len, w.write, ok, w.issue, done, translated);
    slot_done_[s] = done;
    w.used = false;
    --pri_waiters_;
    s = next;
  }
  const sc_time t = G.arrival;
  pri_free_group(g);
  pri_markers(t, now);
  pri_pump(j, now);
}

void Endpoint::pri_fail_group(const DmaJob& j, int g, const sc_time& t, sc_time& now) {
  PriGroup& G = pri_groups_[g];
  for (int s = G.first; s >= 0;) {
    PriWaiter& w = pri_slots_[s];
    const int next = w.next;
    const sc_time done = std::max(t, w.at);
    complete(j, w.iova, w.len, w.write, false, w.issue, done, false);
    slot_done_[s] = done;
    w.used = false;
    --pri_waiters_;
    s = next;
  }
  pri_free_group(g);
  pri_markers(t, now);  // may send a Stop Marker and wait: the caller's clock moves with it
}

void Endpoint::pri_free_group(int g) {
  pri_groups_[g].st = PriState::Free;
  pri_groups_[g].first = -1;
  --pri_live_;
}

// The engine waits for a slot (or for the job's last requests): act on a response, or wait for one.
void Endpoint::pri_step(const DmaJob& j, sc_time& now) {
  if (!pri_answered_.empty()) {
    pri_service_one(j, now);
    return;
  }
  wait(pri_event_);
  now = sim_now();
}

// A quantum sync while requests wait: responses arriving before `until` are acted on at their time.
void Endpoint::pri_sync(const DmaJob& j, const sc_time& until, sc_time& now) {
  for (;;) {
    while (!pri_answered_.empty() && pri_groups_[pri_answered_.front()].arrival <= until) pri_service_one(j, now);
    const sc_time t = sim_now();
    if (t >= until) break;
    wait(until - t, pri_event_);
  }
  now = sim_now();
}

// ---- stop markers ---------------------------------------------------------------------------------

bool Endpoint::pri_pasid_live(uint32_t pasid) const {
  for (const PriGroup& G : pri_groups_)
    if (G.st != PriState::Free && G.pasid_valid && G.pasid == pasid) return true;
  return false;
}

bool Endpoint::stop_pasid(uint32_t pasid) {
  if (!pri_on_) return false;
  if (pri_pasid_live(pasid)) {
    if (std::find(pri_stop_pending_.begin(), pri_stop_pending_.end(), pasid) == pri_stop_pending_.end())
      pri_stop_pending_.push_back(pasid);
    return true;
  }
  sc_time now = sim_now();
  pri_markers_send(pasid, now, now);
  return true;
}

// Stop Markers whose PASID has nothing outstanding any more, sent at t.
void Endpoint::pri_markers(sc_time t, sc_time& now) {
  for (size_t i = 0; i < pri_stop_pending_.size();) {
    const uint32_t pasid = pri_stop_pending_[i];
    if (pri_pasid_live(pasid)) {
      ++i;
      continue;
    }
    pri_stop_pending_.erase(pri_stop_pending_.begin() + static_cast<std::ptrdiff_t>(i));
    if (pri_on_) pri_markers_send(pasid, t, now);
  }
}

// A Stop Marker: Last set, R = W = 0, the PASID prefix. It gets no response, so it holds no credit
// and no group index.
void Endpoint::pri_markers_send(uint32_t pasid, sc_time t, sc_time& now) {
  pri::PageRequest r;
  r.last = true;
  if (pri_send_message(pri::encode(r), true, pasid, 0, t, now))
    ++pri_stats_->stop_markers;
  else
    ++pri_stats_->request_errors;
}

}  // namespace iommusim
