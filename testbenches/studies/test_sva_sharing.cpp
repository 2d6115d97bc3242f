// Study `sva-sharing` (seed 004; configs/sva-sharing-*.yaml): K = 4 ATS devices bound to one process
// behind M IOMMUs, the process munmaps R pages, under per_mm and per_device domain sharing. The
// commands, syncs and waits each munmap costs are counted at the IOMMU models (what the hardware
// executed) and compared with the counts each driver's rule predicts (R1.6, R2.2-R2.4), derived
// below from the platform's shape, never from a run. After every munmap every device's read of the
// unmapped pages must fault.
#include <gtest/gtest.h>
#include <sysc/kernel/sc_spawn.h>

#include <algorithm>
#include <bit>
#include <map>
#include <string>
#include <vector>

#include "models/common/sim_time.h"
#include "models/host/mm.h"
#include "models/iommu/amdvi/amdvi.h"
#include "models/iommu/vtd/vtd.h"
#include "testbenches/study_util.h"

namespace iommusim::test {
namespace {

constexpr uint64_t kPage = 4096;

enum class Arch { Smmuv3, Vtd, Amdvi };

struct Iommu {
  std::string name;
  Arch arch;
  std::vector<unsigned> eps;  // endpoints behind it
};

// Commands one munmap made each IOMMU execute, by kind.
struct Counts {
  uint64_t tlbi_va = 0, tlbi_asid = 0, atc_inv = 0, syncs = 0;  // SMMUv3
  uint64_t pasid_iotlb = 0, dev_tlb = 0, waits = 0;             // VT-d (waits: also AMD COMPLETION_WAIT)
  uint64_t pages = 0, iotlb_pages = 0;                           // AMD-Vi
  friend bool operator==(const Counts&, const Counts&) = default;
};

std::ostream& operator<<(std::ostream& os, const Counts& c) {
  return os << "{tlbi_va " << c.tlbi_va << ", tlbi_asid " << c.tlbi_asid << ", atc_inv " << c.atc_inv << ", syncs "
            << c.syncs << ", pasid_iotlb " << c.pasid_iotlb << ", dev_tlb " << c.dev_tlb << ", waits " << c.waits
            << ", pages " << c.pages << ", iotlb_pages " << c.iotlb_pages << "}";
}

struct Outcome {
  std::map<std::string, Counts> per_iommu;  // one munmap
  std::vector<uint32_t> pasids;             // per device
  size_t domains = 0;
  uint64_t probe_ok = 0, probe_faults = 0, dma_faults = 0;
  uint64_t cpu_ps = 0;  // host CPU time of the munmap
  // DMA lost: the extra time the devices took to read 64 still-mapped pages after the munmap,
  // against the same reads warm just before it (their ATC and IOTLB entries gone or not).
  double dma_lost_ns = 0;
  uint64_t buffer = 0;  // where the process's buffer starts (the unmapped pages come first)
  int bind_errors = 0;
};

double stat(HasStats* m, const char* path) {
  double v = 0;
  m->stats().find(path, v);
  return v;
}

Counts read(HasStats* m, Arch a) {
  Counts c;
  auto u = [&](const char* p) { return static_cast<uint64_t>(stat(m, p)); };
  switch (a) {
    case Arch::Smmuv3:
      c.tlbi_va = u("inv.tlbi_va");
      c.tlbi_asid = u("inv.tlbi_asid");
      c.atc_inv = u("inv.atc_inv");
      c.syncs = u("inv.syncs");
      break;
    case Arch::Vtd:
      c.pasid_iotlb = u("inv.pasid_iotlb");
      c.dev_tlb = u("inv.dev_tlb");
      c.waits = u("inv.waits");
      break;
    case Arch::Amdvi:
      c.pages = u("inv.pages");
      c.iotlb_pages = u("inv.iotlb_pages");
      c.waits = u("inv.waits");
      break;
  }
  return c;
}

Counts minus(const Counts& a, const Counts& b) {
  Counts d;
  d.tlbi_va = a.tlbi_va - b.tlbi_va;
  d.tlbi_asid = a.tlbi_asid - b.tlbi_asid;
  d.atc_inv = a.atc_inv - b.atc_inv;
  d.syncs = a.syncs - b.syncs;
  d.pasid_iotlb = a.pasid_iotlb - b.pasid_iotlb;
  d.dev_tlb = a.dev_tlb - b.dev_tlb;
  d.waits = a.waits - b.waits;
  d.pages = a.pages - b.pages;
  d.iotlb_pages = a.iotlb_pages - b.iotlb_pages;
  return d;
}

// Builds the platform of a shipped config without its workloads and drives the scenario itself:
// map a populated buffer, bind every device, let each read the pages to be unmapped, then one
// measured munmap of r_pages pages, then the probes.
Outcome run(const char* config, const char* sharing, uint64_t r_pages, std::vector<Iommu>& iommus,
            std::vector<std::string> sets = {}) {
  fresh_context();
  sets.push_back(std::string("platform.host.sva.sharing=") + sharing);
  PlatformConfig cfg = load_config(config_path(config), sets, default_registry());
  cfg.workloads.clear();
  tlm::tlm_global_quantum::instance().set(sc_core::sc_time::from_value(cfg.quantum.ps));
  auto pf = build_platform(cfg, default_registry());
  host::LinuxHost* h = pf->host;
  std::map<std::string, std::pair<HasStats*, Arch>> models;
  for (auto* m : pf->smmus) models[m->name()] = {m, Arch::Smmuv3};
  for (auto* m : pf->vtds) models[m->name()] = {m, Arch::Vtd};
  for (auto* m : pf->amdvis) models[m->name()] = {m, Arch::Amdvi};
  iommus.clear();
  for (const auto& [n, ma] : models) iommus.push_back({n, ma.second, {}});
  for (unsigned ep = 0; ep < h->endpoint_count(); ++ep) {
    const std::string& drv = h->driver(h->iommu_of(ep)).name();
    for (auto& i : iommus)
      if (i.name == drv) i.eps.push_back(ep);
  }
  Outcome o;
  sc_core::sc_spawn([&] {
    h->wait_booted();
    host::Mm& mm = h->create_mm();
    const uint64_t len = 64 * kPage + r_pages * kPage;
    const host::Mm::MmapResult m = mm.mmap(len, {true, true, false}, true);
    ASSERT_TRUE(m.ok());
    std::vector<std::pair<unsigned, uint32_t>> bound;
    for (unsigned ep = 0; ep < h->endpoint_count(); ++ep) {
      uint32_t pasid = 0;
      if (h->sva_bind(ep, mm, pasid) == 0) {
        bound.emplace_back(ep, pasid);
        o.pasids.push_back(pasid);
      } else {
        ++o.bind_errors;
      }
    }
    auto job = [&](uint32_t pasid) {
      DmaJob j;
      j.iova = m.addr;
      j.window = r_pages * kPage;
      j.size = 64;
      j.pattern = DmaPattern::Strided;
      j.stride = kPage;
      j.count = r_pages;
      j.pasid = pasid;
      j.pasid_valid = true;
      return j;
    };
    for (const auto& [ep, pasid] : bound) o.dma_faults += h->run_job(ep, job(pasid)).faults;
    o.buffer = m.addr;
    auto hot = [&](uint32_t pasid) {  // the 64 pages after the ones to be unmapped
      DmaJob j = job(pasid);
      j.iova = m.addr + r_pages * kPage;
      j.window = 64 * kPage;
      j.count = 64;
      return j;
    };
    std::vector<double> warm;
    for (const auto& [ep, pasid] : bound) {
      o.dma_faults += h->run_job(ep, hot(pasid)).faults;  // warms the caches
      const JobResult r = h->run_job(ep, hot(pasid));
      o.dma_faults += r.faults;
      warm.push_back(static_cast<double>(r.end_ps - r.start_ps) / 1000.0);
    }
    std::map<std::string, Counts> before;
    for (const auto& [n, ma] : models) before[n] = read(ma.first, ma.second);
    const uint64_t cpu0 = h->cpu().busy_ps();
    mm.munmap(m.addr, r_pages * kPage);
    o.cpu_ps = h->cpu().busy_ps() - cpu0;
    for (size_t i = 0; i < bound.size(); ++i) {
      const JobResult r = h->run_job(bound[i].first, hot(bound[i].second));
      o.dma_faults += r.faults;
      o.dma_lost_ns += static_cast<double>(r.end_ps - r.start_ps) / 1000.0 - warm[i];
    }
    for (const auto& [n, ma] : models) o.per_iommu[n] = minus(read(ma.first, ma.second), before[n]);
    for (const auto& [ep, pasid] : bound) {
      const JobResult pr = h->run_job(ep, job(pasid));
      o.probe_faults += pr.faults;
      o.probe_ok += pr.requests - pr.faults;
    }
    o.domains = h->sva().domains_of(mm).size();
    sc_core::sc_stop();
  });
  sc_core::sc_report_handler::set_actions(sc_core::SC_INFO, sc_core::SC_DO_NOTHING);
  sc_core::sc_start(sc_core::sc_time(1, sc_core::SC_SEC));
  return o;
}

// ---- the rules, per domain and IOMMU ----------------------------------------------------------

// R2.3, for one SVA domain on one SMMU with n_ats ATS devices attached: [start, start+R pages).
// Size 0 / whole mm, or (without RIL) >= 2 MiB: TLBI_NH_ASID; else TLBI_NH_VA, with RIL one command
// per num(<= 31) * 2^scale pages, without one per page; then SYNC; then ATC_INV per device and SYNC.
Counts smmuv3_rule(uint64_t pages, bool whole_mm, bool ril, uint64_t n_ats) {
  Counts c;
  if (whole_mm || (!ril && pages * kPage >= 2u << 20)) {
    c.tlbi_asid = 1;
  } else if (ril) {
    // Linux's decomposition: the lowest set bit gives the scale, up to 31 chunks of it per command.
    for (uint64_t left = pages; left;) {
      const unsigned scale = static_cast<unsigned>(__builtin_ctzll(left));
      const uint64_t num = (left >> scale) & 31;
      left -= num << scale;
      ++c.tlbi_va;
    }
  } else {
    c.tlbi_va = pages;
  }
  c.syncs = 1;
  if (n_ats) {
    c.atc_inv = n_ats;
    c.syncs += 1;
  }
  return c;
}

void add(Counts& a, const Counts& b) {
  a.tlbi_va += b.tlbi_va;
  a.tlbi_asid += b.tlbi_asid;
  a.atc_inv += b.atc_inv;
  a.syncs += b.syncs;
  a.pasid_iotlb += b.pasid_iotlb;
  a.dev_tlb += b.dev_tlb;
  a.waits += b.waits;
  a.pages += b.pages;
  a.iotlb_pages += b.iotlb_pages;
}

// The expected counts per IOMMU for `domains`: each a set of devices (endpoint indices).
std::map<std::string, Counts> expect(const std::vector<Iommu>& iommus, const std::vector<std::vector<unsigned>>& domains,
                                     uint64_t pages, bool arm_whole_mm, bool ril) {
  std::map<std::string, Counts> e;
  for (const auto& i : iommus) e[i.name] = {};
  for (const auto& dom : domains)
    for (const auto& i : iommus) {
      uint64_t n = 0;  // this domain's devices behind this IOMMU
      for (unsigned ep : dom)
        for (unsigned x : i.eps) n += ep == x;
      if (!n) continue;
      Counts c;
      switch (i.arch) {
        case Arch::Smmuv3: c = smmuv3_rule(pages, arm_whole_mm, ril, n); break;
        case Arch::Vtd:
          // R2.2: one PASID-based IOTLB descriptor per (IOMMU, DID, PASID) tag, one PASID-based
          // device-TLB descriptor per ATS device; one submission of <= 16 descriptors and a wait.
          c.pasid_iotlb = 1;
          c.dev_tlb = n;
          c.waits = (1 + n + 15) / 16;
          break;
        case Arch::Amdvi:
          // R2.4: per (device, PASID) INVALIDATE_IOMMU_PAGES + INVALIDATE_IOTLB_PAGES + COMPLETION_WAIT.
          c.pages = n;
          c.iotlb_pages = n;
          c.waits = n;
          break;
      }
      add(e[i.name], c);
    }
  return e;
}

struct Case {
  const char* config;
  const char* name;
  bool arm;  // arm64 host: the notifier widens >= 512 pages to the whole mm (R2.1)
  bool ril = true;  // SMMUv3 range invalidation
  std::vector<std::string> sets = {};
};

class SvaSharing : public ::testing::TestWithParam<Case> {};

TEST_P(SvaSharing, InvalidationsFollowEachDriversRule) {
  const Case& c = GetParam();
  for (const char* sharing : {"per_mm", "per_device"}) {
    for (uint64_t pages : {uint64_t{1}, uint64_t{16}, uint64_t{511}, uint64_t{600}}) {
      SCOPED_TRACE(std::string(sharing) + ", " + std::to_string(pages) + " pages");
      std::vector<Iommu> iommus;
      const Outcome o = run(c.config, sharing, pages, iommus, c.sets);
      ASSERT_EQ(o.bind_errors, 0);
      ASSERT_EQ(o.pasids.size(), 4u);
      for (uint32_t p : o.pasids) EXPECT_EQ(p, o.pasids[0]);  // one PASID per mm (R1.2)
      EXPECT_EQ(o.dma_faults, 0u);
      EXPECT_EQ(o.probe_ok, 0u);  // nothing unmapped is still reachable
      EXPECT_EQ(o.probe_faults, 4 * pages);

      // The domains the policy yields (R1.3, R1.6): per_device one per device; per_mm one per
      // driver, and on SMMUv3 one per instance.
      std::vector<std::vector<unsigned>> domains;
      if (std::string(sharing) == "per_device") {
        for (const auto& i : iommus)
          for (unsigned ep : i.eps) domains.push_back({ep});
      } else {
        std::map<std::string, std::vector<unsigned>> by_key;
        for (const auto& i : iommus) {
          const std::string key = i.arch == Arch::Smmuv3 ? i.name : i.arch == Arch::Vtd ? "vtd" : "amd";
          for (unsigned ep : i.eps) by_key[key].push_back(ep);
        }
        for (auto& [k, v] : by_key) domains.push_back(v);
      }
      EXPECT_EQ(o.domains, domains.size());
      const bool whole = c.arm && pages >= 512;
      const auto want = expect(iommus, domains, pages, whole, c.ril);
      // The still-mapped pages keep their cached translations unless an invalidation covered them:
      // the whole address space on arm (R2.1), or the aligned power-of-two block that VT-d's and
      // AMD's page invalidations (R2.2, R2.4) and SMMUv3's ATC_INV (R2.3) widen the range to.
      const uint64_t first = o.buffer >> 12, last = first + pages - 1;
      const unsigned k = static_cast<unsigned>(std::bit_width(first ^ last));
      const uint64_t block_end = ((first >> k) + 1) << k;  // exclusive, in pages
      const bool hot_hit = whole || block_end > first + pages;
      if (hot_hit)
        EXPECT_GT(o.dma_lost_ns, 100.0) << "the still-mapped pages must be translated again";
      else
        EXPECT_NEAR(o.dma_lost_ns, 0.0, 1.0) << "nothing still mapped was invalidated";
      for (const auto& i : iommus) EXPECT_EQ(o.per_iommu.at(i.name), want.at(i.name)) << i.name;
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Platforms, SvaSharing,
                         ::testing::Values(Case{"sva-sharing-vtd.yaml", "vtd", false},
                                           Case{"sva-sharing-smmuv3.yaml", "smmuv3", true},
                                           Case{"sva-sharing-smmuv3.yaml", "smmuv3_noril", true, false,
                                                {"platform.iommus.smmu0.range_invalidation=false",
                                                 "platform.iommus.smmu1.range_invalidation=false"}},
                                           Case{"sva-sharing-amdvi.yaml", "amdvi", false},
                                           Case{"sva-sharing-mixed.yaml", "mixed", false},
                                           Case{"sva-sharing-virtualised.yaml", "virtualised", true}),
                         [](const ::testing::TestParamInfo<Case>& i) { return std::string(i.param.name); });

// Behind one emulated SMMU every command and sync traps: per_device pays the domain's TLBI and both
// syncs once per device instead of once.
TEST(SvaSharingVirtualised, PerDevicePaysTheTrapsOfEveryDomain) {
  std::vector<Iommu> iommus;
  const Outcome shared = run("sva-sharing-virtualised.yaml", "per_mm", 16, iommus);
  const Outcome split = run("sva-sharing-virtualised.yaml", "per_device", 16, iommus);
  // per_mm: 1 TLBI + 4 ATC_INV + 2 SYNC; per_device: 4 x (1 TLBI + 1 ATC_INV + 2 SYNC).
  const uint64_t extra_cmds = 3, extra_syncs = 6;
  const uint64_t trap_cmd_ps = 1'000'000, trap_sync_ps = 4'000'000;  // the config's trap costs
  EXPECT_GE(split.cpu_ps - shared.cpu_ps, extra_cmds * trap_cmd_ps + extra_syncs * trap_sync_ps);
}

}  // namespace
}  // namespace iommusim::test
