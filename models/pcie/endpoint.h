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
// from then on). A completion with R=W=0 fails the access unless PRI is usable (below), an error
// response fails it always; U=1 sends the access untranslated. A cached entry lacking the needed
// permission is re-requested once (then, with PRI, asked for by a page request). Invalidate Requests arrive on `from_link`; up to the invalidate queue depth are processed
// at once, each removing its entries when it starts; its Invalidate Completion is sent inv_latency
// later, but never before every request issued so far has completed. As for host operations,
// ordering against the engine is exact to within one quantum.
//
// PRI (when the capability is present, Control.Enable is set and the allocation is not zero; see
// endpoint_pri.cpp): a Translation Completion granting no access, or not the needed one, makes the
// request send a Page Request for its 4 KiB page (a one-page group: Last = 1, R or W as the access
// needs, the job's PASID prefix, a PRG index of the function's 512) instead of failing. At most
// the allocation's worth are in flight; one that finds none free waits for a response. The request
// keeps its slot of the outstanding window, so the stream behind it stops once the window wraps
// round to it; requests to a page whose page request is outstanding wait for the same response.
// PRG Responses arrive on `from_link`, matched by PRG index (and PASID when the request had one
// and Status.PASID Required is set): Success retries the translation once (a second denial fails
// the access), Invalid Request fails it, Response Failure fails it, sets Status.RF and stops page
// requests until Control.Reset or Enable is set again; a response for no outstanding group sets
// Status.UPRGI. Control.Reset (with Enable clear) forgets every outstanding request (its accesses
// fail); clearing Enable fails the requests still waiting for a credit. stop_pasid() sends a Stop
// Marker once the PASID's outstanding page requests are answered.
//
// MSI-X (endpoint_msix.cpp): the host programs each vector's address and data in the table; an
// event (a job submitted with msi set, or a write of kMsixTriggerOffset) raises a vector: with MSI-X
// enabled and neither the function nor the vector masked, the device writes the vector's data (4
// bytes, no PASID) to its address as an ordinary memory write upstream, `msix.latency` after the
// event (after the job's last completion: the write may not pass the job's writes), tagged with an
// MsiTag so the CPU interrupt model can time it; a masked vector sets its pending bit instead and
// is sent when unmasked. A write that comes back with an error (an IOMMU fault, interrupt
// remapping refusing it) is reported to the IrqSink as lost. Events while MSI-X is disabled are
// counted and dropped (INTx is not modelled).
//
// Also not modelled: MSI (the non-X capability), INTx, the job-completion event irq() standing for
// the driver's completion polling, posted-write ordering rules, request data payload contents (reads are
// discarded, writes carry a fixed pattern). Of ATS: Translation Requests for several translations
// at once, memory attributes (AMA), execute and privileged requests (jobs carry neither: pmr and
// er stay clear, Exe and Priv are only stored), 'Page Aligned Request' (requests are always page
// aligned), relaxed ordering, Invalidate Completions split over several messages, and the exact
// PCIe rule for a Translation Completion crossing an Invalidate Request (any invalidation
// processed while a Translation Request is outstanding makes the device ask again). Of PRI: page
// request groups of several pages (every group is one page), PRG Response PASIDs with Execute or
// Privileged bits, the PASID Control register's effect on requests (jobs carry their PASID
// whatever it says), reserved response codes other than as Response Failure, and a retry finer
// than the engine's: a response arriving while the engine is held inside a transport call is acted
// on when the call returns. A Page Request the fabric refuses (an IOMMU without PRI) fails its
// accesses at once instead of leaving them waiting for a response that never comes.
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
#include "models/common/sim_time.h"
#include "models/common/stats.h"
#include "models/common/timeline.h"
#include "models/iommu/core/cache_params.h"
#include "models/pcie/atc.h"
#include "models/pcie/ats_defs.h"
#include "models/pcie/dma_job.h"
#include "models/pcie/pri_defs.h"
#include "models/irq/irq_sink.h"

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

