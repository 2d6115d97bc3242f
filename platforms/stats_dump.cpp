// Statistics dump: walk the SystemC object tree for HasStats modules; build the run summary.
#include "platforms/stats_dump.h"

#include <cstdio>

#include "models/common/sim_time.h"
#include "models/common/stats.h"
#include "models/host/linux_host.h"
#include "models/iommu/smmuv3/smmuv3.h"
#include "models/irq/cpu_interrupts.h"
#include "models/pcie/endpoint.h"
#include "platforms/platform.h"

namespace iommusim {
namespace {

void walk(sc_core::sc_object* o, nlohmann::json& out) {
  if (auto* h = dynamic_cast<HasStats*>(o)) h->stats().to_json(out[o->name()]);
  for (auto* c : o->get_child_objects()) walk(c, out);
}

uint64_t find_u64(StatGroup& g, const std::string& path) {
  double v = 0;
  return g.find(path, v) ? static_cast<uint64_t>(v) : 0;
}

}  // namespace

nlohmann::json dump_module_stats() {
  nlohmann::json out = nlohmann::json::object();
  for (auto* o : sc_core::sc_get_top_level_objects()) walk(o, out);
  return out;
}

Summary summarize(Platform& pf) {
  Summary s;
  Histogram lat;
  sc_core::sc_time first = sc_core::SC_ZERO_TIME, last = sc_core::SC_ZERO_TIME;
  bool any = false;
  for (auto* e : pf.endpoints) {
    s.dma_requests += e->requests();
    s.dma_faults += e->faults();
    s.dma_bytes += e->bytes();
    lat.merge(e->latency());
    StatGroup& g = e->stats();
    s.ats_translation_requests += find_u64(g, "ats.translation_requests");
    s.atc_lookups += find_u64(g, "atc.lookups");
    s.atc_hits += find_u64(g, "atc.hits");
    s.atc_invalidations += find_u64(g, "ats.inv_received");
    s.pri_requests += find_u64(g, "pri.requests");
    if (e->active()) {
      if (!any || e->first_issue() < first) first = e->first_issue();
      if (!any || e->last_done() > last) last = e->last_done();
      any = true;
    }
  }
  if (any && last > first) s.throughput_gbit_s = static_cast<double>(s.dma_bytes) * 8.0 / to_ns(last - first);
  s.latency_p50_ns = static_cast<double>(lat.percentile(0.5)) / 1000.0;
  s.latency_p99_ns = static_cast<double>(lat.percentile(0.99)) / 1000.0;
  s.latency_mean_ns = lat.mean() / 1000.0;
  for (auto* m : pf.iommus) {
    StatGroup& g = m->stats();
    s.iotlb_lookups += find_u64(g, "iotlb.lookups");
    s.iotlb_hits += find_u64(g, "iotlb.hits");
    s.inv_commands += find_u64(g, "inv.commands");
    s.inv_syncs += find_u64(g, "inv.syncs");
    s.walks += find_u64(g, "walk.walks");
    s.walk_reads += find_u64(g, "walk.reads");
  }
  s.host_cpu_ps = pf.host->cpu().busy_ps();
  s.iopf_groups = find_u64(pf.host->stats(), "iopf.groups");
  for (auto* ep : pf.endpoints) s.msi_sent += ep->msi_sent();
  if (pf.interrupts) {
    s.msi_delivered = pf.interrupts->delivered();
    s.msi_lost = pf.interrupts->lost_total();
    s.msi_spurious = pf.interrupts->spurious();
    s.msi_latency_p50_ns = static_cast<double>(pf.interrupts->latency().percentile(0.5));
    s.msi_latency_p99_ns = static_cast<double>(pf.interrupts->latency().percentile(0.99));
  }
  return s;
}

nlohmann::json to_json(const Summary& s) {
  nlohmann::json j;
  j["dma.requests"] = s.dma_requests;
  j["dma.faults"] = s.dma_faults;
  j["dma.bytes"] = s.dma_bytes;
  j["dma.throughput_gbit_s"] = s.throughput_gbit_s;
  j["dma.latency_p50_ns"] = s.latency_p50_ns;
  j["dma.latency_p99_ns"] = s.latency_p99_ns;
  j["dma.latency_mean_ns"] = s.latency_mean_ns;
  j["iotlb.lookups"] = s.iotlb_lookups;
  j["iotlb.hits"] = s.iotlb_hits;
  j["iotlb.hit_rate"] = s.iotlb_lookups ? static_cast<double>(s.iotlb_hits) / static_cast<double>(s.iotlb_lookups) : 0.0;
  j["inv.commands"] = s.inv_commands;
  j["inv.syncs"] = s.inv_syncs;
  j["walk.walks"] = s.walks;
  j["walk.reads"] = s.walk_reads;
  j["host.cpu_ns"] = static_cast<double>(s.host_cpu_ps) / 1000.0;
  j["ats.translation_requests"] = s.ats_translation_requests;
  j["atc.lookups"] = s.atc_lookups;
  j["atc.hits"] = s.atc_hits;
  j["atc.hit_rate"] = s.atc_lookups ? static_cast<double>(s.atc_hits) / static_cast<double>(s.atc_lookups) : 0.0;
  j["atc.invalidations"] = s.atc_invalidations;
  j["pri.requests"] = s.pri_requests;
  j["iopf.groups"] = s.iopf_groups;
  j["msi.sent"] = s.msi_sent;
  j["msi.delivered"] = s.msi_delivered;
  j["msi.lost"] = s.msi_lost;
  j["msi.spurious"] = s.msi_spurious;
  j["msi.latency_p50_ns"] = s.msi_latency_p50_ns;
  j["msi.latency_p99_ns"] = s.msi_latency_p99_ns;
  return j;
}

void print_workloads(std::ostream& os, Platform& pf) {
  char buf[256];
  for (const StatGroup* g : pf.host->stats().children()) {
    double v = 0, mean = 0, p99 = 0, gbps = 0;
    if (g->find("latency_mean_ps", mean)) {
      g->find("latency_p99_ps", p99);
      g->find("requests", v);
      g->find("throughput_gbit_s", gbps);
      std::snprintf(buf, sizeof buf, "  %-16s %8.0f requests  mean %7.1f ns  p99 %7.1f ns  %7.2f Gbit/s\n",
                    g->name().c_str(), v, mean / 1000.0, p99 / 1000.0, gbps);
      os << buf;
    } else if (g->find("iterations", v)) {
      double cpu = 0;
      g->find("cpu_ps", cpu);
      g->find("throughput_gbit_s", gbps);
      std::snprintf(buf, sizeof buf, "  %-16s %8.0f iterations  %7.2f Gbit/s  CPU %.0f ns/iteration\n",
                    g->name().c_str(), v, gbps, v > 0 ? cpu / 1000.0 / v : 0.0);
      os << buf;
    }
  }
}

void print_summary(std::ostream& os, const Summary& s, const sc_core::sc_time& sim, double wall_s,
                   const std::string& out_dir) {
  char buf[512];
  const double hit = s.iotlb_lookups ? 100.0 * static_cast<double>(s.iotlb_hits) / static_cast<double>(s.iotlb_lookups) : 0.0;
  std::snprintf(buf, sizeof buf,
                "simulated %.3f us in %.2f s\n"
                "DMA        %llu requests (%llu faulted), %.2f Gbit/s\n"
                "latency    p50 %.0f ns, p99 %.0f ns, mean %.1f ns\n"
                "IOTLB      %.2f%% hits of %llu lookups, %llu walks (%llu table reads)\n"
                "invalidate %llu commands, %llu syncs; host CPU %.1f us\n",
                to_ns(sim) / 1000.0, wall_s, static_cast<unsigned long long>(s.dma_requests),
                static_cast<unsigned long long>(s.dma_faults), s.throughput_gbit_s, s.latency_p50_ns,
                s.latency_p99_ns, s.latency_mean_ns, hit, static_cast<unsigned long long>(s.iotlb_lookups),
                static_cast<unsigned long long>(s.walks), static_cast<unsigned long long>(s.walk_reads),
                static_cast<unsigned long long>(s.inv_commands), static_cast<unsigned long long>(s.inv_syncs),
                static_cast<double>(s.host_cpu_ps) / 1e6);
  os << buf;
  if (s.atc_lookups || s.pri_requests) {
    std::snprintf(buf, sizeof buf, "ATS        %llu translation requests, ATC %.2f%% hits of %llu lookups, %llu invalidations\n",
                  static_cast<unsigned long long>(s.ats_translation_requests),
                  s.atc_lookups ? 100.0 * static_cast<double>(s.atc_hits) / static_cast<double>(s.atc_lookups) : 0.0,
                  static_cast<unsigned long long>(s.atc_lookups), static_cast<unsigned long long>(s.atc_invalidations));
    os << buf;
  }
  if (s.pri_requests || s.iopf_groups) {
    std::snprintf(buf, sizeof buf, "PRI        %llu page requests, %llu fault groups handled by the host\n",
                  static_cast<unsigned long long>(s.pri_requests), static_cast<unsigned long long>(s.iopf_groups));
    os << buf;
  }
  if (s.msi_sent || s.msi_delivered || s.msi_lost || s.msi_spurious) {
    std::snprintf(buf, sizeof buf,
                  "MSI        %llu sent, %llu delivered, %llu lost, %llu spurious, latency p50 %.0f ns p99 %.0f ns\n",
                  static_cast<unsigned long long>(s.msi_sent), static_cast<unsigned long long>(s.msi_delivered),
                  static_cast<unsigned long long>(s.msi_lost), static_cast<unsigned long long>(s.msi_spurious),
                  s.msi_latency_p50_ns, s.msi_latency_p99_ns);
    os << buf;
  }
  os << "results    " << out_dir << "/stats.json\n";
}

}  // namespace iommusim
