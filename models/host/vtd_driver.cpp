// Host VT-d driver: probe, root/context/PASID tables, DMA-domain attach, queued invalidation and the
// R2.2 flush policy through cache tags.
#include "models/host/vtd_driver.h"

#include <algorithm>
#include <bit>
#include <cerrno>
#include <stdexcept>

#include "models/common/log.h"

namespace iommusim::host {

using namespace iommusim::vtd;

// ---- cache tags (R2.2) ----------------------------------------------------------------------------

namespace {
// Where a new tag of iommu goes: after that IOMMU's last tag, so a flush batches per IOMMU.
std::vector<VtdCacheTag>::iterator after_iommu(std::vector<VtdCacheTag>& v, const VtdDriver* iommu) {
  auto pos = std::find_if(v.begin(), v.end(), [&](const VtdCacheTag& x) { return x.iommu == iommu; });
  if (pos == v.end()) return pos;
  while (pos != v.end() && pos->iommu == iommu) ++pos;
  return pos;
}
}  // namespace

void VtdCacheTags::add_iotlb(VtdDriver* iommu, uint16_t did, uint32_t pasid) {
  for (auto& t : tags_)
    if (t.type == VtdCacheTag::Type::Iotlb && t.iommu == iommu && t.did == did && t.pasid == pasid) {
      ++t.users;
      return;
    }
  VtdCacheTag t{VtdCacheTag::Type::Iotlb, iommu, did};
  t.pasid = pasid;
  tags_.insert(after_iommu(tags_, iommu), t);
}

void VtdCacheTags::add_devtlb(VtdDriver* iommu, uint16_t did, uint32_t pasid, uint16_t sid, uint8_t qdep) {
  for (auto& t : tags_)
    if (t.type == VtdCacheTag::Type::Devtlb && t.iommu == iommu && t.sid == sid && t.pasid == pasid) {
      ++t.users;
      return;
    }
  VtdCacheTag t{VtdCacheTag::Type::Devtlb, iommu, did, sid, qdep};
  t.pasid = pasid;
  tags_.insert(after_iommu(tags_, iommu), t);
}

void VtdCacheTags::remove(const VtdDriver* iommu, uint16_t sid, uint32_t pasid) {
  for (auto it = tags_.begin(); it != tags_.end();) {
    const bool mine = it->iommu == iommu && it->pasid == pasid;
    const bool match = mine && (it->type == VtdCacheTag::Type::Iotlb || it->sid == sid);
    if (match && --it->users == 0)
      it = tags_.erase(it);
    else
      ++it;
  }
}

uint16_t VtdCacheTags::did_on(const VtdDriver* iommu) const {
  for (const auto& t : tags_)
    if (t.iommu == iommu && t.type == VtdCacheTag::Type::Iotlb) return t.did;
  return 0;
}

void VtdCacheTags::flush(uint64_t iova, uint64_t size, bool ih) const {
  // R2.2: mask = ilog2(roundup_pow2(pages)), widened until the aligned block covers the range.
  unsigned mask = 52;
  uint64_t addr = 0;
  if (size) {
    const uint64_t first = iova >> 12, last = (iova + size - 1) >> 12;
    mask = static_cast<unsigned>(std::bit_width(std::bit_ceil(last - first + 1)) - 1);
    while ((first >> mask) != (last >> mask)) ++mask;
    addr = (first >> mask) << (mask + 12);
  }
  // The same aligned block in the device-TLB's S-bit size encoding; everything above 2^52.
  const DevTlbAddr da = devtlb_encode(addr, size == 0 ? 52 : mask);
  // One batch per IOMMU (tags are grouped by IOMMU): submitted when full, when the IOMMU changes
  // and at the end, each with its wait.
  std::vector<Desc> batch;
  VtdDriver* cur = nullptr;
  auto submit = [&] {
    if (cur && !batch.empty()) cur->submit(batch);
    batch.clear();
  };
  for (const VtdCacheTag& t : tags_) {
    if (t.iommu != cur) {
      submit();
      cur = t.iommu;
    }
    VtdDriver& u = *t.iommu;
    if (t.type == VtdCacheTag::Type::Iotlb && stage_ == Stage::First) {
      // First stage: PASID-based, page-selective within the PASID or the whole PASID. The hardware
      // widens a mask beyond MAMV itself; Linux does not fall back in software here.
      PasidIotlbInv pi;
      pi.did = t.did;
      pi.pasid = t.pasid;
      if (size == 0) {
        pi.g = pgran::PASID_ALL;
      } else {
        pi.g = pgran::PASID_PAGE;
        pi.am = static_cast<uint8_t>(mask);
        pi.ih = ih;
        pi.addr = addr;
      }
      ++u.piotlb_;
      batch.push_back(encode(pi));
    } else if (t.type == VtdCacheTag::Type::Iotlb) {
      IotlbInv it;
      it.did = t.did;
      if (size == 0 || mask > u.mamv_) {
        it.g = gran::DOMAIN;
        ++u.dsi_;
      } else {
        it.g = gran::PAGE;
        it.am = static_cast<uint8_t>(mask);
        it.ih = ih;
        it.addr = addr;
        ++u.psi_;
      }
      batch.push_back(encode(it));
    } else if (t.pasid == 0) {  // requests without PASID (RID_PASID): the device-TLB descriptor
      DevTlbInv dv;
      dv.sid = t.sid;
      dv.pfsid = t.sid;
      dv.mip = t.qdep;
      dv.s = da.s;
      dv.addr = da.addr;
      ++u.devtlb_;
      batch.push_back(encode(dv));
    } else {
      PasidDevTlbInv dv;
      dv.sid = t.sid;
      dv.pfsid = t.sid;
      dv.mip = t.qdep;
      dv.pasid = t.pasid;
      dv.s = da.s;
      dv.addr = da.addr;
      ++u.devtlb_;
      batch.push_back(encode(dv));
    }
    if (batch.size() == u.p_.qi_batch) submit();
  }
  submit();
}

// ---- probe ----------------------------------------------------------------------------------------

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
      psi_(stats_.counter("psi", "page-selective IOTLB invalidations of mapping flushes")),
      dsi_(stats_.counter("dsi", "domain-selective IOTLB invalidations of mapping flushes")),
      devtlb_(stats_.counter("devtlb", "device-TLB and PASID-based device-TLB descriptors of mapping flushes (ATS devices)")),
      piotlb_(stats_.counter("piotlb", "PASID-based IOTLB descriptors of mapping flushes (first stage, SVA)")),
      pasid_cache_(stats_.counter("pasid_cache", "PASID-cache invalidation descriptors")),
      page_requests_(stats_.counter("page_requests", "page request descriptors read from the page request queue")),
      prq_bad_(stats_.counter("prq_bad", "page requests the driver refused itself (bad address, flags or requester)")),
      stop_markers_(stats_.counter("stop_markers", "stop markers dropped")),
      responses_(stats_.counter("page_responses", "page group response descriptors submitted")),
      prq_overflows_(stats_.counter("prq_overflows", "page request queue overflows seen (PRS.PRO)")),
      drains_(stats_.counter("prq_drains", "page request drains at PASID teardown")),
      ite_(stats_.counter("ite", "invalidation time-outs (FSTS.ITE) seen and cleared; the submission is retried")),
      ite_gave_up_(stats_.counter("ite_gave_up", "submissions abandoned (-ETIMEDOUT) after host.qi_ite_retries "
                                                 "retries")),
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
  // The mode rule of the header: scalable mode with second-stage DMA domains where SVA can be used.
  const bool sm_capable = (ecap_ & ecap::SMTS) && (ecap_ & ecap::SSTS);
  switch (p_.vtd_mode) {
    case VtdMode::Auto: sm_ = sm_capable && dt_; break;
    case VtdMode::Legacy: sm_ = false; break;
    case VtdMode::Scalable:
      if (!sm_capable) throw std::runtime_error(name_ + ": vtd_mode scalable, but the unit does not report ECAP.SMTS and SSTS");
      sm_ = true;
      break;
  }
  width_ = sm_ ? DescWidth::W256 : DescWidth::W128;
  // DMA domains' stage (first_level_by_default): legacy mode has only the second stage.
  const bool fs_capable = sm_ && (ecap_ & ecap::FSTS);
  switch (p_.vtd_dma_stage) {
    case VtdDmaStage::Auto: fs_dma_ = fs_capable; break;
    case VtdDmaStage::Second: fs_dma_ = false; break;
    case VtdDmaStage::First:
      if (!fs_capable)
        throw std::runtime_error(name_ + ": vtd_dma_stage first, but the unit is not in scalable mode with ECAP.FSTS");
      fs_dma_ = true;
      break;
  }

