// The host's VT-d driver, after Linux intel-iommu (iommu.c, pasid.c, svm.c, cache.c, prq.c).
//
// Probe reads CAP/ECAP and picks the translation-table mode once:
//  - Scalable mode (RTADDR.TTM 01b, 256-bit invalidation descriptors) when the unit reports
//    ECAP.SMTS, ECAP.SSTS and ECAP.DT. Linux uses scalable mode whenever SMTS is reported (its
//    intel_iommu=sm_on policy); here the mode is tied to device-TLB support because Linux enables
//    SVA only on devices with ATS enabled, which a unit without ECAP.DT cannot have: such units keep
//    the legacy path that every legacy-derived study and test expects (fault reason codes, the
//    context-cache invalidation at attach). A host policy would replace this rule.
//  - Legacy mode otherwise: root and context tables, TT 00b/01b.
//
// DMA domains (host.vtd_dma_stage, R7.2): auto follows Linux 6.x's first_level_by_default: first-stage
// x86-64 tables (4-level; 1 GiB pages with CAP.FS1GP) in scalable mode when the unit reports ECAP.FSTS,
// second-stage tables otherwise (always in legacy mode). A first-stage domain sits in the RID_PASID entry
// as PGTT 001b (FSPTPTR, FLPM, its own DID, PWSNP) and is flushed with PASID-based IOTLB descriptors
// (qi_flush_piotlb) and device-TLB ones; attaching it elsewhere needs scalable mode with FSTS, FL5LP for
// 5-level tables, FS1GP if it uses 1 GiB pages, and snooped walks (ECAP.SMPWCS) when it was built for a
// unit with them.
//
// Invalidation time-outs (qi_check_fault): waits behind device-TLB descriptors also read FSTS each spin;
// on ITE the driver clears it, the aborted submission is resubmitted up to host.qi_ite_retries times
// (Linux retries while the device is present), then abandoned with -ETIMEDOUT (stats ite, ite_gave_up);
// the queue goes on.
//
// Second-stage DMA domains: legacy mode: the context entry carries the domain
// (DID, SLPTPTR, AW). Scalable: a scalable context entry points at the device's PASID directory
// (sized for the device's PASID width, one 4 KiB page at least, PASID tables allocated on use) and
// the domain sits in the PASID-table entry of RID_PASID (PASID 0) as PGTT 010b with its DID; in
// scalable mode DID 1 is reserved per unit for first-stage entries (the DID all SVA domains share,
// R1.6). Replacing the RID_PASID entry tears the old one down as Linux does (PASID-cache PASID-
// selective, IOTLB domain-selective of the old DID, global device-TLB); a not-present entry made
// present needs no invalidation (no caching mode).
//
// Invalidation (R2.2) goes through the domain's cache tags: one IOTLB tag per (IOMMU, DID, PASID)
// shared by the devices behind that IOMMU, one device-TLB tag per (ATS device, PASID). A flush turns
// each tag into a descriptor over the aligned block whose address mask is ilog2(roundup_pow2(pages))
// widened until the block covers the range: second stage (DMA domains) page-selective IOTLB, or
// domain-selective above CAP.MAMV or for everything, and device-TLB; first stage (SVA domains)
// PASID-based IOTLB page-selective-within-PASID (PASID-selective for the whole address space) and
// PASID-based device-TLB. Descriptors are batched per IOMMU up to qi_batch, each submission followed
// by an invalidation wait whose status write the CPU polls.
//
// SVA (scalable mode with ECAP.PASID, first stage and coherent walks): one SVA domain per mm per
// driver, usable on every VT-d unit that can walk the mm's tables (R1.6, R7.2). set_dev_pasid writes
// a first-stage PASID-table entry (FSPTPTR = the mm's CR3 root, FLPM 4/5-level, SRE clear, the SVA
// DID, PWSNP when walks snoop) then a PASID-selective PASID-cache invalidation, and enables PASID,
// ATS and PRI on the device (PRI allocation 2048: Linux's PRQ_DEPTH). remove_dev_pasid clears the
// entry, then PASID-cache, PASID-based IOTLB (whole PASID) and device-TLB invalidations (each its own
// submission, as Linux), then drains the page request queue (vtd_prq.cpp) when PRI is enabled.
//
// Page requests (vtd_prq.cpp), only with ECAP.PRS in scalable mode: a 2048 x 32 B queue (PQA.PQS 4)
// serviced by a thread that reports each request to the host's fault core; bad requests
// (non-canonical address, privileged with read or write, execute with read, unknown requester) are
// answered Invalid Request when they close a group, stop markers are dropped, PQH advances to PQT
// and an overflow (PRS.PRO) is cleared once the queue is empty. Page responses are page group
// response descriptors submitted with a wait.
//
// Interrupt remapping: vtd_irq.cpp (xAPIC only).
//
// Not modelled yet: pass-through and nested PASID entries, PASID-granular replace of a present
// first-stage entry, 1 GiB first-stage pages for SVA (the mm maps 4 KiB pages only), x2APIC
// interrupt remapping, fault-register servicing beyond counting, caching mode, the page-request
// interrupt unless set_prq_irq() wires the model's
// event (else the servicing thread peeks the queue slot at its head every kPrqPoll, clearing each
// slot it consumed so that a stale one never looks new), partial-group discarding in the fault core on overflow, the iopf queue flush during a
// drain, MSI set-up of the fault, invalidation and page-request events.
#pragma once
#include <systemc>

