// Speed benchmark: end-to-end DMA (endpoint -> root port -> SMMUv3 -> memory) against the
// empty-SystemC loosely-timed ceiling measured in the same process: the same topology (an
// initiator and three b_transport hops: two pass-through modules and a target) with empty models,
// the same quantum and the same simulated time per transaction, so both pay the same number of
// socket crossings and synchronisations. Each figure is the best of three runs (the machine is noisy).
//   iommusim_bench [--count N]   prints one line per variant:
//   <variant> dma_per_s=<n> ceiling_per_s=<m> ratio=<n/m>
#include <systemc>
#include <tlm>
#include <tlm_utils/simple_initiator_socket.h>
#include <tlm_utils/simple_target_socket.h>
#include <tlm_utils/tlm_quantumkeeper.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "models/host/linux_host.h"
#include "platforms/config.h"
#include "platforms/platform.h"

extern "C" int sc_main(int, char**) { return 0; }

namespace {
using namespace sc_core;

void fresh_context() {
  sc_curr_simcontext = new sc_simcontext();
  sc_default_global_context = sc_curr_simcontext;
}

// Empty models: an initiator looping b_transport through one pass-through hop into a target.
struct Target : sc_module {
  tlm_utils::simple_target_socket<Target> in{"in"};
  explicit Target(sc_module_name n) : sc_module(n) { in.register_b_transport(this, &Target::bt); }
  void bt(tlm::tlm_generic_payload& gp, sc_time&) { gp.set_response_status(tlm::TLM_OK_RESPONSE); }
};
struct Hop : sc_module {
  tlm_utils::simple_target_socket<Hop> in{"in"};
  tlm_utils::simple_initiator_socket<Hop> out{"out"};
  explicit Hop(sc_module_name n) : sc_module(n) { in.register_b_transport(this, &Hop::bt); }
  void bt(tlm::tlm_generic_payload& gp, sc_time& d) { out->b_transport(gp, d); }
};
struct Initiator : sc_module {
  tlm_utils::simple_initiator_socket<Initiator> out{"out"};
  uint64_t n;
  sc_time step;
  SC_HAS_PROCESS(Initiator);
  Initiator(sc_module_name nm, uint64_t count, sc_time s) : sc_module(nm), n(count), step(s) { SC_THREAD(run); }
  void run() {
    tlm_utils::tlm_quantumkeeper qk;
    tlm::tlm_generic_payload gp;
    unsigned char data[64] = {};
    gp.set_data_ptr(data);
    gp.set_data_length(64);
    gp.set_streaming_width(64);
    gp.set_command(tlm::TLM_READ_COMMAND);
    for (uint64_t i = 0; i < n; ++i) {
      gp.set_address(i * 64);
      sc_time d = qk.get_local_time();
      out->b_transport(gp, d);
      qk.inc(step);
      if (qk.need_sync()) qk.sync();
    }
  }
};

double ceiling(uint64_t n, const sc_time& quantum, const sc_time& step) {
  fresh_context();
  tlm::tlm_global_quantum::instance().set(quantum);
  Initiator i("init", n, step);
  Hop h1("port"), h2("iommu");
  Target t("memory");
  i.out.bind(h1.in);
  h1.out.bind(h2.in);
  h2.out.bind(t.in);
  const auto w0 = std::chrono::steady_clock::now();
  sc_start();
  const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - w0).count();
  return static_cast<double>(n) / s;
}

struct DmaRun {
  double per_s;
  double sim_ns_per_dma;
  sc_time quantum;
};

DmaRun dma(uint64_t n, const std::vector<std::string>& extra, const std::string& config) {
  using namespace iommusim;
  fresh_context();
  std::vector<std::string> sets = {"run.workloads.dma.count=" + std::to_string(n)};
  sets.insert(sets.end(), extra.begin(), extra.end());
  const PlatformConfig cfg = load_config(std::string(IOMMUSIM_SOURCE_DIR) + "/configs/" + config, sets,
                                         default_registry());
  const sc_time q = sc_time::from_value(cfg.quantum.ps);
  tlm::tlm_global_quantum::instance().set(q);
  auto pf = build_platform(cfg, default_registry());
  const SimResult r = simulate(*pf, cfg);
  double dur_ps = 0, reqs = 0;
  pf->host->stats().find("dma.duration_ps", dur_ps);
  pf->host->stats().find("dma.requests", reqs);
  if (!r.workloads_finished || reqs == 0) {
    std::fprintf(stderr, "bench: the DMA workload did not finish\n");
    std::exit(1);
  }
  // Wall time covers boot and warm-up too, so the rate is slightly pessimistic.
  return {reqs / r.wall_s, dur_ps / 1000.0 / reqs, q};
}

void report(const char* variant, uint64_t n, const std::vector<std::string>& sets,
            const std::string& config = "bench-dma.yaml") {
  DmaRun d = dma(n, sets, config);
  for (int k = 0; k < 2; ++k) d.per_s = std::max(d.per_s, dma(n, sets, config).per_s);
  double c = 0;
  for (int k = 0; k < 3; ++k) c = std::max(c, ceiling(n, d.quantum, sc_time(d.sim_ns_per_dma, SC_NS)));
  std::printf("%s dma_per_s=%.0f ceiling_per_s=%.0f ratio=%.3f\n", variant, d.per_s, c, d.per_s / c);
  std::fflush(stdout);
}

}  // namespace

int main(int argc, char** argv) {
  uint64_t n = 2000000;
  for (int i = 1; i < argc; ++i)
    if (!std::strcmp(argv[i], "--count") && i + 1 < argc) n = std::strtoull(argv[++i], nullptr, 10);
  sc_core::sc_report_handler::set_actions(sc_core::SC_INFO, sc_core::SC_DO_NOTHING);
  try {
    report("iotlb-hit", n, {});
    report("vtd-iotlb-hit", n, {}, "bench-dma-vtd.yaml");
    report("amdvi-iotlb-hit", n, {}, "bench-dma-amdvi.yaml");
    // ATS: the device's ATC hits and it sends translated requests, which the SMMU passes unwalked.
    report("ats-atc-hit", n, {"platform.iommus.smmu0.ats=true", "platform.endpoints.nic0.ats.enabled=true"});
    report("walk-heavy", n / 4,
           {"run.workloads.dma.window=64MiB", "run.workloads.dma.pattern=random",
            "platform.iommus.smmu0.iotlb.entries=64"});
  } catch (const std::exception& e) {
    std::fprintf(stderr, "iommusim_bench: error: %s\n", e.what());
    return 1;
  }
  return 0;
}
