// The host's GICv3 ITS driver, after Linux drivers/irqchip/irq-gic-v3-its.c, at the level MSIs need.
//
// probe (its_probe_one, its_alloc_tables, its_cpu_init_collections): checks GITS_PIDR2.ArchRev,
// reads GITS_TYPER, allocates the 64 KiB command queue (GITS_CBASER, CWRITER = 0), a flat device
// table for 2^Devbits DeviceIDs and a one-page collection table (GITS_BASER, 64 KiB pages), the LPI
// configuration table (every LPI disabled at the default priority; programmed into the ITS's
// stand-in for GICR_PROPBASER, see its_defs.h), enables the ITS, then MAPC collection 0 -> CPU 0
// + SYNC and INVALL.
// map_device (its_create_device + MAPD): an ITT for max(2, nvecs) events rounded up to a power of
// two, 256-byte aligned, and a contiguous range of nvecs LPIs, lowest first from 8192.
// alloc_lpi (activate + unmask): MAPTI + SYNC, then the configuration byte's Enable set and INV +
// SYNC. free_lpi (deactivate): configuration byte cleared, DISCARD + SYNC (DISCARD makes the ITS's
// cached configuration consistent, so no INV). unmap_device: MAPD V=0, the ITT and LPIs freed.
// Every command is written into the queue in simulated memory (each allocation re-reads
// GITS_CREADR, as its_queue_full does), published by one GITS_CWRITER write, and waited for by
// polling GITS_CREADR with a delay between reads (its_wait_for_range_completion); every step
// charges CPU time.
//
// Not modelled: several CPUs (one collection, CPU 0), indirect device tables, GICv4, the ITS
// page-size fallback when a BASER refuses 64 KiB pages, Linux's per-device LPI chunks beyond one
// contiguous range, set_affinity (MOVI), the 1 s completion time-out's recovery (logged and
// counted), errata quirks.
#pragma once
#include <systemc>

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "models/common/stats.h"
#include "models/host/cpu.h"
#include "models/host/host_params.h"
#include "models/host/mmio.h"
#include "models/host/phys_alloc.h"
#include "models/host/phys_mem.h"
#include "models/irq/its_defs.h"

namespace iommusim::host {

class ItsDriver {
 public:
  // `mmio` reaches the ITS control frame (offsets from ITS_base); `its_base` is its physical address.
  ItsDriver(std::string name, const HostParams& p, PhysMem& mem, PhysAlloc& alloc, Cpu& cpu, Mmio& mmio,
            uint64_t its_base, StatGroup& parent);
  const std::string& name() const { return name_; }
  // Thread context. Throws when no GICv3/v4 ITS answers.
  void probe();
  // 0, -EINVAL (DeviceID or nvecs out of range), -EEXIST (already mapped), -ENOSPC (no LPIs).
  int map_device(uint32_t devid, unsigned nvecs);
  // The LPI INTID for (devid, eventid), mapped and enabled; 0 when the device or event is unknown.
  uint32_t alloc_lpi(uint32_t devid, uint32_t eventid);
  void free_lpi(uint32_t devid, uint32_t eventid);
  void unmap_device(uint32_t devid);
  // Where devices write their MSIs: the GITS_TRANSLATER physical address.
  uint64_t doorbell_pa() const { return base_ + its::reg::TRANSLATER_PA_OFFSET; }
  // The processor number LPIs target (collection 0's).
  uint32_t target_cpu() const { return 0; }
  uint64_t command_queue() const { return cmdq_; }

 private:
  struct Device {
    uint64_t itt = 0, itt_bytes = 0;
    unsigned nvecs = 0;
    uint32_t lpi_base = 0;
    std::vector<bool> active;  // events with an LPI mapped (MAPTI done)
  };
  // Writes the commands (each followed by SYNC when sync_after says so), one CWRITER write, and
  // waits until CREADR has passed them all.
  void send(const std::vector<its::Cmd>& cmds, const std::vector<bool>& sync_after);
  void send1(const its::Cmd& c, bool sync) { send({c}, {sync}); }
  uint64_t read_creadr();
  void set_prop(uint32_t intid, bool enable);
  uint32_t alloc_lpi_range(unsigned n);
  void free_lpi_range(uint32_t base, unsigned n);

  std::string name_;
  const HostParams& p_;
  PhysMem& mem_;
  PhysAlloc& alloc_;
  Cpu& cpu_;
  Mmio& mmio_;
  uint64_t base_;
  unsigned ite_size_ = 8, dev_bits_ = 0, event_bits_ = 0;
  uint64_t cmdq_ = 0, dt_ = 0, ct_ = 0, prop_ = 0;
  uint64_t cwriter_ = 0;
  std::vector<bool> lpi_used_;  // from 8192
  std::map<uint32_t, Device> devices_;
  StatGroup stats_;
  Counter& cmds_;
  Counter& syncs_;
  Counter& polls_;
  Counter& timeouts_;
  Histogram& wait_ns_;
};

}  // namespace iommusim::host