#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "models/common/stats.h"
#include "models/common/timeline.h"
#include "models/host/cpu.h"
#include "models/host/host_params.h"
#include "models/host/io_pgtable_x86.h"
#include "models/host/iommu_driver.h"
#include "models/host/mm.h"
#include "models/host/mmio.h"
#include "models/iommu/vtd/vtd_defs.h"

namespace iommusim::host {

class VtdDriver;

// R2.2 cache tag: where a domain's translations may be cached.
struct VtdCacheTag {
  enum class Type : uint8_t { Iotlb, Devtlb } type;
  VtdDriver* iommu;
  uint16_t did;
  uint16_t sid = 0;    // Devtlb: the device
  uint8_t qdep = 0;    // Devtlb: its invalidate queue depth (0 = 32)
  unsigned users = 1;  // Iotlb: devices sharing it
  uint32_t pasid = 0;  // 0: RID_PASID / requests without PASID (DMA domains)
};

// A domain's cache tags, grouped by IOMMU with the IOTLB tags of each IOMMU first, and the flush
// that turns them into invalidation descriptors (R2.2), shared by DMA and SVA domains.
class VtdCacheTags {
 public:
  enum class Stage : uint8_t { Second, First };
  explicit VtdCacheTags(Stage s) : stage_(s) {}
  // The IOTLB tag of (iommu, did, pasid): a new one, or one more user of it.
  void add_iotlb(VtdDriver* iommu, uint16_t did, uint32_t pasid);
  // A device-TLB tag, placed after that IOMMU's tags so they stay grouped by IOMMU.
  void add_devtlb(VtdDriver* iommu, uint16_t did, uint32_t pasid, uint16_t sid, uint8_t qdep);
  // Drops dev (sid)'s device-TLB tag at pasid and one user of iommu's IOTLB tag at pasid.
  void remove(const VtdDriver* iommu, uint16_t sid, uint32_t pasid);
  // The DID of iommu's IOTLB tag (0 if none).
  uint16_t did_on(const VtdDriver* iommu) const;
  // Invalidates [iova, iova + size) (size 0: everything) on every tag and waits. ih: leaf-only
  // hint (the paging-structure caches may be kept).
  void flush(uint64_t iova, uint64_t size, bool ih) const;
  const std::vector<VtdCacheTag>& tags() const { return tags_; }
  bool empty() const { return tags_.empty(); }

