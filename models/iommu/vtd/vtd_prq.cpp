// VT-d page requests (VT-d 7.4-7.10, ECAP.PRS): PCIe Page Requests checked against the context and
// PASID-table entries, written as page request descriptors into the page request queue in memory
// (PQA/PQH/PQT, PRS, PECTL), answered by the hardware itself when dropped with LPIG set (Table 31);
// page group response descriptors from the invalidation queue sent as PRG Responses; the PD drain of
// invalidation waits.
#include <cstring>
#include <iterator>

#include "models/common/sim_time.h"
#include "models/iommu/vtd/vtd.h"
#include "models/pcie/pri_defs.h"

namespace iommusim::vtd {

VtdIommu::PrqStats::PrqStats(StatGroup& parent)
    : g("prq", &parent),
      requests(g.counter("requests", "PCIe Page Requests received (stop markers included)")),
      queued(g.counter("queued", "page request descriptors written to the page request queue")),
      stop_markers(g.counter("stop_markers", "stop markers received")),
      faults(g.counter("faults", "page requests dropped by a remapping-table fault (Table 30)")),
      overflows(g.counter("overflows", "page requests that found the queue full and set PRS.PRO")),
      dropped(g.counter("dropped", "page requests dropped: queue full, PRO set, or the descriptor write failed")),
      auto_success(g.counter("auto_success", "PRG Responses Success sent by the hardware for dropped last requests")),
      auto_invalid(g.counter("auto_invalid", "PRG Responses Invalid Request sent by the hardware for faulting last "
                                             "requests")),
      implicit_inv(g.counter("implicit_invalidations", "IOTLB invalidations implied by accepted page requests "
                                                      "(Table 27)")),
      responses(g.counter("responses", "page group response descriptors executed (PRG Responses sent)")),
      responses_no_device(g.counter("responses_no_device", "page group responses naming a requester ID the ATS agent "
                                                           "does not reach: nothing sent")),
      drains(g.counter("drains", "invalidation waits with PD that waited for page requests to be written")) {}

// Posted: accepted at once, handled in arrival order by prq_thread.
void VtdIommu::page_request(tlm::tlm_generic_payload& gp, const PcieExt& x, const sc_core::sc_time& delay) {
  if (!gp.is_write() || gp.get_data_length() != 8) {
    gp.set_response_status(tlm::TLM_GENERIC_ERROR_RESPONSE);
    return;
  }
  uint64_t body = 0;
  std::memcpy(&body, gp.get_data_ptr(), 8);
  const pri::PageRequest pr = pri::decode_page_request(body);
  timeline::instant(tl_, timeline::Cat::PageRequest, "page request received", sim_now() + delay, pr.addr, pr.prg_index,
                    x.pasid);
  PrqMsg m;
  PageRequest& r = m.r;
  r.pasid_present = x.pasid_valid;
  r.rid = x.rid;
  r.pasid = x.pasid_valid ? x.pasid : 0;
  // Privilege and execute exist only in the PASID prefix.
  r.priv = x.pasid_valid && x.pmr;
  r.exe = x.pasid_valid && x.er;
  r.read = pr.read;
  r.write = pr.write;
  r.lpig = pr.last;
  r.prgi = pr.prg_index;
  r.addr = pr.addr;
  m.arrived = sim_now() + delay;
  ++prq_received_;
  ++prq_stats_->requests;
  auto it = prq_in_.end();  // kept in arrival order (senders may run ahead of each other)
  while (it != prq_in_.begin() && std::prev(it)->arrived > m.arrived) --it;
  prq_in_.insert(it, m);
  prq_kick_.notify(sc_core::SC_ZERO_TIME);
  gp.set_response_status(tlm::TLM_OK_RESPONSE);
}

void VtdIommu::prq_thread() {
  for (;;) {
    while (prq_in_.empty()) wait(prq_kick_);
    const PrqMsg m = prq_in_.front();
    prq_in_.pop_front();
    handle_page_request(m);
    ++prq_handled_;
    prq_handled_ev_.notify(sc_core::SC_ZERO_TIME);
  }
}

void VtdIommu::handle_page_request(const PrqMsg& m) {
  PrqStats& st = *prq_stats_;
  // Registers and tables are read as they are when the request arrives.
  if (m.arrived > sim_now()) wait(m.arrived - sim_now());
  sc_core::sc_time t = sim_now();
  const PageRequest& r = m.r;
  const bool stop = r.lpig && !r.read && !r.write;
  if (stop) ++st.stop_markers;
  // Only a last request (not a stop marker) gets a response: the hardware's own when it drops one.
  const bool respond = r.lpig && !stop;
  Fault f;  // not the data path's scratch: this thread waits while it is in use
  const DevXlate* d = prq_check(r, t, f);
  if (!d) {
    ++st.faults;
    prq_fault(r, f, t);
    if (respond) prq_auto_response(r, prg_rc::INVALID, t);
    return;
  }
  // PRO set: dropped with no record and no event. A full queue sets PRO (and may raise the event).
  const uint32_t entries = prq_entries(static_cast<unsigned>(pqa::PQS.get(pqa_)));
  const uint32_t head = prq_index(pqh_) % entries, tail = prq_index(pqt_) % entries;
  if ((prs_ & prs::PRO) || ring_full(head, tail, entries)) {
    ++st.dropped;
    if (!(prs_ & prs::PRO)) {
      ++st.overflows;
      const uint32_t before = prs_;
      prs_ |= prs::PRO;
      prq_event(before, t);
    }
    if (respond) prq_auto_response(r, prg_rc::SUCCESS, t);
    return;
  }
  if (!stop) prq_implicit_inv(*d, r.addr);
  // The write is issued when it happens, so it does not hold the memory channel ahead of other requests.
  t += prq_latency_;
  if (t > sim_now()) wait(t - sim_now());
  Desc desc = encode(r);
  if (!mem_access(true, (pqa_ & pqa::ADDR_MASK) + uint64_t{tail} * PRQ_DESC_BYTES, desc.qw, PRQ_DESC_BYTES, t)) {
    ++st.dropped;  // nowhere to put it: the request is lost
    return;
  }
  // PQT moves once the descriptor has landed, so software polling PQT never reads it early.
  if (t > sim_now()) wait(t - sim_now());
  pqt_ = prq_reg(ring_next(tail, entries));
  ++st.queued;
  const uint32_t before = prs_;
  prs_ |= prs::PPR;
  prq_event(before, t);
}

// The remapping-table checks of Table 30 for a page request; the entry that would translate it, or
// nullptr with f set (reason 0: blocked without a record).
const DevXlate* VtdIommu::prq_check(const PageRequest& r, sc_core::sc_time& t, Fault& f) {
  bool scalable = false;
  if (!root_mode(scalable, f)) return nullptr;
  if (!scalable) {  // RTA.3: page requests need scalable mode (not qualified: FPD does not apply)
    f = Fault{fr::SM_TTM0_PRQ, false, IoStatus::ConfigFault, 0};
    return nullptr;
  }
  const CtxCacheEntry* c = context_entry(r.rid, true, t, f);
  if (!c) return nullptr;
  const SmContextEntry& sm = c->sm;
  f = Fault{0, sm.fpd, IoStatus::ConfigFault, 0};
  if (!sm.pre) {
    f.reason = fr::SM_CTX_PRE;  // SCT.8
    return nullptr;
  }
  const bool pv = r.pasid_present;
  if (pv && !sm.paside) {
    f.reason = fr::SM_CTX_PASIDE;  // SCT.6
    return nullptr;
  }
  const uint32_t eff = pv ? r.pasid : sm.rid_pasid;  // requests without PASID use RID_PASID
  if ((eff >> 6) >= pasid_dir_entries(sm.pdts) || (uint64_t{eff} >> p_.pasid_bits) != 0) {
    f.reason = pv ? fr::SM_CTX_PASID_TOO_BIG : fr::SM_CTX_RID_PASID;  // SCT.7
    return nullptr;
  }
  if (pv && r.pasid == sm.rid_pasid) {
    f.reason = fr::SM_CTX_RID_PASID;  // SCT.9: RID_PASID is for requests without a PASID
    return nullptr;
  }
  ++pasid_lookups_;
  const PasidCacheEntry* pe = pasid_entry(*c, eff, t, f);
  return pe ? &pe->x : nullptr;
}

// A page-request fault record ((T1, T2) = 01), unless its reason is 0 or FPD suppresses it.
void VtdIommu::prq_fault(const PageRequest& r, const Fault& f, sc_core::sc_time t) {
  if (!f.reason) return;
  ++faults_;
  count_reason(f.reason);
  if (f.fpd) {
    ++faults_suppressed_;
    return;
  }
  FaultRecord rec;
  rec.fi = r.addr & kPageMask;
  rec.sid = r.rid;
  rec.pp = r.pasid_present;
  rec.pasid = r.pasid_present ? r.pasid : 0;
  rec.priv = r.priv;
  rec.exe = r.exe;
  set_fault_req_type(rec, FaultReqType::PageRequest);
  rec.fr = f.reason;
  record_fault(rec, t);
}

// Table 31: the hardware's own page group response for a dropped last request.
void VtdIommu::prq_auto_response(const PageRequest& r, uint8_t rc, sc_core::sc_time t) {
  ++(rc == prg_rc::SUCCESS ? prq_stats_->auto_success : prq_stats_->auto_invalid);
  ats_.prg_response(r.rid, r.pasid_present, r.pasid, r.prgi, rc, t);
}

// Table 27: first stage, page-selective within the PASID; second stage and pass-through,
// page-selective within the domain; nested, the whole domain. AM = 0, IH = 0.
void VtdIommu::prq_implicit_inv(const DevXlate& d, uint64_t addr) {
  ++prq_stats_->implicit_inv;
  Iotlb& tlb = core_.iotlb();
  WalkCache& wc = core_.walk_cache();
  const uint64_t first = addr & kPageMask, end = first + 4096;
  const uint16_t did = d.tag.domain;
  switch (d.mode) {
    case DevXlate::Mode::FirstStage:
      tlb.invalidate_range(d.tag, first, end);
      wc.invalidate_range(d.tag, false, first, end, shifts_);
      break;
    case DevXlate::Mode::Nested:
      tlb.invalidate_domain(did);
      wc.invalidate_domain(did);
      break;
    case DevXlate::Mode::SecondStage:
    case DevXlate::Mode::PassThrough:
      tlb.invalidate_ipa_range(did, first, end);
      wc.invalidate_range({did, 0}, true, first, end, shifts_);
      break;
  }
}

// VT-d 7.5: an event only when neither PPR nor PRO was set before; IP holds it while IM is set.
void VtdIommu::prq_event(uint32_t prs_before, sc_core::sc_time t) {
  if (prs_before & (prs::PPR | prs::PRO)) return;
  if (pectl_ & ectl::IM) {
    pectl_ |= ectl::IP;
    return;
  }
  const sc_core::sc_time now = sim_now();
  prq_irq_.notify(t > now ? t - now : sc_core::SC_ZERO_TIME);
}

// Page group response descriptor (VT-d 7.6.1): a PRG Response to the device at RID. Reserved: qw0 [8:5] and
// [63:52], qw1 [1:0] and [63:12]; bit 66 (formerly LPIG) is ignored; qwords 2-3 (private data) are not used.
bool VtdIommu::page_group_response(const Desc& d, sc_core::sc_time& t) {
  if ((d.qw[0] & (genmask(8, 5) | genmask(63, 52))) || (d.qw[1] & (genmask(1, 0) | genmask(63, 12)))) return false;
  const PageGroupResp g = decode_page_group_resp(d);
  ++prq_stats_->responses;
  t += pgr_latency_;
  if (!ats_.prg_response(g.rid, g.pasid_present, g.pasid, g.prgi, g.rc, t)) {
    ++prq_stats_->responses_no_device;
    return true;
  }
  if (sim_now() > t) t = sim_now();
  return true;
}

// Invalidation wait with PD: every page request received so far is written to the queue (or dropped)
// before the wait completes.
void VtdIommu::prq_drain(sc_core::sc_time& t) {
  const uint64_t barrier = prq_received_;
  if (prq_handled_ >= barrier) return;
  ++prq_stats_->drains;
  if (t > sim_now()) wait(t - sim_now());
  while (prq_handled_ < barrier) wait(prq_handled_ev_);
  if (sim_now() > t) t = sim_now();
}

}  // namespace iommusim::vtd
