// PCIe endpoint with a DMA engine.
//
// The engine runs jobs (from the host through the BAR, or from a testbench) as a loosely-timed
// stream of memory requests with at most `outstanding` in flight: request i may issue once request
// i-outstanding has completed, and completions come from the resource timelines downstream, so
// any window size costs no extra threads. Requests never cross a 4 KiB boundary (PCIe rule).
//
// ATS (when the capability is present and enabled in its Control register): a request reaches the
// device's ATC (models/pcie/atc.h) after device_latency and the lookup takes lookup_latency; a hit
// issues a translated request (AT=Translated, translated address + offset), a miss first sends a
// Translation Request upstream and issues once its completion has arrived (the entry is usable
// from then on). A completion with R=W=0, or an error response, fails the access (no PRI); U=1
// sends the access untranslated. A cached entry lacking the needed permission is re-requested
// once. Invalidate Requests arrive on `from_link`; up to the invalidate queue depth are processed
// at once, each removing its entries when it starts; its Invalidate Completion is sent inv_latency
// later, but never before every request issued so far has completed. As for host operations,
// ordering against the engine is exact to within one quantum.
//
// Not modelled yet: PRI, MSI/MSI-X (completion is signalled on an interrupt event that stands for
// a legacy interrupt line), posted-write ordering rules, request data payload contents (reads are
// discarded, writes carry a fixed pattern). Of ATS: Translation Requests for several translations
// at once, memory attributes (AMA), execute and privileged requests (jobs carry neither: pmr and
// er stay clear, Exe and Priv are only stored), 'Page Aligned Request' (requests are always page
// aligned), relaxed ordering, Invalidate Completions split over several messages, and the exact
// PCIe rule for a Translation Completion crossing an Invalidate Request (any invalidation
// processed while a Translation Request is outstanding makes the device ask again).
#pragma once
#include <systemc>
#include <tlm>
#include <tlm_utils/simple_initiator_socket.h>
#include <tlm_utils/simple_target_socket.h>

#include <deque>
#include <functional>
#include <memory>
#include <vector>

#include "models/common/params.h"
#include "models/common/payload_pool.h"
#include "models/common/rng.h"
#include "models/common/stats.h"
#include "models/iommu/core/cache_params.h"
#include "models/pcie/atc.h"
#include "models/pcie/ats_defs.h"
#include "models/pcie/dma_job.h"

namespace iommusim {

// The ATS capability. No ATC size or invalidation time is published for real devices; the defaults
// are placeholders to vary, not measurements.
struct EndpointAtsParams {
  bool enabled = false;  // the capability is present (the host still sets Enable in its Control register)
  CacheParams atc{64, 0};  // fully associative, LRU
  uint64_t stu = 4096;     // Smallest Translation Unit the Control register holds at reset
  uint64_t inv_queue_depth = 32;  // Invalidate Queue Depth (capability register: 0 means 32)
  // PCIe bounds an invalidation only by the agent's 1 minute time-out.
  Time inv_latency = Time::us(1);
  Time lookup_latency = Time::ns(2);

  void visit(ParamVisitor& v) {
    v.flag("enabled", enabled, "the device has the ATS capability (the host enables it through the ATS Control register)");
    v.group("atc", atc, "the device's Address Translation Cache");
    v.bytes("stu", stu, "Smallest Translation Unit at reset (a power of two), also settable through the ATS Control register",
            4096, uint64_t{4096} << 31);
    v.count("inv_queue_depth", inv_queue_depth, "Invalidate Requests processed at once (0 = 32)", 0, 32);
    v.time("inv_latency", inv_latency, "time to process one Invalidate Request before its completion may be sent",
           Time{}, Time::ms(60000));
    v.time("lookup_latency", lookup_latency, "ATC lookup time added to every request while ATS is enabled", Time{},
           Time::us(100));
  }
};

struct EndpointParams {
  uint64_t outstanding = 8;          // non-posted requests in flight
  Time issue_interval = Time::ns(0);   // minimum spacing of requests (engine issue rate)
  Time device_latency = Time::ns(0);   // device-internal time before a request reaches the link
  uint64_t max_read_request = 512;   // largest request the engine forms
  uint64_t seed_salt = 0;
  EndpointAtsParams ats;

  void visit(ParamVisitor& v) {
    v.count("outstanding", outstanding, "requests the DMA engine keeps in flight", 1, 4096);
    v.time("issue_interval", issue_interval, "minimum time between two request issues");
    v.time("device_latency", device_latency, "device-internal latency added before each request leaves");
    v.bytes("max_read_request", max_read_request, "largest single request the engine issues", 4, 4096);
    v.count("seed_salt", seed_salt, "perturbs this device's random stream without changing the run seed");
    v.group("ats", ats, "Address Translation Services: the device's ATC, Translation Requests, invalidation handling");
  }
};

class Endpoint : public sc_core::sc_module, public HasStats {
 public:
  tlm_utils::simple_initiator_socket<Endpoint> dma;  // upstream, towards the root port
  // MMIO: writing a DmaJob at kJobDoorbellOffset queues it; reading a JobResult at
  // kJobResultOffset returns the last completed job's counters; kAtsControlOffset is the ATS
  // Control register (2 bytes).
  tlm_utils::simple_target_socket<Endpoint> bar;
  // Downstream messages from the root port (RootPort::to_device): ATS Invalidate Requests. Optional
  // so platforms without ATS may leave it unbound.
  tlm_utils::simple_target_socket_optional<Endpoint> from_link;

