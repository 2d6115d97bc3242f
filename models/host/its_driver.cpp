// Host GICv3 ITS driver: probe, device and LPI mapping, command submission.
#include "models/host/its_driver.h"

#include <bit>
#include <cerrno>
#include <stdexcept>

#include "models/common/log.h"
#include "models/common/sim_time.h"

namespace iommusim::host {

using namespace iommusim::its;

namespace {
constexpr uint64_t kCmdQueueBytes = 0x10000;  // Linux ITS_CMD_QUEUE_SZ: 64 KiB, 2048 commands
constexpr uint64_t kTablePage = 0x10000;      // Linux tries 64 KiB ITS table pages first
constexpr unsigned kLpiBits = 16;             // Linux ITS_MAX_LPI_NRBITS
constexpr uint64_t kIttAlign = 256;           // ITS_ITT_ALIGN
// Inner-shareable, read/write-allocate write-back (what Linux programs into CBASER and BASER).
constexpr uint64_t kCacheWb = 7, kInnerShareable = 1;
}  // namespace

ItsDriver::ItsDriver(std::string name, const HostParams& p, PhysMem& mem, PhysAlloc& alloc, Cpu& cpu, Mmio& mmio,
                     uint64_t its_base, StatGroup& parent)
    : name_(std::move(name)),
      p_(p),
      mem_(mem),
      alloc_(alloc),
      cpu_(cpu),
      mmio_(mmio),
      base_(its_base),
      stats_(name_, &parent),
      cmds_(stats_.counter("commands", "ITS commands written to the command queue (SYNC included)")),
      syncs_(stats_.counter("syncs", "SYNC commands written")),
      polls_(stats_.counter("creadr_polls", "GITS_CREADR reads while waiting for commands to complete")),
      timeouts_(stats_.counter("timeouts", "command waits abandoned after 1 s (queue stalled or stuck)")),
      wait_ns_(stats_.histogram("cmd_wait", "ns", "CWRITER write to CREADR observed past the commands")) {}

void ItsDriver::probe() {
  const uint32_t arch = mmio_.read32(reg::PIDR2) & 0xF0;
  if (arch != 0x30 && arch != 0x40) throw std::runtime_error(name_ + ": no GICv3/v4 ITS found (GITS_PIDR2)");
  const uint64_t typer = mmio_.read(reg::TYPER, 8);
  ite_size_ = static_cast<unsigned>(typer::ITT_ENTRY_SIZE.get(typer) + 1);
  dev_bits_ = static_cast<unsigned>(typer::DEVBITS.get(typer) + 1);
  event_bits_ = static_cast<unsigned>(typer::ID_BITS.get(typer) + 1);
  if (typer & typer::PTA) throw std::runtime_error(name_ + ": ITS targets redistributor addresses (PTA), not modelled");

  mmio_.write32(reg::CTLR, 0);  // tables and queue are programmed with the ITS disabled

  // Command queue.
  cmdq_ = alloc_.alloc(kCmdQueueBytes, kCmdQueueBytes);
  mem_.zero(cmdq_, kCmdQueueBytes);
  cpu_.spend(to_sc(p_.cost.table_alloc), cpu_.current);
  mmio_.write64(reg::CBASER, cbaser::VALID | cbaser::INNER_CACHE.make(kCacheWb) |
                                 cbaser::SHAREABILITY.make(kInnerShareable) | (cmdq_ & cbaser::PA.mask()) |
                                 cbaser::SIZE.make(kCmdQueueBytes / 0x1000 - 1));
  mmio_.write32(reg::CWRITER, 0);
  cwriter_ = 0;

  // Device and collection tables (its_alloc_tables): each BASER says its type and entry size.
  for (unsigned n = 0; n < reg::BASER_COUNT; ++n) {
    const uint32_t off = reg::BASER0 + 8 * n;
    const uint64_t v = mmio_.read(off, 8);
    const uint64_t type = baser::TYPE.get(v);
    const uint64_t esz = baser::ENTRY_SIZE.get(v) + 1;
    uint64_t bytes = 0;
    if (type == baser::TYPE_DEVICE) bytes = (uint64_t{1} << dev_bits_) * esz;
    else if (type == baser::TYPE_COLLECTION) bytes = kTablePage;
    else continue;
    const uint64_t pages = std::max<uint64_t>(1, (bytes + kTablePage - 1) / kTablePage);
    if (pages > 256) throw std::runtime_error(name_ + ": ITS device table needs an indirect table (not modelled)");
    const uint64_t pa = alloc_.alloc(pages * kTablePage, kTablePage);
    mem_.zero(pa, pages * kTablePage);  // every entry invalid
    cpu_.spend(to_sc(p_.cost.table_alloc), cpu_.current);
    mmio_.write64(off, baser::VALID | baser::INNER_CACHE.make(kCacheWb) | baser::TYPE.make(type) |
                           baser::ENTRY_SIZE.make(esz - 1) | (pa & baser::PA.mask()) |
                           baser::SHAREABILITY.make(kInnerShareable) | baser::PAGE_SIZE.make(2) |
                           baser::SIZE.make(pages - 1));
    if (!(mmio_.read(off, 8) & baser::VALID)) throw std::runtime_error(name_ + ": GITS_BASER refused its table");
    (type == baser::TYPE_DEVICE ? dt_ : ct_) = pa;
  }
  if (!dt_ || !ct_) throw std::runtime_error(name_ + ": ITS without a device or collection table (HCC not used)");

  // LPI configuration table (its_alloc_lpi_tables): one byte per LPI, all disabled.
  const uint64_t prop_bytes = uint64_t{1} << kLpiBits;  // LPI_PROPBASE_SZ, 64 KiB aligned
  prop_ = alloc_.alloc(prop_bytes, 0x10000);
  std::vector<uint8_t> prop(prop_bytes, lpi_prop::DEFAULT_PRIO | lpi_prop::GROUP1);
  mem_.write(prop_, prop.data(), prop.size());
  cpu_.spend(to_sc(p_.cost.table_alloc), cpu_.current);
  lpi_used_.assign((size_t{1} << kLpiBits) - kLpiBase, false);
  mmio_.write64(reg::PROPBASER, (prop_ & propbaser::PA.mask()) | propbaser::IDBITS.make(kLpiBits - 1));

  mmio_.write32(reg::CTLR, ctlr::ENABLED);

  // its_cpu_init_collection: collection 0 targets CPU 0, then INVALL.
  Cmd mapc;
  mapc.opcode = op::MAPC;
  mapc.icid = 0;
  mapc.rdbase = target_cpu();
  mapc.valid = true;
  Cmd invall;
  invall.opcode = op::INVALL;
  invall.icid = 0;
  send1(mapc, true);
  send1(invall, false);
}

uint64_t ItsDriver::read_creadr() { return mmio_.read32(reg::CREADR); }  // readl, as Linux

void ItsDriver::send(const std::vector<Cmd>& cmds, const std::vector<bool>& sync_after) {
  const sc_core::sc_time poll = to_sc(p_.cost.its.poll_interval);
  const sc_core::sc_time timeout(1, sc_core::SC_SEC);  // Linux gives up after 1000000 polls of 1 us
  const uint64_t from = cwriter_;
  uint64_t written = 0;
  auto put = [&](const Cmd& c) {
    // its_allocate_entry: the queue is full when the next write slot is the one CREADR points at.
    const sc_core::sc_time t0 = sc_core::sc_time_stamp();
    while (((cwriter_ + cq::CMD_BYTES) % kCmdQueueBytes) == (read_creadr() & cq::OFFSET_MASK)) {
      if (sc_core::sc_time_stamp() - t0 >= timeout) {
        ++timeouts_;
        log::get(name_)->error("ITS command queue full for 1s");
        return false;
      }
      cpu_.spend(poll, cpu_.current);
    }
    uint64_t raw[4];
    encode(c, raw);
    mem_.write(cmdq_ + cwriter_, raw, sizeof raw);
    cpu_.spend(to_sc(p_.cost.cmd_build), cpu_.current);
    cwriter_ = (cwriter_ + cq::CMD_BYTES) % kCmdQueueBytes;
    written += cq::CMD_BYTES;
    ++cmds_;
    return true;
  };
  for (size_t i = 0; i < cmds.size(); ++i) {
    if (!put(cmds[i])) return;
    if (i < sync_after.size() && sync_after[i]) {
      Cmd s;
      s.opcode = op::SYNC;
      s.rdbase = target_cpu();
      if (!put(s)) return;
      ++syncs_;
    }
  }
  mmio_.write32(reg::CWRITER, static_cast<uint32_t>(cwriter_));  // writel (its_post_commands)
  // its_wait_for_range_completion: CREADR must move past everything written since `from`.
  const sc_core::sc_time t0 = sc_core::sc_time_stamp();
  for (;;) {
    const uint64_t rd = read_creadr();
    ++polls_;
    const uint64_t done = ((rd & cq::OFFSET_MASK) + kCmdQueueBytes - from) % kCmdQueueBytes;
    if ((rd & cq::OFFSET_MASK) == cwriter_ || done >= written) break;
    if (rd & cq::STALLED) {
      ++timeouts_;
      log::get(name_)->error("ITS command queue stalled at offset {:#x}", rd & cq::OFFSET_MASK);
      break;
    }
    if (sc_core::sc_time_stamp() - t0 >= timeout) {
      ++timeouts_;
      log::get(name_)->error("ITS commands not completed after 1s");
      break;
    }
    cpu_.spend(poll, cpu_.current);
  }
  wait_ns_.record(static_cast<uint64_t>(to_ns(sc_core::sc_time_stamp() - t0)));
}

void ItsDriver::set_prop(uint32_t intid, bool enable) {
  const uint8_t v = lpi_prop::DEFAULT_PRIO | lpi_prop::GROUP1 | (enable ? lpi_prop::ENABLE : 0);
  mem_.write(prop_ + (intid - kLpiBase), &v, 1);
  cpu_.spend(to_sc(p_.cost.its.prop_write), cpu_.current);
}

uint32_t ItsDriver::alloc_lpi_range(unsigned n) {
  cpu_.spend(to_sc(p_.cost.its.lpi_alloc), cpu_.current);
  size_t run = 0;
  for (size_t i = 0; i < lpi_used_.size(); ++i) {
    run = lpi_used_[i] ? 0 : run + 1;
    if (run == n) {
      const size_t first = i + 1 - n;
      for (size_t j = first; j <= i; ++j) lpi_used_[j] = true;
      return static_cast<uint32_t>(kLpiBase + first);
    }
  }
  return 0;
}

void ItsDriver::free_lpi_range(uint32_t base, unsigned n) {
  for (unsigned i = 0; i < n; ++i) lpi_used_[base - kLpiBase + i] = false;
}

int ItsDriver::map_device(uint32_t devid, unsigned nvecs) {
  if (nvecs == 0 || (dev_bits_ < 32 && devid >= (uint64_t{1} << dev_bits_)) ||
      nvecs > (uint64_t{1} << event_bits_))
    return -EINVAL;
  if (devices_.count(devid)) return -EEXIST;
  cpu_.spend(to_sc(p_.cost.its.device_alloc), cpu_.current);
  const uint64_t nr_ites = std::bit_ceil(std::max(2u, nvecs));
  const uint32_t lpi = alloc_lpi_range(nvecs);
  if (!lpi) return -ENOSPC;
  Device d;
  d.nvecs = nvecs;
  d.lpi_base = lpi;
  d.itt_bytes = std::max<uint64_t>(nr_ites * ite_size_, kIttAlign);
  d.itt = alloc_.alloc(d.itt_bytes, kIttAlign);
  mem_.zero(d.itt, d.itt_bytes);
  d.active.assign(nvecs, false);
  Cmd mapd;
  mapd.opcode = op::MAPD;
  mapd.device_id = devid;
  mapd.size = static_cast<uint8_t>(std::countr_zero(nr_ites) - 1);
  mapd.itt_addr = d.itt;
  mapd.valid = true;
  devices_.emplace(devid, std::move(d));
  send1(mapd, false);  // Linux's MAPD builder asks for no SYNC; the wait covers it
  return 0;
}

uint32_t ItsDriver::alloc_lpi(uint32_t devid, uint32_t eventid) {
  auto it = devices_.find(devid);
  if (it == devices_.end() || eventid >= it->second.nvecs) return 0;
  Device& d = it->second;
  const uint32_t intid = d.lpi_base + eventid;
  // its_irq_domain_activate: MAPTI to collection 0, with SYNC.
  Cmd mapti;
  mapti.opcode = op::MAPTI;
  mapti.device_id = devid;
  mapti.event_id = eventid;
  mapti.pintid = intid;
  mapti.icid = 0;
  send1(mapti, true);
  d.active[eventid] = true;
  // its_unmask_irq: the configuration byte, then INV + SYNC so the ITS rereads it.
  set_prop(intid, true);
  Cmd inv;
  inv.opcode = op::INV;
  inv.device_id = devid;
  inv.event_id = eventid;
  send1(inv, true);
  return intid;
}

void ItsDriver::free_lpi(uint32_t devid, uint32_t eventid) {
  auto it = devices_.find(devid);
  if (it == devices_.end() || eventid >= it->second.nvecs || !it->second.active[eventid]) return;
  set_prop(it->second.lpi_base + eventid, false);
  Cmd discard;
  discard.opcode = op::DISCARD;
  discard.device_id = devid;
  discard.event_id = eventid;
  send1(discard, true);
  it->second.active[eventid] = false;
}

void ItsDriver::unmap_device(uint32_t devid) {
  auto it = devices_.find(devid);
  if (it == devices_.end()) return;
  Cmd mapd;
  mapd.opcode = op::MAPD;
  mapd.device_id = devid;
  mapd.valid = false;
  send1(mapd, false);
  alloc_.free(it->second.itt, it->second.itt_bytes);
  free_lpi_range(it->second.lpi_base, it->second.nvecs);
  devices_.erase(it);
}

}  // namespace iommusim::host
