// iommufd (models/host/iommufd.h) on a real platform: one SMMUv3 with two endpoints and one VT-d
// unit with 3-level (39-bit) second-stage tables and one endpoint. Every errno case of R6.1, R6.2,
// R6.4 and R6.5 with hand-chosen ranges; fill on HWPT allocation checked by software walks and by
// DMA through the IOMMU; invalidation of every linked HWPT on unmap; auto domains (R6.3); the SW MSI
// window (R4.3) across replace. Driver-level corner cases (two SW MSI windows, SW + HW MSI, a domain
// with 64 KiB pages) use a small fake driver whose domain records nothing in hardware.
#include <gtest/gtest.h>
#include <sysc/kernel/sc_spawn.h>
#include <unistd.h>

#include <cerrno>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>

#include "models/host/iommufd.h"
#include "models/host/linux_host.h"
#include "models/iommu/smmuv3/smmuv3.h"
#include "platforms/config.h"
#include "platforms/platform.h"
#include "testbenches/sim_fixture.h"

namespace iommusim::test {
namespace {

using host::Iommufd;
using host::IoProt;

constexpr uint64_t K4 = 0x1000;
constexpr uint64_t kMsiWindow = 0x8000000, kMsiWindowSize = 0x100000;  // R4.1
constexpr unsigned NIC0 = 0, NIC1 = 1, NIC2 = 2;                         // smmu0, smmu0, dmar0

constexpr const char* kPlatform = R"(seed: 1
platform:
  memory: { name: mem, size: 64GiB, latency: 90ns, bandwidth: 25.6GB/s }
  iommus:
    - { name: smmu0, type: smmuv3 }
    - { name: dmar0, type: vtd, sagaw: 2 }
  root_ports:
    - { name: rp0, iommu: smmu0, link: { gen: 3, width: 8 } }
    - { name: rp1, iommu: smmu0, link: { gen: 3, width: 8 } }
    - { name: rp2, iommu: dmar0, link: { gen: 3, width: 8 } }
  endpoints:
    - { name: nic0, port: rp0, rid: 01:00.0, outstanding: 1 }
    - { name: nic1, port: rp1, rid: 02:00.0, outstanding: 1 }
    - { name: nic2, port: rp2, rid: 03:00.0, outstanding: 1 }
  host:
    dma_mode: strict
run:
  duration: 1s
)";

std::string platform_file() {
  const auto p = std::filesystem::temp_directory_path() / ("iommusim-iommufd-" + std::to_string(::getpid()) + ".yaml");
  std::ofstream(p) << kPlatform;
  return p.string();
}

struct Bench {
  std::unique_ptr<Platform> pf;
  host::LinuxHost* host = nullptr;