  root_ = alloc_.alloc(4096, 4096);
  mem_.zero(root_, 4096);
  ctx_tables_.assign(sm_ ? 512 : 256, 0);
  mmio_.write64(reg::RTADDR, root_ | (sm_ ? rtaddr::TTM.make(rtaddr::TTM_SCALABLE) : 0));
  mmio_.write32(reg::GCMD, gcmd_ | gcmd::SRTP);

  // IQA.QS: 2^QS 4 KiB pages of descriptors; Linux's 256 entries are one page of 16 B descriptors or
  // two of 32 B ones (scalable mode).
  const unsigned bytes_log2 = static_cast<unsigned>(p_.qi_log2) + desc_shift(width_);
  const unsigned qs = std::min(bytes_log2 - 12, 7u);
  iq_entries_ = iq_entries(qs, width_);
  iq_ = alloc_.alloc(uint64_t{4096} << qs, 4096);
  status_ = alloc_.alloc(64, 64);
  mmio_.write64(reg::IQT, 0);
  mmio_.write64(reg::IQA, iq_ | qs | (sm_ ? iqa::DW : 0));
  gcmd_ |= gcmd::QIE;
  mmio_.write32(reg::GCMD, gcmd_);

  // As Linux at boot: drop every cached context (and PASID entry) and translation, then turn
  // translation on.
  ContextCacheInv cc;
  cc.g = gran::GLOBAL;
  IotlbInv it;
  it.g = gran::GLOBAL;
  if (sm_) {
    PasidCacheInv pc;
    pc.g = pcgran::GLOBAL;
    ++pasid_cache_;
    submit({encode(cc), encode(pc), encode(it)});
    // Linux reserves a DID per unit for first-stage and pass-through PASID entries (VT-d 3.0
    // 6.2.3.1: not shared with second-stage ones); every SVA domain uses it.
    sva_did_ = next_did_++;
  } else {
    submit({encode(cc), encode(it)});
  }
  prq_on_ = sm_ && (ecap_ & ecap::PRS) && (ecap_ & ecap::PASID);
  if (prq_on_) prq_enable();
  gcmd_ |= gcmd::TE;
  mmio_.write32(reg::GCMD, gcmd_);
}

