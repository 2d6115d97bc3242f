// Host SMMUv3 driver: probe, stream table and CDs, command submission and invalidation policy.
#include "models/host/smmuv3_driver.h"

#include <algorithm>
#include <bit>
#include <cerrno>

#include "models/common/log.h"

namespace iommusim::host {

using namespace iommusim::smmuv3;

// R2.3: the IOTLB first (TLBI...SYNC), then the ATCs (ATC_INV...SYNC): a device must not refetch a
// translation the IOTLB still holds.
void SmmuV3Domain::flush_range(uint64_t iova, uint64_t size, uint64_t leaf_size) {
  drv_.tlb_inv_range(asid_, iova, size, leaf_size);
  if (any_ats()) drv_.atc_inv_domain(*this, iova, size);
}

void SmmuV3Domain::flush_all() {
  drv_.tlb_inv_asid(asid_);
  if (any_ats()) drv_.atc_inv_domain(*this, 0, 0);
}

void SmmuV3Domain::flush_walk(uint64_t iova, uint64_t size) {
  drv_.tlb_inv_range(asid_, iova, size, uint64_t{1} << pgt_->geometry().shift, false);
  if (any_ats()) drv_.atc_inv_domain(*this, iova, size);
}

SmmuV3Driver::SmmuV3Driver(std::string name, const HostParams& p, PhysMem& mem, PhysAlloc& alloc, Cpu& cpu,
                           Mmio& mmio, sc_core::sc_event& sync_wake, KernelIds& ids, StatGroup& parent)
    : name_(std::move(name)),
      ids_(ids),
      p_(p),
      mem_(mem),
      alloc_(alloc),
      cpu_(cpu),
      mmio_(mmio),
      sync_wake_(sync_wake),
      cmd_build_(to_sc(p.cost.cmd_build)),
      sync_poll_(to_sc(p.cost.sync_poll)),
      stats_(name_, &parent),
      cmds_(stats_.counter("commands", "commands written to the command queue (CMD_SYNC included)")),
      syncs_(stats_.counter("syncs", "CMD_SYNCs issued and waited for")),
      batches_(stats_.counter("batches", "command batches submitted (one PROD write each)")),
      atc_invs_(stats_.counter("atc_inv", "CMD_ATC_INV commands written")),
      events_(stats_.counter("events", "event records consumed from the event queue")),
      stall_events_(stats_.counter("stall_events", "stall events decoded and reported as recoverable faults")),
      resumes_(stats_.counter("resumes", "CMD_RESUMEs written (page responses to stalls)")),
      sva_attach_(stats_.counter("sva_attach", "SVA domains attached at a PASID (set_dev_pasid)")),
      sync_wait_ns_(stats_.histogram("sync_wait", "ns", "PROD write to observed CMD_SYNC completion")) {}

void SmmuV3Driver::probe() {
  const uint32_t idr0v = mmio_.read32(reg::IDR0);
  const uint32_t idr1v = mmio_.read32(reg::IDR1);
  const uint32_t idr3v = mmio_.read32(reg::IDR3);
  const uint32_t idr5v = mmio_.read32(reg::IDR5);
  sid_bits_ = static_cast<unsigned>(idr1::SIDSIZE.get(idr1v));
  ril_ = idr3v & idr3::RIL;
  ats_ = idr0v & idr0::ATS;
  s1p_ = idr0v & idr0::S1P;
  coherent_ = idr0v & idr0::COHACC;
  cd2l_ = idr0v & idr0::CD2L;
  asid16_ = idr0v & idr0::ASID16;
  stall_model_ = static_cast<unsigned>(idr0::STALL_MODEL.get(idr0v));
  ssid_bits_ = static_cast<unsigned>(idr1::SSIDSIZE.get(idr1v));
  gran4k_ = idr5v & idr5::GRAN4K;
  oas_enc_ = static_cast<unsigned>(idr5::OAS.get(idr5v));
  split_ = static_cast<unsigned>(p_.strtab_split);
  two_level_ = idr0::ST_LEVEL.get(idr0v) == idr0::ST_LEVEL_2LVL && !p_.linear_strtab && sid_bits_ > split_;
  cmdq_log2_ = static_cast<unsigned>(std::min<uint64_t>(p_.cmdq_log2, idr1::CMDQS.get(idr1v)));
  eventq_log2_ = static_cast<unsigned>(std::min<uint64_t>(p_.eventq_log2, idr1::EVENTQS.get(idr1v)));

  mmio_.write32(reg::CR0, 0);
  uint32_t cfg;
  if (two_level_) {
    const uint64_t l1_bytes = std::max<uint64_t>(64, (uint64_t{1} << (sid_bits_ - split_)) * 8);
    strtab_ = alloc_.alloc(l1_bytes, std::bit_ceil(l1_bytes));
    mem_.zero(strtab_, l1_bytes);  // SPAN 0: no level-2 table yet
    l2_present_.assign(size_t{1} << (sid_bits_ - split_), false);
    cfg = static_cast<uint32_t>(strtab::CFG_FMT.make(strtab::FMT_2LVL) | strtab::CFG_LOG2SIZE.make(sid_bits_) |
                                strtab::CFG_SPLIT.make(split_));
  } else {
    const uint64_t bytes = (uint64_t{1} << sid_bits_) * 64;
    strtab_ = alloc_.alloc(bytes, std::bit_ceil(bytes));
    Ste abort;
    abort.valid = true;
    for (uint64_t sid = 0; sid < (uint64_t{1} << sid_bits_); ++sid) write_ste(static_cast<uint32_t>(sid), abort);
    cfg = static_cast<uint32_t>(strtab::CFG_FMT.make(strtab::FMT_LINEAR) | strtab::CFG_LOG2SIZE.make(sid_bits_));
  }
  mmio_.write64(reg::STRTAB_BASE, strtab_ | strtab::BASE_RA);
  mmio_.write32(reg::STRTAB_BASE_CFG, cfg);

  cmdq_ = alloc_.alloc(uint64_t{16} << cmdq_log2_, std::max<uint64_t>(32, uint64_t{16} << cmdq_log2_));
  mmio_.write64(reg::CMDQ_BASE, cmdq_ | qbase::RWA | qbase::LOG2SIZE.make(cmdq_log2_));
  mmio_.write32(reg::CMDQ_PROD, 0);
  mmio_.write32(reg::CMDQ_CONS, 0);
  eventq_ = alloc_.alloc(uint64_t{32} << eventq_log2_, std::max<uint64_t>(32, uint64_t{32} << eventq_log2_));
  mem_.zero(eventq_, uint64_t{32} << eventq_log2_);  // drain_events tells new records by a non-zero slot
  mmio_.write64(reg::EVENTQ_BASE, eventq_ | qbase::RWA | qbase::LOG2SIZE.make(eventq_log2_));
  mmio_.write32(reg::EVENTQ_PROD, 0);
  mmio_.write32(reg::EVENTQ_CONS, 0);

  // As Linux's device reset: command queue on, drop every cached config and TLB entry, then the
  // event queue, then translation.
  mmio_.write32(reg::CR0, cr0::CMDQEN);
  Cmd cfgi_all;
  cfgi_all.opcode = op::CFGI_STE_RANGE;
  cfgi_all.range = CFGI_RANGE_ALL;
  Cmd tlbi_all;
  tlbi_all.opcode = op::TLBI_NSNH_ALL;
  issue({cfgi_all, tlbi_all}, true);
  mmio_.write32(reg::CR0, cr0::CMDQEN | cr0::EVTQEN);
  mmio_.write32(reg::CR0, cr0::CMDQEN | cr0::EVTQEN | cr0::SMMUEN);
}

uint64_t SmmuV3Driver::ste_addr(uint32_t sid) {
  if (!two_level_) return strtab_ + uint64_t{sid} * 64;
  const uint32_t l1 = sid >> split_;
  const uint64_t l1_addr = strtab_ + uint64_t{l1} * 8;
  if (!l2_present_[l1]) {
    // Level-2 tables are created on first use with every STE aborting, as Linux does.
    const uint64_t bytes = (uint64_t{1} << split_) * 64;
    const uint64_t l2 = alloc_.alloc(bytes, bytes);
    Ste abort;
    abort.valid = true;
    uint64_t raw[STE_DWORDS];
    encode(abort, raw);
    for (uint64_t i = 0; i < (uint64_t{1} << split_); ++i) mem_.write(l2 + i * 64, raw, sizeof raw);
    mem_.write64(l1_addr, encode(L1Std{static_cast<uint8_t>(split_ + 1), l2}));
    l2_present_[l1] = true;
    cpu_.spend(to_sc(p_.cost.table_alloc), Cpu::Cat::Other);
  }
  return decode_l1std(mem_.read64(l1_addr)).l2ptr + (uint64_t{sid} & ((uint64_t{1} << split_) - 1)) * 64;
}

void SmmuV3Driver::write_ste(uint32_t sid, const Ste& s) {
  uint64_t raw[STE_DWORDS];
  encode(s, raw);
  mem_.write(ste_addr(sid), raw, sizeof raw);
}

std::unique_ptr<IommuDomain> SmmuV3Driver::alloc_paging_domain() {
  // Input size: what the host asks for, capped by the 48-bit VA of a 4K stage-1 regime.
  const unsigned ias = static_cast<unsigned>(std::min<uint64_t>(p_.ias_bits, 48));
  auto pgt = std::make_unique<IoPgtableArm>(mem_, alloc_, pgtable::Granule::K4, ias, false);
  const uint16_t asid = alloc_asid();
  if (!asid) throw std::runtime_error(name_ + ": no free ASID for a DMA domain");
  return std::make_unique<SmmuV3Domain>(*this, asid, std::move(pgt));
}

int SmmuV3Driver::check_attach(const IommuDomain& d, std::string& why) const {
  const auto* dom = dynamic_cast<const SmmuV3Domain*>(&d);
  if (!dom) return why = "domain belongs to another IOMMU driver", EINVAL;  // R7.1
  // R7.3: paging domains are tied to the SMMU instance whose ASID and tables they use.
  if (&dom->owner() != this) return why = "domain is bound to SMMU instance " + dom->owner().name(), EINVAL;
  return 0;
}

Cd SmmuV3Driver::dma_cd(SmmuV3Domain& dom) const {
  Cd cd;
  cd.valid = true;
  cd.aa64 = true;
  cd.t0sz = static_cast<uint8_t>(64 - dom.ias_bits());
  cd.tg0 = tg0_encode(12);
  cd.ir0 = cd.or0 = 1;  // write-back read/write-allocate walks
  cd.sh0 = 3;
  cd.epd1 = true;
  cd.ips = static_cast<uint8_t>(oas_enc_);
  cd.r = true;  // record faults
  cd.a = true;  // abort faulting transactions
  cd.aset = true;
  cd.asid = dom.asid();
  cd.ttb0 = dom.pgtable().root();
  cd.mair = 0x0000000000FF04ull;  // attr 0: device, attr 1: normal WB
  return cd;
}

void SmmuV3Driver::attach(IommuDomain& d, PciDevice& dev) {
  auto& dom = static_cast<SmmuV3Domain&>(d);
  const uint32_t rid = dev.rid;
  const bool ats = ats_ && dev.ats_cap;
  if (dev.ats_enabled) {
    // As arm_smmu_disable_ats: stop the device using translations, then flush what it holds.
    dev.set_ats(false, 0);
    atc_inv_device(dev.rid);
  }
  const Cd cd = dma_cd(dom);
  if (dev.pasid_bits && ssid_bits_ && s1p_) {
    attach_cd_table(dev, cd, ats);
  } else {
    uint64_t raw[CD_DWORDS];
    encode(cd, raw);
    const uint64_t cd_pa = alloc_.alloc(64, 64);
    mem_.write(cd_pa, raw, sizeof raw);

    Ste s;
    s.valid = true;
    s.config = SteConfig::S1Trans;
    s.s1fmt = ste::S1FMT_LINEAR;
    s.s1_context_ptr = cd_pa;
    s.s1_cdmax = 0;
    s.s1cir = s.s1cor = 1;
    s.s1csh = 3;
    s.strw = ste::STRW_NSEL1;
    s.eats = ats ? ste::EATS_TRANS : ste::EATS_ABORT;
    write_ste(rid, s);
    Cmd cfgi;
    cfgi.opcode = op::CFGI_STE;
    cfgi.sid = rid;
    cfgi.leaf = true;
    issue({cfgi}, true);
  }
  move_device(dev, d);
  if (ats) {
    // As arm_smmu_enable_ats: flush the whole ATC, then enable ATS with STU = the smallest granule.
    atc_inv_device(dev.rid);
    dev.set_ats(true, 12);
  }
}

// A PASID-capable master: the CD table is made once, on the first attach; later attaches only
// replace CD 0, so SVA domains at other SSIDs stay in place.
void SmmuV3Driver::attach_cd_table(PciDevice& dev, Cd cd, bool ats) {
  const uint16_t rid = dev.rid;
  Master& m = masters_[rid];
  const bool fresh = m.table == 0;
  if (fresh) {
    m.cdmax = std::min(dev.pasid_bits, ssid_bits_);
    m.stall = stall_capable(dev);
    // Linux: linear up to CTXDESC_L2_ENTRIES (1024) CDs, else level 1 + lazily allocated leaves.
    m.two_level = cd2l_ && m.cdmax > kCdSplit;
    const uint64_t bytes = m.two_level ? (uint64_t{8} << (m.cdmax - kCdSplit)) : (uint64_t{64} << m.cdmax);
    m.table = alloc_.alloc(bytes, std::clamp<uint64_t>(std::bit_ceil(bytes), 64, 4096));
    mem_.zero(m.table, bytes);
    cpu_.spend(to_sc(p_.cost.table_alloc), Cpu::Cat::Other);
    if (m.two_level) m.leaf.assign(size_t{1} << (m.cdmax - kCdSplit), 0);
  }
  cd.s = m.stall;
  uint64_t raw[CD_DWORDS];
  encode(cd, raw);
  write_cd(m, rid, 0, raw, !fresh);
  if (!fresh) return;  // CD 0 replaced and invalidated; the STE stays
  Ste s;
  s.valid = true;
  s.config = SteConfig::S1Trans;
  s.s1fmt = m.two_level ? ste::S1FMT_64K_L2 : ste::S1FMT_LINEAR;
  s.s1_context_ptr = m.table;
  s.s1_cdmax = static_cast<uint8_t>(m.cdmax);
  s.s1dss = ste::S1DSS_SSID0;  // transactions without a PASID use CD 0 (the DMA domain)
  s.s1cir = s.s1cor = 1;
  s.s1csh = 3;
  s.strw = ste::STRW_NSEL1;
  s.eats = ats ? ste::EATS_TRANS : ste::EATS_ABORT;
  // As Linux: an SMMU that can stall, in front of a master that must not, gets S1STALLD.
  s.s1stalld = smmu_stalls() && !m.stall;
  write_ste(rid, s);
  spend_table_writes(STE_DWORDS);
  Cmd cfgi;
  cfgi.opcode = op::CFGI_STE;
  cfgi.sid = rid;
  cfgi.leaf = true;
  issue({cfgi}, true);
  // PCIe: PASID is enabled while ATS is still off (it is turned on after the STE).
  if (!dev.pasid_enabled) dev.set_pasid(true);
}

void SmmuV3Driver::atc_inv_device(uint16_t sid) {
  Cmd c;
  c.opcode = op::ATC_INV;
  c.sid = sid;
  c.size = ATC_INV_SIZE_ALL;
  ++atc_invs_;
  issue({c}, true);
}

void SmmuV3Driver::atc_inv(const std::vector<AtcTarget>& targets, uint64_t iova, uint64_t size) {
  if (targets.empty()) return;
  Cmd c;
  c.opcode = op::ATC_INV;
  if (size == 0) {
    c.size = ATC_INV_SIZE_ALL;
  } else {
    // The smallest naturally aligned power-of-two span of 4 KiB pages holding [iova, iova+size).
    const uint64_t first = iova >> 12, last = (iova + size - 1) >> 12;
    const unsigned log2_span = static_cast<unsigned>(std::bit_width(first ^ last));
    c.addr = (first >> log2_span) << (log2_span + 12);
    c.size = static_cast<uint8_t>(log2_span);
  }
  std::vector<Cmd> cmds;
  cmds.reserve(targets.size());
  for (const AtcTarget& t : targets) {
    c.sid = t.sid;
    c.ssv = t.ssv;
    c.ssid = t.ssv ? t.ssid : 0;
    cmds.push_back(c);
  }
  atc_invs_ += cmds.size();
  issue(cmds, true);
}

void SmmuV3Driver::atc_inv_domain(const IommuDomain& d, uint64_t iova, uint64_t size) {
  std::vector<AtcTarget> targets;
  for (const PciDevice* dev : d.devices())
    if (dev->ats_enabled) targets.push_back({dev->rid});
  atc_inv(targets, iova, size);
}

void SmmuV3Driver::tlb_inv_asid(uint16_t asid) {
  Cmd c;
  c.opcode = op::TLBI_NH_ASID;
  c.asid = asid;
  issue({c}, true);
}

void SmmuV3Driver::tlb_inv_range(uint16_t asid, uint64_t iova, uint64_t size, uint64_t leaf_size, bool leaf) {
  constexpr unsigned tg_shift = 12;  // 4K granule domains
  const uint64_t granule = uint64_t{1} << tg_shift;
  // R2.3: whole-ASID invalidation for size 0, or without RIL once the range reaches (granule/8) pages.
  if (size == 0 || (!ril_ && size >= (granule / 8) * granule)) return tlb_inv_asid(asid);
  std::vector<Cmd> cmds;
  Cmd c;
  c.opcode = op::TLBI_NH_VA;
  c.asid = asid;
  c.leaf = leaf;
  const uint64_t end = iova + size;
  if (ril_) {
    uint64_t pages = size >> tg_shift;
    c.tg = 1;  // 4K
    // As Linux: a non-leaf range never encodes NUM = SCALE = 0 (errata); one page more is harmless.
    if (!leaf && (pages & 31) == 1) ++pages;
    while (iova < end && pages) {
      const unsigned scale = static_cast<unsigned>(std::countr_zero(pages));
      const uint64_t num = (pages >> scale) & 31;
      c.scale = static_cast<uint8_t>(scale);
      c.num = static_cast<uint8_t>(num - 1);
      c.addr = iova;
      cmds.push_back(c);
      iova += num << (scale + tg_shift);
      pages -= num << scale;
    }
  } else {
    const uint64_t step = std::max(leaf_size, granule);
    for (; iova < end; iova += step) {
      c.addr = iova;
      cmds.push_back(c);
    }
  }
  issue(cmds, true);
}

void SmmuV3Driver::issue(const std::vector<Cmd>& cmds, bool sync) {
  const size_t batch = p_.tlbi_batch;
  if (cmds.empty()) {
    if (sync) submit_batch(nullptr, 0, true);
    return;
  }
  for (size_t i = 0; i < cmds.size(); i += batch) {
    const size_t n = std::min(batch, cmds.size() - i);
    submit_batch(&cmds[i], n, sync && i + n == cmds.size());
  }
}

void SmmuV3Driver::wait_for_space(uint32_t n) {
  const uint32_t size = 1u << cmdq_log2_;
  while (queue_count(prod_, cons_, cmdq_log2_) + n > size) {
    const uint32_t cons = mmio_.read32(reg::CMDQ_CONS);
    if (qreg::CMDQ_CONS_ERR.get(cons) != qreg::CERROR_NONE) {
      log::get(name_)->error("command queue error {} at index {}", qreg::CMDQ_CONS_ERR.get(cons),
                             queue_index(cons, cmdq_log2_));
      throw std::runtime_error(name_ + ": SMMUv3 command queue error");
    }
    cons_ = cons & ((queue_wrap_bit(cmdq_log2_) << 1) - 1);
    if (queue_count(prod_, cons_, cmdq_log2_) + n > size) sc_core::wait(sc_core::sc_time(100, sc_core::SC_NS), sync_wake_);
  }
}

void SmmuV3Driver::submit_batch(const Cmd* cmds, size_t n, bool sync) {
  wait_for_space(static_cast<uint32_t>(n + (sync ? 1 : 0)));
  uint64_t raw[CMD_DWORDS];
  for (size_t i = 0; i < n; ++i) {
    encode(cmds[i], raw);
    mem_.write(cmdq_ + uint64_t{queue_index(prod_, cmdq_log2_)} * 16, raw, sizeof raw);
    prod_ = queue_inc(prod_, cmdq_log2_);
  }
  uint64_t sync_addr = 0;
  if (sync) {
    sync_addr = cmdq_ + uint64_t{queue_index(prod_, cmdq_log2_)} * 16;
    Cmd s;
    s.opcode = op::CMD_SYNC;
    s.cs = sync_cs::IRQ;
    s.msi_addr = sync_addr;  // the SMMU's MSI write of 0 lands on the sync itself (MSI-poll)
    s.msi_data = 0;
    encode(s, raw);
    mem_.write(sync_addr, raw, sizeof raw);
    prod_ = queue_inc(prod_, cmdq_log2_);
    ++syncs_;
  }
  const uint32_t after = prod_;
  const size_t total = n + (sync ? 1 : 0);
  cmds_ += total;
  ++batches_;
  cpu_.spend(cmd_build_ * static_cast<double>(total), cpu_.current);
  mmio_.write32(reg::CMDQ_PROD, prod_);
  if (!sync) return;
  const sc_core::sc_time t0 = sc_core::sc_time_stamp();
  const sc_core::sc_time timeout(1, sc_core::SC_SEC);  // R2.3: sync poll time-out
  uint32_t word = 1;
  while ((mem_.read(sync_addr, &word, 4), word) != 0) {
    if (sc_core::sc_time_stamp() - t0 >= timeout) {
      log::get(name_)->error("CMD_SYNC timeout after 1s");
      break;
    }
    sc_core::wait(timeout, sync_wake_);
    if (sync_poll_ != sc_core::SC_ZERO_TIME) sc_core::wait(sync_poll_);
  }
  const sc_core::sc_time waited = sc_core::sc_time_stamp() - t0;
  timeline::span(tl_, timeline::Cat::InvWait, "CMD_SYNC wait", t0, sc_core::sc_time_stamp(), total);
  cpu_.account(waited, Cpu::Cat::InvWait);
  sync_wait_ns_.record(static_cast<uint64_t>(to_ns(waited)));
  // Everything up to our sync was consumed; other writers may have queued more since.
  if (queue_count(after, cons_, cmdq_log2_) <= queue_count(prod_, cons_, cmdq_log2_)) cons_ = after;
}

unsigned SmmuV3Driver::drain_events() {
  unsigned n = 0;
  auto lg = log::get(name_);
  const auto slot = [this](uint32_t p) { return eventq_ + uint64_t{queue_index(p, eventq_log2_)} * 32; };
  // Handling a stall may wait (its response is a command) and so may the register accesses:
  // records that arrive meanwhile are picked up by reading PROD again until the queue stays empty.
  for (;;) {
    const uint32_t prod = mmio_.read32(reg::EVENTQ_PROD);
    if (queue_empty(prod, evt_cons_, eventq_log2_)) {
      // Consumed slots are cleared below, so a record in the next slot arrived after PROD was
      // sampled. It stands for the event interrupt raised while this handler ran, which a real
      // interrupt controller keeps pending but the host's event thread would miss: go round again.
      uint64_t w0 = 0;
      mem_.read(slot(evt_cons_), &w0, 8);
      if (w0 == 0) break;
      continue;
    }
    std::vector<Event> batch;
    while (!queue_empty(prod, evt_cons_, eventq_log2_)) {
      uint64_t raw[EVT_DWORDS];
      mem_.read(slot(evt_cons_), raw, sizeof raw);
      batch.push_back(decode_event(raw));
      mem_.zero(slot(evt_cons_), sizeof raw);
      evt_cons_ = queue_inc(evt_cons_, eventq_log2_);
    }
    n += static_cast<unsigned>(batch.size());
    events_ += batch.size();
    mmio_.write32(reg::EVENTQ_CONS, evt_cons_ | (prod & qreg::OVFLG));
    for (const Event& e : batch) {
      lg->info("event {} sid {:#x} ssid {} addr {:#x}{}", event_name(e.type), e.sid, e.ssv ? e.ssid : 0,
               e.input_addr, e.stall ? " (stalled)" : "");
      if (!e.stall) continue;
      const IoPageFault f = decode_stall(e);
      ++stall_events_;
      // As Linux: translation, access, permission and address-size faults of stage 1 are
      // recoverable; a stall nobody can fix is aborted rather than held.
      if (iopf_ && (e.type == evt::F_TRANSLATION || e.type == evt::F_ACCESS || e.type == evt::F_PERMISSION ||
                    e.type == evt::F_ADDR_SIZE) && !e.s2)
        iopf_->report(*this, f);
      else
        page_response(f, PageResponse::Invalid);
    }
  }
  return n;
}

}  // namespace iommusim::host
