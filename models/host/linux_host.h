// The host software model: a CPU running the kernel's IOMMU code (per-architecture drivers, the
// DMA API on default domains) and the workloads of a run, all as SystemC threads whose every
// software step costs simulated CPU time.
//
// The host writes its tables and queues into simulated memory with functional (debug) stores,
// charging their CPU cost; it reaches IOMMU registers and device BARs by timed MMIO.
// SVA and I/O page faults go through sva.h and iopf.h.
// iommufd is in iommufd.h; MSIs in linux_host_irq.cpp. Not modelled yet: multiple CPUs contending
// for a command queue, device groups with more than one device, hot-plug.
#pragma once
#include <systemc>
#include <tlm>
#include <tlm_utils/multi_passthrough_initiator_socket.h>
#include <tlm_utils/simple_initiator_socket.h>

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "models/common/stats.h"
#include "models/host/cpu.h"
#include "models/host/dma_domain.h"
#include "models/host/host_params.h"
#include "models/host/iommu_driver.h"
#include "models/host/iopf.h"
#include "models/host/mm.h"
#include "models/host/sva.h"
#include "models/host/mmio.h"
#include "models/host/msi_controller.h"
#include "models/host/phys_alloc.h"
#include "models/host/phys_mem.h"
#include "models/host/workloads.h"
#include "models/pcie/dma_job.h"

namespace iommusim {
class CpuInterrupts;
}

namespace iommusim::host {

class Iommufd;

// The PCIe capabilities the kernel finds on a function.
struct DeviceCaps {
  bool ats = false;
  unsigned ats_qdep = 32;     // Invalidate Queue Depth (0 = 32)
  unsigned pasid_bits = 0;    // Max PASID Width, 0 = no PASID capability
  uint32_t pri_capacity = 0;  // Outstanding Page Request Capacity, 0 = no PRI capability
};

class LinuxHost : public sc_core::sc_module, public HasStats, private PhysMem {
 public:
  tlm_utils::simple_initiator_socket<LinuxHost> mem;                  // functional access to memory
  tlm_utils::multi_passthrough_initiator_socket<LinuxHost> mmio;      // IOMMU register files, in add order
  tlm_utils::multi_passthrough_initiator_socket<LinuxHost> bars;      // endpoint BARs, in add order

  LinuxHost(sc_core::sc_module_name name, const HostParams& p, uint64_t seed = 1);
  ~LinuxHost() override;
  SC_HAS_PROCESS(LinuxHost);

  // Platform wiring (elaboration). Returns the index used by the kernel API below.
  unsigned add_smmuv3(const std::string& name, sc_core::sc_event& sync_wake, sc_core::sc_event& eventq_irq);
  // prq_irq / ppr_irq: the model's page-request interrupt (optional: the driver polls without it).
  unsigned add_vtd(const std::string& name, sc_core::sc_event* prq_irq = nullptr);
  unsigned add_amdvi(const std::string& name, bool iotlb_sup = false, sc_core::sc_event* ppr_irq = nullptr);
  unsigned add_endpoint(const std::string& name, uint16_t rid, unsigned iommu, sc_core::sc_event& irq,
                        const DeviceCaps& caps = {});
  void add_workload(unsigned ep, const StreamWorkloadParams& w);
  void add_workload(unsigned ep, const MapUnmapWorkloadParams& w);
  void add_workload(unsigned ep, const TraceWorkloadParams& w);
  void add_workload(unsigned ep, const SvaWorkloadParams& w);

  // Kernel API for workloads and testbenches (call from a SystemC thread).
  void wait_booted();
  uint64_t alloc_buffer(uint64_t size, uint64_t align = 4096);
  uint64_t dma_map(unsigned ep, uint64_t pa, uint64_t size, IoProt prot = {}, uint64_t max_page = ~uint64_t{0});
  void dma_unmap(unsigned ep, uint64_t iova, uint64_t size);
  JobResult run_job(unsigned ep, DmaJob j);
  DmaDomain& dma_domain(unsigned ep);
  // R7: attach endpoint ep to domain d (its DMA domain's or another IOMMU's): 0, or -EINVAL with
  // the reason logged when ep's IOMMU cannot use d. A successful attach replaces the RID's domain.
  int try_attach(unsigned ep, IommuDomain& d);
  unsigned iommu_of(unsigned ep) const { return eps_.at(ep).iommu; }
  const PciDevice& pci_device(unsigned ep) const { return eps_.at(ep).pci; }

