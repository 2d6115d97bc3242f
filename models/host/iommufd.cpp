// iommufd: object table, domain linking and filling, device attach / replace / detach, SW MSI.
#include "models/host/iommufd.h"

#include <algorithm>
#include <cerrno>
#include <stdexcept>

#include "models/common/log.h"

namespace iommusim::host {

namespace {
const char* err_name(int err) {
  switch (-err) {
    case EINVAL: return "EINVAL";
    case EEXIST: return "EEXIST";
    case EADDRINUSE: return "EADDRINUSE";
    case ENOSPC: return "ENOSPC";
    case ENOENT: return "ENOENT";
    case EOVERFLOW: return "EOVERFLOW";
    case ENOMEM: return "ENOMEM";
    case EBUSY: return "EBUSY";
    case ENODEV: return "ENODEV";
    default: return "errno";
  }
}
// One scope per ioctl: names the operation for the failure log.
struct OpScope {
  const char*& slot;
  const char* saved;
  OpScope(const char*& s, const char* op) : slot(s), saved(s) { slot = op; }
  ~OpScope() { slot = saved; }
};
}  // namespace

Iommufd::Iommufd(Cpu& cpu, const HostParams& p, StatGroup& parent, const std::string& log_module)
    : cpu_(cpu),
      p_(p),
      stats_("iommufd", &parent),
      log_(log::get(log_module)),
      ioctls_(stats_.counter("ioctls", "iommufd operations called")),
      errors_(stats_.counter("errors", "iommufd operations that returned an error")),
      maps_(stats_.counter("maps", "IOAS areas mapped")),
      unmaps_(stats_.counter("unmaps", "IOAS areas unmapped")),
      hwpts_linked_(stats_.counter("hwpts_linked", "HWPTs linked to an IOAS and filled")),
      attaches_(stats_.counter("attaches", "successful device attaches")),
      replaces_(stats_.counter("replaces", "successful replaces")),
      detaches_(stats_.counter("detaches", "successful detaches")),
      msi_installs_(stats_.counter("msi_installs", "doorbell pages mapped into an HWPT's domain")) {}

Iommufd::~Iommufd() {
  // Devices still attached keep pointing at their domain until the host unlinks them.
  for (Dev& d : devs_)
    if (d.hwpt && d.d.pci) d.d.pci->leave_domain();
}

unsigned Iommufd::add_device(const IommufdDevice& d) {
  devs_.push_back(Dev{d, 0, std::nullopt, nullptr});
  return static_cast<unsigned>(devs_.size() - 1);
}

int Iommufd::fail(int err, const std::string& why) {
  why_ = why;
  if (quiet_) {
    log_->debug("iommufd {}: {} (-{}), trying the next domain", op_, why, err_name(err));
    return err;
  }
  ++errors_;
  log_->info("iommufd {}: {} (-{})", op_, why, err_name(err));
  return err;
}

// Fixed entry cost of one ioctl (system call, object lookup and locking).
void Iommufd::syscall() {
  ++ioctls_;
  why_.clear();
  cpu_.spend(to_sc(p_.cost.mm.syscall), Cpu::Cat::Other);
}

Iommufd::Ioas* Iommufd::find_ioas(uint32_t id) {
  auto it = ioas_.find(id);
  return it == ioas_.end() ? nullptr : &it->second;
}

Iommufd::Hwpt* Iommufd::find_hwpt(uint32_t id) {
  auto it = hwpts_.find(id);
  return it == hwpts_.end() ? nullptr : &it->second;
}

int Iommufd::bad_dev(unsigned dev) {
  return fail(-ENODEV, "no bound device " + std::to_string(dev));
}

const IoasTable* Iommufd::ioas_table(uint32_t ioas) const {
  auto it = ioas_.find(ioas);
  return it == ioas_.end() ? nullptr : &it->second.t;
}

IommuDomain* Iommufd::hwpt_domain(uint32_t hwpt) const {
  auto it = hwpts_.find(hwpt);
  return it == hwpts_.end() ? nullptr : it->second.dom.get();
}

std::optional<uint32_t> Iommufd::hwpt_ioas(uint32_t hwpt) const {
  auto it = hwpts_.find(hwpt);
  if (it == hwpts_.end()) return std::nullopt;
  return it->second.ioas;
}

std::vector<uint32_t> Iommufd::ioas_hwpts(uint32_t ioas) const {
  auto it = ioas_.find(ioas);
  return it == ioas_.end() ? std::vector<uint32_t>{} : it->second.hwpts;
}

std::optional<uint32_t> Iommufd::device_hwpt(unsigned dev) const {
  if (dev >= devs_.size() || !devs_[dev].hwpt) return std::nullopt;
  return devs_[dev].hwpt;
}

uint64_t Iommufd::hwpt_msi_bitmap(uint32_t hwpt) const {
  auto it = hwpts_.find(hwpt);
  return it == hwpts_.end() ? 0 : it->second.present_sw_msi;
}

// ---- Domains ----

void Iommufd::dom_map(Hwpt& h, uint64_t iova, uint64_t pa, uint64_t len, IoProt prot, uint64_t max_page) {
  const PgWork w = h.dom->map(iova, pa, len, prot, max_page);
  if (w.tables_freed) h.dom->flush_walk(iova, len);  // the IOMMU may still cache the replaced tables
  cpu_.spend(to_sc(p_.cost.map_call) + to_sc(p_.cost.pte_write) * w.ptes + to_sc(p_.cost.table_alloc) * w.tables,
             Cpu::Cat::Map);
}

void Iommufd::dom_unmap(Hwpt& h, uint64_t iova, uint64_t len) {
  uint64_t leaf = 0;
  const PgWork w = h.dom->unmap(iova, len, leaf);
  cpu_.spend(to_sc(p_.cost.unmap_call) + to_sc(p_.cost.pte_write) * w.ptes, Cpu::Cat::Unmap);
  const Cpu::Cat saved = cpu_.current;
  cpu_.current = Cpu::Cat::Unmap;
  h.dom->flush_range(iova, len, leaf ? leaf : h.dom->granule());  // iommu_unmap's iotlb_sync: waits
  cpu_.current = saved;
}

uint32_t Iommufd::new_hwpt(std::unique_ptr<IommuDomain> d, bool auto_domain) {
  const uint32_t id = next_id_++;
  Hwpt& h = hwpts_[id];
  h.dom = std::move(d);
  h.auto_domain = auto_domain;
  return id;
}

int Iommufd::link(uint32_t hwpt, uint32_t ioas_id) {
  Hwpt& h = hwpts_.at(hwpt);
  Ioas& io = ioas_.at(ioas_id);
  IommuDomain& dom = *h.dom;
  std::string why;
  // R6.1: the IOAS keeps PAGE_SIZE granularity; a domain that cannot map single pages is refused.
  const uint64_t gran = dom.granule();
  if (gran > kPageSize)
    return fail(-EINVAL, "domain's smallest page (" + std::to_string(gran) + " bytes) is larger than PAGE_SIZE");
  const uint64_t align = std::max(io.t.alignment, gran);
  if (const int err = io.t.check_alignment(align, why)) return fail(err, why);
  // The aperture: everything above it becomes a range reserved by this HWPT.
  const unsigned ias = dom.ias_bits();
  if (ias < 64) {
    if (const int err = io.t.reserve({uint64_t{1} << ias, UINT64_MAX}, IoasTable::hwpt_owner(hwpt), why))
      return fail(err, "outside the domain's " + std::to_string(ias) + "-bit aperture: " + why);
  }
  // Fill with every existing area; undo on failure so nothing is left behind.
  std::vector<const IoasArea*> done;
  try {
    for (const auto& [iova, a] : io.t.areas()) {
      dom_map(h, a.iova, a.pa, a.length, a.prot, ~uint64_t{0});
      done.push_back(&a);
    }
  } catch (const std::exception& e) {
    for (const IoasArea* a : done) dom_unmap(h, a->iova, a->length);
    io.t.unreserve(IoasTable::hwpt_owner(hwpt));
    return fail(-ENOMEM, std::string("filling the domain: ") + e.what());
  }
  io.t.alignment = align;
  io.hwpts.push_back(hwpt);
  h.ioas = ioas_id;
  ++hwpts_linked_;
  return 0;
}

void Iommufd::destroy_hwpt(uint32_t hwpt) {
  Hwpt& h = hwpts_.at(hwpt);
  if (h.ioas) {
    Ioas& io = ioas_.at(h.ioas);
    for (const auto& [iova, a] : io.t.areas()) dom_unmap(h, a.iova, a.length);
    io.t.unreserve(IoasTable::hwpt_owner(hwpt));
    io.hwpts.erase(std::remove(io.hwpts.begin(), io.hwpts.end(), hwpt), io.hwpts.end());
    uint64_t align = 1;
    for (uint32_t o : io.hwpts) align = std::max(align, hwpts_.at(o).dom->granule());
    io.t.alignment = align;
  }
  for (const SwMsi& m : sw_msi_)
    if (h.present_sw_msi >> m.id & 1) dom_unmap(h, m.sw_msi_start + m.id * kPageSize, kPageSize);
  hwpts_.erase(hwpt);
}

// ---- IOAS ----

int Iommufd::ioas_alloc(uint32_t& id) {
  OpScope s(op_, "ioas_alloc");
  syscall();
  id = next_id_++;
  ioas_[id];
  return 0;
}

int Iommufd::ioas_allow_iovas(uint32_t ioas, const std::vector<IovaRange>& ranges) {
  OpScope s(op_, "ioas_allow_iovas");
  syscall();
  Ioas* io = find_ioas(ioas);
  if (!io) return fail(-ENOENT, "no IOAS " + std::to_string(ioas));
  std::string why;
  if (const int err = io->t.set_allowed(ranges, why)) return fail(err, why);
  return 0;
}

int Iommufd::ioas_map(uint32_t ioas, uint64_t pa, uint64_t length, IoProt prot, uint64_t& iova, bool fixed) {
  OpScope s(op_, "ioas_map");
  syscall();
  Ioas* io = find_ioas(ioas);
  if (!io) return fail(-ENOENT, "no IOAS " + std::to_string(ioas));
  if (!prot.read && !prot.write) return fail(-EINVAL, "neither readable nor writeable");
  if (length == 0) return fail(-EINVAL, "length 0");
  if (length - 1 > UINT64_MAX - pa) return fail(-EOVERFLOW, "buffer address + length overflows");
  const uint64_t align = io->t.alignment;
  if ((length | pa) & (align - 1))
    return fail(-EINVAL, "length or buffer not aligned to the IOAS alignment " + std::to_string(align));
  std::string why;
  if (fixed) {
    if (const int err = io->t.check_fixed(iova, length, why)) return fail(err, why);
  } else {
    cpu_.spend(to_sc(p_.cost.iova_alloc), Cpu::Cat::Map);
    if (const int err = io->t.alloc(length, pa, iova, why)) return fail(err, why);
  }
  const IoasArea a{iova, length, pa, prot};
  io->t.insert(a);
  ++maps_;
  const Cpu::Cat saved = cpu_.current;
  cpu_.current = Cpu::Cat::Map;
  for (uint32_t id : io->hwpts) dom_map(hwpts_.at(id), a.iova, a.pa, a.length, a.prot, ~uint64_t{0});
  cpu_.current = saved;
  return 0;
}

int Iommufd::ioas_unmap(uint32_t ioas, uint64_t iova, uint64_t length, uint64_t* unmapped) {
  OpScope s(op_, "ioas_unmap");
  syscall();
  if (unmapped) *unmapped = 0;
  Ioas* io = find_ioas(ioas);
  if (!io) return fail(-ENOENT, "no IOAS " + std::to_string(ioas));
  const bool all = iova == 0 && length == kUnmapAll;
  if (!all) {
    if (length == 0) return fail(-EINVAL, "length 0");
    if (length - 1 > UINT64_MAX - iova) return fail(-EOVERFLOW, "IOVA + length overflows");
  }
  const uint64_t last = all ? UINT64_MAX : iova + length - 1;
  bool any = false;
  for (;;) {
    const IoasArea* p = io->t.area_in(iova, last);
    if (!p) break;
    const IoasArea a = *p;
    if (a.iova < iova || a.last() > last)
      return fail(-ENOENT, "would split the mapping at " + range_str(a.iova, a.last()));
    for (uint32_t id : io->hwpts) dom_unmap(hwpts_.at(id), a.iova, a.length);
    io->t.erase(a.iova);
    ++unmaps_;
    any = true;
    if (unmapped) *unmapped += a.length;
  }
  if (!any && !all) return fail(-ENOENT, "nothing mapped in " + range_str(iova, last));
  return 0;
}

// ---- HWPT ----

int Iommufd::hwpt_alloc(unsigned dev, uint32_t ioas, uint32_t& id) {
  OpScope s(op_, "hwpt_alloc");
  syscall();
  if (dev >= devs_.size()) return bad_dev(dev);
  if (!find_ioas(ioas)) return fail(-ENOENT, "no IOAS " + std::to_string(ioas));
  const uint32_t h = new_hwpt(devs_[dev].d.drv->alloc_paging_domain(), false);
  if (const int err = link(h, ioas)) {
    destroy_hwpt(h);
    return err;
  }
  id = h;
  return 0;
}

int Iommufd::hwpt_alloc_domain(std::unique_ptr<IommuDomain> d, uint32_t ioas, uint32_t& id) {
  OpScope s(op_, "hwpt_alloc");
  syscall();
  if (!find_ioas(ioas)) return fail(-ENOENT, "no IOAS " + std::to_string(ioas));
  const uint32_t h = new_hwpt(std::move(d), false);
  if (const int err = link(h, ioas)) {
    destroy_hwpt(h);
    return err;
  }
  id = h;
  return 0;
}

// ---- Devices ----

// The device's reserved regions as iommufd classifies them (R6.2).
int Iommufd::device_resv(Dev& d, Resv& out) {
  out.regions = d.d.drv->reserved_regions();
  unsigned sw = 0, hw = 0;
  for (const ResvRegion& r : out.regions) {
    if (r.type == ResvType::SwMsi) {
      if (sw++) return fail(-EINVAL, d.d.name + " reports two software MSI windows");
      out.sw_msi_start = r.start;
    }
    if (r.type == ResvType::Msi) ++hw;
  }
  if (sw && hw) return fail(-EINVAL, d.d.name + " reports both a software and a hardware MSI range");
  return 0;
}

// iopt_table_enforce_dev_resv_regions: all or nothing.
int Iommufd::enforce_resv(unsigned dev, Ioas& io, Resv& out) {
  Dev& d = devs_[dev];
  if (const int err = device_resv(d, out)) return err;
  const uint64_t owner = IoasTable::device_owner(dev);
  std::string why;
  for (const ResvRegion& r : out.regions) {
    if (const int err = io.t.reserve({r.start, r.start + r.size - 1}, owner, why)) {
      io.t.unreserve(owner);
      return fail(err, d.d.name + ": " + why);
    }
  }
  return 0;
}

int Iommufd::install_msi(Hwpt& h, const SwMsi& m) {
  if (h.present_sw_msi >> m.id & 1) return 0;
  IoProt prot;
  prot.read = false;  // IOMMU_WRITE | IOMMU_MMIO: the device only writes the doorbell
  try {
    dom_map(h, m.sw_msi_start + m.id * kPageSize, m.pa, kPageSize, prot, kPageSize);
  } catch (const std::exception& e) {
    return fail(-ENOMEM, std::string("mapping a doorbell page: ") + e.what());
  }
  h.present_sw_msi |= uint64_t{1} << m.id;
  ++msi_installs_;
  return 0;
}

// iommufd_group_setup_msi: every doorbell page of the context, for this device's window.
void Iommufd::setup_msi(const Dev& d, Hwpt& h) {
  if (!d.sw_msi_start) return;
  for (const SwMsi& m : sw_msi_)
    if (m.sw_msi_start == *d.sw_msi_start) install_msi(h, m);
}

void Iommufd::to_blocking(Dev& d) {
  if (!d.blocking) d.blocking = d.d.drv->alloc_paging_domain();
  d.d.drv->attach(*d.blocking, *d.d.pci);
}

void Iommufd::release(unsigned dev, Hwpt& h) {
  h.devs.erase(std::remove(h.devs.begin(), h.devs.end(), dev), h.devs.end());
  if (h.auto_domain && h.devs.empty()) {
    for (const auto& [id, x] : hwpts_)
      if (&x == &h) return destroy_hwpt(id);
  }
}

int Iommufd::do_attach(unsigned dev, uint32_t hwpt) {
  Dev& d = devs_[dev];
  Hwpt& h = hwpts_.at(hwpt);
  Ioas& io = ioas_.at(h.ioas);
  Resv r;
  if (const int err = enforce_resv(dev, io, r)) return err;
  d.sw_msi_start = r.sw_msi_start;
  setup_msi(d, h);
  std::string why;
  if (const int err = d.d.drv->check_attach(*h.dom, why)) {  // R7: the driver refuses the domain
    io.t.unreserve(IoasTable::device_owner(dev));
    d.sw_msi_start.reset();
    return fail(-err, d.d.name + " on " + d.d.drv->name() + ": " + why);
  }
  d.d.drv->attach(*h.dom, *d.d.pci);
  h.devs.push_back(dev);
  d.hwpt = hwpt;
  return 0;
}

int Iommufd::do_replace(unsigned dev, uint32_t hwpt) {
  Dev& d = devs_[dev];
  const uint32_t old_id = d.hwpt;
  if (hwpt == old_id) return 0;
  Hwpt& h = hwpts_.at(hwpt);
  const uint32_t old_ioas = hwpts_.at(old_id).ioas;
  const bool moves = h.ioas != old_ioas;
  Ioas& io = ioas_.at(h.ioas);
  const std::optional<uint64_t> old_start = d.sw_msi_start;
  if (moves) {
    Resv r;
    if (const int err = enforce_resv(dev, io, r)) return err;
    d.sw_msi_start = r.sw_msi_start;
  }
  setup_msi(d, h);
  std::string why;
  if (const int err = d.d.drv->check_attach(*h.dom, why)) {
    if (moves) io.t.unreserve(IoasTable::device_owner(dev));
    d.sw_msi_start = old_start;
    return fail(-err, d.d.name + " on " + d.d.drv->name() + ": " + why);
  }
  d.d.drv->attach(*h.dom, *d.d.pci);  // the driver switches the device's table entry in place
  h.devs.push_back(dev);
  d.hwpt = hwpt;
  if (moves) ioas_.at(old_ioas).t.unreserve(IoasTable::device_owner(dev));
  release(dev, hwpts_.at(old_id));
  return 0;
}

// R6.3: reuse an auto domain of the IOAS the device can use (EINVAL: try the next one), else a new
// one. The new domain is linked before the device attaches (Linux attaches first for drivers that
// finish a domain at attach; only which error wins when both would fail differs).
int Iommufd::auto_domain(unsigned dev, uint32_t ioas, bool replace, uint32_t* out) {
  const std::vector<uint32_t> cands = ioas_.at(ioas).hwpts;
  for (uint32_t id : cands) {
    if (!hwpts_.at(id).auto_domain) continue;
    ++quiet_;
    const int err = replace ? do_replace(dev, id) : do_attach(dev, id);
    --quiet_;
    if (err == -EINVAL) continue;
    if (err) return fail(err, why_);
    if (out) *out = id;
    return 0;
  }
  const uint32_t h = new_hwpt(devs_[dev].d.drv->alloc_paging_domain(), true);
  if (const int err = link(h, ioas)) {
    destroy_hwpt(h);
    return err;
  }
  if (const int err = replace ? do_replace(dev, h) : do_attach(dev, h)) {
    destroy_hwpt(h);
    return err;
  }
  if (out) *out = h;
  return 0;
}

int Iommufd::attach(unsigned dev, uint32_t pt, uint32_t* hwpt) {
  OpScope s(op_, "attach");
  syscall();
  if (dev >= devs_.size()) return bad_dev(dev);
  Dev& d = devs_[dev];
  if (d.hwpt)
    return fail(-EINVAL, d.d.name + " is already attached (HWPT " + std::to_string(d.hwpt) + "): use replace");
  int err;
  if (find_hwpt(pt)) {
    err = do_attach(dev, pt);
    if (!err && hwpt) *hwpt = pt;
  } else if (find_ioas(pt)) {
    err = auto_domain(dev, pt, false, hwpt);
  } else {
    return fail(-ENOENT, "no HWPT or IOAS " + std::to_string(pt));
  }
  if (!err) ++attaches_;
  return err;
}

int Iommufd::replace(unsigned dev, uint32_t pt, uint32_t* hwpt) {
  OpScope s(op_, "replace");
  syscall();
  if (dev >= devs_.size()) return bad_dev(dev);
  Dev& d = devs_[dev];
  if (!d.hwpt) return fail(-EINVAL, d.d.name + " is not attached");
  int err;
  if (find_hwpt(pt)) {
    err = do_replace(dev, pt);
    if (!err && hwpt) *hwpt = pt;
  } else if (find_ioas(pt)) {
    err = auto_domain(dev, pt, true, hwpt);
  } else {
    return fail(-ENOENT, "no HWPT or IOAS " + std::to_string(pt));
  }
  if (!err) ++replaces_;
  return err;
}

int Iommufd::detach(unsigned dev) {
  OpScope s(op_, "detach");
  syscall();
  if (dev >= devs_.size()) return bad_dev(dev);
  Dev& d = devs_[dev];
  if (!d.hwpt) return fail(-EINVAL, d.d.name + " is not attached");
  Hwpt& h = hwpts_.at(d.hwpt);
  ioas_.at(h.ioas).t.unreserve(IoasTable::device_owner(dev));
  to_blocking(d);
  d.hwpt = 0;
  d.sw_msi_start.reset();
  release(dev, h);
  ++detaches_;
  return 0;
}

int Iommufd::get_msi_iova(unsigned dev, uint64_t doorbell_pa, uint64_t& iova) {
  OpScope s(op_, "get_msi_iova");
  if (dev >= devs_.size()) return bad_dev(dev);
  Dev& d = devs_[dev];
  if (!d.hwpt) return fail(-EINVAL, d.d.name + " is not attached to an HWPT");
  if (!d.sw_msi_start) {
    iova = doorbell_pa;  // a hardware MSI range: the write bypasses translation
    return 0;
  }
  const uint64_t page = doorbell_pa & ~(kPageSize - 1);
  const SwMsi* m = nullptr;
  for (const SwMsi& x : sw_msi_)
    if (x.pa == page && x.sw_msi_start == *d.sw_msi_start) m = &x;
  if (!m) {
    if (sw_msi_.size() >= kMaxSwMsi) return fail(-EOVERFLOW, "all 64 doorbell slots of the context are in use");
    sw_msi_.push_back({page, *d.sw_msi_start, static_cast<unsigned>(sw_msi_.size())});
    m = &sw_msi_.back();
  }
  if (const int err = install_msi(hwpts_.at(d.hwpt), *m)) return err;
  iova = m->sw_msi_start + m->id * kPageSize + (doorbell_pa & (kPageSize - 1));
  return 0;
}

}  // namespace iommusim::host