 private:
  Stage stage_;
  std::vector<VtdCacheTag> tags_;
};

class VtdDomain final : public IommuDomain {
 public:
  using Tag = VtdCacheTag;

  // first_stage: the tables are VT-d first-stage (x86-64) tables, set in a PASID entry with PGTT = 001b
  // and invalidated with PASID-based IOTLB descriptors (qi_flush_piotlb); coherent: built for a unit whose
  // page walks snoop (R7.2 page-walk coherency).
  VtdDomain(VtdDriver& owner, std::unique_ptr<IoPgtableX86> pgt, unsigned aw, bool first_stage = false,
            bool coherent = true)
      : owner_(owner), aw_(aw), first_stage_(first_stage), coherent_(coherent), pgt_(std::move(pgt)),
        tags_(first_stage ? VtdCacheTags::Stage::First : VtdCacheTags::Stage::Second) {}
  PgWork map(uint64_t iova, uint64_t pa, uint64_t size, IoProt prot, uint64_t max_page) override {
    return pgt_->map(iova, pa, size, prot, max_page);
  }
  PgWork unmap(uint64_t iova, uint64_t size, uint64_t& leaf) override { return pgt_->unmap(iova, size, leaf); }
  void flush_range(uint64_t iova, uint64_t size, uint64_t) override { tags_.flush(iova, size, true); }
  void flush_walk(uint64_t iova, uint64_t size) override { tags_.flush(iova, size, false); }
  void flush_all() override { tags_.flush(0, 0, false); }
  uint64_t granule() const override { return 4096; }
  // First stage: the lower canonical half only (Linux's aperture for first-level domains).
  unsigned ias_bits() const override { return pgt_->codec().geometry().input_bits() - (first_stage_ ? 1 : 0); }
  std::optional<uint64_t> iova_to_phys(uint64_t iova) override { return pgt_->iova_to_phys(iova); }
  unsigned aw() const { return aw_; }
  uint64_t root() const { return pgt_->root(); }
  bool uses_1g() const { return pgt_->codec().geometry().leaf_1g; }
  bool first_stage() const { return first_stage_; }
  bool coherent() const { return coherent_; }
  unsigned levels() const { return pgt_->codec().geometry().levels; }
  const VtdDriver& owner() const { return owner_; }
  const std::vector<Tag>& tags() const { return tags_.tags(); }
  // The domain ID this domain has on iommu (0 if not attached through it).
  uint16_t did_on(const VtdDriver* iommu) const { return tags_.did_on(iommu); }

 private:
  friend class VtdDriver;
  VtdDriver& owner_;
  unsigned aw_;
  bool first_stage_, coherent_;
  std::unique_ptr<IoPgtableX86> pgt_;
  VtdCacheTags tags_;
};

// An SVA domain: the first stage walks the mm's CPU tables. Usable on every VT-d unit that can walk
// them; each unit tags it with its SVA DID.
class VtdSvaDomain final : public SvaDomain {
 public:
  VtdSvaDomain(VtdDriver& owner, Mm& mm) : SvaDomain(mm), owner_(owner) {}
  const IommuDriver& owner() const override;
  // R2.1/R2.2: [start, end) of the mm, end exclusive; end == Mm::kWholeMm: the whole PASID.
  void invalidate(uint64_t start, uint64_t end) override;
  const std::vector<VtdCacheTag>& tags() const { return tags_.tags(); }

 private:
  friend class VtdDriver;
  VtdDriver& owner_;
  VtdCacheTags tags_{VtdCacheTags::Stage::First};
};

class VtdDriver final : public IommuDriver {
 public:
  // The page request queue is 2^HostParams::prq_order 4 KiB pages of 32-byte descriptors (2048 by
  // default, R3.1); the PRI allocation the driver asks for is its depth (Linux's PRQ_DEPTH, R3.2).