// The PRI capability. No public figure exists for a device's Outstanding Page Request Capacity or
// its internal page request costs; the defaults are placeholders to vary, not measurements.
struct EndpointPriParams {
  bool enabled = false;  // the capability is present (the host still sets Enable in its Control register)
  // 32: what the AMD driver requests (linux-host-behaviour.md R3.2), so it is granted in full; the
  // VT-d driver's larger request is capped at it.
  uint64_t capacity = 32;
  // Status bit 15: PRG Responses to requests with a PASID carry that PASID (Linux honours it).
  bool pasid_required = true;
  Time request_latency = Time::ns(0);  // denial seen to Page Request sent
  Time retry_latency = Time::ns(0);    // PRG Response received to the retried Translation Request

  void visit(ParamVisitor& v) {
    v.flag("enabled", enabled, "the device has the PRI capability (needs ATS; the host enables it through the PRI "
                               "Control register)");
    v.count("capacity", capacity, "Outstanding Page Request Capacity (every request is its own group, and a function "
                                  "has 512 group indices)", 1, 512);
    v.flag("pasid_required", pasid_required, "PRG Response PASID Required (Status bit 15): responses to requests with "
                                             "a PASID must carry it");
    v.time("request_latency", request_latency, "device time from a denied translation to its Page Request leaving",
           Time{}, Time::ms(1000));
    v.time("retry_latency", retry_latency, "device time from a Success PRG Response to the retried Translation Request",
           Time{}, Time::ms(1000));
  }
};

// The MSI-X capability. No device figure is published for the time from an event to its MSI write
// leaving; the default adds nothing beyond the link and fabric timing.
struct EndpointMsixParams {
  uint64_t vectors = 8;  // 0: no MSI-X capability
  Time latency = Time::ns(0);

  void visit(ParamVisitor& v) {
    v.count("vectors", vectors, "MSI-X table size (0 = no MSI-X capability)", 0, kMsixMaxVectors);
    v.time("latency", latency, "device time from an interrupt event to its MSI write leaving", Time{}, Time::ms(1000));
  }
};

struct EndpointParams {
  uint64_t outstanding = 8;          // non-posted requests in flight
  Time issue_interval = Time::ns(0);   // minimum spacing of requests (engine issue rate)
  Time device_latency = Time::ns(0);   // device-internal time before a request reaches the link
  uint64_t max_read_request = 512;   // largest request the engine forms
  uint64_t seed_salt = 0;
  EndpointAtsParams ats;
  EndpointPriParams pri;
  EndpointMsixParams msix;
  // The PASID capability's Max PASID Width (0 = no PASID capability: every existing config) and
  // its Execute / Privileged Mode Supported bits.
  uint64_t pasid_bits = 0;
  bool pasid_exec = false, pasid_priv = false;

  void visit(ParamVisitor& v) {
    v.count("outstanding", outstanding, "requests the DMA engine keeps in flight", 1, 4096);
    v.time("issue_interval", issue_interval, "minimum time between two request issues");
    v.time("device_latency", device_latency, "device-internal latency added before each request leaves");
    v.bytes("max_read_request", max_read_request, "largest single request the engine issues", 4, 4096);
    v.count("seed_salt", seed_salt, "perturbs this device's random stream without changing the run seed");
    v.group("ats", ats, "Address Translation Services: the device's ATC, Translation Requests, invalidation handling");
    v.group("pri", pri, "Page Request Interface: page requests for denied translations, PRG Responses, stop markers");
    v.group("msix", msix, "MSI-X: vectors whose address/data the host programs, written as memory writes on events");
    v.count("pasid_bits", pasid_bits, "Max PASID Width of the PASID capability (0 = no PASID capability)", 0, 20);
    v.flag("pasid_exec", pasid_exec, "PASID capability: Execute Permission Supported");
    v.flag("pasid_priv", pasid_priv, "PASID capability: Privileged Mode Supported");
  }
};

