// Host AMD-Vi driver: probe, device table, command buffer and the R2.4 flush policy of DMA domains.
// SVA and GCR3 tables: amdvi_sva.cpp; the PPR log: amdvi_ppr.cpp.
#include "models/host/amdvi_driver.h"

#include <sysc/kernel/sc_spawn.h>

#include <algorithm>
#include <cerrno>

#include "models/common/log.h"

namespace iommusim::host {

using namespace iommusim::amdvi;

void AmdViDomain::flush(uint64_t iova, uint64_t size, bool pde) {
  // Per IOMMU with a device of this domain behind it (in attach order): its pages, then the ATCs
  // of its ATS devices, then its wait.
  std::vector<AmdViDriver*> iommus;
  for (const PciDevice* dev : devices())
    for (const auto& [x, drv] : behind_)
      if (x == dev && std::find(iommus.begin(), iommus.end(), drv) == iommus.end()) iommus.push_back(drv);
  for (AmdViDriver* d : iommus) {
    std::vector<const PciDevice*> ats;
    for (const PciDevice* dev : devices())
      for (const auto& [x, drv] : behind_)
        if (x == dev && drv == d && dev->ats_enabled) ats.push_back(dev);
    d->flush_pages(*this, iova, size, pde, ats);
  }
}
void AmdViDomain::flush_range(uint64_t iova, uint64_t size, uint64_t) { flush(iova, size, false); }
void AmdViDomain::flush_walk(uint64_t iova, uint64_t size) { flush(iova, size, true); }
void AmdViDomain::flush_all() { flush(0, 0, true); }

AmdViDriver::AmdViDriver(std::string name, const HostParams& p, PhysMem& mem, PhysAlloc& alloc, Cpu& cpu,
                         Mmio& mmio, KernelIds& ids, StatGroup& parent, bool iotlb_sup)
    : name_(std::move(name)),
      ids_(ids),
      p_(p),
      mem_(mem),
      alloc_(alloc),
      cpu_(cpu),
      mmio_(mmio),
      iotlb_sup_(iotlb_sup),
      stats_(name_, &parent),
      cmds_(stats_.counter("commands", "commands written to the command buffer (waits included)")),
      waits_(stats_.counter("waits", "COMPLETION_WAITs issued and polled for")),
      iotlb_invs_(stats_.counter("iotlb_pages", "INVALIDATE_IOTLB_PAGES commands (ATS devices)")),
      wait_ns_(stats_.histogram("wait", "ns", "tail write to observed COMPLETION_WAIT store")),
      pasid_attach_(stats_.counter("pasid_attach", "PASIDs attached to SVA domains (GCR3 entries set)")),
      pasid_detach_(stats_.counter("pasid_detach", "PASIDs detached (GCR3 entries cleared)")),
      gcr3_tables_(stats_.counter("gcr3_tables", "GCR3 tables allocated, root and lower levels")),
      pasid_flushes_(stats_.counter("pasid_flushes", "per (device, PASID) invalidations (R2.4), each with its wait")),
      ppr_entries_(stats_.counter("ppr_entries", "PPR log entries read")),
      ppr_reported_(stats_.counter("ppr_reported", "page requests reported to the fault core")),
      ppr_refused_(stats_.counter("ppr_refused", "page requests answered FAILURE by the driver (R3.1)")),
      ppr_ignored_(stats_.counter("ppr_ignored", "PPR entries of another type or an unknown DeviceID, not answered")),
      ppr_overflows_(stats_.counter("ppr_overflows", "PPR log overflows seen (logging restarted)")),
      ppr_responses_(stats_.counter("ppr_responses", "COMPLETE_PPR_REQUEST commands queued")) {
  ppr_svc_.entry_cost = p.cost.prq_entry;
}

void AmdViDriver::probe() {
  efr_ = mmio_.read(reg::EXT_FEATURE, 8);
  mmio_.write64(reg::CONTROL, 0);
  // Device table for every 16-bit DeviceID: 2 MiB (Size field 511).
  const uint64_t dt_bytes = uint64_t{65536} * devtab::ENTRY_BYTES;
  devtab_ = alloc_.alloc(dt_bytes, dt_bytes);
  mmio_.write64(reg::DEV_TAB_BASE, devtab_ | devtab::SIZE.make(devtab::size_field(65536)));
  cmdbuf_ = alloc_.alloc(ring::bytes(cmd_len_), 4096);
  mmio_.write64(reg::CMD_BUF_BASE, ring::encode_base(cmdbuf_, cmd_len_));
  evtlog_ = alloc_.alloc(ring::bytes(8), 4096);
  mmio_.write64(reg::EVENT_LOG_BASE, ring::encode_base(evtlog_, 8));
  mmio_.write64(reg::CMD_BUF_HEAD, 0);
  mmio_.write64(reg::CMD_BUF_TAIL, 0);
  sem_ = alloc_.alloc(64, 64);
  control_ = control::CMD_BUF_EN | control::EVENT_LOG_EN | control::IOMMU_EN | control::COHERENT;
  // Guest translation on as Linux's iommu_enable_gt does whenever EFR.GTSup is set.
  if (efr_ & efr::GT_SUP) control_ |= control::GT_EN;
  const bool ppr = efr_ & efr::PPR_SUP;
  if (ppr) {
    // amd_iommu_enable_ppr_log: a zeroed log (the driver recognises new entries by a non-zero
    // type), its base and length, Head = Tail = 0, then PPREn, PPRIntEn and PPRLogEn.
    ppr_ = alloc_.alloc(ring::bytes(ppr_len_), 4096);
    mem_.zero(ppr_, ring::bytes(ppr_len_));
    mmio_.write64(reg::PPR_LOG_BASE, ring::encode_base(ppr_, ppr_len_));
    mmio_.write64(reg::PPR_LOG_HEAD, 0);
    mmio_.write64(reg::PPR_LOG_TAIL, 0);
    control_ |= control::PPR_EN | control::PPR_INT_EN | control::PPR_LOG_EN;
  }
  mmio_.write64(reg::CONTROL, control_);
  // As Linux at boot: drop everything cached.
  if (efr_ & efr::IA_SUP) submit({cmd_inv_iommu_all()});
  if (ppr) sc_core::sc_spawn([this] { ppr_thread(); }, (name_ + "_ppr").c_str());
}

std::unique_ptr<IommuDomain> AmdViDriver::alloc_paging_domain() {
  // Mode 4 (48-bit IOVA), Linux's default for DMA domains, capped by what EFR.HATS allows.
  const unsigned hats = efr::hats_levels(static_cast<unsigned>(efr::HATS.get(efr_)));
  const unsigned mode = std::min(4u, hats ? hats : 4u);
  auto pgt = std::make_unique<IoPgtableAmd>(mem_, alloc_, AmdV1Codec(mode));
  // One DomainID allocator for all AMD IOMMUs: the ID is valid on every one of them.
  return std::make_unique<AmdViDomain>(*this, ids_.amd_domain++, std::move(pgt));
}

int AmdViDriver::check_attach(const IommuDomain& d, std::string& why) const {
  // R7.4: AMD domains span AMD IOMMUs; dirty tracking (not used by DMA domains) is the only limit.
  if (!dynamic_cast<const AmdViDomain*>(&d)) return why = "domain belongs to another IOMMU driver", EINVAL;
  return 0;
}

void AmdViDriver::write_dte(const DevState& s) {
  const PciDevice& dev = *s.dev;
  Dte e;
  e.v = e.tv = true;
  e.mode = static_cast<uint8_t>(s.dma->mode());
  e.pt_root = s.dma->root();
  e.ir = e.iw = true;
  e.domain_id = s.dte_domain();
  e.i = iotlb_sup_ && dev.ats_cap;  // IOTLB enable: the device may send Translation Requests
  if (s.gcr3) {
    e.gv = true;
    e.glx = s.glx;
    e.gcr3_root = s.gcr3;
    e.gpm = s.gpm;
  }
  e.ppr = s.ppr;
  if (s.irt) {  // remapped interrupts through the device's table (amdvi_irq.cpp)
    e.iv = true;
    e.int_tab_len = kIrteLog2;
    e.int_table_root = s.irt;
    e.int_ctl = dte::INTCTL_REMAP;
  }
  uint64_t raw[DTE_QWORDS];
  encode(e, raw);
  mem_.write(devtab_ + uint64_t{dev.rid} * devtab::ENTRY_BYTES, raw, sizeof raw);
}

void AmdViDriver::attach(IommuDomain& d, PciDevice& dev) {
  auto& dom = static_cast<AmdViDomain&>(d);
  const uint16_t rid = dev.rid;
  const bool ats = iotlb_sup_ && dev.ats_cap;
  if (dev.ats_enabled) dev.set_ats(false, 0);  // as pdev_disable_caps, before the DTE changes
  DevState& s = devs_[rid];
  s.dev = &dev;
  s.dma = &dom;
  write_dte(s);
  dom.note_device(dev, *this);
  move_device(dev, d);
  // Everything the DTE's DomainID may hold from the previous domain (the device's own GCR3
  // DomainID once it has one: its requests without a PASID are cached under it).
  std::vector<Cmd> cmds{cmd_inv_devtab_entry(rid), cmd_inv_iommu_pages(s.dte_domain(), 0, ~uint64_t{0}, true)};
  if (ats) {
    cmds.push_back(cmd_inv_iotlb_pages(rid, static_cast<uint8_t>(dev.ats_qdep), 0, ~uint64_t{0}));
    ++iotlb_invs_;
  }
  submit(cmds);
  if (ats) dev.set_ats(true, 12);
}

void AmdViDriver::flush_pages(const AmdViDomain& dom, uint64_t iova, uint64_t size, bool pde,
                              const std::vector<const PciDevice*>& ats_devs) {
  const auto [start, len] = inv_span(iova, size);
  std::vector<Cmd> cmds{cmd_inv_iommu_pages(dom.id(), start, len, size ? pde : true)};
  // Devices of the domain with a GCR3 table cache their requests without a PASID under their own
  // DomainID (their DTE's): those entries come from this domain's table too.
  for (const auto& [rid, s] : devs_)
    if (s.dma == &dom && s.gcr3 && s.dev && s.dev->domain == &dom)
      cmds.push_back(cmd_inv_iommu_pages(s.gcr3_domid, start, len, size ? pde : true));
  for (const PciDevice* dev : ats_devs) {
    cmds.push_back(cmd_inv_iotlb_pages(dev->rid, static_cast<uint8_t>(dev->ats_qdep), start, len));
    ++iotlb_invs_;
  }
  submit(cmds);
}

uint64_t AmdViDriver::queue(const std::vector<Cmd>& cmds, bool wait) {
  const uint32_t n = static_cast<uint32_t>(cmds.size()) + (wait ? 1u : 0u);
  // Building the commands costs the CPU first; the copy, the token and the Tail write then happen
  // together, so commands of concurrent callers never interleave and tokens land in order.
  cpu_.spend(to_sc(p_.cost.cmd_build) * static_cast<double>(n), cpu_.current);
  // Room check against the last known head; re-read it only when the ring looks full, and wait
  // for the IOMMU to consume commands while it stays full.
  const sc_core::sc_time t0 = sc_core::sc_time_stamp(), poll = to_sc(p_.cost.poll_interval);
  const sc_core::sc_time timeout(100, sc_core::SC_MS);  // R2.4: Linux's command-buffer time-out
  while (ring::free_slots(head_, tail_, cmd_len_) < n) {
    head_ = static_cast<uint32_t>(mmio_.read(reg::CMD_BUF_HEAD, 8) & ring::PTR_MASK);
    if (ring::free_slots(head_, tail_, cmd_len_) >= n) break;
    if (sc_core::sc_time_stamp() - t0 >= timeout)
      throw std::runtime_error(name_ + ": AMD-Vi command buffer stayed full");
    sc_core::wait(poll);
  }
  uint64_t token = 0;
  uint64_t raw[CMD_QWORDS];
  auto put = [&](const Cmd& c) {
    encode(c, raw);
    mem_.write(cmdbuf_ + tail_, raw, sizeof raw);
    tail_ = ring::next(tail_, cmd_len_);
  };
  for (const Cmd& c : cmds) put(c);
  if (wait) put(cmd_completion_wait(sem_, token = ++seq_, false));
  cmds_ += n;
  mmio_.write64(reg::CMD_BUF_TAIL, tail_);
  return token;
}

void AmdViDriver::submit(const std::vector<Cmd>& cmds) {
  const uint64_t token = queue(cmds, true);
  const uint32_t after = tail_;  // Tail just past our wait
  ++waits_;
  const sc_core::sc_time t0 = sc_core::sc_time_stamp(), poll = to_sc(p_.cost.poll_interval);
  const sc_core::sc_time timeout(100, sc_core::SC_MS);  // R2.4: Linux's completion-wait time-out
  uint64_t v = 0;
  // Waits complete in command order, so the semaphore only grows: a later caller's token also
  // means ours has been stored.
  while ((mem_.read(sem_, &v, 8), v) < token) {
    if (sc_core::sc_time_stamp() - t0 >= timeout) {
      log::get(name_)->error("COMPLETION_WAIT timed out");
      throw std::runtime_error(name_ + ": AMD-Vi completion wait timed out");
    }
    sc_core::wait(poll);
  }
  // Everything up to our wait has been consumed (unless a later caller's wait already said more).
  if (ring::count(head_, after, cmd_len_) <= ring::count(head_, tail_, cmd_len_)) head_ = after;
  const sc_core::sc_time waited = sc_core::sc_time_stamp() - t0;
  timeline::span(tl_, timeline::Cat::InvWait, "COMPLETION_WAIT wait", t0, sc_core::sc_time_stamp(), cmds.size() + 1);
  cpu_.account(waited, Cpu::Cat::InvWait);
  wait_ns_.record(static_cast<uint64_t>(to_ns(waited)));
}

}  // namespace iommusim::host
