// Host VT-d driver, SVA: first-stage PASID-table entries over a process's CPU page tables, their
// cache tags and mm invalidation (R1.4-R1.6, R2.2, R7.2).
#include <cerrno>

#include "models/common/log.h"
#include "models/host/vtd_driver.h"

namespace iommusim::host {

using namespace iommusim::vtd;

const IommuDriver& VtdSvaDomain::owner() const { return owner_; }

void VtdSvaDomain::invalidate(uint64_t start, uint64_t end) {
  if (end == Mm::kWholeMm) return tags_.flush(0, 0, false);  // "all of this PASID"
  if (end <= start) return;
  tags_.flush(start, end - start, false);  // Linux's SVA notifier passes no leaf hint
}

uint32_t VtdDriver::max_pasids() const {
  // R1.2: 2 << ECAP.PSS, when PASIDs are usable at all (scalable mode with ECAP.PASID).
  return sm_ && (ecap_ & ecap::PASID) ? uint32_t{2} << ecap::PSS.get(ecap_) : 0;
}

// R7.2: what this unit needs to walk mm's tables at a PASID.
bool VtdDriver::sva_supported(const Mm& mm, std::string& why) const {
  if (mm.format() != Mm::Format::X86_4 && mm.format() != Mm::Format::X86_5)
    return why = "the mm's page tables are not in x86-64 format (the first stage walks x86-64 tables)", false;
  if (!(ecap_ & ecap::SMTS)) return why = "no scalable-mode translation (ECAP.SMTS)", false;
  if (!(ecap_ & ecap::PASID)) return why = "no PASID support (ECAP.PASID)", false;
  if (!(ecap_ & ecap::FSTS)) return why = "no first-stage translation (ECAP.FSTS)", false;
  if (mm.format() == Mm::Format::X86_5 && !(cap_ & cap::FL5LP))
    return why = "5-level first-stage tables not supported (CAP.FL5LP) for a 57-bit address space", false;
  if (!(ecap_ & ecap::SMPWCS)) return why = "first-stage page walks are not coherent (ECAP.SMPWCS)", false;
  if (!sm_)
    return why = "the unit runs in legacy mode: no device-TLB support (ECAP.DT), and SVA needs ATS (R7.2)", false;
  return true;
}

std::unique_ptr<SvaDomain> VtdDriver::alloc_sva_domain(Mm& mm, std::string& why) {
  if (!sva_supported(mm, why)) return nullptr;
  return std::make_unique<VtdSvaDomain>(*this, mm);
}

int VtdDriver::set_dev_pasid(SvaDomain& d, PciDevice& dev, uint32_t pasid, std::string& why) {
  auto* dom = dynamic_cast<VtdSvaDomain*>(&d);
  if (!dom) return why = "SVA domain of another IOMMU driver", EINVAL;  // R1.4, R7.1
  if (!sva_supported(dom->mm(), why)) return EINVAL;                  // another VT-d unit's domain it cannot walk
  if (!dev.pasid_bits) return why = "the device has no PASID capability", EINVAL;
  if (pasid == 0 || pasid >= std::min(dev.max_pasids(), max_pasids()))
    return why = "PASID " + std::to_string(pasid) + " outside the device's range", EINVAL;
  Dev& st = device(dev);
  if (st.sva.count(pasid)) return why = "PASID already attached on the device", EBUSY;
  if (!st.ctx) write_sm_context(st);  // a device never attached through this unit
  alloc_pasid_dir(st);
  if (pasid_dir_index(pasid) >= st.dir_entries)
    return why = "PASID " + std::to_string(pasid) + " beyond the device's PASID directory", EINVAL;

  PasidEntry e;
  e.present = true;
  e.pgtt = pgtt::FIRST_STAGE;
  e.fsptptr = dom->mm().pgd();
  e.flpm = dom->mm().format() == Mm::Format::X86_5 ? flpm::LEVEL5 : flpm::LEVEL4;
  e.aw = static_cast<uint8_t>(aw_);  // Linux fills in the unit's width for first-stage entries too
  e.did = sva_did_;
  e.pwsnp = ecap_ & ecap::SMPWCS;
  e.sre = false;  // user address spaces only
  write_pasid_entry(pasid_slot(st, pasid), e);
  PasidCacheInv pc;
  pc.g = pcgran::PASID;
  pc.did = sva_did_;
  pc.pasid = pasid;
  ++pasid_cache_;
  submit_one(encode(pc));
  st.sva.insert(pasid);

  // PASID first (PCIe: enabling it after ATS is undefined; normally done at the RID attach), then
  // ATS, then PRI, which needs ATS.
  if (!dev.pasid_enabled) dev.set_pasid(true);
  if (dt_ && dev.ats_cap && !dev.ats_enabled) dev.set_ats(true, 12);
  const bool pri = prq_on_ && dev.pri_capacity && dev.ats_enabled;
  if (pri) pri_on(dev);
  if (pri) ++st.pri_users;

  // R2.2: the IOTLB tag of (this unit, SVA DID, PASID), shared by the unit's devices at the PASID;
  // a device-TLB tag per ATS device.
  dom->tags_.add_iotlb(this, sva_did_, pasid);
  if (dev.ats_enabled) dom->tags_.add_devtlb(this, sva_did_, pasid, dev.rid, qdep(dev));
  dom->add_attachment(dev, pasid);
  return 0;
}

void VtdDriver::remove_dev_pasid(SvaDomain& d, PciDevice& dev, uint32_t pasid) {
  auto* dom = dynamic_cast<VtdSvaDomain*>(&d);
  const auto it = devs_.find(dev.rid);
  if (!dom || it == devs_.end() || !it->second.sva.count(pasid)) return;
  Dev& st = it->second;
  // R1.5: the entry goes, then PASID cache, PASID-IOTLB (all of the PASID), device TLB and the PRQ
  // drain; the tags go after, as Linux unassigns them once the PASID is blocked.
  tear_down_pasid(st, pasid, sva_did_, true);
  st.sva.erase(pasid);
  dom->tags_.remove(this, dev.rid, pasid);
  dom->remove_attachment(dev, pasid);
  if (st.pri_users && --st.pri_users == 0) pri_off(dev);
}

}  // namespace iommusim::host
