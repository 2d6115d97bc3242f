// SVA on AMD-Vi end to end (platforms from configs/base-amdvi.yaml): the host's AMD-Vi driver gives
// a device a GCR3 table at its first PASID, the device's DMA at that PASID walks the process's
// x86-64 tables, munmap invalidates per (device, PASID) (R2.4), unbind clears the PASID, and an
// untouched page is faulted in through the PPR log (R3).
//
// Expectations are derived here, not from the driver: DTE and GCR3 entries are decoded from memory
// with the AMD 48882 bit positions written out below; command counts follow R2.4 (per attached
// device: one INVALIDATE_IOMMU_PAGES with its own GCR3 DomainID, one INVALIDATE_IOTLB_PAGES if it
// has ATS, one COMPLETION_WAIT on its IOMMU), the command words are decoded by hand.
//
// Test-only shortcut: the platform does not hand the endpoints' PASID/PRI capabilities to the host
// yet (DeviceCaps), so each test writes them into the host's PciDevice (const_cast on
// LinuxHost::pci_device) before the simulation starts, matching the endpoint's own parameters.
#include <gtest/gtest.h>
#include <sysc/kernel/sc_spawn.h>

#include <cerrno>
#include <filesystem>
#include <fstream>
#include <functional>
#include <string>
#include <vector>

#include "models/host/amdvi_driver.h"
#include "models/iommu/amdvi/amdvi.h"
#include "models/pcie/dma_job.h"
#include "models/pcie/endpoint.h"
#include "testbenches/study_util.h"

namespace iommusim::test {
namespace {

constexpr uint64_t kPage = 4096;
constexpr uint64_t kAddr51_12 = ((uint64_t{1} << 52) - 1) & ~uint64_t{0xFFF};

constexpr uint64_t bits(uint64_t v, unsigned hi, unsigned lo) {
  return (v >> lo) & ((uint64_t{1} << (hi - lo + 1)) - 1);
}

// DTE (256 bits as four qwords): q0 V[0] TV[1] Mode[11:9] PTroot[51:12] PPR[52] GV[55] GLX[57:56]
// GCR3[14:12]@[60:58]; q1 DomainID[15:0] GCR3[30:15]@[31:16] I[32] GCR3[51:31]@[63:43];
// q2 GuestPagingMode[55:54].
struct RawDte {
  bool v, tv, ppr, gv, i;
  unsigned mode, glx, gpm;
  uint64_t pt_root, gcr3;
  uint16_t domid;
};
RawDte read_dte(host::PhysMem& m, uint64_t devtab, uint16_t rid) {
  const uint64_t base = devtab + uint64_t{rid} * 32;
  const uint64_t q0 = m.read64(base), q1 = m.read64(base + 8), q2 = m.read64(base + 16);
  RawDte d{};
  d.v = q0 & 1;
  d.tv = (q0 >> 1) & 1;
  d.mode = static_cast<unsigned>(bits(q0, 11, 9));
  d.pt_root = q0 & kAddr51_12;
  d.ppr = (q0 >> 52) & 1;
  d.gv = (q0 >> 55) & 1;
  d.glx = static_cast<unsigned>(bits(q0, 57, 56));
  d.gcr3 = (bits(q0, 60, 58) << 12) | (bits(q1, 31, 16) << 15) | (bits(q1, 63, 43) << 31);
  d.domid = static_cast<uint16_t>(bits(q1, 15, 0));
  d.i = (q1 >> 32) & 1;
  d.gpm = static_cast<unsigned>(bits(q2, 55, 54));
  return d;
}

// GCR3 table: GLX+1 levels of 512 8-byte entries, 9 PASID bits per level from the top; V bit 0,
// address [51:12]; the level-0 entry holds the guest CR3. 0 when a level is not valid.
uint64_t gcr3_leaf(host::PhysMem& m, uint64_t root, unsigned glx, uint32_t pasid) {
  uint64_t table = root;
  for (int level = static_cast<int>(glx); level > 0; --level) {
    const uint64_t e = m.read64(table + ((pasid >> (9 * level)) & 511) * 8);
    if (!(e & 1)) return 0;
    table = e & kAddr51_12;
  }
  return m.read64(table + (pasid & 511) * 8);
}

// A command: opcode [63:60] of qword 0. INVALIDATE_IOMMU_PAGES (3): PASID q0[19:0], DomainID
// q0[47:32], S q1[0], PDE q1[1], GN q1[2], address q1[63:12]. INVALIDATE_IOTLB_PAGES (4): DeviceID
// q0[15:0], PASID[15:8] q0[23:16], PASID[7:0] q0[55:48], PASID[19:16] q0[59:56], S q1[0], GN q1[2].
// COMPLETION_WAIT 1.
struct RawCmd {
  unsigned op;
  uint64_t q0, q1;
};
std::vector<RawCmd> commands_between(host::PhysMem& m, const host::AmdViDriver& d, uint32_t from, uint32_t to) {
  std::vector<RawCmd> v;
  const uint32_t size = (uint32_t{1} << d.command_buffer_log2()) * 16;
  for (uint32_t off = from; off != to; off = (off + 16) % size) {
    const uint64_t q0 = m.read64(d.command_buffer() + off), q1 = m.read64(d.command_buffer() + off + 8);
    v.push_back({static_cast<unsigned>(q0 >> 60), q0, q1});
  }
  return v;
}
constexpr unsigned kOpWait = 1, kOpPages = 3, kOpIotlb = 4;

// Address + S of the smallest naturally aligned power of two containing [start, end), computed
// from the spec's rule: S = 1 and bits [k-2:12] set, bit k-1 clear, for a span of 2^k bytes.
uint64_t span_encoding(uint64_t start, uint64_t end) {
  unsigned k = 12;
  while ((start >> k) != ((end - 1) >> k)) ++k;
  if (k == 12) return start & ~uint64_t{0xFFF};
  const uint64_t base = start & ~((uint64_t{1} << k) - 1);
  return (base | ((uint64_t{1} << (k - 1)) - 1)) & ~uint64_t{0xFFF};
}

struct Sim {
  PlatformConfig cfg;
  std::unique_ptr<Platform> pf;
  host::LinuxHost* host = nullptr;