// ---- tables ---------------------------------------------------------------------------------------

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

uint64_t VtdDriver::sm_context_table(uint8_t bus, bool upper) {
  uint64_t& slot = ctx_tables_[bus * 2u + (upper ? 1u : 0u)];
  if (!slot) {
    slot = alloc_.alloc(4096, 4096);
    mem_.zero(slot, 4096);
    cpu_.spend(to_sc(p_.cost.table_alloc), Cpu::Cat::Other);
    SmRootEntry re;
    re.lower_ctp = ctx_tables_[bus * 2u];
    re.lower_present = re.lower_ctp != 0;
    re.upper_ctp = ctx_tables_[bus * 2u + 1];
    re.upper_present = re.upper_ctp != 0;
    uint64_t raw[2];
    encode(re, raw);
    mem_.write(root_ + uint64_t{bus} * 16, raw, sizeof raw);
    cpu_.spend(to_sc(p_.cost.pte_write), Cpu::Cat::Other);
  }
  return slot;
}

VtdDriver::Dev& VtdDriver::device(PciDevice& dev) {
  Dev& d = devs_[dev.rid];
  d.pci = &dev;
  return d;
}

bool VtdDriver::pasid_capable(const PciDevice& pci) const { return pci.pasid_bits && (ecap_ & ecap::PASID); }

