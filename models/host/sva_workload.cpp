// The `sva` workload (workloads.h): a process sharing its address space with several devices, and
// the munmaps whose invalidation cost the SVA domain-sharing policy decides (seed 004).
#include <algorithm>
#include <string>

#include "models/common/log.h"
#include "models/common/sim_time.h"
#include "models/host/linux_host.h"

namespace iommusim::host {

void LinuxHost::add_workload(unsigned ep, const SvaWorkloadParams& w) {
  for (auto& proc : sva_procs_)
    if (proc.mm == w.mm) {
      proc.eps.push_back(ep);
      proc.labels.push_back(w.label);
      return;
    }
  sva_procs_.push_back({w.mm, w, {ep}, {w.label}});
}

void LinuxHost::run_sva(SvaProcess& proc) {
  const SvaWorkloadParams& w = proc.p;
  constexpr uint64_t kPage = Mm::kPage;
  StatGroup& g = *work_stats_.emplace_back(std::make_unique<StatGroup>(proc.mm, &stats_));
  Counter& bound = g.counter("bound", "devices bound to the process");
  Counter& bind_errors = g.counter("bind_errors", "binds that failed (the device then does no DMA)");
  Counter& munmaps = g.counter("munmaps", "munmap calls");
  Counter& faults = g.counter("dma_faults", "device requests to mapped pages that failed");
  Counter& probe_faults = g.counter("probe_faults", "reads of just-unmapped pages that faulted, as they must");
  Counter& probe_stale = g.counter("probe_stale", "reads of just-unmapped pages that succeeded: a stale translation");
  Counter& dma_ps = g.counter("dma_ps", "time the devices spent on their reads of mapped pages");
  Histogram& munmap_ns = g.histogram("munmap", "ns", "munmap as the process sees it (notifier invalidations included)");
  Counter& cpu_ps = g.counter("cpu_ps", "CPU time charged during the workload");
  Counter& domains = g.counter("domains", "SVA domains the process's address space ended with");
  const uint64_t busy0 = cpu_.busy_ps();

  Mm& mm = create_mm();
  const Mm::MmapResult r = mm.mmap(w.buffer, {true, true, false}, !w.fault_in);
  if (!r.ok()) {
    fail_run("host: sva workload " + proc.mm + ": mmap of " + std::to_string(w.buffer) + " bytes failed");
    return;
  }
  std::vector<std::pair<unsigned, uint32_t>> devs;  // (endpoint, PASID)
  for (unsigned ep : proc.eps) {
    uint32_t pasid = 0;
    if (const int err = sva_bind(ep, mm, pasid)) {
      ++bind_errors;
      log::get(name())->warn("sva workload {}: bind {} failed ({})", proc.mm, eps_[ep].name, err);
      continue;
    }
    ++bound;
    devs.emplace_back(ep, pasid);
  }
  auto job = [&](uint64_t va, uint32_t pasid) {
    DmaJob j;
    j.iova = va;
    j.window = w.pages * kPage;
    j.size = static_cast<uint32_t>(w.request_size);
    j.pattern = DmaPattern::Strided;
    j.stride = kPage;
    j.count = w.pages;
    j.read_fraction = w.write ? 0.0 : 1.0;
    j.pasid = pasid;
    j.pasid_valid = true;
    return j;
  };
  for (uint64_t i = 0; i < w.iterations; ++i) {
    const uint64_t va = r.addr + i * w.pages * kPage;
    for (const auto& [ep, pasid] : devs) {
      const sc_core::sc_time t0 = sc_core::sc_time_stamp();
      faults += run_job(ep, job(va, pasid)).faults;
      dma_ps += to_ps(sc_core::sc_time_stamp() - t0);
    }
    const sc_core::sc_time t0 = sc_core::sc_time_stamp();
    mm.munmap(va, w.pages * kPage);
    ++munmaps;
    munmap_ns.record(static_cast<uint64_t>(to_ns(sc_core::sc_time_stamp() - t0)));
    for (const auto& [ep, pasid] : devs) {
      const JobResult pr = run_job(ep, job(va, pasid));
      probe_faults += pr.faults;
      probe_stale += pr.requests - pr.faults;
    }
  }
  domains += sva_->domains_of(mm).size();
  for (const auto& [ep, pasid] : devs) sva_unbind(ep, mm);
  cpu_ps += cpu_.busy_ps() - busy0;
}

}  // namespace iommusim::host
