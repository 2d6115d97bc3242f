// A built platform: the modules of a validated config, bound together, plus the workloads given
// to the host. Owns every module; destroying it tears the platform down.
#pragma once
#include <systemc>

#include <memory>
#include <string>
#include <vector>

#include "platforms/config.h"

namespace iommusim {
class SparseMemory;
class SystemBus;
class CpuInterrupts;
class RootPort;
class Endpoint;
namespace smmuv3 { class SmmuV3; }
namespace vtd { class VtdIommu; }
namespace amdvi { class AmdVi; }
namespace its { class Its; }
class HasStats;
namespace host { class LinuxHost; }

struct Platform {
  std::vector<std::unique_ptr<sc_core::sc_module>> modules;  // construction order
  SparseMemory* memory = nullptr;
  SystemBus* bus = nullptr;           // the IOMMUs' output: DRAM and interrupt windows
  CpuInterrupts* interrupts = nullptr;
  std::vector<HasStats*> iommus;  // every IOMMU, any architecture, in config order
  std::vector<smmuv3::SmmuV3*> smmus;
  std::vector<vtd::VtdIommu*> vtds;
  std::vector<amdvi::AmdVi*> amdvis;
  std::vector<its::Its*> irqchips;
  std::vector<RootPort*> root_ports;
  std::vector<Endpoint*> endpoints;
  host::LinuxHost* host = nullptr;
};

// Builds and binds the platform described by cfg. Must run before sc_start, in a fresh simulation
// context. Throws ConfigError for topologies the models cannot build.
std::unique_ptr<Platform> build_platform(const PlatformConfig& cfg, const Registry& reg);

struct SimResult {
  bool workloads_finished = false;  // false if run.duration ended the run first
  double wall_s = 0;
};
// Runs the simulation until every workload finished or run.duration passed, whichever is first.
// `progress`: draw a progress line on stderr (platforms/progress.h), redrawn in place on a terminal.
SimResult simulate(Platform& pf, const PlatformConfig& cfg, bool progress = false);

}  // namespace iommusim