void VtdDriver::alloc_pasid_dir(Dev& d) {
  if (d.pasid_dir) return;
  // Directory entries for the device's PASIDs (64 per PASID table), a 4 KiB page at least, as Linux
  // sizes it (intel_pasid_alloc_table).
  const uint32_t unit_pasids = (ecap_ & ecap::PASID) ? uint32_t{2} << ecap::PSS.get(ecap_) : 0;
  const uint32_t pasids = pasid_capable(*d.pci) ? std::min(d.pci->max_pasids(), unit_pasids) : 0;
  d.dir_entries = std::bit_ceil(std::max<uint32_t>(512, pasids >> 6));
  const uint64_t bytes = uint64_t{d.dir_entries} * 8;
  d.pasid_dir = alloc_.alloc(bytes, 4096);
  mem_.zero(d.pasid_dir, bytes);
  cpu_.spend(to_sc(p_.cost.table_alloc) * static_cast<double>(bytes / 4096), Cpu::Cat::Other);
}

void VtdDriver::write_sm_context(Dev& d) {
  const PciDevice& pci = *d.pci;
  const bool pasid_cap = pasid_capable(pci);
  alloc_pasid_dir(d);
  SmContextEntry c;
  c.present = true;
  c.dte = dt_ && pci.ats_cap;
  c.paside = pasid_cap;
  c.pre = prq_on_ && pci.pri_capacity;  // page requests only where the unit queues them (ECAP.PRS)
  c.pdts = static_cast<uint8_t>(std::bit_width(d.dir_entries) - 1 - 7);
  c.pasid_dir_ptr = d.pasid_dir;
  c.rid_pasid = 0;
  uint64_t raw[4];
  encode(c, raw);
  const uint8_t devfn = static_cast<uint8_t>(pci.rid);
  mem_.write(sm_context_table(static_cast<uint8_t>(pci.rid >> 8), sm_context_upper(devfn)) + sm_context_offset(devfn),
             raw, sizeof raw);
  cpu_.spend(to_sc(p_.cost.pte_write), Cpu::Cat::Other);
  d.ctx = true;
}

uint64_t VtdDriver::pasid_slot(Dev& d, uint32_t pasid) {
  alloc_pasid_dir(d);
  const uint32_t di = pasid_dir_index(pasid);
  auto it = d.pasid_tables.find(di);
  if (it == d.pasid_tables.end()) {
    // Leaf PASID tables are allocated when a PASID of theirs is first used (intel_pasid_get_entry).
    const uint64_t t = alloc_.alloc(4096, 4096);
    mem_.zero(t, 4096);
    cpu_.spend(to_sc(p_.cost.table_alloc), Cpu::Cat::Other);
    mem_.write64(d.pasid_dir + uint64_t{di} * 8, encode(PasidDirEntry{true, false, t}));
    cpu_.spend(to_sc(p_.cost.pte_write), Cpu::Cat::Other);
    it = d.pasid_tables.emplace(di, t).first;
  }
  return it->second + uint64_t{pasid_table_index(pasid)} * 64;
}

uint64_t VtdDriver::pasid_entry_addr(uint16_t rid, uint32_t pasid) const {
  const auto d = devs_.find(rid);
  if (d == devs_.end()) return 0;
  const auto t = d->second.pasid_tables.find(pasid_dir_index(pasid));
  return t == d->second.pasid_tables.end() ? 0 : t->second + uint64_t{pasid_table_index(pasid)} * 64;
}

void VtdDriver::write_pasid_entry(uint64_t slot, const PasidEntry& e) {
  uint64_t raw[PASID_ENTRY_QWORDS];
  encode(e, raw);
  mem_.write(slot, raw, sizeof raw);
  cpu_.spend(to_sc(p_.cost.pte_write), Cpu::Cat::Other);
}

