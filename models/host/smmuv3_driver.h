// The host's SMMUv3 driver, after Linux arm-smmu-v3: probes ID registers, builds the stream table
// (linear or 2-level), CD tables and queues in simulated memory, attaches DMA domains (stage 1,
// one ASID each) and issues invalidations per R2.3: TLBI_NH_VA (range-encoded with RIL, else one
// per leaf) or TLBI_NH_ASID above the threshold, in batches of tlbi_batch, then CMD_SYNC, whose
// completion the CPU waits for by polling the sync's MSI write into the queue (MSI-poll).
//
// ATS (when the SMMU reports IDR0.ATS and the device has the capability): STE.EATS, the device's ATC
// flushed before ATS is enabled on it and after it is disabled, and ATC_INV...CMD_SYNC after the
// TLBI...CMD_SYNC of every flush of a domain with ATS masters.
//
// Not modelled yet: PASID/SSID CD tables (one CD per stream), stage-2 and nested domains, PRI and stall handling, SEV-only or polled-CONS sync completion, cmdq lock contention
// between CPUs (one queue writer at a time), GERROR recovery beyond logging.
#pragma once
#include <systemc>

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "models/common/stats.h"
#include "models/host/cpu.h"
#include "models/host/host_params.h"
#include "models/host/io_pgtable_arm.h"
#include "models/host/iommu_driver.h"
#include "models/host/mmio.h"
#include "models/iommu/smmuv3/smmuv3_defs.h"

namespace iommusim::host {

class SmmuV3Driver;

class SmmuV3Domain final : public IommuDomain {
 public:
  SmmuV3Domain(SmmuV3Driver& drv, uint16_t asid, std::unique_ptr<IoPgtableArm> pgt)
      : drv_(drv), asid_(asid), pgt_(std::move(pgt)) {}
  PgWork map(uint64_t iova, uint64_t pa, uint64_t size, IoProt prot, uint64_t max_page) override {
    return pgt_->map(iova, pa, size, prot, max_page);
  }
  PgWork unmap(uint64_t iova, uint64_t size, uint64_t& leaf) override { return pgt_->unmap(iova, size, leaf); }
  void flush_range(uint64_t iova, uint64_t size, uint64_t leaf_size) override;
  void flush_all() override;
  void flush_walk(uint64_t iova, uint64_t size) override;
  uint64_t granule() const override { return uint64_t{1} << pgt_->geometry().shift; }
  unsigned ias_bits() const override { return pgt_->geometry().input_bits; }
  std::optional<uint64_t> iova_to_phys(uint64_t iova) override { return pgt_->iova_to_phys(iova); }
  uint16_t asid() const { return asid_; }
  const SmmuV3Driver& owner() const { return drv_; }
  IoPgtableArm& pgtable() { return *pgt_; }

 private:
  SmmuV3Driver& drv_;
  uint16_t asid_;
  std::unique_ptr<IoPgtableArm> pgt_;
};

class SmmuV3Driver final : public IommuDriver {
 public:
  SmmuV3Driver(std::string name, const HostParams& p, PhysMem& mem, PhysAlloc& alloc, Cpu& cpu, Mmio& mmio,
               sc_core::sc_event& sync_wake, KernelIds& ids, StatGroup& parent);
  const std::string& name() const override { return name_; }
  void probe() override;
  std::unique_ptr<IommuDomain> alloc_paging_domain() override;
  void attach(IommuDomain& d, PciDevice& dev) override;
  std::vector<ResvRegion> reserved_regions() const override { return {{0x8000000, 0x100000}}; }  // R4.1: the software MSI window
  int check_attach(const IommuDomain& d, std::string& why) const override;

  // Invalidation per R2.3 for one stage-1 domain; returns after the final CMD_SYNC completed.
  void tlb_inv_range(uint16_t asid, uint64_t iova, uint64_t size, uint64_t leaf_size, bool leaf = true);
  void tlb_inv_asid(uint16_t asid);
  // R2.3 ATC part: one ATC_INV per ATS-enabled device of the domain over the smallest aligned
  // power-of-two span holding the range (size 0: everything), then CMD_SYNC.
  void atc_inv_domain(const IommuDomain& d, uint64_t iova, uint64_t size);
  // Writes the commands (batches of tlbi_batch, the last followed by CMD_SYNC if sync) and waits.
  void issue(const std::vector<smmuv3::Cmd>& cmds, bool sync);
  // Drains the event queue; returns records consumed (called on the event interrupt).
  unsigned drain_events();
  bool range_invalidation() const { return ril_; }

 private:
  void submit_batch(const smmuv3::Cmd* cmds, size_t n, bool sync);
  void wait_for_space(uint32_t n);
  uint64_t ste_addr(uint32_t sid);
  void write_ste(uint32_t sid, const smmuv3::Ste& s);
  void atc_inv_device(uint16_t sid);

  std::string name_;
  KernelIds& ids_;
  const HostParams& p_;
  PhysMem& mem_;
  PhysAlloc& alloc_;
  Cpu& cpu_;
  Mmio& mmio_;
  sc_core::sc_event& sync_wake_;
  sc_core::sc_time cmd_build_, sync_poll_;
  // Features read from the ID registers.
  unsigned sid_bits_ = 0, oas_enc_ = 0;
  bool ril_ = false, two_level_ = false, ats_ = false;
  // In-memory structures.
  uint64_t strtab_ = 0;
  unsigned split_ = 0;
  std::vector<bool> l2_present_;
  uint64_t cmdq_ = 0, eventq_ = 0;
  unsigned cmdq_log2_ = 0, eventq_log2_ = 0;
  uint32_t prod_ = 0, cons_ = 0, evt_cons_ = 0;
  StatGroup stats_;
  Counter& cmds_;
  Counter& syncs_;
  Counter& batches_;
  Counter& atc_invs_;
  Counter& events_;
  Histogram& sync_wait_ns_;
};

}  // namespace iommusim::host
