// I/O page-fault core: grouping, per-IOMMU workqueues, the SVA fault handler and responses (R3).
#include "models/host/iopf.h"

#include <sysc/kernel/sc_spawn.h>

#include <algorithm>

#include "models/common/log.h"
#include "models/common/sim_time.h"
#include "models/host/mm.h"

namespace iommusim::host {

Iopf::Iopf(Cpu& cpu, const SvaParams& p, Sva& sva, StatGroup& parent)
    : cpu_(cpu),
      p_(p),
      sva_(sva),
      stats_("iopf", &parent),
      faults_(stats_.counter("faults", "page requests and stalls reported by the IOMMU drivers")),
      groups_(stats_.counter("groups", "fault groups formed (a request with Last and its partials)")),
      partials_(stats_.counter("partials", "requests without Last held until their group closes")),
      partials_dropped_(stats_.counter("partials_dropped",
                                       "held partials discarded: queue overflow, or a device over its partial limit")),
      no_handler_(stats_.counter("no_handler", "groups with no SVA bond at their (RID, PASID), answered INVALID")),
      success_(stats_.counter("success", "groups answered SUCCESS")),
      invalid_(stats_.counter("invalid", "groups answered INVALID")),
      failure_(stats_.counter("failure", "groups answered FAILURE")),
      max_pending_(stats_.counter("max_pending", "most groups formed and not yet answered at one time")),
      latency_ns_(stats_.histogram("latency", "ns", "fault reported to its group's response sent")) {}

uint64_t Iopf::responses(PageResponse c) const {
  switch (c) {
    case PageResponse::Success: return success_.v;
    case PageResponse::Invalid: return invalid_.v;
    case PageResponse::Failure: return failure_.v;
  }
  return 0;
}

void Iopf::report(IommuDriver& from, const IoPageFault& f) {
  ++faults_;
  const sc_core::sc_time now = sc_core::sc_time_stamp();
  auto same_device = [&](const std::pair<IommuDriver*, IoPageFault>& p) {
    return p.first == &from && p.second.rid == f.rid;
  };
  if (!f.last) {  // R3.3: held until the request with Last of the same group arrives
    ++partials_;
    if (static_cast<size_t>(std::count_if(partial_.begin(), partial_.end(), same_device)) >= kMaxPartialsPerDevice) {
      partial_.erase(std::find_if(partial_.begin(), partial_.end(), same_device));
      ++partials_dropped_;
    }
    partial_.emplace_back(&from, f);
    return;
  }
  Group g{&from, {}, now};
  auto same = [&](const std::pair<IommuDriver*, IoPageFault>& p) { return same_device(p) && p.second.grpid == f.grpid; };
  for (const auto& p : partial_)
    if (same(p)) g.faults.push_back(p.second);
  partial_.erase(std::remove_if(partial_.begin(), partial_.end(), same), partial_.end());
  g.faults.push_back(f);
  ++groups_;
  if (++pending_ > max_pending_.v) max_pending_.v = pending_;
  if (!f.pasid_valid || !sva_.find_mm(from, f.rid, f.pasid)) {  // no handler: answered at once
    ++no_handler_;
    respond(from, f, PageResponse::Invalid, now);
    return;
  }
  auto& slot = queues_[&from];
  if (!slot) slot = std::make_unique<Queue>();
  Queue& q = *slot;
  q.groups.push_back(std::move(g));
  while (q.workers < p_.iopf_workers) {
    ++q.workers;
    sc_core::sc_spawn([this, &q] { worker(q); });
  }
  q.kick.notify(sc_core::SC_ZERO_TIME);
}

void Iopf::discard_partial(const IommuDriver& from) {
  const auto n = partial_.size();
  partial_.erase(std::remove_if(partial_.begin(), partial_.end(), [&](const auto& p) { return p.first == &from; }),
                 partial_.end());
  partials_dropped_ += n - partial_.size();
}

void Iopf::worker(Queue& q) {
  for (;;) {
    while (q.groups.empty()) sc_core::wait(q.kick);
    const Group g = std::move(q.groups.front());
    q.groups.pop_front();
    const PageResponse code = handle(g);
    respond(*g.drv, g.faults.back(), code, g.reported);
  }
}

// R3.4: faults in order, the first error sticky.
PageResponse Iopf::handle(const Group& g) {
  cpu_.spend(to_sc(p_.iopf_group), Cpu::Cat::Other);
  const IoPageFault& last = g.faults.back();
  Mm* mm = sva_.find_mm(*g.drv, last.rid, last.pasid);
  if (!mm) return PageResponse::Invalid;  // unbound while queued
  for (const IoPageFault& f : g.faults) {
    if (!f.read && !f.write && !f.exec) {  // nothing asked for: only the VMA must exist
      if (!mm->find_vma(f.addr)) return PageResponse::Invalid;
      continue;
    }
    const Mm::FaultResult r = mm->fault(f.addr, f.write, f.exec, f.read);
    if (!r.ok()) {
      log::get("iopf")->debug("fault rid {:#x} pasid {} addr {:#x}: refused", f.rid, f.pasid, f.addr);
      return PageResponse::Invalid;
    }
  }
  return PageResponse::Success;
}

void Iopf::respond(IommuDriver& drv, const IoPageFault& last, PageResponse code, const sc_core::sc_time& since) {
  --pending_;
  switch (code) {
    case PageResponse::Success: ++success_; break;
    case PageResponse::Invalid: ++invalid_; break;
    case PageResponse::Failure: ++failure_; break;
  }
  drv.page_response(last, code);
  timeline::span(tl_, timeline::Cat::PageResponse, "iopf handled", since, sc_core::sc_time_stamp(), last.rid,
                 last.grpid, static_cast<uint64_t>(code));
  latency_ns_.record(static_cast<uint64_t>(to_ns(sc_core::sc_time_stamp() - since)));
}

}  // namespace iommusim::host