  Endpoint(sc_core::sc_module_name name, const EndpointParams& p, uint64_t run_seed = 1);
  ~Endpoint() override;
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
  // ATS: present (capability), enabled (Control register Enable). Testbenches may flip Enable
  // directly; it behaves as a Control register write (ignored without the capability; clearing it
  // flushes the ATC).
  bool ats_capable() const { return p_.ats.enabled; }
  bool ats_enabled() const { return ats_on_; }
  void set_ats_enabled(bool on);
  uint16_t ats_control() const { return ats_ctrl_; }
  Atc* atc() { return atc_.get(); }  // nullptr without the capability
  // Optional per-request observer for scoreboards (no cost when unset).
  void set_observer(std::function<void(const DmaRecord&)> f) { observer_ = std::move(f); }
  StatGroup& stats() override { return stats_; }

 private:
  void engine();
  void run(const DmaJob& j);
  uint64_t offset_of(const DmaJob& j, uint64_t i);
  void bar_b_transport(tlm::tlm_generic_payload& gp, sc_core::sc_time& delay);
  void write_ats_control(uint16_t v);

  // One memory request on `dma` at absolute time `at`; returns whether it succeeded, sets done.
  bool access(uint64_t addr, uint32_t len, bool write, AddrType at_kind, const DmaJob& j, const sc_core::sc_time& at,
              sc_core::sc_time& now, sc_core::sc_time& done);
  // The ATS path of one request: ATC lookup, Translation Request on a miss, then the access.
  bool ats_access(const DmaJob& j, uint64_t iova, uint32_t len, bool write, sc_core::sc_time at, sc_core::sc_time& now,
                  sc_core::sc_time& done, bool& translated);
  enum class TrResult { Ok, Denied, Error };
  // Sends a Translation Request for iova at `at`; on return `at` is its completion time and, when
  // Ok, `out` holds the translation (ready = completion).
  TrResult translation_request(const DmaJob& j, uint64_t iova, sc_core::sc_time& at, sc_core::sc_time& now,
                               AtcEntry& out);

  // ATS invalidation.
  struct InvRequest {
    sc_core::sc_time arrival;
    ats::Range range;
    uint32_t pasid;
    bool pasid_valid, global;
    uint8_t itag;
  };
  struct InvCompletion {
    sc_core::sc_time due, arrival;
    uint8_t itag;
  };
  // A thread sending one Invalidate Completion at a time (the agent may keep it until the message
  // has arrived); more are started when every one is busy, so completions never queue behind one.
  struct Sender {
    InvCompletion job;
    sc_core::sc_event go;
  };
  void link_b_transport(tlm::tlm_generic_payload& gp, sc_core::sc_time& delay);
  void inv_process();
  void send_completion(const InvCompletion& c);
  void sender_loop(Sender& s);

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
  sc_core::sc_time quantum_;
  sc_core::sc_time last_sent_;  // when the last memory request left (for the observer)

  // ATS state (the ATC exists only with the capability).
  std::unique_ptr<Atc> atc_;
  uint16_t ats_ctrl_ = 0;
  bool ats_on_ = false;
  uint64_t stu_ = 4096;
  sc_core::sc_time lookup_latency_, inv_latency_;
  uint64_t tr_buf_ = 0;  // a Translation Completion data entry lands here
  uint64_t inv_zero_ = 0;  // Invalidate Completion payload
  // Invalidation ordering against requests in flight: the engine is inside a memory request's
  // transport call (in_transport_); an invalidation that starts then waits for its return.
  bool in_transport_ = false, inv_waiting_ = false;
  sc_core::sc_time inv_wait_done_;
  sc_core::sc_event transport_done_;
  std::deque<InvRequest> inv_q_;  // received, in arrival order, not yet started
  sc_core::sc_event inv_kick_;
  std::vector<sc_core::sc_time> inv_slot_free_;  // per queue slot: when its invalidation completed
  std::deque<Sender> senders_;  // stable addresses
  std::vector<Sender*> idle_senders_;

  StatGroup stats_;
  Counter& reads_;
  Counter& writes_;
  Counter& bytes_;
  Counter& faults_;
  Counter& jobs_done_;
  Histogram& latency_ps_;
  // ATS statistics, in group "ats" (only with the capability).
  struct AtsStats;
  std::unique_ptr<AtsStats> ats_stats_;
  sc_core::sc_time first_issue_, last_done_;
  bool any_ = false;
  Histogram job_latency_ps_;  // per job, reported through JobResult
  JobResult last_result_;
};

}  // namespace iommusim
