// Registers every shipped model type once: name -> kind, description, parameters, factory.
#include "models/host/linux_host.h"
#include "models/host/workloads.h"
#include "models/iommu/amdvi/amdvi.h"
#include "models/iommu/smmuv3/smmuv3.h"
#include "models/iommu/vtd/vtd.h"
#include "models/irq/cpu_interrupts.h"
#include "models/irq/its.h"
#include "models/memory/sparse_memory.h"
#include "models/pcie/endpoint.h"
#include "models/pcie/root_port.h"
#include "platforms/registry.h"

namespace iommusim {

namespace {
Registry make_registry() {
  Registry r;
  r.add<SparseMemoryParams>("sparse_memory", Kind::Memory, "sparse DRAM with latency and one bandwidth channel",
                            [](const char* n, const SparseMemoryParams& p, uint64_t) { return new SparseMemory(n, p); });
  r.add<smmuv3::SmmuV3Params>(
      "smmuv3", Kind::Iommu, "Arm SMMUv3: stream table, CDs, VMSAv8-64 tables, command and event queues",
      [](const char* n, const smmuv3::SmmuV3Params& p, uint64_t seed) { return new smmuv3::SmmuV3(n, p, seed); });
  r.add<vtd::VtdParams>(
      "vtd", Kind::Iommu, "Intel VT-d: legacy/scalable root and context tables, PASID tables, x86 first/second stage, "
      "invalidation queue, fault recording, interrupt remapping",
      [](const char* n, const vtd::VtdParams& p, uint64_t seed) { return new vtd::VtdIommu(n, p, seed); });
  r.add<amdvi::AmdViParams>(
      "amdvi", Kind::Iommu, "AMD-Vi: device table, v1 host and v2 (GCR3) guest tables, command buffer, event log, "
      "interrupt remapping",
      [](const char* n, const amdvi::AmdViParams& p, uint64_t seed) { return new amdvi::AmdVi(n, p, seed); });
  r.add<RootPortParams>("pcie_root_port", Kind::RootPort, "PCIe root port with its link to one endpoint",
                        [](const char* n, const RootPortParams& p, uint64_t) { return new RootPort(n, p); });
  r.add<EndpointParams>("pcie_endpoint", Kind::Endpoint, "PCIe endpoint with a DMA engine",
                        [](const char* n, const EndpointParams& p, uint64_t seed) { return new Endpoint(n, p, seed); });
  r.add<host::HostParams>(
      "linux_host", Kind::Host, "host CPU running Linux's IOMMU drivers and DMA API",
      [](const char* n, const host::HostParams& p, uint64_t seed) { return new host::LinuxHost(n, p, seed); });
  r.add<CpuInterruptsParams>(
      "cpu_interrupts", Kind::Interrupts,
      "the CPUs' side of interrupt delivery: the x86 interrupt window, handlers, delivered/spurious/lost counts, latency",
      [](const char* n, const CpuInterruptsParams& p, uint64_t) { return new CpuInterrupts(n, p); });
  r.add<its::ItsParams>(
      "gic_its", Kind::IrqChip,
      "Arm GICv3 ITS: GITS_TRANSLATER doorbell, device/collection tables and ITTs in memory, command queue",
      [](const char* n, const its::ItsParams& p, uint64_t seed) { return new its::Its(n, p, seed); });
  r.add<host::StreamWorkloadParams>("stream", Kind::Workload,
                                    "host maps a buffer once; the device runs a synthetic pattern over it");
  r.add<host::MapUnmapWorkloadParams>("map_unmap", Kind::Workload,
                                      "driver loop of dma_map, device DMA of the buffer, dma_unmap");
  r.add<host::SvaWorkloadParams>("sva", Kind::Workload,
                                 "a process sharing its address space with devices (SVA): device DMA at the PASID, munmaps");
  r.add<host::TraceWorkloadParams>("trace", Kind::Workload,
                                   "replays a trace file of host and device operations (traces/README.md)");
  return r;
}
}  // namespace

const Registry& default_registry() {
  static const Registry r = make_registry();
  return r;
}

}  // namespace iommusim
