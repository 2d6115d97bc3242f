// Host software model: boot (driver probe, default domains), kernel API and workload threads.
#include "models/host/linux_host.h"

#include <sysc/kernel/sc_spawn.h>

#include <algorithm>
#include <bit>
#include <cstring>
#include <stdexcept>

#include "models/common/log.h"
#include "models/host/amdvi_driver.h"
#include "models/host/its_msi.h"
#include "models/iommu/smmuv3/smmuv3_defs.h"
#include "models/irq/cpu_interrupts.h"
#include "models/host/iommufd.h"
#include "models/host/smmuv3_driver.h"
#include "models/host/vtd_driver.h"
#include "models/host/trace_replay.h"

namespace iommusim::host {

namespace {
// The CPU's own accesses (MMIO, functional table stores, device doorbells) are rare and not on
// the DMA path, so they use a stack payload rather than a pool.
void cpu_access(tlm::tlm_generic_payload& gp, bool write, uint64_t addr, const void* data, size_t len) {
  gp.set_command(write ? tlm::TLM_WRITE_COMMAND : tlm::TLM_READ_COMMAND);
  gp.set_address(addr);
  gp.set_data_ptr(const_cast<unsigned char*>(static_cast<const unsigned char*>(data)));
  gp.set_data_length(static_cast<unsigned>(len));
  gp.set_streaming_width(static_cast<unsigned>(len));
  gp.set_response_status(tlm::TLM_INCOMPLETE_RESPONSE);
}
}  // namespace

// Timed register access through one of the host's MMIO ports; the CPU stalls for the access.
struct LinuxHost::MmioPort final : Mmio {
  LinuxHost& h;
  unsigned idx;
  MmioPort(LinuxHost& host, unsigned i) : h(host), idx(i) {}
  uint64_t access(bool wr, uint64_t off, uint64_t v, unsigned len) {
    tlm::tlm_generic_payload gp;
    cpu_access(gp, wr, off, &v, len);
    sc_core::sc_time d = sc_core::SC_ZERO_TIME;
    h.mmio[idx]->b_transport(gp, d);
    if (!gp.is_response_ok()) throw std::runtime_error("host: MMIO access failed at offset " + std::to_string(off));
    h.cpu_.spend(d, h.cpu_.current);
    return len == 4 ? (v & 0xFFFFFFFFull) : v;
  }
  uint64_t read(uint64_t off, unsigned len) override { return access(false, off, 0, len); }
  void write(uint64_t off, uint64_t v, unsigned len) override { access(true, off, v, len); }
};

LinuxHost::LinuxHost(sc_core::sc_module_name name, const HostParams& p, uint64_t /*seed*/)
    : sc_module(name),
      mem("mem"),
      mmio("mmio"),
      bars("bars"),
      p_(p),
      stats_(this->name()),
      cpu_(stats_),
      alloc_(p.phys_base, p.phys_size),
      sva_(std::make_unique<Sva>(cpu_, p.sva, stats_)),
      iopf_(std::make_unique<Iopf>(cpu_, p.sva, *sva_, stats_)),
      msi_stats_(std::make_unique<MsiStats>(stats_)) {
  SC_THREAD(boot);
}

LinuxHost::~LinuxHost() {
  // Domains may outlive the devices (testbench-owned) or belong to another device: unlink first.
  for (auto& e : eps_) e.pci.leave_domain();
}

void LinuxHost::read(uint64_t pa, void* dst, size_t len) {
  tlm::tlm_generic_payload gp;
  cpu_access(gp, false, pa, dst, len);
  if (mem->transport_dbg(gp) != len) throw std::runtime_error("host: memory read outside memory");
}

void LinuxHost::write(uint64_t pa, const void* src, size_t len) {
  tlm::tlm_generic_payload gp;
  cpu_access(gp, true, pa, src, len);
  if (mem->transport_dbg(gp) != len) throw std::runtime_error("host: memory write outside memory");
}

void LinuxHost::add_its(const std::string& name, uint64_t its_base) {
  if (its_) throw std::invalid_argument("host: one ITS per platform is supported");
  ports_.push_back(std::make_unique<MmioPort>(*this, static_cast<unsigned>(ports_.size())));
  its_ = std::make_unique<ItsMsi>();
  its_->drv = std::make_unique<ItsDriver>(name, p_, phys(), alloc_, cpu_, *ports_.back(), its_base, stats_);
  msi_ctrl_ = its_.get();
}

void LinuxHost::its_probe() { its_->drv->probe(); }

// Linux's arm_smmu_setup_msis + arm_smmu_setup_irqs for the event queue: an LPI for the SMMU's
// DeviceID, its doorbell (physical: the SMMU's own writes are not translated) and data into
// EVENTQ_IRQ_CFG0/1, then IRQ_CTRL.EVENTQ_IRQEN (acknowledged in IRQ_CTRLACK). The LPI's handler is
// the driver's event-queue servicing.
void LinuxHost::setup_smmu_msis() {
  if (!msi_ctrl_ || !intc_) return;
  for (const auto& [iommu, devid] : smmu_msi_devids_) {
    MsiTarget t;
    if (const int err = msi_ctrl_->alloc(devid, 1, 0, t)) {
      log::get(name())->warn("{}: no LPI for the event queue ({}): wired interrupt kept", drivers_.at(iommu)->name(), err);
      continue;
    }
    Mmio& m = *ports_.at(iommu);
    m.write64(smmuv3::reg::EVENTQ_IRQ_CFG0, t.doorbell_pa);
    m.write32(smmuv3::reg::EVENTQ_IRQ_CFG1, t.data);
    m.write32(smmuv3::reg::IRQ_CTRL, smmuv3::irq_ctrl::EVENTQ_IRQEN);
    if (!(m.read32(smmuv3::reg::IRQ_CTRLACK) & smmuv3::irq_ctrl::EVENTQ_IRQEN))
      throw std::runtime_error(drivers_.at(iommu)->name() + ": IRQ_CTRL not acknowledged");
    intc_->set_handler(t.cpu, t.intid, event_irqs_.at(iommu));
  }
}

unsigned LinuxHost::add_smmuv3(const std::string& name, sc_core::sc_event& sync_wake, sc_core::sc_event& eventq_irq) {
  const unsigned idx = static_cast<unsigned>(drivers_.size());
  ports_.push_back(std::make_unique<MmioPort>(*this, static_cast<unsigned>(ports_.size())));
  drivers_.push_back(
      std::make_unique<SmmuV3Driver>(name, p_, phys(), alloc_, cpu_, *ports_.back(), sync_wake, ids_, stats_));
  drivers_.back()->set_iopf_sink(iopf_.get());
  event_irqs_.push_back(&eventq_irq);
  return idx;
}

unsigned LinuxHost::add_vtd(const std::string& name, sc_core::sc_event* prq_irq) {
  const unsigned idx = static_cast<unsigned>(drivers_.size());
  ports_.push_back(std::make_unique<MmioPort>(*this, static_cast<unsigned>(ports_.size())));
  auto drv = std::make_unique<VtdDriver>(name, p_, phys(), alloc_, cpu_, *ports_.back(), stats_);
  drv->set_prq_irq(prq_irq);
  drv->set_iopf_sink(iopf_.get());
  drivers_.push_back(std::move(drv));
  event_irqs_.push_back(nullptr);  // fault records are counted by the model; no host handler yet
  return idx;
}

unsigned LinuxHost::add_amdvi(const std::string& name, bool iotlb_sup, sc_core::sc_event* ppr_irq) {
  const unsigned idx = static_cast<unsigned>(drivers_.size());
  ports_.push_back(std::make_unique<MmioPort>(*this, static_cast<unsigned>(ports_.size())));
  auto drv = std::make_unique<AmdViDriver>(name, p_, phys(), alloc_, cpu_, *ports_.back(), ids_, stats_, iotlb_sup);
  drv->set_ppr_irq(ppr_irq);
  drv->set_iopf_sink(iopf_.get());
  drivers_.push_back(std::move(drv));
  event_irqs_.push_back(nullptr);  // the event log is counted by the model; no host handler yet
  return idx;
}

unsigned LinuxHost::add_endpoint(const std::string& name, uint16_t rid, unsigned iommu, sc_core::sc_event& irq,
                                 const DeviceCaps& caps) {
  if (iommu >= drivers_.size()) throw std::invalid_argument("host: endpoint " + name + " names an unknown IOMMU");
  const unsigned idx = static_cast<unsigned>(eps_.size());
  Ep e{name, rid, iommu, {}, &irq, nullptr, {}};
  e.pci.name = name;
  e.pci.rid = rid;
  e.pci.ats_cap = caps.ats;
  e.pci.ats_qdep = caps.ats_qdep == 0 ? 32 : caps.ats_qdep;
  e.pci.pasid_bits = caps.pasid_bits;
  e.pci.pri_capacity = caps.pri_capacity;
  // Capability registers in the device's BAR (models/pcie/dma_job.h).
  auto config_write = [this, idx](uint64_t off, const void* v, unsigned len, const char* what) {
    tlm::tlm_generic_payload gp;
    cpu_access(gp, true, off, v, len);
    sc_core::sc_time d = sc_core::SC_ZERO_TIME;
    bars[idx]->b_transport(gp, d);
    if (!gp.is_response_ok())
      throw std::runtime_error("host: device " + eps_[idx].name + " refused its " + what + " write");
  };
  // ATS Control: Enable (bit 15), STU (bits 4:0, log2 of the unit - 12).
  e.pci.ats_control = [config_write](bool on, unsigned stu_shift) {
    const uint16_t v = static_cast<uint16_t>((on ? kAtsControlEnable : 0u) |
                                             ((stu_shift > 12 ? stu_shift - 12 : 0) & kAtsControlStuMask));
    config_write(kAtsControlOffset, &v, 2, "ATS Control");
  };
  e.pci.pasid_control = [config_write](bool on) {
    const uint16_t v = on ? kPasidControlEnable : 0;
    config_write(kPasidControlOffset, &v, 2, "PASID Control");
  };
  // PRI: the allocation is written while disabled, then Enable (PCIe: allocation changes need Enable clear).
  e.pci.pri_control = [config_write](bool on, uint32_t alloc) {
    const uint16_t off = 0;
    config_write(kPriControlOffset, &off, 2, "PRI Control");
    if (!on) return;
    config_write(kPriAllocOffset, &alloc, 4, "PRI allocation");
    const uint16_t en = kPriControlEnable;
    config_write(kPriControlOffset, &en, 2, "PRI Control");
  };
  eps_.push_back(std::move(e));
  return idx;
}

Mm& LinuxHost::create_mm() {
  const Mm::Format f = p_.cpu_arch == CpuArch::Arm64       ? Mm::Format::ArmV8_48
                       : p_.cpu_arch == CpuArch::X86_64_La57 ? Mm::Format::X86_5
                                                             : Mm::Format::X86_4;
  mms_.push_back(std::make_unique<Mm>(phys(), alloc_, f, mms_.size() + 1, &cpu_, p_.cost, MmOptions{}, &stats_));
  return *mms_.back();
}

int LinuxHost::sva_bind(unsigned ep, Mm& mm, uint32_t& pasid) {
  auto& e = eps_.at(ep);
  return sva_->bind(e.pci, *drivers_.at(e.iommu), mm, pasid);
}

int LinuxHost::sva_unbind(unsigned ep, Mm& mm) { return sva_->unbind(eps_.at(ep).pci, mm); }

void LinuxHost::add_workload(unsigned ep, const StreamWorkloadParams& w) {
  eps_.at(ep).work.push_back({true, w, {}, false, {}});
}

void LinuxHost::add_workload(unsigned ep, const MapUnmapWorkloadParams& w) {
  eps_.at(ep).work.push_back({false, {}, w, false, {}});
}

void LinuxHost::add_workload(unsigned ep, const TraceWorkloadParams& w) {
  WorkItem item;
  item.stream = false;
  item.trace = true;
  item.t = w;
  eps_.at(ep).work.push_back(std::move(item));
}

void LinuxHost::boot() {
  for (auto& d : drivers_) d->probe();
  for (auto& d : drivers_) d->enable_irq_remapping();
  if (its_) its_probe();
  setup_smmu_msis();
  for (size_t i = 0; i < eps_.size(); ++i) {
    auto& e = eps_[i];
    IommuDriver& drv = *drivers_[e.iommu];
    auto dom = drv.alloc_paging_domain();
    drv.attach(*dom, e.pci);
    e.dma = std::make_unique<DmaDomain>(std::move(dom), cpu_, p_, e.name, stats_, drv.reserved_regions());
  }
  for (unsigned i = 0; i < drivers_.size(); ++i)
    if (event_irqs_[i]) sc_core::sc_spawn([this, i] { event_thread(i); });
  for (auto& proc : sva_procs_) {
    ++pending_;
    sc_core::sc_spawn([this, &proc] {
      wait_booted();
      run_sva(proc);
      if (--pending_ == 0) all_done_.notify(sc_core::SC_ZERO_TIME);
    });
  }
  for (unsigned i = 0; i < eps_.size(); ++i) {
    if (eps_[i].work.empty()) continue;
    ++pending_;
    sc_core::sc_spawn([this, i] { ep_thread(i); });
  }
  booted_ = true;
  booted_ev_.notify(sc_core::SC_ZERO_TIME);
}

void LinuxHost::wait_booted() {
  if (!booted_) sc_core::wait(booted_ev_);
}

void LinuxHost::event_thread(unsigned iommu) {
  auto* drv = static_cast<SmmuV3Driver*>(drivers_[iommu].get());
  for (;;) {
    sc_core::wait(*event_irqs_[iommu]);
    drv->drain_events();
  }
}

uint64_t LinuxHost::alloc_buffer(uint64_t size, uint64_t align) { return alloc_.alloc(size, align); }

void LinuxHost::free_buffer(uint64_t pa, uint64_t size) { alloc_.free(pa, size); }

std::optional<unsigned> LinuxHost::find_endpoint(const std::string& name) const {
  for (unsigned i = 0; i < eps_.size(); ++i)
    if (eps_[i].name == name) return i;
  return std::nullopt;
}

void LinuxHost::fail_run(const std::string& msg) {
  if (error_.empty()) error_ = msg;
  sc_core::sc_stop();
}

DmaDomain& LinuxHost::dma_domain(unsigned ep) {
  auto& e = eps_.at(ep);
  if (!e.dma) throw std::logic_error("host: DMA domain used before boot");
  return *e.dma;
}

Iommufd& LinuxHost::iommufd() {
  if (!iommufd_) {
    if (!booted_) throw std::logic_error("host: iommufd used before boot");
    iommufd_ = std::make_unique<Iommufd>(cpu_, p_, stats_, name());
    for (auto& e : eps_) iommufd_->add_device({e.name, &e.pci, drivers_.at(e.iommu).get()});
  }
  return *iommufd_;
}

int LinuxHost::try_attach(unsigned ep, IommuDomain& d) {
  auto& e = eps_.at(ep);
  IommuDriver& drv = *drivers_.at(e.iommu);
  std::string why;
  if (const int err = drv.check_attach(d, why)) {
    log::get(name())->warn("attach {} to a domain on {}: {} (EINVAL)", e.name, drv.name(), why);
    return -err;
  }
  drv.attach(d, e.pci);
  return 0;
}

uint64_t LinuxHost::dma_map(unsigned ep, uint64_t pa, uint64_t size, IoProt prot, uint64_t max_page) {
  return dma_domain(ep).map(pa, size, prot, max_page);
}

void LinuxHost::dma_unmap(unsigned ep, uint64_t iova, uint64_t size) { dma_domain(ep).unmap(iova, size); }

JobResult LinuxHost::run_job(unsigned ep, DmaJob j) {
  j.tag = next_tag_++;
  auto& e = eps_.at(ep);
  tlm::tlm_generic_payload gp;
  cpu_access(gp, true, kJobDoorbellOffset, &j, sizeof j);
  sc_core::sc_time d = sc_core::SC_ZERO_TIME;
  bars[ep]->b_transport(gp, d);
  if (!gp.is_response_ok()) throw std::runtime_error("host: device " + e.name + " refused a DMA job");
  JobResult r;
  for (;;) {
    sc_core::wait(*e.irq);
    tlm::tlm_generic_payload rd;
    cpu_access(rd, false, kJobResultOffset, &r, sizeof r);
    sc_core::sc_time d2 = sc_core::SC_ZERO_TIME;
    bars[ep]->b_transport(rd, d2);
    if (rd.is_response_ok() && r.tag == j.tag) return r;
  }
}

void LinuxHost::ep_thread(unsigned ep) {
  wait_booted();
  auto& e = eps_[ep];
  for (size_t i = 0; i < e.work.size(); ++i) {
    const auto& w = e.work[i];
    std::string label = w.trace ? w.t.label : w.stream ? w.s.label : w.m.label;
    if (label.empty()) label = e.name + ".w" + std::to_string(i);
    work_stats_.push_back(std::make_unique<StatGroup>(label, &stats_));
    if (w.trace)
      run_trace(ep, w.t, *work_stats_.back());
    else if (w.stream)
      run_stream(ep, w.s, *work_stats_.back());
    else
      run_map_unmap(ep, w.m, *work_stats_.back());
  }
  if (--pending_ == 0) all_done_.notify(sc_core::SC_ZERO_TIME);
}

namespace {
void put(StatGroup& g, const char* name, const char* desc, uint64_t v) { g.counter(name, desc) += v; }
}  // namespace

void LinuxHost::run_stream(unsigned ep, const StreamWorkloadParams& w, StatGroup& g) {
  // The buffer comes from pages of page_size (hugepages when larger than 4 KiB), as a benchmark
  // would allocate it: a window smaller than a hugepage still sits in one.
  const uint64_t mapped = (w.window + w.page_size - 1) / w.page_size * w.page_size;
  const uint64_t buf = alloc_buffer(mapped, w.page_size);
  const uint64_t iova = dma_map(ep, buf, mapped, IoProt{}, w.page_size);
  if (iova == 0) throw std::runtime_error("host: no IOVA space for a " + std::to_string(w.window) + "-byte window");
  DmaJob j;
  j.iova = iova;
  j.window = w.window;
  j.size = static_cast<uint32_t>(w.request_size);
  j.pattern = w.pattern;
  j.stride = w.stride;
  j.read_fraction = w.read_fraction;
  if (w.warmup) {
    j.count = w.warmup;
    run_job(ep, j);
  }
  j.count = w.count;
  const JobResult r = run_job(ep, j);
  put(g, "requests", "requests measured", r.requests);
  put(g, "faults", "requests that faulted", r.faults);
  put(g, "bytes", "bytes moved", r.bytes);
  put(g, "duration_ps", "first issue to last completion", r.end_ps - r.start_ps);
  put(g, "latency_mean_ps", "mean request latency", r.lat_mean_ps);
  put(g, "latency_p50_ps", "median request latency", r.lat_p50_ps);
  put(g, "latency_p99_ps", "99th percentile request latency", r.lat_p99_ps);
  put(g, "window", "bytes mapped", w.window);
  const double secs = static_cast<double>(r.end_ps - r.start_ps) * 1e-12;
  const double gbps = secs > 0 ? static_cast<double>(r.bytes) * 8 / secs / 1e9 : 0.0;
  g.derived("throughput_gbit_s", "payload throughput in Gbit/s", [gbps] { return gbps; });
  if (w.unmap_at_end) dma_unmap(ep, iova, mapped);
}

void LinuxHost::run_map_unmap(unsigned ep, const MapUnmapWorkloadParams& w, StatGroup& g) {
  const uint64_t buf = alloc_buffer(w.buffer, 4096);
  Histogram& iter_ns = g.histogram("iteration", "ns", "map + DMA + unmap, as the driver sees it");
  Counter& bytes = g.counter("bytes", "bytes transferred");
  Counter& faults = g.counter("faults", "DMA requests that faulted");
  Counter& iters = g.counter("iterations", "iterations completed");
  Counter& probe_faults = g.counter("probe_faults", "post-unmap probes that faulted");
  Counter& probe_stale = g.counter("probe_stale", "post-unmap probes that succeeded (stale translation)");
  const sc_core::sc_time start = sc_core::sc_time_stamp();
  const uint64_t busy0 = cpu_.busy_ps();
  for (uint64_t i = 0; i < w.iterations; ++i) {
    const sc_core::sc_time t0 = sc_core::sc_time_stamp();
    const uint64_t iova = dma_map(ep, buf, w.buffer, IoProt{});
    if (iova == 0) throw std::runtime_error("host: dma_map failed: IOVA space exhausted");
    DmaJob j;
    j.iova = iova;
    j.window = w.buffer;
    j.size = static_cast<uint32_t>(w.request_size);
    j.pattern = DmaPattern::Sequential;
    j.read_fraction = w.write ? 0.0 : 1.0;
    j.count = (w.buffer + w.request_size - 1) / w.request_size;
    const JobResult r = run_job(ep, j);
    bytes += r.bytes;
    faults += r.faults;
    dma_unmap(ep, iova, w.buffer);
    if (w.probe_after_unmap) {
      DmaJob p;
      p.iova = iova;
      p.window = p.size = static_cast<uint32_t>(std::min<uint64_t>(w.request_size, w.buffer));
      p.count = 1;
      const JobResult pr = run_job(ep, p);
      ++(pr.faults ? probe_faults : probe_stale);
    }
    ++iters;
    iter_ns.record(static_cast<uint64_t>(to_ns(sc_core::sc_time_stamp() - t0)));
  }
  const double secs = to_ns(sc_core::sc_time_stamp() - start) * 1e-9;
  const double gbps = secs > 0 ? static_cast<double>(bytes.v) * 8 / secs / 1e9 : 0.0;
  put(g, "elapsed_ps", "workload duration", to_ps(sc_core::sc_time_stamp() - start));
  put(g, "cpu_ps", "CPU time charged during the workload", cpu_.busy_ps() - busy0);
  g.derived("throughput_gbit_s", "payload throughput in Gbit/s", [gbps] { return gbps; });
}

void LinuxHost::run_trace(unsigned ep, const TraceWorkloadParams& w, StatGroup& g) {
  TraceReplay(*this, ep, w, g).run();
}

}  // namespace iommusim::host
