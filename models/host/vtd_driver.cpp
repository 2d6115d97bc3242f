// Host VT-d driver: probe, root/context tables, queued invalidation and the R2.2 flush policy.
#include "models/host/vtd_driver.h"

#include <algorithm>
#include <bit>
#include <cerrno>

#include "models/common/log.h"

namespace iommusim::host {

using namespace iommusim::vtd;

void VtdDomain::flush_range(uint64_t iova, uint64_t size, uint64_t) { flush(iova, size, true); }
void VtdDomain::flush_walk(uint64_t iova, uint64_t size) { flush(iova, size, false); }
void VtdDomain::flush_all() { flush(0, 0, false); }

uint16_t VtdDomain::did_on(const VtdDriver* iommu) const {
  for (const Tag& t : tags_)
    if (t.iommu == iommu && t.type == Tag::Type::Iotlb) return t.did;
  return 0;
}

void VtdDomain::flush(uint64_t iova, uint64_t size, bool ih) {
  // R2.2: mask = ilog2(roundup_pow2(pages)), widened until the aligned block covers the range.
  unsigned mask = 52;
  uint64_t addr = 0;
  if (size) {
    const uint64_t first = iova >> 12, last = (iova + size - 1) >> 12;
    mask = static_cast<unsigned>(std::bit_width(std::bit_ceil(last - first + 1)) - 1);
    while ((first >> mask) != (last >> mask)) ++mask;
    addr = (first >> mask) << (mask + 12);
  }
  // One batch per IOMMU (tags are grouped by IOMMU): submitted when full, when the IOMMU changes
  // and at the end, each with its wait.
  std::vector<Desc> batch;
  VtdDriver* cur = nullptr;
  auto submit = [&] {
    if (cur && !batch.empty()) cur->submit(batch);
    batch.clear();
  };
  for (const Tag& t : tags_) {
    if (t.iommu != cur) {
      submit();
      cur = t.iommu;
    }
    if (t.type == Tag::Type::Iotlb) {
      IotlbInv it;
      it.did = t.did;
      if (size == 0 || mask > t.iommu->mamv_) {
        it.g = gran::DOMAIN;
        ++t.iommu->dsi_;
      } else {
        it.g = gran::PAGE;
        it.am = static_cast<uint8_t>(mask);
        it.ih = ih;
        it.addr = addr;
        ++t.iommu->psi_;
      }
      batch.push_back(encode(it));
    } else {
      // The same aligned block, in the device-TLB's S-bit size encoding; everything above 2^52.
      DevTlbInv dv;
      dv.sid = t.sid;
      dv.pfsid = t.sid;
      dv.mip = t.qdep;
      const DevTlbAddr a = devtlb_encode(addr, size == 0 ? 52 : mask);
      dv.s = a.s;
      dv.addr = a.addr;
      ++t.iommu->devtlb_;
      batch.push_back(encode(dv));
    }
    if (batch.size() == t.iommu->p_.qi_batch) submit();
  }
  submit();
}

VtdDriver::VtdDriver(std::string name, const HostParams& p, PhysMem& mem, PhysAlloc& alloc, Cpu& cpu, Mmio& mmio,
                     StatGroup& parent)
    : name_(std::move(name)),
      p_(p),
      mem_(mem),
      alloc_(alloc),
      cpu_(cpu),
      mmio_(mmio),
      stats_(name_, &parent),
      descs_(stats_.counter("descriptors", "invalidation descriptors queued (waits included)")),
      waits_(stats_.counter("waits", "invalidation waits issued and polled for")),
      psi_(stats_.counter("psi", "page-selective IOTLB invalidations")),
      dsi_(stats_.counter("dsi", "domain-selective IOTLB invalidations")),
      devtlb_(stats_.counter("devtlb", "device-TLB invalidation descriptors (ATS devices)")),
      wait_ns_(stats_.histogram("wait", "ns", "IQT write to observed wait-descriptor status write")) {}

void VtdDriver::probe() {
  cap_ = mmio_.read(reg::CAP, 8);
  ecap_ = mmio_.read(reg::ECAP, 8);
  if (!(ecap_ & ecap::QI)) throw std::runtime_error(name_ + ": VT-d without queued invalidation is not supported");
  // The largest supported adjusted guest address width up to 4 levels, as Linux's default domains.
  aw_ = 0;
  for (unsigned aw : {2u, 1u, 3u})
    if (cap_sagaw_supports(cap_, aw)) {
      aw_ = aw;
      break;
    }
  if (aw_ == 0) throw std::runtime_error(name_ + ": VT-d reports no usable SAGAW");
  mamv_ = static_cast<unsigned>(cap::MAMV.get(cap_));
  const uint64_t sllps = cap::SLLPS.get(cap_);
  leaf_2m_ = sllps & 1;
  leaf_1g_ = sllps & 2;
  dt_ = ecap_ & ecap::DT;

  root_ = alloc_.alloc(4096, 4096);
  mem_.zero(root_, 4096);
  ctx_tables_.assign(256, 0);
  mmio_.write64(reg::RTADDR, root_);  // legacy translation table mode (TTM 0)
  mmio_.write32(reg::GCMD, gcmd_ | gcmd::SRTP);

  const unsigned qs = static_cast<unsigned>(p_.qi_log2 - 8);  // IQA.QS: 2^QS 4 KiB pages of 16 B descriptors
  iq_entries_ = iq_entries(qs, DescWidth::W128);
  iq_ = alloc_.alloc(uint64_t{4096} << qs, 4096);
  status_ = alloc_.alloc(64, 64);
  mmio_.write64(reg::IQT, 0);
  mmio_.write64(reg::IQA, iq_ | qs);
  gcmd_ |= gcmd::QIE;
  mmio_.write32(reg::GCMD, gcmd_);

  // As Linux at boot: drop every cached context and translation, then turn translation on.
  ContextCacheInv cc;
  cc.g = gran::GLOBAL;
  IotlbInv it;
  it.g = gran::GLOBAL;
  submit({encode(cc), encode(it)});
  gcmd_ |= gcmd::TE;
  mmio_.write32(reg::GCMD, gcmd_);
}

uint64_t VtdDriver::context_table(uint8_t bus) {
  if (!ctx_tables_[bus]) {
    const uint64_t t = alloc_.alloc(4096, 4096);
    mem_.zero(t, 4096);
    uint64_t re[2];
    encode(RootEntry{true, t}, re);
    mem_.write(root_ + uint64_t{bus} * 16, re, sizeof re);
    ctx_tables_[bus] = t;
    cpu_.spend(to_sc(p_.cost.table_alloc), Cpu::Cat::Other);
  }
  return ctx_tables_[bus];
}

std::unique_ptr<IommuDomain> VtdDriver::alloc_paging_domain() {
  const unsigned levels = aw_levels(aw_);
  auto pgt = std::make_unique<IoPgtableX86>(mem_, alloc_, X86Codec(levels, X86Codec::Stage::Second, leaf_2m_, leaf_1g_));
  return std::make_unique<VtdDomain>(*this, std::move(pgt), aw_);
}

int VtdDriver::check_attach(const IommuDomain& d, std::string& why) const {
  const auto* dom = dynamic_cast<const VtdDomain*>(&d);
  if (!dom) return why = "domain belongs to another IOMMU driver", EINVAL;  // R7.1
  // R7.2 (second stage): this unit must walk the domain's table depth and its superpages.
  if (!cap_sagaw_supports(cap_, dom->aw()))
    return why = "address width: " + std::to_string(aw_levels(dom->aw())) + "-level tables not in SAGAW", EINVAL;
  if (dom->uses_1g() && !leaf_1g_) return why = "1 GiB superpages not supported", EINVAL;
  return 0;
}

void VtdDriver::write_context(const VtdDomain& dom, uint16_t rid, uint16_t did, bool dev_tlb) {
  ContextEntry ce;
  ce.present = true;
  ce.tt = dev_tlb ? tt::ALL : tt::UNTRANSLATED;
  ce.slptptr = dom.root();
  ce.aw = static_cast<uint8_t>(dom.aw());
  ce.did = did;
  uint64_t raw[2];
  encode(ce, raw);
  mem_.write(context_table(static_cast<uint8_t>(rid >> 8)) + legacy_context_offset(static_cast<uint8_t>(rid)), raw,
             sizeof raw);
}

void VtdDriver::drop_tags(VtdDomain& dom, const VtdDriver* iommu, uint16_t sid) {
  auto& v = dom.tags_;
  for (auto it = v.begin(); it != v.end();) {
    const bool mine = it->iommu == iommu;
    if (mine && it->type == VtdDomain::Tag::Type::Devtlb && it->sid == sid) {
      it = v.erase(it);
    } else if (mine && it->type == VtdDomain::Tag::Type::Iotlb && --it->users == 0) {
      it = v.erase(it);
    } else {
      ++it;
    }
  }
}

void VtdDriver::attach(IommuDomain& d, PciDevice& dev) {
  auto& dom = static_cast<VtdDomain&>(d);
  const uint16_t rid = dev.rid;
  const bool ats = dt_ && dev.ats_cap;
  if (auto* old = dynamic_cast<VtdDomain*>(dev.domain)) {
    if (dev.ats_enabled) dev.set_ats(false, 0);  // as iommu_disable_pci_caps, before the context changes
    drop_tags(*old, this, rid);
  }
  // The domain's ID on this unit: the one its IOTLB tag already has, or a new one.
  uint16_t did = dom.did_on(this);
  auto& tags = dom.tags_;
  if (did) {
    for (auto& t : tags)
      if (t.iommu == this && t.type == VtdDomain::Tag::Type::Iotlb) ++t.users;
  } else {
    did = next_did_++;
    tags.push_back({VtdDomain::Tag::Type::Iotlb, this, did});
  }
  write_context(dom, rid, did, ats);
  // The entry may have been cached as not-present or for the old domain: device-selective context
  // flush, then the domain's IOTLB on this unit (and the device's TLB if it has one).
  ContextCacheInv cc;
  cc.g = gran::DEVICE;
  cc.did = did;
  cc.sid = rid;
  IotlbInv it;
  it.g = gran::DOMAIN;
  it.did = did;
  std::vector<Desc> descs{encode(cc), encode(it)};
  if (ats) {
    DevTlbInv dv;
    dv.sid = dv.pfsid = rid;
    dv.mip = static_cast<uint8_t>(dev.ats_qdep >= 32 ? 0 : dev.ats_qdep);
    const DevTlbAddr a = devtlb_encode(0, 52);
    dv.s = a.s;
    dv.addr = a.addr;
    descs.push_back(encode(dv));
  }
  submit(descs);
  move_device(dev, d);
  if (ats) {
    // Device-TLB tag right after this unit's IOTLB tag: tags stay grouped by IOMMU for batching.
    VtdDomain::Tag t{VtdDomain::Tag::Type::Devtlb, this, did, rid, static_cast<uint8_t>(dev.ats_qdep >= 32 ? 0 : dev.ats_qdep)};
    auto pos = std::find_if(tags.begin(), tags.end(), [&](const VtdDomain::Tag& x) { return x.iommu == this; });
    while (pos != tags.end() && pos->iommu == this) ++pos;
    tags.insert(pos, t);
    dev.set_ats(true, 12);
  }
}

void VtdDriver::submit(const std::vector<Desc>& descs) {
  const size_t batch = p_.qi_batch;
  for (size_t i = 0; i < descs.size(); i += batch) submit_batch(&descs[i], std::min(batch, descs.size() - i));
  if (descs.empty()) submit_batch(nullptr, 0);
}

void VtdDriver::submit_batch(const Desc* d, size_t n) {
  // The queue holds n + 1 descriptors at most per submission and every submission is waited for,
  // so with qi_batch < queue size there is always room.
  WaitDesc w;
  w.sw = true;
  w.fn = true;
  w.status_data = ++seq_;
  w.status_addr = status_;
  const Desc wd = encode(w);
  for (size_t i = 0; i <= n; ++i) {
    const Desc& x = i < n ? d[i] : wd;
    mem_.write(iq_ + uint64_t{tail_} * 16, x.qw, 16);
    tail_ = ring_next(tail_, iq_entries_);
  }
  descs_ += n + 1;
  ++waits_;
  cpu_.spend(to_sc(p_.cost.cmd_build) * static_cast<double>(n + 1), cpu_.current);
  mmio_.write64(reg::IQT, iq_reg(tail_, DescWidth::W128));
  // Linux spins on the status word (qi_submit_sync); the CPU time counts as invalidation wait.
  const sc_core::sc_time t0 = sc_core::sc_time_stamp(), poll = to_sc(p_.cost.poll_interval);
  const sc_core::sc_time timeout(1, sc_core::SC_SEC);
  uint32_t status = 0;
  while ((mem_.read(status_, &status, 4), status) != seq_) {
    if (sc_core::sc_time_stamp() - t0 >= timeout) {
      log::get(name_)->error("invalidation wait timed out (FSTS {:#x})", mmio_.read32(reg::FSTS));
      throw std::runtime_error(name_ + ": VT-d invalidation wait timed out");
    }
    sc_core::wait(poll);
  }
  const sc_core::sc_time waited = sc_core::sc_time_stamp() - t0;
  cpu_.account(waited, Cpu::Cat::InvWait);
  wait_ns_.record(static_cast<uint64_t>(to_ns(waited)));
}

}  // namespace iommusim::host
