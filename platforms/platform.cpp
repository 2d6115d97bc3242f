// Platform builder: creates each section's model through the registry and binds the sockets.
#include "platforms/platform.h"

#include <sysc/kernel/sc_spawn.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <map>

#include "models/common/sim_time.h"
#include "models/common/units.h"
#include "models/host/linux_host.h"
#include "models/host/workloads.h"
#include "models/iommu/amdvi/amdvi.h"
#include "models/iommu/smmuv3/smmuv3.h"
#include "models/iommu/vtd/vtd.h"
#include "models/irq/cpu_interrupts.h"
#include "models/irq/its.h"
#include "models/memory/sparse_memory.h"
#include "models/memory/system_bus.h"
#include "models/pcie/endpoint.h"
#include "models/pcie/root_port.h"
#include "platforms/progress.h"

namespace iommusim {
namespace {

[[noreturn]] void fail(const Section& s, const std::string& what) {
  throw ConfigError(s.origin.file + ":" + std::to_string(s.origin.line) + ": " + s.name + ": " + what);
}

template <class M>
M* create(Platform& pf, const Section& s, const Registry& reg, uint64_t seed) {
  const ModelType* t = reg.find(s.type);
  if (!t || !t->create) fail(s, "type '" + s.type + "' cannot be built");
  sc_core::sc_module* m = t->create(s.name.c_str(), *s.params, seed);
  pf.modules.emplace_back(m);
  M* typed = dynamic_cast<M*>(m);
  if (!typed) fail(s, "type '" + s.type + "' is not usable in this position yet");
  return typed;
}

}  // namespace

std::unique_ptr<Platform> build_platform(const PlatformConfig& cfg, const Registry& reg) {
  if (cfg.iommus.empty()) throw ConfigError(cfg.path + ": platform.iommus: at least one IOMMU is required");
  if (cfg.endpoints.empty()) throw ConfigError(cfg.path + ": platform.endpoints: at least one endpoint is required");
  auto pf = std::make_unique<Platform>();
  {
    const auto& mem = params_as<SparseMemoryParams>(*cfg.memory.params);
    const auto& hp = params_as<host::HostParams>(*cfg.host.params);
    if (hp.phys_base > mem.size || hp.phys_size > mem.size - hp.phys_base)
      fail(cfg.host, "phys_base + phys_size (" + units::format_bytes(hp.phys_base) + " + " +
                         units::format_bytes(hp.phys_size) + ") exceeds memory size " + units::format_bytes(mem.size));
  }
  pf->memory = create<SparseMemory>(*pf, cfg.memory, reg, cfg.seed);
  pf->host = create<host::LinuxHost>(*pf, cfg.host, reg, cfg.seed);
  pf->host->mem.bind(pf->memory->socket);
  pf->interrupts = create<CpuInterrupts>(*pf, cfg.interrupts, reg, cfg.seed);
  pf->host->set_interrupts(pf->interrupts);
  // What IOMMUs write goes through the address map: DRAM, and the x86 interrupt window when an
  // x86 IOMMU may deliver into it.
  pf->modules.emplace_back(pf->bus = new SystemBus("bus"));
  pf->bus->out.bind(pf->memory->socket);
  const bool x86 = std::any_of(cfg.iommus.begin(), cfg.iommus.end(),
                               [](const Section& s) { return s.type == "vtd" || s.type == "amdvi"; });
  if (x86) {
    pf->bus->add_window(cfg.interrupts.name, CpuInterrupts::kX86WindowBase, CpuInterrupts::kX86WindowSize);
    pf->bus->out.bind(pf->interrupts->x86_window);
  }

  std::map<std::string, unsigned> iommu_index;
  // IOMMUs: each architecture's module binds the same three sockets; the host gets its driver.
  std::map<std::string, tlm::tlm_base_target_socket_b<>*> upstream;
  std::map<std::string, AtsPort*> ats_ports;  // IOMMUs that send ATS invalidations downstream
  for (const auto& s : cfg.iommus) {
    const ModelType* t = reg.find(s.type);
    if (!t || !t->create) fail(s, "type '" + s.type + "' cannot be built");
    sc_core::sc_module* m = t->create(s.name.c_str(), *s.params, cfg.seed);
    pf->modules.emplace_back(m);
    if (auto* smmu = dynamic_cast<smmuv3::SmmuV3*>(m)) {
      smmu->mem.bind(pf->bus->in);
      pf->host->mmio.bind(smmu->regs);
      iommu_index[s.name] = pf->host->add_smmuv3(s.name, smmu->sev(), smmu->eventq_irq());
      pf->host->set_smmu_msi_devid(iommu_index[s.name],
                                   static_cast<uint16_t>(params_as<smmuv3::SmmuV3Params>(*s.params).msi_device_id));
      upstream[s.name] = &smmu->upstream;
      ats_ports[s.name] = &smmu->ats();
      pf->smmus.push_back(smmu);
    } else if (auto* vtd = dynamic_cast<vtd::VtdIommu*>(m)) {
      vtd->mem.bind(pf->bus->in);
      pf->host->mmio.bind(vtd->regs);
      iommu_index[s.name] = pf->host->add_vtd(s.name, &vtd->prq_irq());
      upstream[s.name] = &vtd->upstream;
      ats_ports[s.name] = &vtd->ats();
      pf->vtds.push_back(vtd);
    } else if (auto* amd = dynamic_cast<amdvi::AmdVi*>(m)) {
      amd->mem.bind(pf->bus->in);
      pf->host->mmio.bind(amd->regs);
      iommu_index[s.name] = pf->host->add_amdvi(s.name, amd->iotlb_supported(), &amd->ppr_irq());
      upstream[s.name] = &amd->upstream;
      ats_ports[s.name] = &amd->ats();
      pf->amdvis.push_back(amd);
    } else {
      fail(s, "IOMMU type '" + s.type + "' has no host driver yet");
    }
    pf->iommus.push_back(dynamic_cast<HasStats*>(m));
  }
  // Interrupt translation services: control frame on the host's next MMIO port, translation
  // frame in the address map behind the IOMMUs, tables in DRAM.
  if (cfg.irqchips.size() > 1) fail(cfg.irqchips[1], "one ITS per platform is supported");
  for (const auto& s : cfg.irqchips) {
    auto* its = create<its::Its>(*pf, s, reg, cfg.seed);
    its->mem.bind(pf->memory->socket);
    its->set_sink(pf->interrupts);
    const auto& ip = params_as<its::ItsParams>(*s.params);
    try {
      pf->bus->add_window(s.name, ip.base + 0x10000, 0x10000);
    } catch (const std::invalid_argument& e) {
      fail(s, std::string("base: ") + e.what());
    }
    pf->bus->out.bind(its->doorbell);
    pf->host->mmio.bind(its->regs);
    pf->host->add_its(s.name, ip.base);
    pf->irqchips.push_back(its);
  }
  std::map<std::string, RootPort*> ports;
  std::map<std::string, unsigned> port_down_index;
  std::map<std::string, std::string> port_iommu;
  for (const auto& s : cfg.root_ports) {
    auto* rp = create<RootPort>(*pf, s, reg, cfg.seed);
    const auto it = iommu_index.find(s.ref);
    if (it == iommu_index.end()) fail(s, "iommu '" + s.ref + "' does not exist");
    rp->to_iommu.bind(*upstream.at(s.ref));
    // Downstream messages (ATS Invalidate Requests) from the IOMMU through this port.
    if (auto a = ats_ports.find(s.ref); a != ats_ports.end()) {
      port_down_index[s.name] = static_cast<unsigned>(a->second->down.size());
      a->second->down.bind(rp->from_host);
    }
    ports[s.name] = rp;
    port_iommu[s.name] = s.ref;
    pf->root_ports.push_back(rp);
  }
  std::map<std::string, unsigned> ep_index;
  std::map<std::string, std::string> port_user;
  for (const auto& s : cfg.endpoints) {
    auto* ep = create<Endpoint>(*pf, s, reg, cfg.seed);
    const auto it = ports.find(s.ref);
    if (it == ports.end()) fail(s, "port '" + s.ref + "' does not exist");
    if (auto u = port_user.find(s.ref); u != port_user.end())
      fail(s, "root port '" + s.ref + "' already links endpoint '" + u->second +
                  "' (one endpoint per root port: switches are not modelled yet)");
    port_user[s.ref] = s.name;
    ep->dma.bind(it->second->from_device);
    it->second->to_device.bind(ep->from_link);
    ep->set_rid(s.rid);
    ep->set_irq_sink(pf->interrupts);
    pf->host->bars.bind(ep->bar);
    const auto& ep_params = params_as<EndpointParams>(*s.params);
    if (auto a = ats_ports.find(port_iommu.at(s.ref)); a != ats_ports.end())
      a->second->add_device(s.rid, port_down_index.at(s.ref));
    host::DeviceCaps caps;
    caps.ats = ep_params.ats.enabled;
    caps.ats_qdep = static_cast<unsigned>(ep_params.ats.inv_queue_depth);
    caps.pasid_bits = static_cast<unsigned>(ep_params.pasid_bits);
    caps.pri_capacity = ep_params.pri.enabled ? static_cast<uint32_t>(ep_params.pri.capacity) : 0;
    ep_index[s.name] = pf->host->add_endpoint(s.name, s.rid, iommu_index.at(port_iommu.at(s.ref)), ep->irq(), caps);
    pf->endpoints.push_back(ep);
  }
  for (const auto& s : cfg.workloads) {
    const auto it = ep_index.find(s.ref);
    if (it == ep_index.end()) fail(s, "endpoint '" + s.ref + "' does not exist");
    if (s.type == "stream") {
      auto w = params_as<host::StreamWorkloadParams>(*s.params);
      if (w.label.empty()) w.label = s.name;
      if (w.page_size & (w.page_size - 1) || (w.page_size != 4096 && w.page_size != (2u << 20) && w.page_size != (1u << 30)))
        fail(s, "page_size must be 4KiB, 2MiB or 1GiB");
      pf->host->add_workload(it->second, w);
    } else if (s.type == "map_unmap") {
      auto w = params_as<host::MapUnmapWorkloadParams>(*s.params);
      if (w.label.empty()) w.label = s.name;
      pf->host->add_workload(it->second, w);
    } else if (s.type == "trace") {
      auto w = params_as<host::TraceWorkloadParams>(*s.params);
      if (w.label.empty()) w.label = s.name;
      if (w.file.empty()) fail(s, "file: a trace file is required");
      if (w.request_size & (w.request_size - 1)) fail(s, "request_size must be a power of two");
      // Relative to the config given on the command line, so a config and its traces move together.
      std::filesystem::path f(w.file);
      if (f.is_relative()) f = std::filesystem::path(cfg.path).parent_path() / f;
      w.file = f.lexically_normal().string();
      // Only existence here: the trace may be a FIFO, which opening would block on; it is read during the run.
      std::error_code ec;
      if (!std::filesystem::exists(f, ec) || std::filesystem::is_directory(f, ec))
        fail(s, "file: trace '" + w.file + "' does not exist");
      pf->host->add_workload(it->second, w);
    } else if (s.type == "sva") {
      auto w = params_as<host::SvaWorkloadParams>(*s.params);
      if (w.label.empty()) w.label = s.name;
      if (w.iterations * w.pages * 4096 > w.buffer)
        fail(s, "buffer: must hold iterations x pages x 4KiB (" + std::to_string(w.iterations * w.pages * 4096) + " bytes)");
      pf->host->add_workload(it->second, w);
    } else {
      fail(s, "workload type '" + s.type + "' is not supported");
    }
  }
  return pf;
}

SimResult simulate(Platform& pf, const PlatformConfig& cfg, bool progress) {
  SimResult r;
  if (pf.host->has_workloads())
    sc_core::sc_spawn([&] {
      sc_core::wait(pf.host->workloads_done());
      r.workloads_finished = true;
      sc_core::sc_stop();
    });
  else
    r.workloads_finished = true;
  // sc_stop() ending a run is normal, not worth SystemC's info message.
  sc_core::sc_report_handler::set_actions(sc_core::SC_INFO, sc_core::SC_DO_NOTHING);
  std::unique_ptr<ProgressLine> line;
  if (progress) line = std::make_unique<ProgressLine>(pf, cfg, isatty(2) == 1);
  const auto wall0 = std::chrono::steady_clock::now();
  sc_core::sc_start(to_sc(cfg.duration));
  r.wall_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - wall0).count();
  if (line) line->finish();
  return r;
}

}  // namespace iommusim
