// PCIe endpoint DMA engine implementation.
#include "models/pcie/endpoint.h"

#include <sysc/kernel/sc_spawn.h>

#include <algorithm>
#include <bit>
#include <cstring>
#include <stdexcept>
#include <string>

#include "models/common/sim_time.h"
#include "models/pcie/pri_defs.h"

namespace iommusim {

using sc_core::sc_time;

struct Endpoint::AtsStats {
  StatGroup g;
  Counter& translation_requests;
  Counter& translation_errors;
  Counter& translated_requests;
  Counter& untranslated_u;
  Counter& ats_denied;
  Counter& permission_retries;
  Counter& stale_translations;
  Counter& inv_received;
  Counter& inv_completed;
  Counter& inv_queue_overflow;
  Counter& inv_rejected;
  Histogram& translation_latency;
  Histogram& inv_latency;

  explicit AtsStats(StatGroup& parent)
      : g("ats", &parent),
        translation_requests(g.counter("translation_requests", "ATS Translation Requests sent")),
        translation_errors(g.counter("translation_errors",
                                     "Translation Requests answered with an error (ATS disabled at the agent, bad config)")),
        translated_requests(g.counter("translated_requests", "requests sent with AT=Translated")),
        untranslated_u(g.counter("untranslated_u", "requests sent untranslated because their translation had U set")),
        ats_denied(g.counter("ats_denied", "accesses failed because the translation granted no or not the needed access")),
        permission_retries(g.counter("permission_retries",
                                     "cached translations lacking the needed permission, requested again")),
        stale_translations(g.counter("stale_translations",
                                     "Translation Completions dropped because an invalidation ran while they were outstanding")),
        inv_received(g.counter("inv_received", "Invalidate Requests received")),
        inv_completed(g.counter("inv_completed", "Invalidate Completions sent")),
        inv_queue_overflow(g.counter("inv_queue_overflow",
                                     "Invalidate Requests that arrived with the invalidate queue full (processed later)")),
        inv_rejected(g.counter("inv_rejected", "malformed or misrouted downstream messages")),
        translation_latency(g.histogram("translation_latency", "ps", "Translation Request sent to its completion")),
        inv_latency(g.histogram("inv_latency", "ps", "Invalidate Request arrival to its completion sent")) {}
};

Endpoint::Endpoint(sc_core::sc_module_name name, const EndpointParams& p, uint64_t run_seed)
    : sc_module(name),
      dma("dma"),
      bar("bar"),
      from_link("from_link"),
      p_(p),
      rng_(run_seed ^ p.seed_salt, this->name()),
      issue_interval_(to_sc(p.issue_interval)),
      device_latency_(to_sc(p.device_latency)),
      stats_(this->name()),
      reads_(stats_.counter("reads", "DMA read requests completed")),
      writes_(stats_.counter("writes", "DMA write requests completed")),
      bytes_(stats_.counter("bytes", "payload bytes moved by successful requests")),
      faults_(stats_.counter("faults", "requests that completed with an error (translation fault, abort)")),
      jobs_done_(stats_.counter("jobs", "DMA jobs completed")),
      latency_ps_(stats_.histogram("latency", "ps", "request issue to completion")) {
  bar.register_b_transport(this, &Endpoint::bar_b_transport);
  from_link.register_b_transport(this, &Endpoint::link_b_transport);
  if (p_.ats.enabled) {
    const uint64_t stu = p_.ats.stu;
    if (stu < 4096 || (stu & (stu - 1)))
      throw std::invalid_argument(std::string(this->name()) + ": ats.stu must be a power of two of at least 4KiB");
    ats_stats_ = std::make_unique<AtsStats>(stats_);
    atc_ = std::make_unique<Atc>(p_.ats.atc, run_seed ^ p.seed_salt, (std::string(this->name()) + ".atc").c_str(), stats_);
    stu_ = stu;
    ats_ctrl_ = static_cast<uint16_t>(std::countr_zero(stu >> 12));  // Enable clear at reset
    lookup_latency_ = to_sc(p_.ats.lookup_latency);
    inv_latency_ = to_sc(p_.ats.inv_latency);
    const uint64_t depth = p_.ats.inv_queue_depth == 0 ? ats::kItags : p_.ats.inv_queue_depth;
    inv_slot_free_.assign(depth, sc_core::SC_ZERO_TIME);
    SC_THREAD(inv_process);
  }
  if (p_.pri.enabled) pri_setup();
  if (p_.msix.vectors) msix_setup();
  rx_.assign(p_.max_read_request < 4096 ? 4096 : p_.max_read_request, 0);
  tx_.assign(rx_.size(), 0xA5);
  stats_.derived("throughput_gbps", "payload bytes per second while the engine was busy, in GB/s", [this] {
    if (!any_ || last_done_ <= first_issue_) return 0.0;
    return static_cast<double>(bytes_.v) / (to_ns(last_done_ - first_issue_));
  });
  SC_THREAD(engine);
}

void Endpoint::submit(const DmaJob& j) {
  jobs_.push_back(j);
  job_added_.notify(sc_core::SC_ZERO_TIME);
}

Endpoint::~Endpoint() = default;

void Endpoint::bar_b_transport(tlm::tlm_generic_payload& gp, sc_core::sc_time& /*delay*/) {
  if (gp.is_write() && gp.get_address() == kJobDoorbellOffset && gp.get_data_length() == sizeof(DmaJob)) {
    DmaJob j;
    std::memcpy(&j, gp.get_data_ptr(), sizeof j);
    submit(j);
    gp.set_response_status(tlm::TLM_OK_RESPONSE);
  } else if (gp.is_read() && gp.get_address() == kJobResultOffset && gp.get_data_length() == sizeof(JobResult)) {
    std::memcpy(gp.get_data_ptr(), &last_result_, sizeof last_result_);
    gp.set_response_status(tlm::TLM_OK_RESPONSE);
  } else if (gp.get_address() == kAtsControlOffset && gp.get_data_length() == 2) {
    if (gp.is_write()) {
      uint16_t v;
      std::memcpy(&v, gp.get_data_ptr(), 2);
      write_ats_control(v);
    } else {
      std::memcpy(gp.get_data_ptr(), &ats_ctrl_, 2);
    }
    gp.set_response_status(tlm::TLM_OK_RESPONSE);
  } else if (cap_register(gp) || msix_register(gp)) {
    gp.set_response_status(tlm::TLM_OK_RESPONSE);
  } else {
    gp.set_response_status(tlm::TLM_ADDRESS_ERROR_RESPONSE);
  }
}

// The PRI and PASID capability registers (dma_job.h); false: not one of them (or a wrong size).
bool Endpoint::cap_register(tlm::tlm_generic_payload& gp) {
  const uint64_t a = gp.get_address();
  const unsigned len = gp.get_data_length();
  const unsigned want = a == kPriCapacityOffset || a == kPriAllocOffset ? 4u : 2u;
  if ((a != kPriControlOffset && a != kPriStatusOffset && a != kPriCapacityOffset && a != kPriAllocOffset &&
       a != kPasidCapOffset && a != kPasidControlOffset) ||
      len != want)
    return false;
  uint32_t v = 0;
  if (gp.is_write()) {
    std::memcpy(&v, gp.get_data_ptr(), len);
    if (a == kPriControlOffset) write_pri_control(static_cast<uint16_t>(v));
    else if (a == kPriStatusOffset) write_pri_status(static_cast<uint16_t>(v));
    else if (a == kPriAllocOffset) write_pri_allocation(v);
    else if (a == kPasidControlOffset && p_.pasid_bits)
      pasid_ctrl_ = static_cast<uint16_t>(v & (kPasidControlEnable | (p_.pasid_exec ? 2u : 0u) | (p_.pasid_priv ? 4u : 0u)));
    return true;  // read-only registers and absent capabilities ignore writes
  }
  if (a == kPriControlOffset) v = pri_control();
  else if (a == kPriStatusOffset) v = pri_status();
  else if (a == kPriCapacityOffset) v = p_.pri.enabled ? static_cast<uint32_t>(p_.pri.capacity) : 0;
  else if (a == kPriAllocOffset) v = pri_allocation();
  else if (a == kPasidCapOffset)
    v = p_.pasid_bits ? static_cast<uint32_t>((p_.pasid_exec ? 2u : 0u) | (p_.pasid_priv ? 4u : 0u) | (p_.pasid_bits << 8))
                      : 0;
  else if (a == kPasidControlOffset) v = pasid_ctrl_;
  std::memcpy(gp.get_data_ptr(), &v, len);
  return true;
}

void Endpoint::write_ats_control(uint16_t v) {
  if (!atc_) return;  // no ATS capability: the register does not exist
  const bool was = ats_on_;
  ats_ctrl_ = v & (kAtsControlEnable | kAtsControlStuMask);
  ats_on_ = ats_ctrl_ & kAtsControlEnable;
  stu_ = uint64_t{4096} << (ats_ctrl_ & kAtsControlStuMask);
  if (was && !ats_on_) atc_->invalidate_all();  // a disabled ATC holds nothing
}

void Endpoint::set_ats_enabled(bool on) {
  write_ats_control(static_cast<uint16_t>((ats_ctrl_ & ~kAtsControlEnable) | (on ? kAtsControlEnable : 0)));
}

uint64_t Endpoint::offset_of(const DmaJob& j, uint64_t i) {
  const uint64_t w = j.window ? j.window : j.size;
  switch (j.pattern) {
    case DmaPattern::Sequential: return (i * j.size) % w;
    case DmaPattern::Strided: return (i * j.stride) % w;
    case DmaPattern::Random: {
      const uint64_t slots = std::max<uint64_t>(1, w / j.size);
      return rng_.below(slots) * j.size;
    }
  }
  return 0;
}

void Endpoint::engine() {
  for (;;) {
    while (jobs_.empty()) wait(job_added_);
    const DmaJob j = jobs_.front();
    jobs_.pop_front();
    run(j);
    ++jobs_done_;
    irq_.notify(sc_core::SC_ZERO_TIME);
    if (j.msi && j.msi_vector < msix_.size()) msix_raise_at(j.msi_vector, sim_now());  // run() waited for the last completion
  }
}

void Endpoint::run(const DmaJob& j) {
  using sc_core::sc_time;
  const size_t n = p_.outstanding;
  // Temporal decoupling by hand (what tlm_quantumkeeper does, with one kernel-time query per
  // request): the engine runs ahead of the kernel by less than one global quantum.
  const sc_time quantum = tlm::tlm_global_quantum::instance().get();
  quantum_ = quantum;
  sc_time now = sim_now();
  const sc_time start = now;
  slot_done_.assign(n, start);
  job_latency_ps_.reset();
  res_ = JobResult{};
  res_.tag = j.tag;
  res_.start_ps = to_ps(start);
  job_end_ = start;
  sc_time next_issue = start;
  const uint32_t req_size = static_cast<uint32_t>(std::min<uint64_t>(j.size, p_.max_read_request));
  size_t slot = 0;
  // Sequential offsets advance by addition: (i * size) % window without a division per request.
  const bool sequential = j.pattern == DmaPattern::Sequential;
  const uint64_t window = j.window ? j.window : j.size;
  uint64_t seq_off = 0;
  for (uint64_t i = 0; i < j.count; ++i) {
    const uint64_t iova = j.iova + (sequential ? seq_off : offset_of(j, i));
    if (sequential) {
      seq_off += j.size;
      if (seq_off >= window) seq_off %= window;
    }
    const uint32_t len = static_cast<uint32_t>(std::min<uint64_t>(req_size, 4096 - (iova & 4095)));
    const bool write = j.read_fraction < 1.0 && rng_.unit() >= j.read_fraction;
    // A slot whose request waits for a PRG Response is not free until that request completes.
    if (pri_waiters_) while (pri_slots_[slot].used) pri_step(j, now);
    const sc_time issue = std::max(next_issue, slot_done_[slot]);
    // Sync before issuing, so a request is never translated more than one quantum before its
    // issue time: ordering against host operations is exact to within the quantum.
    if (issue > now && issue - now >= quantum) {
      if (pri_waiters_) {
        pri_sync(j, issue, now);  // acts on PRG Responses as they arrive meanwhile
      } else {
        wait(issue - now);
        now = issue;
      }
    }

    sc_time done;
    bool translated = false;
    if (!any_) { first_issue_ = issue; any_ = true; }
    bool ok;
    if (ats_on_) {
      PriNeed need;
      ok = ats_access(j, iova, len, write, issue + device_latency_, now, done, translated, pri_on_ ? &need : nullptr);
      if (need.fault) {  // waits for a page request: completes when its response has been acted on
        pri_defer(j, slot, iova, len, write, issue, need, now);
        if (++slot == n) slot = 0;
        next_issue = issue + issue_interval_;
        continue;
      }
    } else {
      ok = access(iova, len, write, AddrType::Untranslated, j, issue + device_latency_, now, done);
    }
    complete(j, iova, len, write, ok, issue, done, translated);
    slot_done_[slot] = done;
    if (++slot == n) slot = 0;
    next_issue = issue + issue_interval_;
  }
  while (pri_waiters_) pri_step(j, now);
  if (job_end_ > now) wait(job_end_ - now);
  res_.end_ps = to_ps(job_end_);
  latency_ps_.merge(job_latency_ps_);
  res_.lat_mean_ps = static_cast<uint64_t>(job_latency_ps_.mean());
  res_.lat_p50_ps = job_latency_ps_.percentile(0.5);
  res_.lat_p99_ps = job_latency_ps_.percentile(0.99);
  res_.lat_max_ps = job_latency_ps_.max();
  last_result_ = res_;
}


bool Endpoint::access(uint64_t addr, uint32_t len, bool write, AddrType at_kind, const DmaJob& j, const sc_time& at,
                      sc_time& now, sc_time& done) {
  PcieExt* xp;
  tlm::tlm_generic_payload* gp = pool_.acquire(xp);
  gp->set_command(write ? tlm::TLM_WRITE_COMMAND : tlm::TLM_READ_COMMAND);
  gp->set_address(addr);
  gp->set_data_ptr(write ? tx_.data() : rx_.data());
  gp->set_data_length(len);
  gp->set_streaming_width(len);
  PcieExt& x = *xp;
  x.rid = rid_;
  x.pasid = j.pasid;
  x.pasid_valid = j.pasid_valid;
  x.at = at_kind;

  sc_time delay = at > now ? at - now : sc_core::SC_ZERO_TIME;
  last_sent_ = now + delay;
  in_transport_ = true;
  dma->b_transport(*gp, delay);
  in_transport_ = false;
  now = sim_now();  // a target may have waited
  done = now + delay;
  const bool ok = gp->is_response_ok();
  gp->release();
  if (done > last_done_) last_done_ = done;
  if (inv_waiting_) {  // an invalidation started while this request was in the transport call
    inv_waiting_ = false;
    inv_wait_done_ = done;
    transport_done_.notify(sc_core::SC_ZERO_TIME);
  }
  return ok;
}

// `at` is when the request reaches the ATC. Every wait (quantum sync, a target waiting inside a
// Translation Request) may let an invalidation run: the translation in hand is then looked up again.
// With `need` a denied translation is reported there instead of failing the access (PRI).
bool Endpoint::ats_access(const DmaJob& j, uint64_t iova, uint32_t len, bool write, sc_time at, sc_time& now,
                          sc_time& done, bool& translated, PriNeed* need) {
  AtsStats& st = *ats_stats_;
  if (at < now) at = now;
  at += lookup_latency_;
  AtcEntry tr;  // a copy: the cached entry may be replaced while this request waits
  const AtcEntry* cached = nullptr;
  bool have = false, retried = false, fresh = false;
  uint64_t epoch = 0;
  // A denial: reported to the PRI path, or the access fails.
  auto denied = [&]() {
    if (need) {
      need->fault = true;
      need->at = at;
      need->read = !write;
      need->write = write;
      if (need->allow) return;
    }
    ++st.ats_denied;
    done = at;
  };
  for (;;) {
    if (at > now && at - now >= quantum_) {
      wait(at - now);
      now = sim_now();
      if (have && atc_->epoch() != epoch) {
        have = false;
        cached = nullptr;
      }
    }
    if (!ats_on_) return access(iova, len, write, AddrType::Untranslated, j, at, now, done);  // disabled meanwhile
    if (!have) {
      epoch = atc_->epoch();
      if (const AtcEntry* e = atc_->lookup(j.pasid_valid, j.pasid, iova)) {
        tr = *e;
        cached = e;
        have = true;
        fresh = false;
        if (e->ready > at) {  // its Translation Request is still outstanding: wait for it
          at = e->ready;
          continue;
        }
      } else {
        // A page request for this page is outstanding: wait for its response instead of asking again.
        if (need && need->allow && pri_live_) {
          const int g = pri_find(j, iova, write);
          if (g >= 0) {
            need->fault = true;
            need->join = g;
            need->at = at;
            return false;
          }
        }
        const TrResult r = translation_request(j, iova, at, now, tr);
        if (atc_->epoch() != epoch) {
          ++st.stale_translations;
          continue;
        }
        if (r != TrResult::Ok) {
          if (r == TrResult::Denied) {
            denied();
          } else {
            done = at;
          }
          return false;
        }
        cached = atc_->insert(tr);
        have = true;
        fresh = true;
      }
    }
    if (!tr.u && !(write ? tr.w : tr.r)) {
      // A newer translation may grant more: ask once more before failing (with PRI, a translation
      // just fetched is the newest there is: ask for the page instead).
      if (retried || (fresh && need && need->allow)) {
        denied();
        return false;
      }
      retried = true;
      ++st.permission_retries;
      atc_->erase(cached);
      cached = nullptr;
      have = false;
      continue;
    }
    if (at > now && at - now >= quantum_) continue;  // sync first, then check the entry again
    translated = !tr.u;
    if (translated) {
      ++st.translated_requests;
      return access(tr.translate(iova), len, write, AddrType::Translated, j, at, now, done);
    }
    ++st.untranslated_u;
    return access(iova, len, write, AddrType::Untranslated, j, at, now, done);
  }
}

Endpoint::TrResult Endpoint::translation_request(const DmaJob& j, uint64_t iova, sc_time& at, sc_time& now,
                                                 AtcEntry& out) {
  AtsStats& st = *ats_stats_;
  PcieExt* xp;
  tlm::tlm_generic_payload* gp = pool_.acquire(xp);
  tr_buf_ = 0;
  gp->set_command(tlm::TLM_READ_COMMAND);
  gp->set_address(iova & ~(stu_ - 1));
  gp->set_data_ptr(reinterpret_cast<unsigned char*>(&tr_buf_));
  gp->set_data_length(8);
  gp->set_streaming_width(8);
  PcieExt& x = *xp;
  x.rid = rid_;
  x.pasid = j.pasid;
  x.pasid_valid = j.pasid_valid;
  x.at = AddrType::TranslationRequest;
  x.nw = false;  // ask for write permission too, so the entry serves writes

  const sc_time sent = at;
  sc_time delay = at - now;
  dma->b_transport(*gp, delay);
  now = sim_now();
  at = now + delay;
  timeline::span(tl_, timeline::Cat::AtsTranslate, "translation request", sent, at, iova);
  const bool ok = gp->is_response_ok();
  gp->release();
  ++st.translation_requests;
  st.translation_latency.record((at - sent).value());
  if (!ok) {
    ++st.translation_errors;
    return TrResult::Error;
  }
  const ats::Translation t = ats::decode_completion(tr_buf_);
  if (!t.r && !t.w) return TrResult::Denied;
  if (t.size == ats::kAllRange) {  // a translation of the whole address space cannot be cached
    ++st.translation_errors;
    return TrResult::Error;
  }
  out = AtcEntry{};
  out.shift = static_cast<uint8_t>(std::countr_zero(t.size));
  out.va = iova & ~(t.size - 1);
  out.pa = t.addr;
  out.pasid_valid = j.pasid_valid;
  out.pasid = j.pasid_valid ? j.pasid : 0;
  out.r = t.r;
  out.w = t.w;
  out.u = t.u;
  out.exe = t.exe;
  out.priv = t.priv;
  out.global = t.global;
  out.ready = at;
  return TrResult::Ok;
}

// ---- ATS invalidation -----------------------------------------------------------------------------

void Endpoint::link_b_transport(tlm::tlm_generic_payload& gp, sc_time& delay) {
  const PcieExt* x = gp.get_extension<PcieExt>();
  if (x && x->msg == MsgKind::PrgResponse && pri_stats_) return pri_link(gp, *x, delay);
  if (!atc_ || !x || x->msg != MsgKind::AtsInvRequest || !gp.is_write() || gp.get_data_length() != 8) {
    if (ats_stats_) ++ats_stats_->inv_rejected;
    gp.set_response_status(tlm::TLM_COMMAND_ERROR_RESPONSE);  // Unsupported Request
    return;
  }
  if (x->rid != rid_) {  // ID-routed to another function
    ++ats_stats_->inv_rejected;
    gp.set_response_status(tlm::TLM_ADDRESS_ERROR_RESPONSE);
    return;
  }
  uint64_t body;
  std::memcpy(&body, gp.get_data_ptr(), 8);
  InvRequest r{};
  r.arrival = sim_now() + delay;
  r.range = ats::decode_inv_request(body, r.global);
  r.pasid_valid = x->pasid_valid;
  r.pasid = x->pasid;
  r.itag = static_cast<uint8_t>(x->itag_or_prg % ats::kItags);
  // Posted: accepted at once; kept in arrival order.
  auto it = std::upper_bound(inv_q_.begin(), inv_q_.end(), r.arrival,
                             [](const sc_time& t, const InvRequest& q) { return t < q.arrival; });
  inv_q_.insert(it, r);
  ++ats_stats_->inv_received;
  inv_kick_.notify(sc_core::SC_ZERO_TIME);
  gp.set_response_status(tlm::TLM_OK_RESPONSE);
}

// Starts each invalidation when it has arrived and a queue slot is free: its entries go at once,
// and its completion is due inv_latency later, but not before every request issued so far has
// completed (they may have used the old translation).
void Endpoint::inv_process() {
  AtsStats& st = *ats_stats_;
  for (;;) {
    if (inv_q_.empty()) {
      wait(inv_kick_);
      continue;
    }
    const sc_time now = sim_now();
    size_t s = 0;
    for (size_t k = 1; k < inv_slot_free_.size(); ++k)
      if (inv_slot_free_[k] < inv_slot_free_[s]) s = k;
    const InvRequest r = inv_q_.front();
    const sc_time start = std::max(r.arrival, inv_slot_free_[s]);
    if (start > now) {
      wait(start - now, inv_kick_);  // an earlier arrival may still be queued meanwhile
      continue;
    }
    inv_q_.pop_front();
    if (inv_slot_free_[s] > r.arrival) ++st.inv_queue_overflow;
    atc_->invalidate(r.range, r.pasid_valid, r.pasid, r.global);
    sc_time due = now + inv_latency_;
    if (last_done_ > due) due = last_done_;
    if (in_transport_) {  // a request issued before this point has not returned yet
      inv_waiting_ = true;
      wait(transport_done_);
      if (inv_wait_done_ > due) due = inv_wait_done_;
    }
    inv_slot_free_[s] = due;
    const InvCompletion c{due, r.arrival, r.itag};
    if (idle_senders_.empty()) {
      senders_.emplace_back();
      Sender* snd = &senders_.back();
      snd->job = c;
      sc_core::sc_spawn([this, snd] { sender_loop(*snd); });
    } else {
      Sender* snd = idle_senders_.back();
      idle_senders_.pop_back();
      snd->job = c;
      snd->go.notify(sc_core::SC_ZERO_TIME);
    }
  }
}

void Endpoint::sender_loop(Sender& s) {
  for (;;) {
    send_completion(s.job);
    idle_senders_.push_back(&s);
    wait(s.go);
  }
}

void Endpoint::send_completion(const InvCompletion& c) {
  const sc_time now = sim_now();
  if (c.due > now) wait(c.due - now);
  PcieExt* xp;
  tlm::tlm_generic_payload* gp = pool_.acquire(xp);
  gp->set_command(tlm::TLM_WRITE_COMMAND);
  gp->set_address(0);
  gp->set_data_ptr(reinterpret_cast<unsigned char*>(&inv_zero_));
  gp->set_data_length(8);
  gp->set_streaming_width(8);
  PcieExt& x = *xp;
  x.rid = rid_;
  x.msg = MsgKind::AtsInvCompletion;
  x.itag_or_prg = 1u << c.itag;
  x.cc = 1;
  sc_time d = sc_core::SC_ZERO_TIME;
  dma->b_transport(*gp, d);  // the agent may keep us until the message has arrived
  gp->release();
  ++ats_stats_->inv_completed;
  ats_stats_->inv_latency.record((c.due - c.arrival).value());
}

}  // namespace iommusim