class Endpoint : public sc_core::sc_module, public HasStats {
 public:
  tlm_utils::simple_initiator_socket<Endpoint> dma;  // upstream, towards the root port
  // MMIO: writing a DmaJob at kJobDoorbellOffset queues it; reading a JobResult at
  // kJobResultOffset returns the last completed job's counters; kAtsControlOffset is the ATS
  // Control register (2 bytes); the PRI (kPriControlOffset...) and PASID (kPasidCapOffset...)
  // capability registers follow dma_job.h (reads 0, writes ignored without the capability).
  tlm_utils::simple_target_socket<Endpoint> bar;
  // Downstream messages from the root port (RootPort::to_device): ATS Invalidate Requests and PRI
  // PRG Responses. Optional so platforms without ATS may leave it unbound.
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
  // PRI: the registers as the host sees them through the BAR (kPriControlOffset...), and direct
  // forms for testbenches. pri_enable() writes the allocation then sets Enable, as Linux's
  // pci_enable_pri() does.
  bool pri_capable() const { return p_.pri.enabled; }
  uint16_t pri_control() const { return pri_ctrl_; }
  uint16_t pri_status() const;
  uint32_t pri_allocation() const { return pri_alloc_reg_; }
  void write_pri_control(uint16_t v);
  void write_pri_status(uint16_t v);  // write-1-to-clear RF and UPRGI
  void write_pri_allocation(uint32_t v);
  void pri_enable(uint32_t allocation);
  size_t pri_outstanding() const { return pri_sent_; }  // Page Requests sent and not yet answered
  const Histogram* pri_latency() const;                   // ps, request sent to response; nullptr without PRI
  // Thread context: tells the IOMMU the device has stopped using `pasid` by a Stop Marker (Last = 1,
  // R = W = 0, the PASID prefix), sent once every outstanding page request with that PASID has been
  // answered (at once when there are none). Returns false (nothing sent) when page requests may not
  // be issued (PRI absent, disabled, or stopped by a Response Failure).
  bool stop_pasid(uint32_t pasid);
  // MSI-X (endpoint_msix.cpp). Lost MSI writes are reported to `sink` (none: only counted).
  void set_irq_sink(IrqSink* sink) { irq_sink_ = sink; }
  // Raises vector v now (as a kMsixTriggerOffset write does); false if there is no such vector.
  bool raise_msi(uint16_t v);
  uint16_t msix_control() const { return msix_ctrl_; }
  uint64_t msi_sent() const;
  // Optional per-request observer for scoreboards (no cost when unset).
  void set_observer(std::function<void(const DmaRecord&)> f) { observer_ = std::move(f); }
  StatGroup& stats() override { return stats_; }

 private:
  void engine();
  void run(const DmaJob& j);
  uint64_t offset_of(const DmaJob& j, uint64_t i);
  void bar_b_transport(tlm::tlm_generic_payload& gp, sc_core::sc_time& delay);
  bool cap_register(tlm::tlm_generic_payload& gp);
  void write_ats_control(uint16_t v);
  void pri_setup();
  void msix_setup();
  bool msix_register(tlm::tlm_generic_payload& gp);
  void msix_raise_at(uint16_t v, const sc_core::sc_time& at);
  void msix_unmasked();
  void msix_process();
  void msix_send(uint16_t v, const sc_core::sc_time& at);

  // One memory request on `dma` at absolute time `at`; returns whether it succeeded, sets done.
  // Inlined into the engine loop: the hot path of every DMA.
  [[gnu::always_inline]] bool access(uint64_t addr, uint32_t len, bool write, AddrType at_kind, const DmaJob& j,
                                     const sc_core::sc_time& at, sc_core::sc_time& now, sc_core::sc_time& done);
  // What the ATS path reports about a denied translation (PRI). `allow` says the request may wait
  // for a page request instead of failing; `fault` says the translation was denied (or, with
  // `join` >= 0, that a page request for the page is already outstanding), `at` when that was known.
  struct PriNeed {
    bool allow = true;
    bool fault = false;
    bool read = false, write = false;
    int join = -1;
    sc_core::sc_time at;
  };
  // The ATS path of one request: ATC lookup, Translation Request on a miss, then the access. With
  // `need` (PRI usable) a denied translation returns false with need->fault set and no access.
  bool ats_access(const DmaJob& j, uint64_t iova, uint32_t len, bool write, sc_core::sc_time at, sc_core::sc_time& now,
                  sc_core::sc_time& done, bool& translated, PriNeed* need = nullptr);
  // The bookkeeping of one finished request (counters, job result, observer).
  [[gnu::always_inline]] void complete(const DmaJob& j, uint64_t iova, uint32_t len, bool write, bool ok,
                                       const sc_core::sc_time& issue,
                const sc_core::sc_time& done, bool translated);
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

