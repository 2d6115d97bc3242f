// The host's I/O page-fault core, after Linux io-pgfault.c and the SVA fault handler (R3.3-R3.6).
//
// Drivers report each page request (or stall) they read from their queue. A request without Last is
// held as a partial of its device; the request with Last forms a group with the partials of the same
// group index of that device (RID). Partials are discarded when the driver reports a queue overflow. The handler is found by the (RID, PASID) attach: no SVA bond -> the group
// is answered INVALID at once. Groups go to the reporting IOMMU's workqueue, whose `iopf_workers`
// workers each handle one group at a time: the group cost (R3.4, ~2.0 us measured) then each fault in
// order through the mm's fault handler (its own CPU cost), the first error sticky: INVALID when the mm
// is gone, there is no VMA or the VMA does not allow the access; else SUCCESS. The response goes back
// through the reporting driver (page group response, COMPLETE_PPR_REQUEST, CMD_RESUME).
//
// Not modelled: iopf queue flushing on device removal (R3.6: the caller answers pending groups),
// allocation failures (FAILURE), faults without a PASID on a RID domain with a fault handler
// (iommufd), several CPUs (workers run concurrently without contending for a CPU).
#pragma once
#include <systemc>

#include <deque>
#include <map>
#include <memory>
#include <vector>

#include "models/common/stats.h"
#include "models/common/timeline.h"
#include "models/host/cpu.h"
#include "models/host/host_params.h"
#include "models/host/iommu_driver.h"
#include "models/host/sva.h"

namespace iommusim::host {

class Iopf final : public IopfSink {
 public:
  Iopf(Cpu& cpu, const SvaParams& p, Sva& sva, StatGroup& parent);
  void report(IommuDriver& from, const IoPageFault& f) override;
  void discard_partial(const IommuDriver& from) override;
  // Partials held per device beyond this are dropped, oldest first (a device that never sends Last).
  static constexpr size_t kMaxPartialsPerDevice = 512;

  uint64_t groups() const { return groups_.v; }
  uint64_t responses(PageResponse c) const;
  StatGroup& stats() { return stats_; }

 private:
  struct Group {
    IommuDriver* drv;
    std::vector<IoPageFault> faults;  // in arrival order, the one with Last at the end
    sc_core::sc_time reported;
  };
  struct Queue {
    std::deque<Group> groups;
    sc_core::sc_event kick;
    unsigned workers = 0;
  };
  void worker(Queue& q);
  PageResponse handle(const Group& g);
  void respond(IommuDriver& drv, const IoPageFault& last, PageResponse code, const sc_core::sc_time& since);

  Cpu& cpu_;
  SvaParams p_;
  Sva& sva_;
  std::vector<std::pair<IommuDriver*, IoPageFault>> partial_;
  std::map<const IommuDriver*, std::unique_ptr<Queue>> queues_;  // by address: lookup only

  StatGroup stats_;
  Counter& faults_;
  Counter& groups_;
  Counter& partials_;
  Counter& partials_dropped_;
  Counter& no_handler_;
  Counter& success_;
  Counter& invalid_;
  Counter& failure_;
  Counter& max_pending_;
  Histogram& latency_ns_;
  uint64_t pending_ = 0;  // groups formed and not yet answered
  timeline::Track tl_ = timeline::track(timeline::Kind::Host, "host.iopf");
};

}  // namespace iommusim::host