  VtdDriver(std::string name, const HostParams& p, PhysMem& mem, PhysAlloc& alloc, Cpu& cpu, Mmio& mmio,
            StatGroup& parent);
  const std::string& name() const override { return name_; }
  void probe() override;
  std::unique_ptr<IommuDomain> alloc_paging_domain() override;
  void attach(IommuDomain& d, PciDevice& dev) override;
  // R4.4: interrupt requests, never translated
  std::vector<ResvRegion> reserved_regions() const override { return {{0xFEE00000, 0x100000, ResvType::Msi}}; }
  int check_attach(const IommuDomain& d, std::string& why) const override;

  // SVA and page requests (vtd_sva.cpp, vtd_prq.cpp).
  uint32_t max_pasids() const override;
  std::unique_ptr<SvaDomain> alloc_sva_domain(Mm& mm, std::string& why) override;
  int set_dev_pasid(SvaDomain& d, PciDevice& dev, uint32_t pasid, std::string& why) override;
  void remove_dev_pasid(SvaDomain& d, PciDevice& dev, uint32_t pasid) override;
  void page_response(const IoPageFault& f, PageResponse code) override;
  // Interrupt remapping (vtd_irq.cpp).
  void enable_irq_remapping() override;
  bool remaps_interrupts() const override { return irt_ != 0; }
  int irq_remap_alloc(PciDevice& dev, uint32_t apic, uint8_t vector, MsiMsg& out, uint32_t& handle) override;
  void irq_remap_free(PciDevice& dev, uint32_t handle) override;
  uint64_t irq_remap_table() const { return irt_; }

  // Queues the descriptors in submissions of qi_batch, each followed by a wait, and waits for each.
  // drain: the waits also drain page requests and responses (PD).
  void submit(const std::vector<vtd::Desc>& descs, bool drain = false);
  bool device_tlb() const { return dt_; }
  bool scalable() const { return sm_; }
  bool page_requests() const { return prq_on_; }
  // Scalable mode: the DID of first-stage (SVA) PASID entries on this unit (0 in legacy mode).
  uint16_t sva_did() const { return sva_did_; }
  // Scalable mode: where dev's PASID-table entry for pasid is (0 if its table does not exist).
  uint64_t pasid_entry_addr(uint16_t rid, uint32_t pasid) const;
  uint64_t prq_base() const { return prq_; }
  // The unit's page request event (the model's prq_irq()), when the platform wires it: the servicing
  // thread then sleeps on it instead of looking at the queue every kPrqPoll.
  void set_prq_irq(sc_core::sc_event* e) { prq_irq_ = e; }
  uint64_t root_table() const { return root_; }

 private:
  friend class VtdCacheTags;
  // Per-device state of this unit.
  struct Dev {
    PciDevice* pci = nullptr;
    bool ctx = false;                         // scalable context entry written
    uint64_t pasid_dir = 0;                   // scalable: PASID directory
    uint32_t dir_entries = 0;
    std::map<uint32_t, uint64_t> pasid_tables;  // directory index -> PASID table
    bool rid_pasid = false;                   // RID_PASID entry present
    uint16_t rid_did = 0;                     // its DID
    bool rid_fs = false;                      // its PGTT is first stage (a first-stage DMA domain)
    std::set<uint32_t> sva;                   // PASIDs with a first-stage (SVA) entry
    unsigned pri_users = 0;                   // of them, those that enabled PRI
  };