Desc VtdDriver::devtlb_all(const PciDevice& dev, uint32_t pasid) const {
  const DevTlbAddr a = devtlb_encode(0, 52);
  if (pasid == 0) {
    DevTlbInv dv;
    dv.sid = dv.pfsid = dev.rid;
    dv.mip = qdep(dev);
    dv.s = a.s;
    dv.addr = a.addr;
    return encode(dv);
  }
  PasidDevTlbInv dv;
  dv.sid = dv.pfsid = dev.rid;
  dv.mip = qdep(dev);
  dv.pasid = pasid;
  dv.s = a.s;
  dv.addr = a.addr;
  return encode(dv);
}

void VtdDriver::tear_down_pasid(Dev& d, uint32_t pasid, uint16_t did, bool first_stage) {
  const PciDevice& pci = *d.pci;
  write_pasid_entry(pasid_slot(d, pasid), PasidEntry{});
  // Each step is its own synchronous submission, as in Linux.
  PasidCacheInv pc;
  pc.g = pcgran::PASID;
  pc.did = did;
  pc.pasid = pasid;
  ++pasid_cache_;
  submit_one(encode(pc));
  if (first_stage) {
    PasidIotlbInv pi;
    pi.g = pgran::PASID_ALL;
    pi.did = did;
    pi.pasid = pasid;
    submit_one(encode(pi));
  } else {
    IotlbInv it;
    it.g = gran::DOMAIN;
    it.did = did;
    submit_one(encode(it));
  }
  // The device may hold translations even while its ATS is being switched off around a replace.
  if (dt_ && pci.ats_cap) submit_one(devtlb_all(pci, pasid));
  if (pci.pri_enabled) drain_prq(d, pasid);
}

// ---- DMA domains ----------------------------------------------------------------------------------

std::unique_ptr<IommuDomain> VtdDriver::alloc_paging_domain() {
  // Page-walk coherency of this unit (iommu_paging_structure_coherency: ECAP.SMPWCS in scalable mode,
  // ECAP.C in legacy mode); a domain built coherent may only be attached where walks snoop (R7.2).
  const bool coherent = sm_ ? (ecap_ & ecap::SMPWCS) != 0 : (ecap_ & ecap::C) != 0;
  if (fs_dma_) {
    // First stage: 4-level x86-64 tables (5-level only for VAs above 48 bits, which DMA domains do not
    // use), 2 MiB pages always, 1 GiB pages with CAP.FS1GP (VT-d 3.6, 9.9).
    const unsigned levels = p_.ias_bits > 48 ? 5 : 4;
    auto pgt = std::make_unique<IoPgtableX86>(
        mem_, alloc_, X86Codec(levels, X86Codec::Stage::First, true, (cap_ & cap::FL1GP) != 0));
    return std::make_unique<VtdDomain>(*this, std::move(pgt), aw_, true, coherent);
  }
  const unsigned levels = aw_levels(aw_);
  auto pgt = std::make_unique<IoPgtableX86>(mem_, alloc_, X86Codec(levels, X86Codec::Stage::Second, leaf_2m_, leaf_1g_));
  return std::make_unique<VtdDomain>(*this, std::move(pgt), aw_, false, coherent);
}