  host::AmdViDriver& drv(unsigned ep) { return dynamic_cast<host::AmdViDriver&>(host->driver(host->iommu_of(ep))); }
  // Test-only: the capabilities the endpoint has, as the kernel would have found them.
  void caps(unsigned ep, unsigned pasid_bits, uint32_t pri_capacity = 0) {
    auto& pd = const_cast<host::PciDevice&>(host->pci_device(ep));
    pd.pasid_bits = pasid_bits;
    pd.pri_capacity = pri_capacity;
  }
  double amd(unsigned i, const std::string& path) {
    double v = 0;
    EXPECT_TRUE(pf->amdvis.at(i)->stats().find(path, v)) << path;
    return v;
  }
  double hstat(const std::string& path) {
    double v = 0;
    EXPECT_TRUE(host->stats().find(path, v)) << path;
    return v;
  }
  void run(std::function<void()> body) {
    sc_core::sc_spawn([this, body] {
      host->wait_booted();
      body();
      sc_core::sc_stop();
    });
    sc_core::sc_report_handler::set_actions(sc_core::SC_INFO, sc_core::SC_DO_NOTHING);  // sc_stop's notice
    sc_core::sc_start(sc_core::sc_time(100, sc_core::SC_MS));
  }
};

Sim make(const std::string& path, const std::vector<std::string>& sets) {
  fresh_context();
  Sim s;
  s.cfg = load_config(path, sets, default_registry());
  tlm::tlm_global_quantum::instance().set(sc_core::sc_time::from_value(s.cfg.quantum.ps));
  s.pf = build_platform(s.cfg, default_registry());
  s.host = s.pf->host;
  return s;
}

// K = 3 devices behind two AMD IOMMUs: nic0 (ATS) and nic1 (no ATS) on ivhd0, nic2 (ATS) on ivhd1.
std::string three_device_config() {
  const auto path = std::filesystem::path(::testing::TempDir()) / "amdvi_sva_three.yaml";
  std::ofstream f(path);
  f << "extends: " << config_path("base-amdvi.yaml") << "\n"
    << "platform:\n"
    << "  iommus:\n"
    << "    - { name: ivhd1, type: amdvi }\n"
    << "  root_ports:\n"
    << "    - { name: rp1, iommu: ivhd0, link: { gen: 3, width: 8 } }\n"
    << "    - { name: rp2, iommu: ivhd1, link: { gen: 3, width: 8 } }\n"
    << "  endpoints:\n"
    << "    - { name: nic0, pasid_bits: 16, ats: { enabled: true } }\n"
    << "    - { name: nic1, port: rp1, rid: 02:00.0, outstanding: 1, pasid_bits: 16 }\n"
    << "    - { name: nic2, port: rp2, rid: 03:00.0, outstanding: 1, pasid_bits: 16, ats: { enabled: true } }\n";
  return path.string();
}

DmaJob pasid_job(uint64_t va, uint64_t pages, uint32_t pasid, bool write) {
  DmaJob j;
  j.iova = va;
  j.window = pages * kPage;
  j.size = 256;
  j.pattern = DmaPattern::Strided;
  j.stride = kPage;
  j.count = pages;
  j.read_fraction = write ? 0.0 : 1.0;
  j.pasid = pasid;
  j.pasid_valid = true;
  return j;
}

bool page_has_pattern(host::PhysMem& m, uint64_t pa) {
  for (uint64_t o = 0; o < 256; o += 8)
    if (m.read64(pa + o) != 0xA5A5A5A5A5A5A5A5ull) return false;
  return true;
}

TEST(AmdViSva, BindGivesTheDeviceAGcr3TableAndDmaAtThePasidWritesTheProcessPages) {
  Sim s = make(config_path("base-amdvi.yaml"), {"platform.endpoints.nic0.pasid_bits=16"});
  s.caps(0, 16);
  bool done = false;
  s.run([&] {
    host::PhysMem& m = s.host->phys();
    host::Mm& mm = s.host->create_mm();
    const uint64_t va = mm.mmap(16 * kPage, {}).addr;
    ASSERT_TRUE(mm.touch(va, 16 * kPage, true).ok());
    for (unsigned i = 0; i < 16; ++i) ASSERT_FALSE(page_has_pattern(m, mm.translate(va + i * kPage)->pa));
    auto& dma = dynamic_cast<host::AmdViDomain&>(s.host->dma_domain(0).domain());
    const RawDte before = read_dte(m, s.drv(0).device_table(), 0x0100);
    EXPECT_FALSE(before.gv);
    EXPECT_EQ(before.domid, dma.id());

    uint32_t pasid = 0;
    ASSERT_EQ(s.host->sva_bind(0, mm, pasid), 0);
    EXPECT_EQ(pasid, 1u);
    const RawDte d = read_dte(m, s.drv(0).device_table(), 0x0100);
    EXPECT_TRUE(d.v && d.tv && d.gv);
    // The v1 table still serves requests without a PASID.
    EXPECT_EQ(d.mode, 4u);
    EXPECT_EQ(d.pt_root, dma.root());
    // min(2^16 device PASIDs, (1 << (PASmax 15 + 1)) - 1) needs 16 index bits: two levels, GLX 1.
    EXPECT_EQ(d.glx, 1u);
    EXPECT_EQ(d.gpm, 0u);  // 4-level process tables
    EXPECT_FALSE(d.ppr);   // no PRI
    EXPECT_FALSE(d.i);     // no ATS
    EXPECT_NE(d.domid, dma.id());  // the device's own GCR3 DomainID
    EXPECT_EQ(d.gcr3 % kPage, 0u);
    EXPECT_EQ(gcr3_leaf(m, d.gcr3, d.glx, pasid), (mm.pgd() & kAddr51_12) | 1);
    EXPECT_EQ(gcr3_leaf(m, d.gcr3, d.glx, pasid + 1), 0u);
    EXPECT_TRUE(s.host->pci_device(0).pasid_enabled);

    const JobResult r = s.host->run_job(0, pasid_job(va, 16, pasid, true));
    EXPECT_EQ(r.requests, 16u);
    EXPECT_EQ(r.faults, 0u);
    for (unsigned i = 0; i < 16; ++i) EXPECT_TRUE(page_has_pattern(m, mm.translate(va + i * kPage)->pa)) << i;
    // A PASID nobody bound faults; DMA without a PASID still goes through the DMA domain.
    EXPECT_EQ(s.host->run_job(0, pasid_job(va, 1, pasid + 1, false)).faults, 1u);
    const uint64_t buf = s.host->alloc_buffer(kPage);
    const uint64_t iova = s.host->dma_map(0, buf, kPage);
    DmaJob j;
    j.iova = iova;
    j.window = kPage;
    j.size = 64;
    j.count = 4;
    EXPECT_EQ(s.host->run_job(0, j).faults, 0u);
    s.host->dma_unmap(0, iova, kPage);
    done = true;
  });
  EXPECT_TRUE(done);
}

TEST(AmdViSva, MunmapInvalidatesOncePerDeviceAndPasidEvenInASharedDomain) {
  Sim s = make(three_device_config(), {});
  for (unsigned ep = 0; ep < 3; ++ep) s.caps(ep, 16);
  // Which devices have ATS (the config) and which IOMMU each sits behind.
  const std::vector<bool> ats = {true, false, true};
  const std::vector<unsigned> iommu = {0, 0, 1};
  bool done = false;
  s.run([&] {
    host::PhysMem& m = s.host->phys();
    host::Mm& mm = s.host->create_mm();
    const uint64_t va = mm.mmap(64 * kPage, {}).addr;
    ASSERT_TRUE(mm.touch(va, 64 * kPage, true).ok());
    uint32_t pasid = 0;
    for (unsigned ep = 0; ep < 3; ++ep) {
      uint32_t p = 0;
      ASSERT_EQ(s.host->sva_bind(ep, mm, p), 0);
      if (ep) EXPECT_EQ(p, pasid);
      pasid = p;
    }
    EXPECT_EQ(s.host->sva().domains_of(mm).size(), 1u);  // per_mm: one domain across both IOMMUs (R7.4)
    for (unsigned ep = 0; ep < 3; ++ep) {
      EXPECT_EQ(s.host->pci_device(ep).ats_enabled, ats[ep]);
      EXPECT_EQ(s.host->run_job(ep, pasid_job(va, 8, pasid, false)).faults, 0u);  // warms IOTLB and ATC
    }
    // Each device's DTE has its own DomainID.
    std::vector<uint16_t> domid(3);
    for (unsigned ep = 0; ep < 3; ++ep)
      domid[ep] = read_dte(m, s.drv(ep).device_table(), s.host->pci_device(ep).rid).domid;
    EXPECT_NE(domid[0], domid[1]);
    EXPECT_NE(domid[0], domid[2]);
    EXPECT_NE(domid[1], domid[2]);

    const char* kPages = "inv.pages";
    const char* kIotlb = "inv.iotlb_pages";
    const char* kWaits = "inv.waits";
    double pages0[2], iotlb0[2], waits0[2];
    uint32_t tail0[2];
    for (unsigned i = 0; i < 2; ++i) {
      pages0[i] = s.amd(i, kPages);
      iotlb0[i] = s.amd(i, kIotlb);
      waits0[i] = s.amd(i, kWaits);
    }
    tail0[0] = s.drv(0).command_tail();
    tail0[1] = s.drv(2).command_tail();
    // R = 5 pages: [va + 3 pages, va + 8 pages).
    const uint64_t start = va + 3 * kPage, end = va + 8 * kPage;
    ASSERT_EQ(mm.munmap(start, end - start).pages, 5u);

    // R2.4, derived per IOMMU from the devices behind it.
    for (unsigned i = 0; i < 2; ++i) {
      double devs = 0, ats_devs = 0;
      for (unsigned ep = 0; ep < 3; ++ep)
        if (iommu[ep] == i) {
          ++devs;
          ats_devs += ats[ep] ? 1 : 0;
        }
      EXPECT_EQ(s.amd(i, kPages) - pages0[i], devs) << "ivhd" << i;
      EXPECT_EQ(s.amd(i, kIotlb) - iotlb0[i], ats_devs) << "ivhd" << i;
      EXPECT_EQ(s.amd(i, kWaits) - waits0[i], devs) << "ivhd" << i;  // one wait per (device, PASID)
    }
    EXPECT_EQ(s.amd(0, kPages) - pages0[0] + s.amd(1, kPages) - pages0[1], 3.0);  // K

    // The commands themselves: per device pages(GN, PASID, own DomainID, span), iotlb if ATS, wait.
    const uint64_t enc = span_encoding(start, end);
    for (unsigned i = 0; i < 2; ++i) {
      const host::AmdViDriver& d = s.drv(i == 0 ? 0 : 2);
      const auto cmds = commands_between(m, d, tail0[i], d.command_tail());
      std::vector<RawCmd> expect_order;
      size_t at = 0;
      for (unsigned ep = 0; ep < 3; ++ep) {
        if (iommu[ep] != i) continue;
        ASSERT_LT(at, cmds.size());
        const RawCmd& p = cmds[at++];
        EXPECT_EQ(p.op, kOpPages);
        EXPECT_EQ(bits(p.q0, 19, 0), pasid);
        EXPECT_EQ(bits(p.q0, 47, 32), domid[ep]);
        EXPECT_EQ(p.q1 & 1, 1u);         // S
        EXPECT_EQ((p.q1 >> 2) & 1, 1u);  // GN
        EXPECT_EQ(p.q1 & ~uint64_t{0xFFF}, enc);
        if (ats[ep]) {
          ASSERT_LT(at, cmds.size());
          const RawCmd& t = cmds[at++];
          EXPECT_EQ(t.op, kOpIotlb);
          EXPECT_EQ(bits(t.q0, 15, 0), s.host->pci_device(ep).rid);
          EXPECT_EQ((bits(t.q0, 59, 56) << 16) | (bits(t.q0, 23, 16) << 8) | bits(t.q0, 55, 48), pasid);
          EXPECT_EQ((t.q1 >> 2) & 1, 1u);
          EXPECT_EQ(t.q1 & ~uint64_t{0xFFF}, enc);
        }
        ASSERT_LT(at, cmds.size());
        EXPECT_EQ(cmds[at++].op, kOpWait);
      }
      EXPECT_EQ(at, cmds.size());
    }
    // Nothing of the unmapped range stays cached: the IOTLB (all devices) and the ATCs refuse it;
    // the rest of the buffer still translates.
    for (unsigned ep = 0; ep < 3; ++ep) {
      EXPECT_EQ(s.host->run_job(ep, pasid_job(start, 5, pasid, false)).faults, 5u) << ep;
      EXPECT_EQ(s.host->run_job(ep, pasid_job(va, 3, pasid, false)).faults, 0u) << ep;
    }
    done = true;
  });
  EXPECT_TRUE(done);
}

TEST(AmdViSva, UnbindClearsTheGcr3EntryFlushesThePasidAndKeepsTheTable) {
  Sim s = make(config_path("base-amdvi.yaml"),
               {"platform.endpoints.nic0.pasid_bits=16", "platform.endpoints.nic0.ats.enabled=true"});
  s.caps(0, 16);
  bool done = false;
  s.run([&] {
    host::PhysMem& m = s.host->phys();
    host::Mm& mm = s.host->create_mm();
    const uint64_t va = mm.mmap(4 * kPage, {}).addr;
    ASSERT_TRUE(mm.touch(va, 4 * kPage, true).ok());
    uint32_t pasid = 0;
    ASSERT_EQ(s.host->sva_bind(0, mm, pasid), 0);
    EXPECT_EQ(s.host->run_job(0, pasid_job(va, 4, pasid, false)).faults, 0u);
    const RawDte d = read_dte(m, s.drv(0).device_table(), 0x0100);
    const uint32_t tail0 = s.drv(0).command_tail();
    ASSERT_EQ(s.host->sva_unbind(0, mm), 0);
    EXPECT_EQ(gcr3_leaf(m, d.gcr3, d.glx, pasid), 0u);
    const RawDte after = read_dte(m, s.drv(0).device_table(), 0x0100);
    EXPECT_TRUE(after.gv);
    EXPECT_EQ(after.gcr3, d.gcr3);
    EXPECT_EQ(after.domid, d.domid);
    // The whole PASID: INVALIDATE_IOMMU_PAGES with S and every address bit [62:12] set, the ATC's
    // counterpart, one wait.
    const auto cmds = commands_between(m, s.drv(0), tail0, s.drv(0).command_tail());
    ASSERT_EQ(cmds.size(), 3u);
    EXPECT_EQ(cmds[0].op, kOpPages);
    EXPECT_EQ(bits(cmds[0].q0, 47, 32), d.domid);
    EXPECT_EQ(bits(cmds[0].q0, 19, 0), pasid);
    EXPECT_EQ(cmds[0].q1 & ~uint64_t{0xFFF}, 0x7FFF'FFFF'FFFF'F000ull);
    EXPECT_EQ(cmds[0].q1 & 7, 7u);  // S, PDE, GN
    EXPECT_EQ(cmds[1].op, kOpIotlb);
    EXPECT_EQ(cmds[2].op, kOpWait);
    EXPECT_EQ(s.host->run_job(0, pasid_job(va, 4, pasid, false)).faults, 4u);
    done = true;
  });
  EXPECT_TRUE(done);
}

// Binds on a platform with the given overrides; returns the bind's result (0 or -errno).
int bind_result(const std::vector<std::string>& sets, unsigned* gpm = nullptr, uint64_t* faults = nullptr) {
  std::vector<std::string> all = {"platform.endpoints.nic0.pasid_bits=16"};
  all.insert(all.end(), sets.begin(), sets.end());
  Sim s = make(config_path("base-amdvi.yaml"), all);
  s.caps(0, 16);
  int rc = 1;
  s.run([&] {
    host::Mm& mm = s.host->create_mm();
    const uint64_t va = mm.mmap(2 * kPage, {}).addr;
    EXPECT_TRUE(mm.touch(va, 2 * kPage, true).ok());
    uint32_t pasid = 0;
    rc = s.host->sva_bind(0, mm, pasid);
    if (rc == 0) {
      if (gpm) *gpm = read_dte(s.host->phys(), s.drv(0).device_table(), 0x0100).gpm;
      if (faults) *faults = s.host->run_job(0, pasid_job(va, 2, pasid, true)).faults;
    }
  });
  return rc;
}

TEST(AmdViSva, BindIsRefusedWhereTheIommuCannotWalkTheProcessTables) {
  const std::string iommu = "platform.iommus.ivhd0.";
  EXPECT_EQ(bind_result({}), 0);
  // No guest translation: no PASIDs at all (max_pasids 0), the SVA core says EOPNOTSUPP.
  EXPECT_EQ(bind_result({iommu + "gt_sup=false"}), -EOPNOTSUPP);
  // Guest translation without page requests, or without guest I/O protection: the driver refuses
  // the domain (EINVAL).
  EXPECT_EQ(bind_result({iommu + "ppr_sup=false"}), -EINVAL);
  EXPECT_EQ(bind_result({iommu + "gio_sup=false"}), -EINVAL);
  // 5-level process tables need 5-level guest tables (EFR.GATS).
  EXPECT_EQ(bind_result({"platform.host.cpu_arch=x86_64_la57", iommu + "guest_levels=4"}), -EINVAL);
  unsigned gpm = 9;
  uint64_t faults = 9;
  EXPECT_EQ(bind_result({"platform.host.cpu_arch=x86_64_la57", iommu + "guest_levels=5"}, &gpm, &faults), 0);
  EXPECT_EQ(gpm, 1u);  // DTE GuestPagingMode: 5-level
  EXPECT_EQ(faults, 0u);
  // Arm tables are not x86-64.
  EXPECT_EQ(bind_result({"platform.host.cpu_arch=arm64"}), -EINVAL);
}

// Another driver's SVA domain.
struct ForeignSva final : host::SvaDomain {
  const host::IommuDriver& drv;
  ForeignSva(host::Mm& mm, const host::IommuDriver& d) : SvaDomain(mm), drv(d) {}
  const host::IommuDriver& owner() const override { return drv; }
  void invalidate(uint64_t, uint64_t) override {}
};

TEST(AmdViSva, SetDevPasidChecksDomainDeviceAndPasid) {
  Sim s = make(config_path("base-amdvi.yaml"), {"platform.endpoints.nic0.pasid_bits=4"});
  s.caps(0, 4);  // 16 PASIDs
  s.run([&] {
    host::Mm& mm = s.host->create_mm();
    auto& drv = s.drv(0);
    auto& dev = const_cast<host::PciDevice&>(s.host->pci_device(0));
    std::string why;
    EXPECT_EQ(drv.max_pasids(), (1u << 16) - 1);  // PASmax 15
    ForeignSva foreign(mm, drv);
    EXPECT_EQ(drv.set_dev_pasid(foreign, dev, 1, why), EINVAL);
    auto d = drv.alloc_sva_domain(mm, why);
    ASSERT_NE(d, nullptr);
    EXPECT_EQ(drv.set_dev_pasid(*d, dev, 0, why), EINVAL);
    EXPECT_EQ(drv.set_dev_pasid(*d, dev, 16, why), EINVAL);  // the device's limit
    EXPECT_EQ(drv.set_dev_pasid(*d, dev, 15, why), 0);
    // 16 PASIDs fit one GCR3 level.
    const RawDte dte = read_dte(s.host->phys(), drv.device_table(), 0x0100);
    EXPECT_EQ(dte.glx, 0u);
    EXPECT_EQ(gcr3_leaf(s.host->phys(), dte.gcr3, 0, 15), (mm.pgd() & kAddr51_12) | 1);
    EXPECT_EQ(drv.set_dev_pasid(*d, dev, 15, why), EBUSY);
    drv.remove_dev_pasid(*d, dev, 15);
    EXPECT_EQ(d->attachments().size(), 0u);
    dev.pasid_bits = 0;
    EXPECT_EQ(drv.set_dev_pasid(*d, dev, 3, why), EINVAL);
  });
}

// PRI end to end: the device's Translation Request for an untouched page is denied, its Page
// Request lands in the PPR log, the driver reports it, the fault core maps the page and answers
// Success through COMPLETE_PPR_REQUEST, the device retries and its write lands in the process page.
void pri_round_trip(bool irq) {
  Sim s = make(config_path("base-amdvi.yaml"),
               {"platform.endpoints.nic0.pasid_bits=16", "platform.endpoints.nic0.ats.enabled=true",
                "platform.endpoints.nic0.pri.enabled=true", "platform.endpoints.nic0.outstanding=4"});
  const auto& ep_params = params_as<EndpointParams>(*s.cfg.endpoints.at(0).params);
  s.caps(0, 16, static_cast<uint32_t>(ep_params.pri.capacity));
  if (irq) s.drv(0).set_ppr_irq(&s.pf->amdvis.at(0)->ppr_irq());
  constexpr unsigned kPages = 4;
  bool done = false;
  s.run([&] {
    host::PhysMem& m = s.host->phys();
    host::Mm& mm = s.host->create_mm();
    const uint64_t va = mm.mmap(kPages * kPage, {}).addr;  // never touched
    uint32_t pasid = 0;
    ASSERT_EQ(s.host->sva_bind(0, mm, pasid), 0);
    EXPECT_TRUE(s.host->pci_device(0).pri_enabled);
    EXPECT_EQ(s.host->pci_device(0).pri_alloc, std::min<uint32_t>(32, static_cast<uint32_t>(ep_params.pri.capacity)));
    EXPECT_TRUE(read_dte(m, s.drv(0).device_table(), 0x0100).ppr);
    EXPECT_EQ(mm.resident_pages(), 0u);
    const JobResult r = s.host->run_job(0, pasid_job(va, kPages, pasid, true));
    EXPECT_EQ(r.faults, 0u);
    EXPECT_EQ(mm.resident_pages(), kPages);
    for (unsigned i = 0; i < kPages; ++i) {
      const auto t = mm.translate(va + i * kPage);
      ASSERT_TRUE(t.has_value());
      EXPECT_TRUE(page_has_pattern(m, t->pa)) << i;
    }
    done = true;
  });
  EXPECT_TRUE(done);
  // One one-page group per page: logged, reported, handled, answered Success once each.
  EXPECT_EQ(s.amd(0, "ppr.logged"), kPages);
  EXPECT_EQ(s.hstat("ivhd0.ppr_reported"), kPages);
  EXPECT_EQ(s.hstat("iopf.groups"), kPages);
  EXPECT_EQ(s.hstat("iopf.success"), kPages);
  EXPECT_EQ(s.amd(0, "inv.complete_ppr"), kPages);
}

TEST(AmdViSva, UntouchedPageFaultsThroughThePprLogAndTheDmaThenSucceedsPolling) { pri_round_trip(false); }
TEST(AmdViSva, UntouchedPageFaultsThroughThePprLogAndTheDmaThenSucceedsOnTheInterrupt) { pri_round_trip(true); }

}  // namespace
}  // namespace iommusim::test