  void submit_batch(const vtd::Desc* d, size_t n, bool drain);
  // Spins until the status word reaches `mine`; with check_ite, also reads FSTS each spin and returns
  // true (the wait aborted) when ITE is set.
  bool poll_wait(uint32_t mine, bool check_ite);
  // One descriptor, its own submission (Linux's qi_submit_sync of a single descriptor).
  void submit_one(const vtd::Desc& d) { submit({d}); }
  uint64_t context_table(uint8_t bus);
  void write_context(const VtdDomain& dom, uint16_t rid, uint16_t did, bool dev_tlb);
  void attach_scalable(VtdDomain& dom, PciDevice& dev, uint16_t did);
  Dev& device(PciDevice& dev);
  uint64_t sm_context_table(uint8_t bus, bool upper);
  void write_sm_context(Dev& d);
  void alloc_pasid_dir(Dev& d);
  bool pasid_capable(const PciDevice& pci) const;
  uint64_t pasid_slot(Dev& d, uint32_t pasid);  // allocates the PASID table on first use
  void write_pasid_entry(uint64_t slot, const vtd::PasidEntry& e);
  // Linux's intel_pasid_tear_down_entry: clear, PASID-cache, IOTLB (first stage: PASID-based, all
  // of the PASID; second stage: domain-selective), device-TLB, then the PRQ drain for PASIDs.
  void tear_down_pasid(Dev& d, uint32_t pasid, uint16_t did, bool first_stage);
  vtd::Desc devtlb_all(const PciDevice& dev, uint32_t pasid) const;
  bool sva_supported(const Mm& mm, std::string& why) const;
  // Page request queue (vtd_prq.cpp).
  void prq_enable();
  void prq_thread();
  bool prq_pending();
  void prq_service();
  void prq_bad(const vtd::PageRequest& r);
  void drain_prq(Dev& d, uint32_t pasid);
  void pri_on(PciDevice& dev);
  void pri_off(PciDevice& dev);
  bool canonical(uint64_t va) const;
  uint8_t qdep(const PciDevice& dev) const { return static_cast<uint8_t>(dev.ats_qdep >= 32 ? 0 : dev.ats_qdep); }

  std::string name_;
  timeline::Track tl_ = timeline::track(timeline::Kind::Host, "host." + name_);
  const HostParams& p_;
  PhysMem& mem_;
  PhysAlloc& alloc_;
  Cpu& cpu_;
  Mmio& mmio_;
  uint64_t cap_ = 0, ecap_ = 0;
  unsigned aw_ = 2, mamv_ = 0;
  bool leaf_2m_ = false, leaf_1g_ = false, dt_ = false, sm_ = false, prq_on_ = false;
  bool fs_dma_ = false;  // DMA domains use first-stage tables (host.vtd_dma_stage)
  vtd::DescWidth width_ = vtd::DescWidth::W128;
  uint32_t gcmd_ = 0;
  uint64_t root_ = 0, iq_ = 0, status_ = 0;
  uint32_t iq_entries_ = 0, tail_ = 0, inflight_ = 0;
  uint32_t seq_ = 0;
  std::vector<uint64_t> ctx_tables_;  // legacy: per bus; scalable: per bus * 2 + upper, 0 = not allocated
  uint16_t next_did_ = 1;             // DID 0 is reserved when caching mode is reported; skip it always
  uint16_t sva_did_ = 0;
  std::map<uint16_t, Dev> devs_;      // by RID: the devices attached through this unit
  // Interrupt remapping table (0: remapping off) and its free entries.
  uint64_t irt_ = 0;
  std::vector<bool> irte_used_;
  // Page request queue.
  uint64_t prq_ = 0;
  uint32_t prq_entries_ = 0, prq_head_ = 0;
  unsigned pri_devices_ = 0;
  sc_core::sc_event prq_kick_, prq_done_;
  sc_core::sc_event* prq_irq_ = nullptr;
  // The interrupt stays pending while the thread services the queue (an MSI raised meanwhile is
  // delivered afterwards), so an event between PPR's clear and the thread's next wait is not lost.
  bool prq_irq_pending_ = false;
  StatGroup stats_;
  Counter& descs_;
  Counter& waits_;
  Counter& psi_;
  Counter& dsi_;
  Counter& devtlb_;
  Counter& piotlb_;
  Counter& pasid_cache_;
  Counter& page_requests_;
  Counter& prq_bad_;
  Counter& stop_markers_;
  Counter& responses_;
  Counter& prq_overflows_;
  Counter& drains_;
  Counter& ite_;
  Counter& ite_gave_up_;
  Histogram& wait_ns_;
};

}  // namespace iommusim::host