  // Process address spaces in the CPU's page-table format (HostParams::cpu_arch), owned by the host.
  Mm& create_mm();
  // SVA (R1) for endpoint ep: 0 and the PASID, or a negative errno (sva.h). Thread context.
  int sva_bind(unsigned ep, Mm& mm, uint32_t& pasid);
  int sva_unbind(unsigned ep, Mm& mm);
  Sva& sva() { return *sva_; }
  Iopf& iopf() { return *iopf_; }
  // The iommufd context (iommufd.h), created on first use after boot; its device index is the
  // endpoint index.
  Iommufd& iommufd();
  void free_buffer(uint64_t pa, uint64_t size);
  // Endpoint index by name (trace actors), nullopt if no such endpoint.
  std::optional<unsigned> find_endpoint(const std::string& name) const;
  const std::string& endpoint_name(unsigned ep) const { return eps_.at(ep).name; }
  size_t endpoint_count() const { return eps_.size(); }

  // A workload's input proved bad mid-run (e.g. a trace line): keeps the first message and stops
  // the simulation. The run driver reports error() and exits with status 2.
  void fail_run(const std::string& msg);
  const std::string& error() const { return error_; }
  PhysMem& phys() { return *this; }
  IommuDriver& driver(unsigned iommu) { return *drivers_.at(iommu); }
  Cpu& cpu() { return cpu_; }

  // ---- MSI (R4, linux_host_irq.cpp) ----
  // Elaboration: the CPU interrupt model handlers register with, and the Arm MSI controller (the
  // ITS driver; none on x86 platforms).
  void set_interrupts(CpuInterrupts* c) { intc_ = c; }
  void set_msi_controller(MsiController* c) { msi_ctrl_ = c; }
  // An ITS whose control frame is the next `mmio` binding (after every IOMMU's); its driver becomes
  // the MSI controller. Elaboration.
  void add_its(const std::string& name, uint64_t its_base);
  // The SMMUv3 `iommu`'s own MSIs carry `devid`: with an ITS, its event queue interrupt becomes an
  // LPI at boot (arm_smmu_setup_msis). Elaboration.
  void set_smmu_msi_devid(unsigned iommu, uint16_t devid) { smmu_msi_devids_.emplace_back(iommu, devid); }
  // request_irq for MSI-X vector `vector` of endpoint ep: allocates the interrupt (x86: a vector and
  // an IRTE when the IOMMU remaps; Arm: an LPI from the MSI controller, and the doorbell prepared in
  // the RID's current domain, R4.2), programs and unmasks the vector, enables MSI-X, registers the
  // handler. 0 or a negative errno (EOPNOTSUPP: an unmanaged domain without an MSI cookie; ENXIO:
  // no MSI controller; EBUSY: already requested; EINVAL: no such vector). Thread context.
  int request_irq(unsigned ep, uint16_t vector);
  int free_irq(unsigned ep, uint16_t vector);
  // A device event raising MSI-X vector `vector` of endpoint ep (the device's event-source register,
  // kMsixTriggerOffset); false if the device has no such vector. Testbenches and trace replay.
  bool trigger_msi(unsigned ep, uint16_t vector);
  // Interrupts the handler of (ep, vector) ran for; 0 if never requested.
  uint64_t irq_handled(unsigned ep, uint16_t vector) const;
  // The MSI the vector was programmed with (after request_irq).
  std::optional<MsiMsg> irq_message(unsigned ep, uint16_t vector) const;
  // Seed 001: an unmanaged (driver-owned) paging domain from ep's IOMMU driver, owned by the host;
  // msi_cookie as iommu_get_msi_cookie() (VFIO): MSIs then map into the SW_MSI window.
  IommuDomain& alloc_unmanaged_domain(unsigned ep, bool msi_cookie);
  // Attaches ep to d (R7 errors as try_attach) under HostParams::msi.policy: ordered refuses with
  // -EBUSY once ep has IRQs; shared_tables and iommufd_sw_msi install ep's MSI pages into d.
  int attach_domain(unsigned ep, IommuDomain& d);
  // Back to the default DMA domain (policy as attach_domain).
  int attach_default_domain(unsigned ep) { return attach_domain(ep, dma_domain(ep).domain()); }

  // Notified when every configured workload has finished.
  sc_core::sc_event& workloads_done() { return all_done_; }
  bool has_workloads() const {
    if (!sva_procs_.empty()) return true;
    for (const auto& e : eps_)
      if (!e.work.empty()) return true;
    return false;
  }
  StatGroup& stats() override { return stats_; }

