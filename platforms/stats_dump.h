// End-of-run statistics: the module tree walked into JSON, and the cross-component summary.
#pragma once
#include <nlohmann/json.hpp>
#include <systemc>

#include <ostream>
#include <string>

namespace iommusim {
struct Platform;

struct Summary {
  uint64_t dma_requests = 0, dma_faults = 0, dma_bytes = 0;
  double throughput_gbit_s = 0;  // bytes over simulated time spent by the busiest endpoint
  double latency_p50_ns = 0, latency_p99_ns = 0, latency_mean_ns = 0;
  uint64_t iotlb_lookups = 0, iotlb_hits = 0;
  uint64_t inv_commands = 0, inv_syncs = 0;
  uint64_t walks = 0, walk_reads = 0;
  uint64_t host_cpu_ps = 0;
  // Device side of ATS and PRI, and the host's fault handling (zero without them).
  uint64_t ats_translation_requests = 0, atc_lookups = 0, atc_hits = 0, atc_invalidations = 0;
  uint64_t pri_requests = 0, iopf_groups = 0;
  // Interrupts at the CPU interrupt model: delivered, lost on their way, spurious; device write to
  // delivery latency.
  uint64_t msi_sent = 0, msi_delivered = 0, msi_lost = 0, msi_spurious = 0;
  double msi_latency_p50_ns = 0, msi_latency_p99_ns = 0;
};

nlohmann::json dump_module_stats();
Summary summarize(Platform& pf);
nlohmann::json to_json(const Summary& s);
// One line per host workload (its label, requests or iterations, latency, throughput).
void print_workloads(std::ostream& os, Platform& pf);
void print_summary(std::ostream& os, const Summary& s, const sc_core::sc_time& sim, double wall_s,
                   const std::string& out_dir);

}  // namespace iommusim
