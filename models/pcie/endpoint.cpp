// PCIe endpoint DMA engine implementation.
#include "models/pcie/endpoint.h"

#include <algorithm>
#include <cstring>

#include "models/common/sim_time.h"

namespace iommusim {

Endpoint::Endpoint(sc_core::sc_module_name name, const EndpointParams& p, uint64_t run_seed)
    : sc_module(name),
      dma("dma"),
      bar("bar"),
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

void Endpoint::bar_b_transport(tlm::tlm_generic_payload& gp, sc_core::sc_time& /*delay*/) {
  if (gp.is_write() && gp.get_address() == kJobDoorbellOffset && gp.get_data_length() == sizeof(DmaJob)) {
    DmaJob j;
    std::memcpy(&j, gp.get_data_ptr(), sizeof j);
    submit(j);
    gp.set_response_status(tlm::TLM_OK_RESPONSE);
  } else if (gp.is_read() && gp.get_address() == kJobResultOffset && gp.get_data_length() == sizeof(JobResult)) {
    std::memcpy(gp.get_data_ptr(), &last_result_, sizeof last_result_);
    gp.set_response_status(tlm::TLM_OK_RESPONSE);
  } else {
    gp.set_response_status(tlm::TLM_ADDRESS_ERROR_RESPONSE);
  }
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
  }
}

void Endpoint::run(const DmaJob& j) {
  using sc_core::sc_time;
  const size_t n = p_.outstanding;
  // Temporal decoupling by hand (what tlm_quantumkeeper does, with one kernel-time query per
  // request): the engine runs ahead of the kernel by less than one global quantum.
  const sc_time quantum = tlm::tlm_global_quantum::instance().get();
  sc_time now = sim_now();
  const sc_time start = now;
  slot_done_.assign(n, start);
  job_latency_ps_.reset();
  JobResult res;
  res.tag = j.tag;
  res.start_ps = to_ps(start);
  sc_time next_issue = start, end = start;
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
    const sc_time issue = std::max(next_issue, slot_done_[slot]);
    // Sync before issuing, so a request is never translated more than one quantum before its
    // issue time: ordering against host operations is exact to within the quantum.
    if (issue - now >= quantum) {
      wait(issue - now);
      now = issue;
    }

    PcieExt* xp;
    tlm::tlm_generic_payload* gp = pool_.acquire(xp);
    gp->set_command(write ? tlm::TLM_WRITE_COMMAND : tlm::TLM_READ_COMMAND);
    gp->set_address(iova);
    gp->set_data_ptr(write ? tx_.data() : rx_.data());
    gp->set_data_length(len);
    gp->set_streaming_width(len);
    PcieExt& x = *xp;
    x.rid = rid_;
    x.pasid = j.pasid;
    x.pasid_valid = j.pasid_valid;

    sc_time delay = issue + device_latency_ - now;
    dma->b_transport(*gp, delay);
    now = sim_now();  // a target may have waited
    const sc_time done = now + delay;
    const bool ok = gp->is_response_ok();
    gp->release();

    if (!any_) { first_issue_ = issue; any_ = true; }
    if (done > last_done_) last_done_ = done;
    if (done > end) end = done;
    if (ok) {
      ++(write ? writes_ : reads_);
      bytes_ += len;
      res.bytes += len;
    } else {
      ++faults_;
      ++res.faults;
    }
    ++res.requests;
    const uint64_t lat_ps = (done - issue).value();
    job_latency_ps_.record(lat_ps);
    if (observer_) observer_({iova, len, write, ok, to_ps(issue), to_ps(done), j.tag});

    slot_done_[slot] = done;
    if (++slot == n) slot = 0;
    next_issue = issue + issue_interval_;
  }
  if (end > now) wait(end - now);
  res.end_ps = to_ps(end);
  latency_ps_.merge(job_latency_ps_);
  res.lat_mean_ps = static_cast<uint64_t>(job_latency_ps_.mean());
  res.lat_p50_ps = job_latency_ps_.percentile(0.5);
  res.lat_p99_ps = job_latency_ps_.percentile(0.99);
  res.lat_max_ps = job_latency_ps_.max();
  last_result_ = res;
}

}  // namespace iommusim
