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
// PASID-capable masters (PciDevice::pasid_bits > 0, IDR1.SSIDSIZE > 0): the STE points at a CD
// table of 2^S1CDMax entries, S1CDMax = min(PASID width, SSIDSIZE); linear up to 1024 CDs, else
// 2-level with 64 KiB leaves (S1Fmt 64K_L2) allocated on first use, as Linux does. CD 0 holds the
// DMA domain (S1DSS = substream 0: transactions without a PASID use it); PASID is enabled on the
// device at its first attach, before ATS. Other masters keep one CD as before.
//
// SVA (arm-smmu-v3-sva, smmuv3_sva.cpp): an SVA domain is one ASID from the host-wide allocator
// and the mm's VMSAv8-64 tables, tied to the SMMU instance that allocated it (R1.6, R7.3).
// set_dev_pasid writes the CD at SSID = PASID (CD.S when the master stalls), CFGI_CD + CMD_SYNC;
// remove_dev_pasid clears it, CFGI_CD + CMD_SYNC, TLBI_NH_ASID + CMD_SYNC, ATC_INV of the PASID
// + CMD_SYNC (R1.5). mm invalidations follow R2.3 with non-leaf TLBI_NH_VA (SVA cannot know
// whether tables were freed; as Linux, a non-leaf range of 1 mod 32 pages gets one page more so
// that no command has NUM = SCALE = 0). Recoverable faults are stalls (R3.1: no PCIe PRI on
// SMMUv3): a master stalls when it has no PRI capability and IDR0.STALL_MODEL allows stalling (or
// forces it), with CD.S on all its CDs, CD 0 included (a stall without a PASID has no handler and
// is aborted); stall events are decoded into one-fault groups for the host's fault core and
// answered with CMD_RESUME (RETRY for success, ABORT otherwise) without a CMD_SYNC (R3.5).
//
// Not modelled yet: stage-2 and nested domains, PCIe PRI (PRI queue, PRI_RESP), SEV-only or
// polled-CONS sync completion, cmdq lock contention between CPUs (one queue writer at a time),
// GERROR recovery beyond logging, the mm-release quiescing of SVA CDs (Linux rewrites them so
// later faults are silent; here they reach the fault core, which answers INVALID), CMD_STALL_TERM
// on device removal, BTM (shared CPU/SMMU ASIDs), HTTU, 52-bit VAs, freeing CD tables (they live
// as long as the driver). SVA ASIDs are reused only by the instance that freed them: the host-wide
// allocator (KernelIds) has no free operation. Reading an event record costs no CPU time (no
// cost parameter exists for it).
#pragma once
#include <systemc>

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "models/common/stats.h"
#include "models/common/timeline.h"
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

// An SVA domain on one SMMU instance: an ASID and the mm's CPU page tables (smmuv3_sva.cpp).
class SmmuV3SvaDomain final : public SvaDomain {
 public:
  SmmuV3SvaDomain(SmmuV3Driver& drv, Mm& mm, uint16_t asid) : SvaDomain(mm), drv_(drv), asid_(asid) {}
  ~SmmuV3SvaDomain() override;  // the ASID goes back once nothing uses the domain
  const IommuDriver& owner() const override;
  // R2.3 for this domain's ASID and the ATCs of its ATS masters at their PASIDs.
  void invalidate(uint64_t start, uint64_t end) override;
  uint16_t asid() const { return asid_; }
  const SmmuV3Driver& driver() const { return drv_; }

 private:
  friend class SmmuV3Driver;
  void attach_at(PciDevice& d, uint32_t pasid) { add_attachment(d, pasid); }
  void detach_at(const PciDevice& d, uint32_t pasid) { remove_attachment(d, pasid); }
  SmmuV3Driver& drv_;
  uint16_t asid_;
};

class SmmuV3Driver final : public IommuDriver {
 public:
  SmmuV3Driver(std::string name, const HostParams& p, PhysMem& mem, PhysAlloc& alloc, Cpu& cpu, Mmio& mmio,
               sc_core::sc_event& sync_wake, KernelIds& ids, StatGroup& parent);
  const std::string& name() const override { return name_; }
  void probe() override;
  std::unique_ptr<IommuDomain> alloc_paging_domain() override;
  void attach(IommuDomain& d, PciDevice& dev) override;
  // R4.1: the software MSI window
  std::vector<ResvRegion> reserved_regions() const override { return {{0x8000000, 0x100000, ResvType::SwMsi}}; }
  bool msi_translated() const override { return true; }  // R4.2: MSIs are DMA through the SMMU
  int check_attach(const IommuDomain& d, std::string& why) const override;

  // ---- SVA and stall faults (smmuv3_sva.cpp) ----
  uint32_t max_pasids() const override;  // R1.2: 1 << SSIDSIZE
  std::unique_ptr<SvaDomain> alloc_sva_domain(Mm& mm, std::string& why) override;
  int set_dev_pasid(SvaDomain& d, PciDevice& dev, uint32_t pasid, std::string& why) override;
  void remove_dev_pasid(SvaDomain& d, PciDevice& dev, uint32_t pasid) override;
  void page_response(const IoPageFault& f, PageResponse code) override;