  Bench() {
    fresh_context();
    const PlatformConfig cfg = load_config(platform_file(), {}, default_registry());
    tlm::tlm_global_quantum::instance().set(sc_core::sc_time::from_value(cfg.quantum.ps));
    pf = build_platform(cfg, default_registry());
    host = pf->host;
  }
  void run(const std::function<void(Iommufd&)>& body) {
    bool done = false;
    sc_core::sc_spawn([&] {
      host->wait_booted();
      body(host->iommufd());
      done = true;
      sc_core::sc_stop();
    });
    sc_core::sc_report_handler::set_actions(sc_core::SC_INFO, sc_core::SC_DO_NOTHING);
    sc_core::sc_start(sc_core::sc_time(1, sc_core::SC_SEC));
    EXPECT_TRUE(done) << "the test body did not finish";
  }
  // One DMA request of `size` bytes at iova by endpoint ep; the number of faulted requests (0 or 1).
  uint64_t dma(unsigned ep, uint64_t iova, bool write, uint32_t size = 64) {
    DmaJob j;
    j.iova = iova;
    j.window = size;
    j.size = size;
    j.count = 1;
    j.read_fraction = write ? 0.0 : 1.0;
    return host->run_job(ep, j).faults;
  }
  double smmu(const std::string& path) const {
    double v = 0;
    return pf->smmus.at(0)->stats().find(path, v) ? v : 0;
  }
  uint64_t buf(uint64_t size = K4) { return host->alloc_buffer(size, std::max<uint64_t>(K4, size)); }
};

uint32_t new_ioas(Iommufd& fd) {
  uint32_t id = 0;
  EXPECT_EQ(fd.ioas_alloc(id), 0);
  return id;
}

int map_fixed(Iommufd& fd, uint32_t ioas, uint64_t iova, uint64_t pa, uint64_t len, IoProt prot = {}) {
  uint64_t v = iova;
  return fd.ioas_map(ioas, pa, len, prot, v, true);
}

size_t device_reservations(const host::IoasTable& t, unsigned dev) {
  size_t n = 0;
  for (const auto& r : t.reserved()) n += r.owner == host::IoasTable::device_owner(dev);
  return n;
}

// ---- R6.5 ----

TEST(Iommufd, MapErrorsFollowR65) {
  Bench b;
  b.run([&](Iommufd& fd) {
    const uint32_t a = new_ioas(fd);
    const uint64_t pa = b.buf(0x10000);
    uint32_t h = 0;
    ASSERT_EQ(fd.attach(NIC0, a, &h), 0) << fd.last_error();  // auto domain: the SW MSI window is reserved
    EXPECT_EQ(map_fixed(fd, a, 0x1000000, pa, 0x4000), 0);
    EXPECT_EQ(map_fixed(fd, a, 0x1003000, pa, K4), -EEXIST) << "last page of the mapping";
    EXPECT_EQ(map_fixed(fd, a, 0xfff000, pa, 2 * K4), -EEXIST) << "straddles its start";
    EXPECT_EQ(map_fixed(fd, a, 0x2000800, pa, K4), -EINVAL) << "IOVA misaligned for the 4 KiB domain";
    EXPECT_EQ(map_fixed(fd, a, 0x2000000, pa + 0x800, K4), -EINVAL) << "PA misaligned";
    EXPECT_EQ(map_fixed(fd, a, 0x2000000, pa, 0x800), -EINVAL) << "length misaligned";
    EXPECT_EQ(map_fixed(fd, a, 0x2000000, pa, 0), -EINVAL) << "length 0";
    EXPECT_EQ(map_fixed(fd, a, 0x2000000, pa, K4, IoProt{false, false}), -EINVAL) << "no permission";
    EXPECT_EQ(map_fixed(fd, a, kMsiWindow + 0x10000, pa, K4), -EINVAL) << "inside the SW MSI window";
    EXPECT_EQ(map_fixed(fd, a, kMsiWindow - K4, pa, 2 * K4), -EINVAL) << "straddles the window";
    EXPECT_EQ(map_fixed(fd, a, 0xFFFFFFFFFFFFF000ull, pa, 2 * K4), -EOVERFLOW);
    EXPECT_EQ(map_fixed(fd, a, uint64_t{1} << 48, pa, K4), -EINVAL) << "beyond the 48-bit aperture (reserved)";
    EXPECT_EQ(map_fixed(fd, 999, 0x2000000, pa, K4), -ENOENT) << "no such IOAS";
    // Allocated IOVAs: inside the allowed range, then ENOSPC.
    ASSERT_EQ(fd.ioas_allow_iovas(a, {{0x40000000, 0x40003fff}}), 0);
    uint64_t iova = 0;
    ASSERT_EQ(fd.ioas_map(a, pa, 0x4000, {}, iova, false), 0);
    EXPECT_EQ(iova, 0x40000000u);
    EXPECT_EQ(fd.ioas_map(a, pa, K4, {}, iova, false), -ENOSPC);
    EXPECT_EQ(fd.ioas_allow_iovas(a, {{kMsiWindow, kMsiWindow + K4 - 1}}), -EADDRINUSE) << "over the window";
    // Unmap: partial -> ENOENT (and nothing changes), nothing there -> ENOENT, exact -> 0.
    EXPECT_EQ(fd.ioas_unmap(a, 0x1000000, K4), -ENOENT);
    EXPECT_EQ(fd.ioas_unmap(a, 0x1001000, 0x4000), -ENOENT);
    EXPECT_EQ(fd.ioas_table(a)->areas().size(), 2u);
    EXPECT_EQ(fd.ioas_unmap(a, 0x3000000, K4), -ENOENT) << "nothing mapped";
    EXPECT_EQ(fd.ioas_unmap(a, 0xFFFFFFFFFFFFF000ull, 2 * K4), -EOVERFLOW);
    uint64_t n = 0;
    EXPECT_EQ(fd.ioas_unmap(a, 0x1000000, 0x4000, &n), 0);
    EXPECT_EQ(n, 0x4000u);
    // Unmap of everything: the rest, then again on an empty IOAS, both succeed.
    EXPECT_EQ(fd.ioas_unmap(a, 0, Iommufd::kUnmapAll, &n), 0);
    EXPECT_EQ(n, 0x4000u);
    EXPECT_TRUE(fd.ioas_table(a)->areas().empty());
    EXPECT_EQ(fd.ioas_unmap(a, 0, Iommufd::kUnmapAll), 0);
    EXPECT_EQ(fd.hwpt_domain(h)->iova_to_phys(0x40000000), std::nullopt);
  });
}

// ---- R6.1 ----

// A domain of 64 KiB pages (no hardware behind it): its smallest page is larger than PAGE_SIZE.
class Domain64K final : public host::IommuDomain {
 public:
  host::PgWork map(uint64_t, uint64_t, uint64_t, IoProt, uint64_t) override { return {}; }
  host::PgWork unmap(uint64_t, uint64_t, uint64_t& leaf) override { leaf = 0x10000; return {}; }
  void flush_range(uint64_t, uint64_t, uint64_t) override {}
  void flush_walk(uint64_t, uint64_t) override {}
  void flush_all() override {}
  uint64_t granule() const override { return 0x10000; }
  unsigned ias_bits() const override { return 48; }
  std::optional<uint64_t> iova_to_phys(uint64_t) override { return std::nullopt; }
};

TEST(Iommufd, HwptAllocRefusesDomainsThatCannotHoldTheMappings) {
  Bench b;
  b.run([&](Iommufd& fd) {
    const uint64_t pa = b.buf(0x2000);
    uint32_t h = 0;
    // Smallest page larger than PAGE_SIZE: EINVAL, even on an empty IOAS.
    const uint32_t e = new_ioas(fd);
    EXPECT_EQ(fd.hwpt_alloc_domain(std::make_unique<Domain64K>(), e, h), -EINVAL);
    EXPECT_TRUE(fd.ioas_hwpts(e).empty());
    // A byte-granular mapping made while the IOAS had no domain: EADDRINUSE for 4 KiB pages.
    const uint32_t a = new_ioas(fd);
    ASSERT_EQ(map_fixed(fd, a, 0x20000800, pa + 0x800, 0x800), 0) << "no domain: alignment 1";
    EXPECT_EQ(fd.hwpt_alloc(NIC0, a, h), -EADDRINUSE);
    EXPECT_TRUE(fd.ioas_hwpts(a).empty()) << "never linked";
    EXPECT_TRUE(fd.ioas_table(a)->reserved().empty()) << "nothing left behind";
    EXPECT_EQ(fd.ioas_table(a)->alignment, 1u);
    ASSERT_EQ(fd.ioas_unmap(a, 0x20000800, 0x800), 0);
    // A mapping at 1 TiB: inside the SMMU domain's 48-bit aperture, outside VT-d's 39-bit one.
    ASSERT_EQ(map_fixed(fd, a, uint64_t{1} << 40, pa, 0x2000), 0);
    EXPECT_EQ(fd.hwpt_alloc(NIC2, a, h), -EADDRINUSE);
    EXPECT_TRUE(fd.ioas_hwpts(a).empty());
    EXPECT_TRUE(fd.ioas_table(a)->reserved().empty());
    ASSERT_EQ(fd.hwpt_alloc(NIC0, a, h), 0) << fd.last_error();
    EXPECT_EQ(fd.ioas_hwpts(a), std::vector<uint32_t>{h});
    EXPECT_EQ(fd.ioas_table(a)->alignment, K4);
    // Once linked, the aperture's outside is reserved and byte-granular maps are refused.
    EXPECT_EQ(map_fixed(fd, a, uint64_t{1} << 48, pa, K4), -EINVAL);
    EXPECT_EQ(map_fixed(fd, a, 0x30000800, pa + 0x800, 0x800), -EINVAL);
  });
}

TEST(Iommufd, HwptAllocFillsTheDomainAtOnce) {
  Bench b;
  b.run([&](Iommufd& fd) {
    const uint32_t a = new_ioas(fd);
    const uint64_t pa = b.buf(0x200000);
    ASSERT_EQ(map_fixed(fd, a, 0x10000000, pa, 0x200000), 0);      // before any HWPT: one 2 MiB block
    ASSERT_EQ(map_fixed(fd, a, 0x20003000, pa + 0x5000, K4), 0);
    uint32_t h = 0;
    ASSERT_EQ(fd.hwpt_alloc(NIC0, a, h), 0) << fd.last_error();
    host::IommuDomain& d = *fd.hwpt_domain(h);
    EXPECT_EQ(d.iova_to_phys(0x10000000), pa);
    EXPECT_EQ(d.iova_to_phys(0x101ff040), pa + 0x1ff040);
    EXPECT_EQ(d.iova_to_phys(0x20003010), pa + 0x5010);
    EXPECT_EQ(d.iova_to_phys(0x20002000), std::nullopt);
    // And through the SMMU: attach, DMA at both mappings, and next to them.
    ASSERT_EQ(fd.attach(NIC0, h), 0) << fd.last_error();
    EXPECT_EQ(b.dma(NIC0, 0x10000000, false), 0u);
    EXPECT_EQ(b.dma(NIC0, 0x101fffc0, true), 0u);
    EXPECT_EQ(b.dma(NIC0, 0x20003000, false), 0u);
    EXPECT_EQ(b.dma(NIC0, 0x20004000, false), 1u);
  });
}

TEST(Iommufd, UnmapInvalidatesEveryLinkedHwpt) {
  Bench b;
  b.run([&](Iommufd& fd) {
    const uint32_t a = new_ioas(fd);
    uint32_t h0 = 0, h1 = 0;
    ASSERT_EQ(fd.hwpt_alloc(NIC0, a, h0), 0);
    ASSERT_EQ(fd.hwpt_alloc(NIC1, a, h1), 0);
    ASSERT_EQ(fd.attach(NIC0, h0), 0);
    ASSERT_EQ(fd.attach(NIC1, h1), 0);
    const uint64_t pa = b.buf();
    ASSERT_EQ(map_fixed(fd, a, 0x30000000, pa, K4), 0);  // propagated to both domains
    EXPECT_EQ(fd.hwpt_domain(h0)->iova_to_phys(0x30000000), pa);
    EXPECT_EQ(fd.hwpt_domain(h1)->iova_to_phys(0x30000000), pa);
    // Both devices cache the translation in the IOTLB, under their own ASID.
    EXPECT_EQ(b.dma(NIC0, 0x30000000, false), 0u);
    EXPECT_EQ(b.dma(NIC1, 0x30000000, false), 0u);
    EXPECT_EQ(b.dma(NIC0, 0x30000000, false), 0u);
    const double tlbi = b.smmu("inv.tlbi"), syncs = b.smmu("inv.syncs");
    ASSERT_EQ(fd.ioas_unmap(a, 0x30000000, K4), 0);
    // At least one TLBI and one CMD_SYNC per linked domain.
    EXPECT_GE(b.smmu("inv.tlbi") - tlbi, 2.0);
    EXPECT_GE(b.smmu("inv.syncs") - syncs, 2.0);
    EXPECT_EQ(fd.hwpt_domain(h0)->iova_to_phys(0x30000000), std::nullopt);
    EXPECT_EQ(fd.hwpt_domain(h1)->iova_to_phys(0x30000000), std::nullopt);
    // A stale IOTLB entry on either domain would let these succeed.
    EXPECT_EQ(b.dma(NIC0, 0x30000000, false), 1u);
    EXPECT_EQ(b.dma(NIC1, 0x30000000, false), 1u);
  });
}

// ---- R6.2 ----

TEST(Iommufd, AttachPushesReservedRegionsAndRefusesOverlaps) {
  Bench b;
  b.run([&](Iommufd& fd) {
    const uint32_t a = new_ioas(fd);
    const uint64_t pa = b.buf(0x200000);
    // Seed 002: a mapping made before attach overlaps the SW MSI window.
    ASSERT_EQ(map_fixed(fd, a, kMsiWindow + 0x80000, pa, 0x10000), 0);
    uint32_t h = 0;
    ASSERT_EQ(fd.hwpt_alloc(NIC0, a, h), 0) << "linking does not look at reserved regions";
    EXPECT_EQ(fd.attach(NIC0, h), -EADDRINUSE);
    EXPECT_EQ(fd.device_hwpt(NIC0), std::nullopt);
    EXPECT_EQ(device_reservations(*fd.ioas_table(a), NIC0), 0u) << "all or nothing";
    // Through the IOAS (auto domain) as well; the new auto HWPT is not kept.
    EXPECT_EQ(fd.attach(NIC0, a), -EADDRINUSE);
    EXPECT_EQ(fd.ioas_hwpts(a), std::vector<uint32_t>{h});
    // The x86 range on VT-d likewise.
    ASSERT_EQ(map_fixed(fd, a, 0xFEE00000, pa, K4), 0);
    EXPECT_EQ(fd.attach(NIC2, a), -EADDRINUSE);
    // Without the overlap the attach succeeds and the window is reserved for the device.
    ASSERT_EQ(fd.ioas_unmap(a, kMsiWindow + 0x80000, 0x10000), 0);
    ASSERT_EQ(fd.attach(NIC0, h), 0) << fd.last_error();
    EXPECT_EQ(device_reservations(*fd.ioas_table(a), NIC0), 1u);
    EXPECT_EQ(map_fixed(fd, a, kMsiWindow, pa, K4), -EINVAL) << "a later map cannot take the window";
    EXPECT_EQ(fd.attach(NIC0, h), -EINVAL) << "already attached";
    // An allowed range over the window of a device not yet attached makes its attach fail.
    const uint32_t c = new_ioas(fd);
    ASSERT_EQ(fd.ioas_allow_iovas(c, {{0x7f00000, 0x81fffff}}), 0);
    EXPECT_EQ(fd.attach(NIC1, c), -EADDRINUSE);
    EXPECT_EQ(fd.attach(NIC1, 12345), -ENOENT);
  });
}

// A driver reporting given reserved regions; its 4 KiB domains have no hardware behind them.
class Domain4K final : public host::IommuDomain {
 public:
  host::PgWork map(uint64_t, uint64_t, uint64_t, IoProt, uint64_t) override { return {}; }
  host::PgWork unmap(uint64_t, uint64_t, uint64_t& leaf) override { leaf = K4; return {}; }
  void flush_range(uint64_t, uint64_t, uint64_t) override {}
  void flush_walk(uint64_t, uint64_t) override {}
  void flush_all() override {}
  uint64_t granule() const override { return K4; }
  unsigned ias_bits() const override { return 48; }
  std::optional<uint64_t> iova_to_phys(uint64_t) override { return std::nullopt; }
};
class FakeDriver final : public host::IommuDriver {
 public:
  explicit FakeDriver(std::vector<host::ResvRegion> r) : r_(std::move(r)) {}
  std::vector<host::ResvRegion> reserved_regions() const override { return r_; }
  int check_attach(const host::IommuDomain& d, std::string& why) const override {
    if (dynamic_cast<const Domain4K*>(&d)) return 0;
    why = "not mine";
    return EINVAL;
  }
  const std::string& name() const override { return name_; }
  void probe() override {}
  std::unique_ptr<host::IommuDomain> alloc_paging_domain() override { return std::make_unique<Domain4K>(); }
  void attach(host::IommuDomain& d, host::PciDevice& dev) override { move_device(dev, d); }

