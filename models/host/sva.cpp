// SVA core: bind/unbind, PASID allocation and domain sharing (R1).
#include "models/host/sva.h"

#include <algorithm>

#include "models/common/log.h"
#include "models/common/sim_time.h"

namespace iommusim::host {

namespace {
constexpr int kEnoent = 2, kEbusy = 16, kEinval = 22, kEnospc = 28, kEoverflow = 75, kEopnotsupp = 95;
}

Sva::Sva(Cpu& cpu, const SvaParams& p, StatGroup& parent)
    : cpu_(cpu),
      p_(p),
      stats_("sva", &parent),
      binds_(stats_.counter("binds", "successful SVA binds (new and referenced)")),
      bind_errors_(stats_.counter("bind_errors", "SVA binds that failed")),
      unbinds_(stats_.counter("unbinds", "SVA unbinds")),
      domains_allocated_(stats_.counter("domains", "SVA domains allocated")),
      domains_shared_(stats_.counter("domains_shared", "binds that reused an existing SVA domain of the mm")),
      attach_refused_(stats_.counter("attach_refused", "attempts to attach an existing SVA domain that the IOMMU refused")),
      notifier_calls_(stats_.counter("notifier_calls", "mmu-notifier invalidations, one per SVA domain per call")) {}

Sva::~Sva() {
  for (auto& [mm, st] : mms_)
    for (auto& d : st.domains) mm->remove_notifier(d.notifier);
}

uint32_t Sva::alloc_pasid(uint32_t max_pasids) {
  for (uint32_t p = 1; p < max_pasids; ++p) {
    if (p >= pasid_used_.size()) pasid_used_.resize(p + 1, false);
    if (!pasid_used_[p]) {
      pasid_used_[p] = true;
      return p;
    }
  }
  return 0;
}

int Sva::bind(PciDevice& dev, IommuDriver& drv, Mm& mm, uint32_t& pasid) {
  cpu_.spend(to_sc(p_.bind), Cpu::Cat::Other);
  auto fail = [&](int err, const char* why) {
    ++bind_errors_;
    log::get("sva")->warn("bind {} on {}: {} ({})", dev.name, drv.name(), why, -err);
    return err;
  };
  const uint32_t max = std::min(dev.max_pasids(), drv.max_pasids());
  if (max < 2) return fail(-kEopnotsupp, "no PASID support");
  for (auto& b : bonds_)
    if (b.dev == &dev && b.mm == &mm) {  // R1.3 (a)
      ++b.refs;
      ++binds_;
      pasid = b.pasid;
      return 0;
    }
  MmState& st = mms_[&mm];
  if (st.pasid == 0) {
    st.pasid = alloc_pasid(max);
    if (st.pasid == 0) return fail(-kEnospc, "no free PASID");
  } else if (st.pasid >= max) {
    return fail(-kEoverflow, "the mm's PASID is beyond the device's limit");
  }
  for (const auto& b : bonds_)
    if (b.dev == &dev && b.pasid == st.pasid) return fail(-kEbusy, "PASID in use on the device");
  pasid = st.pasid;
  std::string why;
  if (p_.sharing == SvaSharing::PerMm) {  // R1.3 (b): first domain the IOMMU accepts wins
    for (auto& d : st.domains) {
      if (drv.set_dev_pasid(*d.d, dev, pasid, why) == 0) {
        ++d.d->users;
        ++domains_shared_;
        ++binds_;
        bonds_.push_back({&dev, &drv, &mm, d.d.get(), pasid, 1});
        return 0;
      }
      ++attach_refused_;
      log::get("sva")->debug("bind {}: existing domain refused by {}: {}", dev.name, drv.name(), why);
    }
  }
  // R1.3 (c): a new domain.
  std::unique_ptr<SvaDomain> nd = drv.alloc_sva_domain(mm, why);
  if (!nd) return fail(-kEinval, why.c_str());
  if (const int err = drv.set_dev_pasid(*nd, dev, pasid, why)) return fail(-err, why.c_str());
  nd->users = 1;
  ++domains_allocated_;
  ++binds_;
  SvaDomain* raw = nd.get();
  Dom entry{std::move(nd), &drv, 0};
  entry.notifier = mm.add_notifier(
      [this, raw](uint64_t s, uint64_t e) {
        ++notifier_calls_;
        cpu_.spend(to_sc(p_.notifier), Cpu::Cat::Other);
        raw->invalidate(s, e);
      },
      [this, raw] {  // the driver's mm release: nothing of this address space may stay cached
        ++notifier_calls_;
        raw->invalidate(0, Mm::kWholeMm);
      });
  st.domains.insert(st.domains.begin(), std::move(entry));
  bonds_.push_back({&dev, &drv, &mm, raw, pasid, 1});
  return 0;
}

void Sva::free_domain(MmState& st, SvaDomain* d) {
  auto it = std::find_if(st.domains.begin(), st.domains.end(), [&](const Dom& x) { return x.d.get() == d; });
  if (it == st.domains.end()) return;
  d->mm().remove_notifier(it->notifier);
  st.domains.erase(it);
}

int Sva::unbind(PciDevice& dev, Mm& mm) {
  auto it = std::find_if(bonds_.begin(), bonds_.end(), [&](const Bond& b) { return b.dev == &dev && b.mm == &mm; });
  if (it == bonds_.end()) return -kEnoent;
  cpu_.spend(to_sc(p_.unbind), Cpu::Cat::Other);
  ++unbinds_;
  if (--it->refs) return 0;
  const Bond b = *it;
  bonds_.erase(it);
  b.drv->remove_dev_pasid(*b.dom, *b.dev, b.pasid);
  if (--b.dom->users == 0) free_domain(mms_[&mm], b.dom);
  return 0;
}

Mm* Sva::find_mm(const IommuDriver& drv, uint16_t rid, uint32_t pasid) const {
  for (const auto& b : bonds_)
    if (b.drv == &drv && b.dev->rid == rid && b.pasid == pasid) return b.mm;
  return nullptr;
}

uint32_t Sva::pasid_of(const Mm& mm) const {
  const auto it = mms_.find(const_cast<Mm*>(&mm));
  return it == mms_.end() ? 0 : it->second.pasid;
}

std::vector<const SvaDomain*> Sva::domains_of(const Mm& mm) const {
  std::vector<const SvaDomain*> v;
  const auto it = mms_.find(const_cast<Mm*>(&mm));
  if (it != mms_.end())
    for (const auto& d : it->second.domains) v.push_back(d.d.get());
  return v;
}

const SvaDomain* Sva::domain_of(const PciDevice& dev, const Mm& mm) const {
  for (const auto& b : bonds_)
    if (b.dev == &dev && b.mm == &mm) return b.dom;
  return nullptr;
}

}  // namespace iommusim::host