 private:
  struct MmioPort;
  struct WorkItem {
    bool stream;
    StreamWorkloadParams s;
    MapUnmapWorkloadParams m;
    bool trace = false;  // replaces `stream` as the discriminator when set
    TraceWorkloadParams t;
  };
  struct Ep {
    std::string name;
    uint16_t rid;
    unsigned iommu;
    PciDevice pci;
    sc_core::sc_event* irq;
    std::unique_ptr<DmaDomain> dma;
    std::vector<WorkItem> work;
  };
  void read(uint64_t pa, void* dst, size_t len) override;
  void write(uint64_t pa, const void* src, size_t len) override;
  void boot();
  void ep_thread(unsigned ep);
  void event_thread(unsigned iommu);
  void run_stream(unsigned ep, const StreamWorkloadParams& w, StatGroup& g);
  void run_map_unmap(unsigned ep, const MapUnmapWorkloadParams& w, StatGroup& g);
  void run_trace(unsigned ep, const TraceWorkloadParams& w, StatGroup& g);
  // sva_workload.cpp: one thread per process of `sva` workloads.
  struct SvaProcess {
    std::string mm;
    SvaWorkloadParams p;              // the first member's
    std::vector<unsigned> eps;        // members' endpoints, config order
    std::vector<std::string> labels;  // members' labels
  };
  void run_sva(SvaProcess& proc);

  // MSI state (linux_host_irq.cpp).
  struct Irq {
    unsigned ep;
    uint16_t vector;
    bool live = true;
    uint32_t cpu = 0, intid = 0;
    MsiMsg msg;
    bool remapped = false;      // x86: an IRTE holds it (remap_handle)
    uint32_t remap_handle = 0;
    bool controller = false;    // Arm: allocated from the MSI controller
    uint64_t doorbell_pa = 0;   // Arm: the doorbell's physical address
    const IommuDomain* prepared_on = nullptr;  // the domain its doorbell IOVA was mapped in
    sc_core::sc_event ev;       // the handler's wake-up
    uint64_t handled = 0;
  };
  // Per domain: how MSIs map into it (Linux's iommu_dma_cookie / msi cookie), and the doorbell
  // pages mapped so far (page -> IOVA).
  struct MsiCookie {
    enum class Kind { Dma, Unmanaged } kind = Kind::Dma;
    bool msi_cookie = false;  // unmanaged: iommu_get_msi_cookie was called
    uint64_t next = 0;        // unmanaged with cookie: next IOVA of the SW_MSI window
    std::map<uint64_t, uint64_t> pages;
  };
  struct MsiStats {
    StatGroup g;
    Counter& requested;
    Counter& freed;
    Counter& failed;
    Counter& doorbell_maps;
    Counter& refused_attach;
    Counter& installed;
    explicit MsiStats(StatGroup& parent);
  };
  MsiCookie& cookie(IommuDomain& d);
  void its_probe();
  int prepare_msi(unsigned ep, IommuDomain& d, uint64_t doorbell_pa, uint64_t& iova);
  uint64_t sw_msi_iova(uint64_t doorbell_page);
  void bar_access(unsigned ep, bool write, uint64_t off, void* v, unsigned len);
  Irq* find_irq(unsigned ep, uint16_t vector) const;

  HostParams p_;
  StatGroup stats_;
  Cpu cpu_;
  PhysAlloc alloc_;
  KernelIds ids_;
  std::vector<std::unique_ptr<MmioPort>> ports_;
  std::vector<std::unique_ptr<IommuDriver>> drivers_;
  std::vector<sc_core::sc_event*> event_irqs_;
  std::vector<Ep> eps_;
  std::vector<SvaProcess> sva_procs_;
  std::vector<std::unique_ptr<Mm>> mms_;  // before sva_: SVA state refers to them
  std::unique_ptr<Sva> sva_;
  std::unique_ptr<Iopf> iopf_;
  std::vector<std::unique_ptr<StatGroup>> work_stats_;
  bool booted_ = false;
  unsigned pending_ = 0;
  uint64_t next_tag_ = 1;
  std::string error_;
  sc_core::sc_event booted_ev_, all_done_;
  CpuInterrupts* intc_ = nullptr;
  MsiController* msi_ctrl_ = nullptr;
  void setup_smmu_msis();
  std::vector<std::pair<unsigned, uint16_t>> smmu_msi_devids_;
  struct ItsMsi;
  std::unique_ptr<ItsMsi> its_;
  std::vector<std::unique_ptr<Irq>> irqs_;
  std::map<const IommuDomain*, std::unique_ptr<MsiCookie>> cookies_;
  std::vector<std::unique_ptr<IommuDomain>> unmanaged_;
  std::map<uint64_t, uint64_t> sw_msi_pages_;  // iommufd_sw_msi: doorbell page -> its global IOVA
  uint32_t next_vector_ = 0;
  std::unique_ptr<MsiStats> msi_stats_;
  std::unique_ptr<Iommufd> iommufd_;  // last: its domains go before the drivers and devices
};

}  // namespace iommusim::host
