// PCIe endpoint with a DMA engine.
//
// The engine runs jobs (from the host through the BAR, or from a testbench) as a loosely-timed
// stream of memory requests with at most `outstanding` in flight: request i may issue once request
// i-outstanding has completed, and completions come from the resource timelines downstream, so
// any window size costs no extra threads. Requests never cross a 4 KiB boundary (PCIe rule).
//
// Not modelled yet: ATS/ATC, PRI, MSI/MSI-X (completion is signalled on an interrupt event that
// stands for a legacy interrupt line), posted-write ordering rules, request data payload contents
// (reads are discarded, writes carry a fixed pattern).
#pragma once
#include <systemc>
#include <tlm>
#include <tlm_utils/simple_initiator_socket.h>
#include <tlm_utils/simple_target_socket.h>

#include <deque>
#include <functional>
#include <vector>

#include "models/common/params.h"
#include "models/common/payload_pool.h"
#include "models/common/rng.h"
#include "models/common/stats.h"
#include "models/pcie/dma_job.h"

namespace iommusim {

struct EndpointParams {
  uint64_t outstanding = 8;          // non-posted requests in flight
  Time issue_interval = Time::ns(0);   // minimum spacing of requests (engine issue rate)
  Time device_latency = Time::ns(0);   // device-internal time before a request reaches the link
  uint64_t max_read_request = 512;   // largest request the engine forms
  uint64_t seed_salt = 0;

  void visit(ParamVisitor& v) {
    v.count("outstanding", outstanding, "requests the DMA engine keeps in flight", 1, 4096);
    v.time("issue_interval", issue_interval, "minimum time between two request issues");
    v.time("device_latency", device_latency, "device-internal latency added before each request leaves");
    v.bytes("max_read_request", max_read_request, "largest single request the engine issues", 4, 4096);
    v.count("seed_salt", seed_salt, "perturbs this device's random stream without changing the run seed");
  }
};

class Endpoint : public sc_core::sc_module, public HasStats {
 public:
  tlm_utils::simple_initiator_socket<Endpoint> dma;  // upstream, towards the root port
  // MMIO: writing a DmaJob at kJobDoorbellOffset queues it; reading a JobResult at
  // kJobResultOffset returns the last completed job's counters.
  tlm_utils::simple_target_socket<Endpoint> bar;

  Endpoint(sc_core::sc_module_name name, const EndpointParams& p, uint64_t run_seed = 1);
  SC_HAS_PROCESS(Endpoint);

  void set_rid(uint16_t rid) { rid_ = rid; }
  uint16_t rid() const { return rid_; }
  // Queue a job directly (testbenches); the host uses the BAR.
  void submit(const DmaJob& j);
  // Raised when a job completes (stands for the device's interrupt until MSI exists).
  sc_core::sc_event& irq() { return irq_; }
  uint64_t jobs_done() const { return jobs_done_.v; }
  const JobResult& last_result() const { return last_result_; }
  // Totals over the run, for the run summary.
  uint64_t requests() const { return reads_.v + writes_.v + faults_.v; }
  uint64_t faults() const { return faults_.v; }
  uint64_t bytes() const { return bytes_.v; }
  const Histogram& latency() const { return latency_ps_; }  // in ps
  bool active() const { return any_; }
  const sc_core::sc_time& first_issue() const { return first_issue_; }
  const sc_core::sc_time& last_done() const { return last_done_; }
  // Optional per-request observer for scoreboards (no cost when unset).
  void set_observer(std::function<void(const DmaRecord&)> f) { observer_ = std::move(f); }
  StatGroup& stats() override { return stats_; }

 private:
  void engine();
  void run(const DmaJob& j);
  uint64_t offset_of(const DmaJob& j, uint64_t i);
  void bar_b_transport(tlm::tlm_generic_payload& gp, sc_core::sc_time& delay);

  EndpointParams p_;
  uint16_t rid_ = 0;
  PayloadPool pool_;
  Rng rng_;
  std::deque<DmaJob> jobs_;
  sc_core::sc_event job_added_, irq_;
  std::vector<sc_core::sc_time> slot_done_;
  // Separate buffers: read completions land in rx_, writes send the fixed pattern in tx_ (a shared
  // buffer would make writes carry whatever the last read returned).
  std::vector<uint8_t> rx_, tx_;
  sc_core::sc_time issue_interval_, device_latency_;
  std::function<void(const DmaRecord&)> observer_;

  StatGroup stats_;
  Counter& reads_;
  Counter& writes_;
  Counter& bytes_;
  Counter& faults_;
  Counter& jobs_done_;
  Histogram& latency_ps_;
  sc_core::sc_time first_issue_, last_done_;
  bool any_ = false;
  Histogram job_latency_ps_;  // per job, reported through JobResult
  JobResult last_result_;
};

}  // namespace iommusim
