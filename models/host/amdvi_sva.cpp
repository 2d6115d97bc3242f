// Host AMD-Vi driver, SVA: SVA domains over process tables, per-device GCR3 tables, PASID attach and
// detach, and the per (device, PASID) invalidation of R2.4.
#include <algorithm>
#include <bit>
#include <cerrno>

#include "models/common/log.h"
#include "models/host/amdvi_driver.h"
#include "models/host/mm.h"

namespace iommusim::host {

using namespace iommusim::amdvi;

const IommuDriver& AmdViSvaDomain::owner() const { return owner_; }

void AmdViSvaDomain::attached(PciDevice& dev, uint32_t pasid, AmdViDriver& through) {
  add_attachment(dev, pasid);
  for (auto& [x, drv] : behind_)
    if (x == &dev) {
      drv = &through;
      return;
    }
  behind_.emplace_back(&dev, &through);
}

void AmdViSvaDomain::detached(const PciDevice& dev, uint32_t pasid) {
  remove_attachment(dev, pasid);
  for (const auto& a : attachments())
    if (a.dev == &dev) return;  // still attached at another PASID
  std::erase_if(behind_, [&](const auto& p) { return p.first == &dev; });
}

void AmdViSvaDomain::invalidate(uint64_t start, uint64_t end) {
  // Linux's notifier walks the domain's (device, PASID) list: each pair is flushed and waited for
  // on its own IOMMU, whoever allocated the domain.
  const std::vector<Attachment> att = attachments();  // a flush waits: the list may change meanwhile
  for (const Attachment& a : att)
    for (const auto& [x, drv] : behind_)
      if (x == a.dev) {
        drv->flush_pasid(*a.dev, a.pasid, start, end);
        break;
      }
}

uint32_t AmdViDriver::max_pasids() const {
  // Linux sets the IOMMU's PASID limit only with guest translation.
  if (!(efr_ & efr::GT_SUP)) return 0;
  return (uint32_t{1} << efr::pasid_bits(static_cast<unsigned>(efr::PAS_MAX.get(efr_)))) - 1;
}

// Why this IOMMU cannot walk mm's tables at a PASID, or nullptr.
const char* AmdViDriver::sva_unsupported(const Mm& mm) const {
  // amd_iommu_pasid_supported: v2 tables (GTSup, GIoSup) and page requests (PPRSup, EPHSup).
  if (!(efr_ & efr::GT_SUP)) return "no guest translation (EFR.GTSup clear)";
  if (!(efr_ & efr::GIO_SUP)) return "no guest I/O protection (EFR.GIoSup clear): v2 tables unsupported";
  if (!(efr_ & efr::PPR_SUP) || !(efr_ & efr::EPH_SUP)) return "no peripheral page requests (EFR.PPRSup/EPHSup clear)";
  if (mm.format() == Mm::Format::ArmV8_48) return "the address space is not in x86-64 format";
  // The guest tables must have the CPU's depth: 5-level process tables need EFR.GATS = 5 levels.
  if (mm.format() == Mm::Format::X86_5 && efr::gats_levels(static_cast<unsigned>(efr::GATS.get(efr_))) < 5)
    return "5-level process tables but EFR.GATS allows 4-level guest tables only";
  return nullptr;
}

std::unique_ptr<SvaDomain> AmdViDriver::alloc_sva_domain(Mm& mm, std::string& why) {
  if (const char* r = sva_unsupported(mm)) {
    why = r;
    return nullptr;
  }
  return std::make_unique<AmdViSvaDomain>(*this, mm);
}

uint64_t AmdViDriver::gcr3_entry(const DevState& s, uint32_t pasid) const {
  uint64_t table = s.gcr3;
  for (unsigned level = s.glx; level > 0; --level) {
    const uint64_t e = mem_.read64(table + uint64_t{gcr3::index(pasid, level)} * 8);
    if (!gcr3::valid(e)) return 0;
    table = gcr3::addr(e);
  }
  return mem_.read64(table + uint64_t{gcr3::index(pasid, 0)} * 8);
}

void AmdViDriver::write_gcr3(const DevState& s, uint32_t pasid, uint64_t entry) {
  // Levels GLX .. 1 point at the next table (allocated zeroed on first use); level 0 holds the CR3.
  uint64_t table = s.gcr3;
  for (unsigned level = s.glx; level > 0; --level) {
    const uint64_t slot = table + uint64_t{gcr3::index(pasid, level)} * 8;
    uint64_t e = mem_.read64(slot);
    if (!gcr3::valid(e)) {
      const uint64_t next = alloc_.alloc(4096, 4096);
      mem_.zero(next, 4096);
      ++gcr3_tables_;
      cpu_.spend(to_sc(p_.cost.table_alloc), Cpu::Cat::Other);
      e = gcr3::encode(next);
      mem_.write64(slot, e);
      cpu_.spend(to_sc(p_.cost.pte_write), Cpu::Cat::Other);
    }
    table = gcr3::addr(e);
  }
  mem_.write64(table + uint64_t{gcr3::index(pasid, 0)} * 8, entry);
  cpu_.spend(to_sc(p_.cost.pte_write), Cpu::Cat::Other);
}

int AmdViDriver::set_dev_pasid(SvaDomain& d, PciDevice& dev, uint32_t pasid, std::string& why) {
  auto* sd = dynamic_cast<AmdViSvaDomain*>(&d);
  if (!sd) return why = "domain belongs to another IOMMU driver", EINVAL;
  // Any AMD IOMMU may use the domain (R7.4), but each walks the tables itself.
  if (const char* r = sva_unsupported(d.mm())) return why = r, EINVAL;
  const auto it = devs_.find(dev.rid);
  if (it == devs_.end() || it->second.dev != &dev) return why = "device is not behind this IOMMU", EINVAL;
  if (!dev.pasid_bits) return why = "device has no PASID capability", EINVAL;
  DevState& s = it->second;
  const uint32_t limit = std::min(dev.max_pasids(), max_pasids());
  if (pasid == 0 || pasid >= limit) return why = "PASID 0 or beyond the device's limit", EINVAL;
  const uint8_t gpm = d.mm().format() == Mm::Format::X86_5 ? dte::GPM_5LEVEL : dte::GPM_4LEVEL;
  bool dte_changed = false;
  if (!s.gcr3) {
    // setup_gcr3_table: enough levels for the device's PASIDs (9 bits per level), its own DomainID.
    const unsigned order = static_cast<unsigned>(std::bit_width(limit - 1));  // ceil(log2(limit))
    const unsigned glx = order ? (order + 8) / 9 - 1 : 0;
    if (glx > efr::GLX_SUP.get(efr_)) return why = "the device's PASIDs need more GCR3 levels than EFR.GLXSup", EINVAL;
    s.gcr3 = alloc_.alloc(4096, 4096);
    mem_.zero(s.gcr3, 4096);
    ++gcr3_tables_;
    cpu_.spend(to_sc(p_.cost.table_alloc), Cpu::Cat::Other);
    s.gcr3_domid = ids_.amd_domain++;
    s.glx = static_cast<uint8_t>(glx);
    s.gpm = gpm;
    s.max_pasids = limit;
    dte_changed = true;
  } else {
    if (s.gpm != gpm) return why = "the device's guest tables have another depth", EINVAL;
    if (gcr3::valid(gcr3_entry(s, pasid))) return why = "PASID already in use on the device", EBUSY;
  }
  // pdev_enable_caps order: PASID, ATS, PRI. PASID Enable must not change while ATS is enabled.
  if (!dev.pasid_enabled) {
    const bool ats_on = dev.ats_enabled;
    if (ats_on) dev.set_ats(false, 0);
    dev.set_pasid(true);
    if (ats_on) dev.set_ats(true, 12);
  }
  // PRI only with ATS (Linux: pdev_enable_cap_pri), 32 outstanding requests asked (R3.2).
  if (!dev.pri_enabled && dev.pri_capacity && dev.ats_enabled) {
    dev.set_pri(true, 32);
    ++pri_devices_;
    pri_kick_.notify(sc_core::SC_ZERO_TIME);
  }
  const bool ppr = (efr_ & efr::PPR_SUP) && dev.pri_enabled;
  if (ppr != s.ppr) {
    s.ppr = ppr;
    dte_changed = true;
  }
  if (dte_changed) {
    write_dte(s);
    cpu_.spend(to_sc(p_.cost.pte_write), Cpu::Cat::Other);
    submit({cmd_inv_devtab_entry(dev.rid)});
  }
  // update_gcr3: the guest CR3, then the PASID's flush.
  write_gcr3(s, pasid, (d.mm().pgd() & gcr3::ADDR_MASK) | gcr3::VALID);
  flush_pasid(dev, pasid, 0, Mm::kWholeMm);
  ++s.pasids;
  ++pasid_attach_;
  sd->attached(dev, pasid, *this);
  return 0;
}

void AmdViDriver::remove_dev_pasid(SvaDomain& d, PciDevice& dev, uint32_t pasid) {
  auto* sd = dynamic_cast<AmdViSvaDomain*>(&d);
  const auto it = devs_.find(dev.rid);
  if (!sd || it == devs_.end() || !it->second.gcr3) return;
  DevState& s = it->second;
  // Clearing the entry blocks the PASID; its flush drops what the IOMMU and the ATC cached. The
  // GCR3 table stays for later PASIDs.
  write_gcr3(s, pasid, 0);
  flush_pasid(dev, pasid, 0, Mm::kWholeMm);
  if (s.pasids) --s.pasids;
  ++pasid_detach_;
  sd->detached(dev, pasid);
}

void AmdViDriver::flush_pasid(const PciDevice& dev, uint32_t pasid, uint64_t start, uint64_t end) {
  const DevState* s = device_state(dev.rid);
  if (!s || !s->gcr3) return;
  const auto [lo, len] = inv_span(start, end == Mm::kWholeMm ? 0 : end - start);
  std::vector<Cmd> cmds{cmd_inv_iommu_pages_pasid(s->gcr3_domid, pasid, lo, len)};
  if (dev.ats_enabled) {
    cmds.push_back(cmd_inv_iotlb_pages_pasid(dev.rid, static_cast<uint8_t>(dev.ats_qdep), pasid, lo, len));
    ++iotlb_invs_;
  }
  ++pasid_flushes_;
  submit(cmds);
}

}  // namespace iommusim::host