  // PRI (endpoint_pri.cpp). A group is one Page Request (one page) and its response; a waiter is
  // a request of the engine's window waiting on a group.
  enum class PriState : uint8_t { Free, NeedCredit, Sent, Answered };
  static constexpr uint8_t kPriAborted = 0xFF;  // internal response code: forgotten by Reset or disable
  struct PriGroup {
    PriState st = PriState::Free;
    uint64_t page = 0;
    uint32_t pasid = 0;
    bool pasid_valid = false;
    bool read = false, write = false;
    uint16_t prg = 0;
    int credit = -1;       // index into pri_credit_free_ while it holds one
    uint8_t code = 0;      // response code once answered
    uint64_t seq = 0;      // creation order: credits go to waiting groups first come, first served
    int first = -1;        // first waiter (slot index)
    sc_core::sc_time ready, sent, arrival;
  };
  struct PriWaiter {
    bool used = false;
    int next = -1;  // next waiter of the same group
    uint64_t iova = 0;
    uint32_t len = 0;
    bool write = false;
    sc_core::sc_time issue, at;  // issued; translation denied (or group joined)
  };
  void pri_link(tlm::tlm_generic_payload& gp, const PcieExt& x, sc_core::sc_time& delay);
  void pri_defer(const DmaJob& j, size_t slot, uint64_t iova, uint32_t len, bool write, const sc_core::sc_time& issue,
                 const PriNeed& need, sc_core::sc_time& now);
  int pri_find(const DmaJob& j, uint64_t iova, bool write) const;
  void pri_pump(const DmaJob& j, sc_core::sc_time& now);
  void pri_send(const DmaJob& j, int g, int credit, sc_core::sc_time t, sc_core::sc_time& now);
  bool pri_send_message(uint64_t body, bool pasid_valid, uint32_t pasid, uint16_t prg, sc_core::sc_time t,
                        sc_core::sc_time& now);
  void pri_service_one(const DmaJob& j, sc_core::sc_time& now);
  void pri_step(const DmaJob& j, sc_core::sc_time& now);
  void pri_sync(const DmaJob& j, const sc_core::sc_time& until, sc_core::sc_time& now);
  void pri_fail_group(const DmaJob& j, int g, const sc_core::sc_time& t, sc_core::sc_time& now);
  void pri_free_group(int g);
  void pri_answer(int g, uint8_t code, const sc_core::sc_time& arrival);
  void pri_abort(bool waiting_only, const sc_core::sc_time& t);
  void pri_markers(sc_core::sc_time t, sc_core::sc_time& now);
  void pri_markers_send(uint32_t pasid, sc_core::sc_time t, sc_core::sc_time& now);
  bool pri_pasid_live(uint32_t pasid) const;
  void pri_update_on() { pri_on_ = p_.pri.enabled && (pri_ctrl_ & kPriControlEnable) && !pri_credit_free_.empty() && !pri_rf_stop_; }

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

