// Host SMMUv3 driver, SVA part (after Linux arm-smmu-v3-sva): SVA domains sharing a process's
// VMSAv8-64 tables through a CD at SSID = PASID, their mm invalidations (R2.3), PASID teardown
// (R1.5), stall faults decoded for the fault core and answered with CMD_RESUME (R3.1, R3.5).
#include <algorithm>
#include <cerrno>

#include "models/common/log.h"
#include "models/host/mm.h"
#include "models/host/smmuv3_driver.h"

namespace iommusim::host {

using namespace iommusim::smmuv3;

namespace {
// The CPU whose page tables SVA domains share: arm64 with 48-bit physical addresses, 16-bit ASIDs
// and 4 KiB pages (R7.3 compares the SMMU against these).
constexpr unsigned kCpuPaBits = 48;
constexpr unsigned kCpuAsidBits = 16;
constexpr unsigned kPageShift = 12;
// Linux's MAIR_EL1: attr 0 normal WB (the AttrIndx of user pages), 1 normal tagged, 2 normal
// non-cacheable, 3 device nGnRnE, 4 device nGnRE. The CD takes the CPU's value as is.
constexpr uint64_t kCpuMair = 0x000000040044F0FFull;

uint8_t ps_encode(unsigned bits) {
  uint8_t enc = 0;
  while (enc < 6 && ps_bits(enc) < bits) ++enc;
  return enc;
}
}  // namespace

SmmuV3SvaDomain::~SmmuV3SvaDomain() { drv_.free_asid(asid_); }

// R2.3: TLBI_NH_ASID for the whole mm, an empty range, or (without RIL) 2 MiB or more; else
// non-leaf TLBI_NH_VA ranges; then one ATC_INV per ATS master at its PASID over the same span
// (everything when the TLB part went ASID-wide). Each part ends with its CMD_SYNC.
void SmmuV3SvaDomain::invalidate(uint64_t start, uint64_t end) {
  if (attachments().empty()) return;  // never attached: nothing can be cached
  constexpr uint64_t granule = uint64_t{1} << kPageShift;
  uint64_t size = end == Mm::kWholeMm ? 0 : end - start;
  if (!drv_.range_invalidation() && size >= (granule / 8) * granule) size = 0;
  if (size == 0)
    drv_.tlb_inv_asid(asid_);
  else
    drv_.tlb_inv_range(asid_, start, size, granule, /*leaf=*/false);  // tables may have gone too
  std::vector<SmmuV3Driver::AtcTarget> targets;
  for (const Attachment& a : attachments())
    if (a.dev->ats_enabled) targets.push_back({a.dev->rid, true, a.pasid});
  drv_.atc_inv(targets, start, size);
}

uint32_t SmmuV3Driver::max_pasids() const { return s1p_ && ssid_bits_ ? uint32_t{1} << ssid_bits_ : 0; }

uint16_t SmmuV3Driver::alloc_asid() { return ids_.alloc_asid(asid16_ ? 16 : 8); }

std::unique_ptr<SvaDomain> SmmuV3Driver::alloc_sva_domain(Mm& mm, std::string& why) {
  // R7.3 (arm_smmu_sva_supported and the domain's format checks).
  if (!s1p_ || ssid_bits_ == 0) {
    why = "SMMU has no stage 1 with SubstreamIDs";
    return nullptr;
  }
  if (mm.format() != Mm::Format::ArmV8_48) {
    why = "mm's page tables are not VMSAv8-64 with 4 KiB granule and 48-bit VA";
    return nullptr;
  }
  if (!coherent_) {
    why = "SMMU table walks are not coherent (IDR0.COHACC clear)";
    return nullptr;
  }
  if (!gran4k_) {
    why = "SMMU does not support the CPU's 4 KiB page size";
    return nullptr;
  }
  if (ps_bits(oas_enc_) < kCpuPaBits) {
    why = "SMMU output address size " + std::to_string(ps_bits(oas_enc_)) + " bits is below the CPU's " +
          std::to_string(kCpuPaBits);
    return nullptr;
  }
  const unsigned asid_bits = asid16_ ? 16 : 8;
  if (asid_bits < kCpuAsidBits) {
    why = "SMMU has " + std::to_string(asid_bits) + "-bit ASIDs, fewer than the CPU's " + std::to_string(kCpuAsidBits);
    return nullptr;
  }
  const uint16_t asid = alloc_asid();
  if (!asid) {
    why = "no free ASID";
    return nullptr;
  }
  return std::make_unique<SmmuV3SvaDomain>(*this, mm, asid);
}

bool SmmuV3Driver::stall_capable(const PciDevice& dev) const {
  // Linux never uses PCIe PRI on SMMUv3 (R3.1): a master without PRI stalls when the SMMU can;
  // a stall-forcing SMMU stalls every master.
  return stall_model_ == kStallModelForce || (stall_model_ == kStallModelStall && dev.pri_capacity == 0);
}

void SmmuV3Driver::spend_table_writes(unsigned dwords) {
  cpu_.spend(to_sc(p_.cost.pte_write) * static_cast<double>(dwords), Cpu::Cat::Other);
}

uint64_t SmmuV3Driver::cd_addr(Master& m, uint32_t ssid, bool& new_l1) {
  new_l1 = false;
  if (!m.two_level) return m.table + uint64_t{ssid} * 64;
  const uint32_t l1 = ssid >> kCdSplit;
  if (m.leaf[l1] == 0) {
    // Leaves of 1024 CDs (64 KiB) come on first use; the level-1 descriptor is written last.
    const uint64_t bytes = uint64_t{64} << kCdSplit;
    m.leaf[l1] = alloc_.alloc(bytes, 4096);
    mem_.zero(m.leaf[l1], bytes);
    cpu_.spend(to_sc(p_.cost.table_alloc), Cpu::Cat::Other);
    mem_.write64(m.table + uint64_t{l1} * 8, encode(L1Cd{true, m.leaf[l1]}));
    spend_table_writes(1);
    new_l1 = true;
  }
  return m.leaf[l1] + (uint64_t{ssid} & ((uint64_t{1} << kCdSplit) - 1)) * 64;
}

void SmmuV3Driver::write_cd(Master& m, uint16_t sid, uint32_t ssid, const uint64_t raw[CD_DWORDS], bool invalidate) {
  bool new_l1 = false;
  const uint64_t at = cd_addr(m, ssid, new_l1);
  mem_.write(at, raw, CD_DWORDS * 8);
  spend_table_writes(CD_DWORDS);
  if (!invalidate) return;
  Cmd c;
  c.opcode = op::CFGI_CD;
  c.sid = sid;
  c.ssid = ssid;
  c.leaf = !new_l1;  // a new level-1 descriptor may have been cached as invalid
  issue({c}, true);
}

int SmmuV3Driver::set_dev_pasid(SvaDomain& d, PciDevice& dev, uint32_t pasid, std::string& why) {
  auto* dom = dynamic_cast<SmmuV3SvaDomain*>(&d);
  if (!dom) return why = "domain belongs to another IOMMU driver", EINVAL;  // R7.1
  // R1.6, R7.3: the ASID and the invalidations belong to the instance that made the domain.
  if (&dom->driver() != this) return why = "domain of another SMMU instance", EINVAL;
  const auto it = masters_.find(dev.rid);
  if (it == masters_.end()) return why = "device has no CD table (no PASID capability, or not attached)", EINVAL;
  Master& m = it->second;
  if (pasid == 0 || (uint64_t{pasid} >> m.cdmax) != 0) return why = "PASID outside the device's CD table", EINVAL;
  if (std::find(m.pasids.begin(), m.pasids.end(), pasid) != m.pasids.end())
    return why = "PASID already in use on the device", EBUSY;
  Cd cd;
  cd.valid = true;
  cd.aa64 = true;
  cd.t0sz = 64 - 48;
  cd.tg0 = tg0_encode(kPageShift);
  cd.ir0 = cd.or0 = 1;  // write-back write-allocate walks, as the CPU's TCR
  cd.sh0 = 3;           // inner shareable
  cd.epd1 = true;       // user space only: no TTB1 walks
  cd.ips = ps_encode(kCpuPaBits);
  cd.r = true;
  cd.a = true;
  cd.s = m.stall;
  cd.aset = true;  // no BTM: the CPU's broadcast TLBIs do not reach this ASID
  cd.asid = dom->asid();
  cd.ttb0 = dom->mm().pgd();
  cd.mair = kCpuMair;
  uint64_t raw[CD_DWORDS];
  encode(cd, raw);
  write_cd(m, dev.rid, pasid, raw, true);
  m.pasids.push_back(pasid);
  dom->attach_at(dev, pasid);
  ++sva_attach_;
  if (ats_ && dev.ats_cap && !dev.ats_enabled) {
    atc_inv_device(dev.rid);
    dev.set_ats(true, kPageShift);
  }
  return 0;
}

void SmmuV3Driver::remove_dev_pasid(SvaDomain& d, PciDevice& dev, uint32_t pasid) {
  auto* dom = dynamic_cast<SmmuV3SvaDomain*>(&d);
  const auto it = masters_.find(dev.rid);
  if (!dom || &dom->driver() != this || it == masters_.end()) return;
  Master& m = it->second;
  const auto p = std::find(m.pasids.begin(), m.pasids.end(), pasid);
  if (p == m.pasids.end()) return;
  const uint64_t zero[CD_DWORDS] = {};
  write_cd(m, dev.rid, pasid, zero, true);  // V = 0: the PASID is blocked from here
  m.pasids.erase(p);
  dom->detach_at(dev, pasid);
  // R1.5: nothing of the ASID may stay in the IOTLB or the device's ATC for this PASID.
  tlb_inv_asid(dom->asid());
  if (dev.ats_enabled) atc_inv({{dev.rid, true, pasid}}, 0, 0);
}

IoPageFault SmmuV3Driver::decode_stall(const Event& e) const {
  IoPageFault f;
  f.rid = static_cast<uint16_t>(e.sid);
  f.pasid_valid = e.ssv;
  f.pasid = e.ssv ? e.ssid : 0;
  f.addr = e.input_addr & ~((uint64_t{1} << kPageShift) - 1);
  f.read = e.rnw;
  f.write = !e.rnw;
  f.exec = e.ind;
  f.priv = e.pnu;
  f.last = true;  // a stall is a group of one
  f.grpid = e.stag;
  f.stall = true;
  return f;
}

void SmmuV3Driver::page_response(const IoPageFault& f, PageResponse code) {
  if (!f.stall) {
    log::get(name_)->warn("page response for a PRI request from {:#x}: PRI is not used on SMMUv3", f.rid);
    return;
  }
  Cmd c;
  c.opcode = op::RESUME;
  c.sid = f.rid;
  c.stag = f.grpid;
  c.resp = code == PageResponse::Success ? resume_action::RETRY : resume_action::ABORT;
  ++resumes_;
  issue({c}, false);  // R3.5: no CMD_SYNC
}

}  // namespace iommusim::host