int VtdDriver::check_attach(const IommuDomain& d, std::string& why) const {
  const auto* dom = dynamic_cast<const VtdDomain*>(&d);
  if (!dom) return why = "domain belongs to another IOMMU driver", EINVAL;  // R7.1
  if (dom->first_stage()) {
    // R7.2 (first stage): scalable mode with first-stage support, 5-level paging if the domain has it,
    // 1 GiB pages if it uses them, snooped page walks if the domain was built for them.
    if (!sm_ || !(ecap_ & ecap::FSTS)) return why = "first-stage translation not supported", EINVAL;
    if (dom->coherent() && !(ecap_ & ecap::SMPWCS)) return why = "page-walk coherency not supported", EINVAL;
    if (dom->levels() == 5 && !(cap_ & cap::FL5LP)) return why = "5-level first-stage paging not supported", EINVAL;
    if (dom->uses_1g() && !(cap_ & cap::FL1GP)) return why = "first-stage 1 GiB pages not supported", EINVAL;
    return 0;
  }
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

void VtdDriver::attach(IommuDomain& d, PciDevice& dev) {
  auto& dom = static_cast<VtdDomain&>(d);
  const uint16_t rid = dev.rid;
  const bool ats = dt_ && dev.ats_cap;
  device(dev);  // known requester from now on (page requests from unknown RIDs are refused)
  if (auto* old = dynamic_cast<VtdDomain*>(dev.domain)) {
    if (dev.ats_enabled) dev.set_ats(false, 0);  // as iommu_disable_pci_caps, before the context changes
    old->tags_.remove(this, rid, 0);
  }
  // The domain's ID on this unit: the one its IOTLB tag already has, or a new one.
  uint16_t did = dom.did_on(this);
  if (!did) did = next_did_++;
  dom.tags_.add_iotlb(this, did, 0);
  if (sm_) {
    attach_scalable(dom, dev, did);
  } else {
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
    if (ats) descs.push_back(devtlb_all(dev, 0));
    submit(descs);
  }
  move_device(dev, d);
  if (ats) {
    dom.tags_.add_devtlb(this, did, 0, rid, qdep(dev));
    dev.set_ats(true, 12);
  }
}

void VtdDriver::attach_scalable(VtdDomain& dom, PciDevice& dev, uint16_t did) {
  Dev& st = device(dev);
  // PCIe leaves enabling PASID after ATS undefined, so Linux enables it on every device that has it
  // before ATS, whether or not PASIDs are used later.
  if (dev.pasid_bits && (ecap_ & ecap::PASID) && !dev.pasid_enabled) dev.set_pasid(true);
  // A present RID_PASID entry (another domain) is torn down first; a not-present entry made present
  // needs no invalidation (no caching mode).
  if (st.rid_pasid) tear_down_pasid(st, 0, st.rid_did, st.rid_fs);
  PasidEntry e;
  e.present = true;
  if (dom.first_stage()) {
    // intel_pasid_setup_first_level: PGTT 001b, FSPTPTR and FLPM (VT-d 9.6), the domain's own DID; the
    // DMA domain's entries carry U/S, so requests without PASID need no SRE.
    e.pgtt = pgtt::FIRST_STAGE;
    e.fsptptr = dom.root();
    e.flpm = dom.levels() == 5 ? flpm::LEVEL5 : flpm::LEVEL4;
  } else {
    e.pgtt = pgtt::SECOND_STAGE;
    e.ssptptr = dom.root();
  }
  e.aw = static_cast<uint8_t>(dom.aw());
  e.did = did;
  e.pwsnp = ecap_ & ecap::SMPWCS;
  write_pasid_entry(pasid_slot(st, 0), e);
  st.rid_pasid = true;
  st.rid_did = did;
  st.rid_fs = dom.first_stage();
  if (!st.ctx) write_sm_context(st);
}

// ---- queued invalidation --------------------------------------------------------------------------

void VtdDriver::submit(const std::vector<Desc>& descs, bool drain) {
  const size_t batch = p_.qi_batch;
  for (size_t i = 0; i < descs.size(); i += batch) submit_batch(&descs[i], std::min(batch, descs.size() - i), drain);
  if (descs.empty()) submit_batch(nullptr, 0, drain);
}

void VtdDriver::submit_batch(const Desc* d, size_t n, bool drain) {
  const sc_core::sc_time poll = to_sc(p_.cost.poll_interval);
  const uint32_t need = static_cast<uint32_t>(n + 1);
  // Only device-TLB invalidations can time out (FSTS.ITE; this driver writes no descriptor that could
  // raise IQE): their waits also read FSTS on every spin, as qi_check_fault does (drivers/iommu/intel/
  // dmar.c); other waits only poll their status word.
  bool dev_tlb = false;
  for (size_t i = 0; i < n; ++i) {
    const uint8_t ty = desc_type(d[i].qw[0]);
    dev_tlb = dev_tlb || ty == dtype::DEV_TLB || ty == dtype::PASID_DEV_TLB;
  }
  uint32_t held = 0;  // queue entries of aborted attempts, released once the queue has passed them
  for (uint64_t attempt = 0;; ++attempt) {
    // Several threads may submit (DMA API, notifiers, the page-request thread, fault workers): wait for
    // room, then write the descriptors and move the tail without yielding, so submissions never
    // interleave and the tail only moves forward.
    while (inflight_ + need >= iq_entries_) sc_core::wait(poll);
    cpu_.spend(to_sc(p_.cost.cmd_build) * static_cast<double>(need), cpu_.current);
    while (inflight_ + need >= iq_entries_) sc_core::wait(poll);
    WaitDesc w;
    w.sw = true;
    w.fn = true;
    w.pd = drain;
    const uint32_t mine = ++seq_;
    w.status_data = mine;
    w.status_addr = status_;
    const Desc wd = encode(w);
    const unsigned bytes = desc_bytes(width_);
    for (size_t i = 0; i <= n; ++i) {
      const Desc& x = i < n ? d[i] : wd;
      mem_.write(iq_ + uint64_t{tail_} * bytes, x.qw, bytes);
      tail_ = ring_next(tail_, iq_entries_);
    }
    inflight_ += need;
    descs_ += n + 1;
    ++waits_;
    mmio_.write64(reg::IQT, iq_reg(tail_, width_));
    // Linux spins on the status word (qi_submit_sync); the CPU time counts as invalidation wait. The
    // queue runs in order, so a later submission's status value means this one is done too.
    const bool ite = poll_wait(mine, dev_tlb);
    if (!ite) {
      inflight_ -= need + held;
      return;
    }
    // qi_check_fault on ITE: clear FSTS.ITE, so the queue resumes; the wait of this submission was
    // aborted (Linux marks it QI_ABORT) and the submission starts over (-EAGAIN, "restart").
    ++ite_;
    mmio_.write32(reg::FSTS, fsts::ITE);
    held += need;
    if (attempt >= p_.qi_ite_retries) {
      // Given up (-ETIMEDOUT, as Linux returns for a device that is gone): the device's ATC may be
      // stale; the queue goes on. Its entries are released once the hardware has passed the old wait.
      ++ite_gave_up_;
      log::get(name_)->warn("device-TLB invalidation timed out {} times, giving up (-ETIMEDOUT)", attempt + 1);
      while (poll_wait(mine, dev_tlb)) mmio_.write32(reg::FSTS, fsts::ITE);
      inflight_ -= held;
      return;
    }
    log::get(name_)->info("device-TLB invalidation timed out (ITE), resubmitting");
  }
}

bool VtdDriver::poll_wait(uint32_t mine, bool check_ite) {
  const sc_core::sc_time poll = to_sc(p_.cost.poll_interval);
  const sc_core::sc_time t0 = sc_core::sc_time_stamp();
  const sc_core::sc_time timeout(1, sc_core::SC_SEC);
  uint32_t status = 0;
  bool ite = false;
  while ((mem_.read(status_, &status, 4), static_cast<int32_t>(status - mine)) < 0) {
    if (check_ite && (mmio_.read32(reg::FSTS) & fsts::ITE)) {
      ite = true;
      break;
    }
    if (sc_core::sc_time_stamp() - t0 >= timeout) {
      log::get(name_)->error("invalidation wait timed out (FSTS {:#x})", mmio_.read32(reg::FSTS));
      throw std::runtime_error(name_ + ": VT-d invalidation wait timed out");
    }
    sc_core::wait(poll);
  }
  const sc_core::sc_time waited = sc_core::sc_time_stamp() - t0;
  timeline::span(tl_, timeline::Cat::InvWait, "invalidation wait", t0, sc_core::sc_time_stamp(), mine);  // arg: the wait's status value
  cpu_.account(waited, Cpu::Cat::InvWait);
  wait_ns_.record(static_cast<uint64_t>(to_ns(waited)));
  return ite;
}

}  // namespace iommusim::host