 private:
  std::vector<host::ResvRegion> r_;
  std::string name_ = "fake";
};

TEST(Iommufd, InconsistentMsiRegionsAreRefused) {
  fresh_context();
  StatGroup root("root");
  host::Cpu cpu(root);
  host::HostParams p;
  Iommufd fd(cpu, p, root, "test");
  using host::ResvType;
  FakeDriver both({{0x8000000, 0x100000, ResvType::SwMsi}, {0xFEE00000, 0x100000, ResvType::Msi}});
  FakeDriver two({{0x8000000, 0x100000, ResvType::SwMsi}, {0x9000000, 0x100000, ResvType::SwMsi}});
  FakeDriver plain({{0xFEE00000, 0x100000, ResvType::Msi}, {0xFD00000000ull, 0x300000000ull, ResvType::Reserved}});
  host::PciDevice d0, d1, d2;
  const unsigned b0 = fd.add_device({"both", &d0, &both});
  const unsigned b1 = fd.add_device({"two", &d1, &two});
  const unsigned b2 = fd.add_device({"plain", &d2, &plain});
  std::vector<int> got;
  size_t resv_after = 99;
  sc_core::sc_spawn([&] {
    uint32_t a = 0;
    fd.ioas_alloc(a);
    got.push_back(fd.attach(b0, a));
    got.push_back(fd.attach(b1, a));
    resv_after = fd.ioas_table(a)->reserved().size();  // only the auto HWPT's aperture
    got.push_back(fd.attach(b2, a));
    uint64_t iova = 0;
    got.push_back(fd.get_msi_iova(b2, 0xFEE00000, iova));
    got.push_back(static_cast<int>(iova == 0xFEE00000));
    std::string why;
    got.push_back(fd.ioas_table(a)->check_fixed(0xFD00000000ull, K4, why) == -EINVAL);
    got.push_back(fd.detach(b2));
    got.push_back(fd.detach(b2));
    got.push_back(fd.replace(b2, a));
  });
  sc_core::sc_start();
  EXPECT_EQ(got, (std::vector<int>{-EINVAL, -EINVAL, 0, 0, 1, 1, 0, -EINVAL, -EINVAL}));
  EXPECT_EQ(resv_after, 0u) << "refused attaches leave no reservation, and their auto HWPT is gone";
}

// ---- R6.3 ----

TEST(Iommufd, AutoDomainsAreReusedOrAllocated) {
  Bench b;
  b.run([&](Iommufd& fd) {
    const uint32_t a = new_ioas(fd);
    const uint64_t pa = b.buf();
    ASSERT_EQ(map_fixed(fd, a, 0x50000000, pa, K4), 0);
    uint32_t h0 = 0, h1 = 0, h2 = 0;
    ASSERT_EQ(fd.attach(NIC0, a, &h0), 0) << fd.last_error();
    ASSERT_EQ(fd.attach(NIC1, a, &h1), 0) << fd.last_error();
    EXPECT_EQ(h1, h0) << "the same SMMU can use the first auto domain";
    ASSERT_EQ(fd.attach(NIC2, a, &h2), 0) << fd.last_error();
    EXPECT_NE(h2, h0) << "VT-d cannot use an SMMU domain (EINVAL): a new auto domain";
    EXPECT_EQ(fd.ioas_hwpts(a), (std::vector<uint32_t>{h0, h2}));
    EXPECT_EQ(b.dma(NIC1, 0x50000000, false), 0u);
    EXPECT_EQ(b.dma(NIC2, 0x50000000, false), 0u);
    // nic2 leaves: its auto domain goes, and so does its reservation of the x86 MSI range.
    ASSERT_EQ(fd.detach(NIC2), 0);
    EXPECT_EQ(fd.ioas_hwpts(a), std::vector<uint32_t>{h0});
    EXPECT_EQ(b.dma(NIC2, 0x50000000, false), 1u) << "detached: blocked";
    ASSERT_EQ(map_fixed(fd, a, 0xFEE00000, pa, K4), 0);
    // A candidate's error other than EINVAL is the answer: no new domain is allocated.
    EXPECT_EQ(fd.attach(NIC2, a), -EADDRINUSE);
    EXPECT_EQ(fd.ioas_hwpts(a), std::vector<uint32_t>{h0});
    // The last device leaving destroys the auto domain; the SW MSI window is free again.
    ASSERT_EQ(fd.detach(NIC0), 0);
    EXPECT_EQ(map_fixed(fd, a, kMsiWindow, pa, K4), -EINVAL) << "nic1 still holds the window";
    ASSERT_EQ(fd.detach(NIC1), 0);
    EXPECT_TRUE(fd.ioas_hwpts(a).empty());
    EXPECT_EQ(map_fixed(fd, a, kMsiWindow, pa, K4), 0);
    EXPECT_EQ(fd.detach(NIC1), -EINVAL) << "not attached";
    // A manually allocated HWPT is not an auto-domain candidate.
    const uint32_t c = new_ioas(fd);
    uint32_t hm = 0, hc = 0;
    ASSERT_EQ(fd.hwpt_alloc(NIC1, c, hm), 0);
    ASSERT_EQ(fd.attach(NIC0, c, &hc), 0);
    EXPECT_NE(hc, hm);
    EXPECT_EQ(fd.ioas_hwpts(c), (std::vector<uint32_t>{hm, hc}));
  });
}

// ---- R6.4 and R4.3 ----

TEST(Iommufd, ReplaceKeepsTheMsiPageMappedInBothHwpts) {
  Bench b;
  b.run([&](Iommufd& fd) {
    const uint32_t a = new_ioas(fd);
    uint32_t h0 = 0, h1 = 0;
    ASSERT_EQ(fd.hwpt_alloc(NIC0, a, h0), 0);
    ASSERT_EQ(fd.hwpt_alloc(NIC0, a, h1), 0);
    EXPECT_EQ(fd.replace(NIC0, h1), -EINVAL) << "not attached";
    uint64_t iova = 0;
    const uint64_t doorbell = b.buf();  // a made-up doorbell: a memory page
    EXPECT_EQ(fd.get_msi_iova(NIC0, doorbell, iova), -EINVAL) << "not attached";
    ASSERT_EQ(fd.attach(NIC0, h0), 0);
    ASSERT_EQ(fd.get_msi_iova(NIC0, doorbell + 0x40, iova), 0);
    EXPECT_EQ(iova, kMsiWindow + 0x40) << "slot 0, the doorbell's page offset kept";
    EXPECT_EQ(fd.hwpt_domain(h0)->iova_to_phys(kMsiWindow), doorbell);
    EXPECT_EQ(fd.hwpt_msi_bitmap(h0), 1u);
    EXPECT_EQ(fd.hwpt_msi_bitmap(h1), 0u) << "installed on attach / replace only";
    EXPECT_EQ(b.dma(NIC0, kMsiWindow + 0x40, true, 4), 0u);
    const size_t resv = fd.ioas_table(a)->reserved().size();
    ASSERT_EQ(fd.replace(NIC0, h1), 0) << fd.last_error();
    EXPECT_EQ(fd.ioas_table(a)->reserved().size(), resv) << "same IOAS: nothing re-enforced";
    EXPECT_EQ(fd.hwpt_msi_bitmap(h1), 1u);
    EXPECT_EQ(fd.hwpt_domain(h1)->iova_to_phys(kMsiWindow), doorbell);
    EXPECT_EQ(fd.hwpt_domain(h0)->iova_to_phys(kMsiWindow), doorbell) << "the old HWPT keeps it";
    EXPECT_EQ(b.dma(NIC0, kMsiWindow + 0x40, true, 4), 0u) << "the MSI write still reaches the doorbell";
    EXPECT_EQ(fd.replace(NIC0, h1), 0) << "to the same HWPT: nothing to do";
    ASSERT_EQ(fd.replace(NIC0, h0), 0);
    EXPECT_EQ(b.dma(NIC0, kMsiWindow + 0x40, true, 4), 0u);
    // A second doorbell gets slot 1; the same page again its old slot.
    const uint64_t doorbell2 = b.buf();
    ASSERT_EQ(fd.get_msi_iova(NIC0, doorbell2, iova), 0);
    EXPECT_EQ(iova, kMsiWindow + K4);
    ASSERT_EQ(fd.get_msi_iova(NIC0, doorbell, iova), 0);
    EXPECT_EQ(iova, kMsiWindow);
    EXPECT_EQ(fd.hwpt_msi_bitmap(h0), 3u);
    // Replace into another IOAS: its mapping over the window refuses it; the device stays put.
    const uint32_t c = new_ioas(fd);
    ASSERT_EQ(map_fixed(fd, c, kMsiWindow, b.buf(), K4), 0);
    uint32_t hc = 0;
    ASSERT_EQ(fd.hwpt_alloc(NIC0, c, hc), 0);
    EXPECT_EQ(fd.replace(NIC0, hc), -EADDRINUSE);
    EXPECT_EQ(fd.device_hwpt(NIC0), h0);
    EXPECT_EQ(device_reservations(*fd.ioas_table(a), NIC0), 1u);
    EXPECT_EQ(device_reservations(*fd.ioas_table(c), NIC0), 0u);
    ASSERT_EQ(fd.ioas_unmap(c, kMsiWindow, K4), 0);
    ASSERT_EQ(fd.replace(NIC0, hc), 0) << fd.last_error();
    EXPECT_EQ(device_reservations(*fd.ioas_table(a), NIC0), 0u) << "the reservation moved with the device";
    EXPECT_EQ(device_reservations(*fd.ioas_table(c), NIC0), 1u);
    EXPECT_EQ(fd.hwpt_msi_bitmap(hc), 3u) << "both doorbells installed on replace";
    EXPECT_EQ(b.dma(NIC0, kMsiWindow + K4, true, 4), 0u);
    // R7 passes through: nic2's VT-d cannot use an SMMU HWPT.
    const uint32_t x = new_ioas(fd);
    ASSERT_EQ(fd.attach(NIC2, x), 0);
    EXPECT_EQ(fd.replace(NIC2, h0), -EINVAL);
    EXPECT_EQ(fd.get_msi_iova(NIC2, 0xFEE00000, iova), 0);
    EXPECT_EQ(iova, 0xFEE00000u) << "x86: the MSI range is not translated";
  });
}

TEST(Iommufd, DoorbellSlotsAreLimitedTo64) {
  Bench b;
  b.run([&](Iommufd& fd) {
    const uint32_t a = new_ioas(fd);
    ASSERT_EQ(fd.attach(NIC0, a), 0);
    const uint64_t pages = b.buf(65 * K4);
    uint64_t iova = 0;
    for (unsigned i = 0; i < 64; ++i) {
      ASSERT_EQ(fd.get_msi_iova(NIC0, pages + i * K4, iova), 0) << i;
      ASSERT_EQ(iova, kMsiWindow + i * K4);
    }
    EXPECT_EQ(fd.get_msi_iova(NIC0, pages + 64 * K4, iova), -EOVERFLOW);
    EXPECT_LT(64 * K4, kMsiWindowSize) << "the slots fit in the window";
  });
}

}  // namespace
}  // namespace iommusim::test