  // PRI state (used only with the capability).
  uint16_t pri_ctrl_ = 0, pri_status_ = 0;  // Status holds RF and UPRGI; Stopped is computed
  uint32_t pri_alloc_reg_ = 0;
  uint16_t pasid_ctrl_ = 0;
  bool pri_on_ = false;      // page requests may be issued now
  bool pri_rf_stop_ = false; // a Response Failure stopped them until Reset or re-enable
  size_t pri_sent_ = 0;      // groups Sent and not yet answered
  size_t pri_live_ = 0;      // groups not Free
  size_t pri_waiters_ = 0;   // window slots waiting on a group
  uint64_t pri_seq_ = 0;
  uint16_t pri_next_prg_ = 0;
  sc_core::sc_time pri_request_latency_, pri_retry_latency_;
  std::vector<PriGroup> pri_groups_;
  std::vector<PriWaiter> pri_slots_;          // one per window slot
  std::vector<int> pri_prg_;                  // PRG index -> group + 1 (0: none outstanding)
  std::vector<sc_core::sc_time> pri_credit_free_;  // per credit of the allocation: when it is free (max: held)
  std::vector<int> pri_answered_;             // answered groups, in arrival order
  std::vector<uint32_t> pri_stop_pending_;    // PASIDs whose Stop Marker waits for their requests
  sc_core::sc_event pri_event_;               // a response arrived or the PRI state changed

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
  // PRI statistics, in group "pri" (only with the capability).
  struct PriStats {
    StatGroup g;
    Counter& requests;
    Counter& success;
    Counter& invalid;
    Counter& failure;
    Counter& unexpected;
    Counter& misrouted;
    Counter& stop_markers;
    Counter& allocation_waits;
    Counter& coalesced;
    Counter& retry_denied;
    Counter& aborted;
    Counter& request_errors;
    Histogram& latency;
    explicit PriStats(StatGroup& parent);
  };
  std::unique_ptr<PriStats> pri_stats_;
  // MSI-X state (used only with the capability).
  struct MsixVector {
    uint32_t addr_lo = 0, addr_hi = 0, data = 0;
    uint32_t ctrl = kMsixVectorMasked;
    bool pending = false;
  };
  struct MsixStats {
    StatGroup g;
    Counter& raised;
    Counter& sent;
    Counter& pended;
    Counter& faulted;
    Counter& disabled;
    explicit MsixStats(StatGroup& parent);
  };
  struct MsixEvent {
    uint16_t vector;
    sc_core::sc_time at;
  };
  std::vector<MsixVector> msix_;
  uint16_t msix_ctrl_ = 0;
  IrqSink* irq_sink_ = nullptr;
  std::deque<MsixEvent> msix_q_;
  sc_core::sc_event msix_kick_;
  uint64_t msix_seq_ = 0;
  uint32_t msix_buf_ = 0;
  MsiTag msix_tag_;
  sc_core::sc_time msix_latency_;
  std::unique_ptr<MsixStats> msix_stats_;
  JobResult res_;             // the running job's result
  sc_core::sc_time job_end_;  // the running job's last completion
  sc_core::sc_time first_issue_, last_done_;
  bool any_ = false;
  Histogram job_latency_ps_;  // per job, reported through JobResult
  JobResult last_result_;
  timeline::Track tl_ = timeline::track(timeline::Kind::Endpoint, name());
};

// Accounts one finished request (inlined into the engine loop and the PRI paths).
inline void Endpoint::complete(const DmaJob& j, uint64_t iova, uint32_t len, bool write, bool ok,
                               const sc_core::sc_time& issue, const sc_core::sc_time& done, bool translated) {
  if (done > last_done_) last_done_ = done;
  if (done > job_end_) job_end_ = done;
  if (ok) {
    ++(write ? writes_ : reads_);
    bytes_ += len;
    res_.bytes += len;
  } else {
    ++faults_;
    ++res_.faults;
  }
  ++res_.requests;
  job_latency_ps_.record((done - issue).value());
  timeline::span(tl_, timeline::Cat::Dma, write ? "write" : "read", issue, done, iova, len, ok);
  // A successful request's memory access was the last one sent; a failed one was decided at `done`.
  if (observer_)
    observer_({iova, len, write, ok, to_ps(issue), to_ps(done), j.tag, translated, to_ps(ok ? last_sent_ : done)});
}

}  // namespace iommusim
