// Host AMD-Vi driver: probe, device table, command buffer and the R2.4 flush policy.
#include "models/host/amdvi_driver.h"

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
    d->flush_pages(id_, iova, size, pde, ats);
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
      wait_ns_(stats_.histogram("wait", "ns", "tail write to observed COMPLETION_WAIT store")) {}

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
  mmio_.write64(reg::CONTROL, control::CMD_BUF_EN | control::EVENT_LOG_EN | control::IOMMU_EN | control::COHERENT);
  // As Linux at boot: drop everything cached.
  if (efr_ & efr::IA_SUP) submit({cmd_inv_iommu_all()});
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

void AmdViDriver::attach(IommuDomain& d, PciDevice& dev) {
  auto& dom = static_cast<AmdViDomain&>(d);
  const uint16_t rid = dev.rid;
  const bool ats = iotlb_sup_ && dev.ats_cap;
  if (dev.ats_enabled) dev.set_ats(false, 0);  // as pdev_disable_caps, before the DTE changes
  Dte e;
  e.v = e.tv = true;
  e.mode = static_cast<uint8_t>(dom.mode());
  e.pt_root = dom.root();
  e.ir = e.iw = true;
  e.domain_id = dom.id();
  e.i = ats;  // IOTLB enable: the device may send Translation Requests
  uint64_t raw[DTE_QWORDS];
  encode(e, raw);
  mem_.write(devtab_ + uint64_t{rid} * devtab::ENTRY_BYTES, raw, sizeof raw);
  dom.note_device(dev, *this);
  move_device(dev, d);
  std::vector<Cmd> cmds{cmd_inv_devtab_entry(rid), cmd_inv_iommu_pages(dom.id(), 0, ~uint64_t{0}, true)};  // all pages
  if (ats) {
    cmds.push_back(cmd_inv_iotlb_pages(rid, static_cast<uint8_t>(dev.ats_qdep), 0, ~uint64_t{0}));
    ++iotlb_invs_;
  }
  submit(cmds);
  if (ats) dev.set_ats(true, 12);
}

void AmdViDriver::flush_pages(uint16_t domain, uint64_t iova, uint64_t size, bool pde,
                              const std::vector<const PciDevice*>& ats_devs) {
  // size 0 means the whole domain: the "all pages" encoding.
  const uint64_t start = size ? iova : 0, len = size ? size : ~uint64_t{0};
  std::vector<Cmd> cmds{cmd_inv_iommu_pages(domain, start, len, size ? pde : true)};
  for (const PciDevice* dev : ats_devs) {
    cmds.push_back(cmd_inv_iotlb_pages(dev->rid, static_cast<uint8_t>(dev->ats_qdep), start, len));
    ++iotlb_invs_;
  }
  submit(cmds);
}

void AmdViDriver::submit(const std::vector<Cmd>& cmds) {
  std::vector<Cmd> all = cmds;
  all.push_back(cmd_completion_wait(sem_, ++seq_, false));
  // Room check against the last known head; re-read it only when the ring looks full.
  if (ring::free_slots(head_, tail_, cmd_len_) < all.size()) {
    head_ = static_cast<uint32_t>(mmio_.read(reg::CMD_BUF_HEAD, 8) & ring::PTR_MASK);
    if (ring::free_slots(head_, tail_, cmd_len_) < all.size())
      throw std::runtime_error(name_ + ": AMD-Vi command buffer full");
  }
  uint64_t raw[CMD_QWORDS];
  for (const Cmd& c : all) {
    encode(c, raw);
    mem_.write(cmdbuf_ + tail_, raw, sizeof raw);
    tail_ = ring::next(tail_, cmd_len_);
  }
  cmds_ += all.size();
  ++waits_;
  cpu_.spend(to_sc(p_.cost.cmd_build) * static_cast<double>(all.size()), cpu_.current);
  mmio_.write64(reg::CMD_BUF_TAIL, tail_);
  const sc_core::sc_time t0 = sc_core::sc_time_stamp(), poll = to_sc(p_.cost.poll_interval);
  const sc_core::sc_time timeout(100, sc_core::SC_MS);  // R2.4: Linux's completion-wait time-out
  uint64_t v = 0;
  while ((mem_.read(sem_, &v, 8), v) != seq_) {
    if (sc_core::sc_time_stamp() - t0 >= timeout) {
      log::get(name_)->error("COMPLETION_WAIT timed out");
      throw std::runtime_error(name_ + ": AMD-Vi completion wait timed out");
    }
    sc_core::wait(poll);
  }
  head_ = tail_;  // everything up to our wait has been consumed
  const sc_core::sc_time waited = sc_core::sc_time_stamp() - t0;
  cpu_.account(waited, Cpu::Cat::InvWait);
  wait_ns_.record(static_cast<uint64_t>(to_ns(waited)));
}

}  // namespace iommusim::host