  // Invalidation per R2.3 for one stage-1 domain; returns after the final CMD_SYNC completed.
  void tlb_inv_range(uint16_t asid, uint64_t iova, uint64_t size, uint64_t leaf_size, bool leaf = true);
  void tlb_inv_asid(uint16_t asid);
  // One ATC_INV target: a StreamID, with the PASID when SSV is set.
  struct AtcTarget {
    uint16_t sid;
    bool ssv = false;
    uint32_t ssid = 0;
  };
  // R2.3 ATC part: one ATC_INV per target over the smallest aligned power-of-two span of 4 KiB
  // pages holding [iova, iova+size) (size 0: everything), then CMD_SYNC.
  void atc_inv(const std::vector<AtcTarget>& targets, uint64_t iova, uint64_t size);
  // The same for every ATS-enabled device of a DMA domain (no PASID).
  void atc_inv_domain(const IommuDomain& d, uint64_t iova, uint64_t size);
  // Writes the commands (batches of tlbi_batch, the last followed by CMD_SYNC if sync) and waits.
  void issue(const std::vector<smmuv3::Cmd>& cmds, bool sync);
  // Drains the event queue until it stays empty (called on the event interrupt): stall events go
  // to the fault core, the rest are logged and counted. Returns records consumed.
  unsigned drain_events();
  bool range_invalidation() const { return ril_; }
  // Stream table base (diagnostics and tests that decode the tables from memory).
  uint64_t stream_table() const { return strtab_; }

 private:
  friend class SmmuV3SvaDomain;
  // A PASID-capable master: its CD table and the SSIDs in use.
  struct Master {
    uint64_t table = 0;          // linear CD table, or the level-1 table
    unsigned cdmax = 0;          // STE.S1CDMax: log2 of the CDs
    bool two_level = false;      // S1Fmt 64K_L2: SSID[cdmax-1:10] indexes level 1
    std::vector<uint64_t> leaf;  // 2-level: each level-1 entry's leaf table (0 = none yet)
    bool stall = false;          // CD.S on every CD of the master
    std::vector<uint32_t> pasids;  // SSIDs holding an SVA domain
  };
  static constexpr unsigned kCdSplit = 10;  // SSID bits a 64 KiB leaf of a 2-level CD table holds
  static constexpr unsigned kStallModelStall = 0, kStallModelForce = 2;  // IDR0.STALL_MODEL
  bool smmu_stalls() const { return stall_model_ == kStallModelStall || stall_model_ == kStallModelForce; }
  void submit_batch(const smmuv3::Cmd* cmds, size_t n, bool sync);
  void wait_for_space(uint32_t n);
  uint64_t ste_addr(uint32_t sid);
  void write_ste(uint32_t sid, const smmuv3::Ste& s);
  void atc_inv_device(uint16_t sid);
  smmuv3::Cd dma_cd(SmmuV3Domain& dom) const;
  void attach_cd_table(PciDevice& dev, smmuv3::Cd cd, bool ats);
  // Address of the CD for ssid (allocating its 2-level leaf when absent: new_l1 set).
  uint64_t cd_addr(Master& m, uint32_t ssid, bool& new_l1);
  // Writes the CD for ssid; with invalidate, CFGI_CD + CMD_SYNC after it.
  void write_cd(Master& m, uint16_t sid, uint32_t ssid, const uint64_t raw[smmuv3::CD_DWORDS], bool invalidate);
  void spend_table_writes(unsigned dwords);
  bool stall_capable(const PciDevice& dev) const;
  uint16_t alloc_asid();
  void free_asid(uint16_t asid) { ids_.free_asid(asid); }
  IoPageFault decode_stall(const smmuv3::Event& e) const;

  std::string name_;
  timeline::Track tl_ = timeline::track(timeline::Kind::Host, "host." + name_);
  KernelIds& ids_;
  const HostParams& p_;
  PhysMem& mem_;
  PhysAlloc& alloc_;
  Cpu& cpu_;
  Mmio& mmio_;
  sc_core::sc_event& sync_wake_;
  sc_core::sc_time cmd_build_, sync_poll_;
  // Features read from the ID registers.
  unsigned sid_bits_ = 0, oas_enc_ = 0, ssid_bits_ = 0, stall_model_ = 1;
  bool ril_ = false, two_level_ = false, ats_ = false;
  bool s1p_ = false, coherent_ = false, cd2l_ = false, asid16_ = false, gran4k_ = false;
  // In-memory structures.
  uint64_t strtab_ = 0;
  unsigned split_ = 0;
  std::vector<bool> l2_present_;
  uint64_t cmdq_ = 0, eventq_ = 0;
  unsigned cmdq_log2_ = 0, eventq_log2_ = 0;
  uint32_t prod_ = 0, cons_ = 0, evt_cons_ = 0;
  std::map<uint16_t, Master> masters_;  // by StreamID (= RID)
  StatGroup stats_;
  Counter& cmds_;
  Counter& syncs_;
  Counter& batches_;
  Counter& atc_invs_;
  Counter& events_;
  Counter& stall_events_;
  Counter& resumes_;
  Counter& sva_attach_;
  Histogram& sync_wait_ns_;
};

inline const IommuDriver& SmmuV3SvaDomain::owner() const { return drv_; }

}  // namespace iommusim::host
