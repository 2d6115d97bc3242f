// The host SMMUv3 driver's SVA and stall-fault support, driven through the host (SVA core, fault
// core, process address spaces) against the SMMUv3 model on a built platform.
//
// Expectations come from the architecture and the Linux rules, not from the driver: stream-table
// entries and CDs are decoded here by hand from memory (IHI 0070 bit positions), and invalidation
// command counts are computed from R2.1 + R2.3.
//
// Test-only shortcut: the platform gives endpoints no PASID capability unless configured, so each
// test sets PciDevice::pasid_bits through a const_cast of LinuxHost::pci_device() before
// sc_start (the host attaches default domains at boot, when the driver reads it). Its PASID
// Control write is recorded; when the endpoint has no such register the write is dropped.
#include <gtest/gtest.h>
#include <sysc/kernel/sc_spawn.h>

#include <algorithm>
#include <bit>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <functional>
#include <stdexcept>
#include <string>
#include <tuple>
#include <vector>

#include <unistd.h>

#include "models/host/linux_host.h"
#include "models/host/smmuv3_driver.h"
#include "models/iommu/smmuv3/smmuv3.h"
#include "models/pcie/endpoint.h"
#include "platforms/config.h"
#include "platforms/platform.h"
#include "testbenches/sim_fixture.h"

namespace iommusim::test {
namespace {

using host::Mm;
using host::PageResponse;

// Two SMMUv3 instances that can stall, one endpoint behind each, an arm64 host.
constexpr const char* kPlatform = R"(seed: 1
platform:
  memory: { name: mem, size: 64GiB, latency: 90ns, bandwidth: 25.6GB/s }
  iommus:
    - { name: smmu0, type: smmuv3, stall: true }
    - { name: smmu1, type: smmuv3, stall: true }
  root_ports:
    - { name: rp0, iommu: smmu0, link: { gen: 3, width: 8 } }
    - { name: rp1, iommu: smmu1, link: { gen: 3, width: 8 } }
  endpoints:
    - { name: dev0, port: rp0, rid: 01:00.0, outstanding: 1 }
    - { name: dev1, port: rp1, rid: 02:00.0, outstanding: 1 }
  host:
    dma_mode: strict
    cpu_arch: arm64
run:
  duration: 1s
)";

// One SMMUv3 that can stall with two endpoints below it (two root ports).
constexpr const char* kShared = R"(seed: 1
platform:
  memory: { name: mem, size: 64GiB, latency: 90ns, bandwidth: 25.6GB/s }
  iommus:
    - { name: smmu0, type: smmuv3, stall: true }
  root_ports:
    - { name: rp0, iommu: smmu0, link: { gen: 3, width: 8 } }
    - { name: rp1, iommu: smmu0, link: { gen: 3, width: 8 } }
  endpoints:
    - { name: dev0, port: rp0, rid: 01:00.0, outstanding: 1 }
    - { name: dev1, port: rp1, rid: 02:00.0, outstanding: 1 }
  host:
    dma_mode: strict
    cpu_arch: arm64
run:
  duration: 1s
)";

std::string platform_file(const char* text = kPlatform) {
  const auto p = std::filesystem::temp_directory_path() /
                 ("iommusim-smmuv3-sva-" + std::to_string(::getpid()) + "-" + (text == kPlatform ? "a" : "b") + ".yaml");
  std::ofstream(p) << text;
  return p.string();
}

constexpr uint64_t bits(uint64_t w, unsigned hi, unsigned lo) {
  return (w >> lo) & (hi - lo >= 63 ? ~uint64_t{0} : ((uint64_t{1} << (hi - lo + 1)) - 1));
}
constexpr uint64_t addr_bits(uint64_t w, unsigned hi, unsigned lo) { return bits(w, hi, lo) << lo; }

struct Bench {
  std::unique_ptr<Platform> pf;
  host::LinuxHost* host = nullptr;
  std::vector<bool> pasid_writes[2];

  // pasid_bits[i]: Max PASID Width given to endpoint i (0: no PASID capability).
  Bench(const std::vector<std::string>& sets, unsigned pasid0, unsigned pasid1 = 0, const char* text = kPlatform) {
    fresh_context();
    const PlatformConfig cfg = load_config(platform_file(text), sets, default_registry());
    tlm::tlm_global_quantum::instance().set(sc_core::sc_time::from_value(cfg.quantum.ps));
    pf = build_platform(cfg, default_registry());
    host = pf->host;
    const unsigned widths[2] = {pasid0, pasid1};
    for (unsigned ep = 0; ep < 2; ++ep) {
      auto& pci = const_cast<host::PciDevice&>(host->pci_device(ep));  // test-only shortcut (see top)
      pci.pasid_bits = widths[ep];
      auto real = pci.pasid_control;
      auto* log = &pasid_writes[ep];
      pci.pasid_control = [log, real](bool on) {
        log->push_back(on);
        try {
          if (real) real(on);
        } catch (const std::runtime_error&) {  // the endpoint has no PASID Control register
        }
      };
    }
  }
  void run(const std::function<void()>& body) {
    bool done = false;
    sc_core::sc_spawn([&] {
      host->wait_booted();
      body();
      done = true;
      sc_core::sc_stop();
    });
    sc_core::sc_report_handler::set_actions(sc_core::SC_INFO, sc_core::SC_DO_NOTHING);
    sc_core::sc_start(sc_core::sc_time(1, sc_core::SC_SEC));
    EXPECT_TRUE(done) << "the test body did not finish (a stalled transaction never answered?)";
  }
  double smmu(const std::string& path, size_t i = 0) const {
    double v = 0;
    return pf->smmus.at(i)->stats().find(path, v) ? v : 0;  // per-type event counters appear on first use
  }
  double hstat(const std::string& path) const {
    double v = 0;
    EXPECT_TRUE(host->stats().find(path, v)) << "no host statistic " << path;
    return v;
  }
  host::SmmuV3Driver& drv(unsigned i) { return dynamic_cast<host::SmmuV3Driver&>(host->driver(i)); }
  host::PciDevice& pci(unsigned ep) { return const_cast<host::PciDevice&>(host->pci_device(ep)); }
  uint64_t rd64(uint64_t pa) {
    uint64_t v = 0;
    host->phys().read(pa, &v, 8);
    return v;
  }
  // The STE of sid, found from the stream table by hand: 2-level with the host's default split of
  // 8 (StreamIDs of 16 bits); L1 descriptor SPAN[4:0], L2Ptr[51:6].
  uint64_t ste_pa(unsigned i, uint32_t sid) {
    const uint64_t l1 = rd64(drv(i).stream_table() + uint64_t{sid >> 8} * 8);
    EXPECT_NE(bits(l1, 4, 0), 0u) << "level-1 descriptor of sid " << sid << " not valid";
    return addr_bits(l1, 51, 6) + uint64_t{sid & 0xFF} * 64;
  }
  // The CD of (sid, ssid): STE dword0 S1Fmt[5:4], S1ContextPtr[51:6], S1CDMax[63:59]; 2-level
  // with 64 KiB leaves: level-1 descriptor V[0], L2Ptr[51:12], SSID[9:0] within the leaf.
  uint64_t cd_pa(unsigned i, uint32_t sid, uint32_t ssid) {
    const uint64_t d0 = rd64(ste_pa(i, sid));
    const uint64_t ctx = addr_bits(d0, 51, 6);
    switch (bits(d0, 5, 4)) {
      case 0: return ctx + uint64_t{ssid} * 64;
      case 2: {
        const uint64_t l1 = rd64(ctx + uint64_t{ssid >> 10} * 8);
        EXPECT_EQ(l1 & 1, 1u) << "level-1 CD descriptor of ssid " << ssid << " not valid";
        return addr_bits(l1, 51, 12) + uint64_t{ssid & 0x3FF} * 64;
      }
      default: ADD_FAILURE() << "unexpected S1Fmt " << bits(d0, 5, 4); return 0;
    }
  }
  JobResult dma(unsigned ep, uint64_t va, bool write, uint32_t pasid, bool pasid_valid = true) {
    DmaJob j;
    j.iova = va;
    j.window = 64;
    j.size = 64;
    j.count = 1;
    j.read_fraction = write ? 0.0 : 1.0;
    j.pasid = pasid;
    j.pasid_valid = pasid_valid;
    return host->run_job(ep, j);
  }
};

uint16_t sva_asid(Bench& b, unsigned ep, const Mm& mm) {
  const auto* d = dynamic_cast<const host::SmmuV3SvaDomain*>(b.host->sva().domain_of(b.host->pci_device(ep), mm));
  EXPECT_NE(d, nullptr);
  return d ? d->asid() : 0;
}

// ---- CD tables and the SVA CD -------------------------------------------------------------------

TEST(SmmuV3Sva, TwoLevelCdTableHoldsTheMmAtItsPasidAndDmaReachesItsPages) {
  Bench b({}, 20);  // PASID width 20 = IDR1.SSIDSIZE 20: 2^20 CDs, 2-level
  b.run([&] {
    auto& h = *b.host;
    const uint16_t rid = h.pci_device(0).rid;
    EXPECT_EQ(b.drv(0).max_pasids(), 1u << 20);  // R1.2: 1 << SSIDSIZE
    EXPECT_EQ(b.pasid_writes[0], std::vector<bool>{true});  // PASID enabled once, at the first attach
    EXPECT_TRUE(h.pci_device(0).pasid_enabled);

    // STE: V, Config S1 (0b101), S1Fmt 2 (64 KiB leaves), S1CDMax 20, S1DSS 2 (substream 0).
    const uint64_t ste = b.ste_pa(0, rid);
    const uint64_t s0 = b.rd64(ste), s1 = b.rd64(ste + 8);
    EXPECT_EQ(bits(s0, 0, 0), 1u);
    EXPECT_EQ(bits(s0, 3, 1), 0b101u);
    EXPECT_EQ(bits(s0, 5, 4), 2u);
    EXPECT_EQ(bits(s0, 63, 59), 20u);
    EXPECT_EQ(bits(s1, 1, 0), 2u);
    EXPECT_EQ(bits(s1, 27, 27), 0u) << "S1STALLD must be clear for a stalling master";

    // CD 0: the DMA domain (its ASID and TTB0), stalling as every CD of this master.
    auto& dma = dynamic_cast<host::SmmuV3Domain&>(h.dma_domain(0).domain());
    const uint64_t cd0 = b.cd_pa(0, rid, 0);
    EXPECT_EQ(bits(b.rd64(cd0), 31, 31), 1u);
    EXPECT_EQ(bits(b.rd64(cd0), 63, 48), dma.asid());
    EXPECT_EQ(addr_bits(b.rd64(cd0 + 8), 51, 4), dma.pgtable().root());
    EXPECT_EQ(bits(b.rd64(cd0), 44, 44), 1u);

    Mm& mm = h.create_mm();
    uint32_t pasid = 0;
    ASSERT_EQ(h.sva_bind(0, mm, pasid), 0);
    EXPECT_EQ(pasid, 1u);  // the first PASID of the global allocator
    const uint64_t cd = b.cd_pa(0, rid, pasid);
    const uint64_t w0 = b.rd64(cd);
    EXPECT_EQ(bits(w0, 5, 0), 16u);   // T0SZ: 48-bit VA
    EXPECT_EQ(bits(w0, 7, 6), 0u);    // TG0 4 KiB
    EXPECT_EQ(bits(w0, 9, 8), 1u);    // IRGN0 WBWA
    EXPECT_EQ(bits(w0, 11, 10), 1u);  // ORGN0 WBWA
    EXPECT_EQ(bits(w0, 13, 12), 3u);  // SH0 inner shareable
    EXPECT_EQ(bits(w0, 14, 14), 0u);  // EPD0 clear: TTB0 walks
    EXPECT_EQ(bits(w0, 30, 30), 1u);  // EPD1
    EXPECT_EQ(bits(w0, 31, 31), 1u);  // V
    EXPECT_EQ(bits(w0, 34, 32), 5u);  // IPS 48 bits (the CPU's PA size)
    EXPECT_EQ(bits(w0, 41, 41), 1u);  // AA64
    EXPECT_EQ(bits(w0, 44, 44), 1u);  // S: no PRI, the SMMU can stall
    EXPECT_EQ(bits(w0, 45, 45), 1u);  // R
    EXPECT_EQ(bits(w0, 46, 46), 1u);  // A
    EXPECT_EQ(bits(w0, 47, 47), 1u);  // ASET
    // ASIDs are global across instances: the DMA domains of smmu0 and smmu1 took 1 and 2.
    EXPECT_EQ(bits(w0, 63, 48), 3u);
    EXPECT_EQ(sva_asid(b, 0, mm), 3u);
    EXPECT_EQ(addr_bits(b.rd64(cd + 8), 51, 4), mm.pgd());
    EXPECT_EQ(b.rd64(cd + 24) & 0xFF, 0xFFu) << "MAIR attr 0 (user pages' AttrIndx) must be normal WB";
    EXPECT_EQ(b.hstat("smmu0.sva_attach"), 1);

    // A write at the PASID to a page the CPU touched lands in the mm's physical page.
    const Mm::MmapResult m = mm.mmap(16 * 4096, {});
    ASSERT_TRUE(m.ok());
    ASSERT_TRUE(mm.touch(m.addr, 4096, true).ok());
    const auto tr = mm.translate(m.addr + 0x100);
    ASSERT_TRUE(tr.has_value());
    const JobResult w = b.dma(0, m.addr + 0x100, true, pasid);
    EXPECT_EQ(w.faults, 0u);
    uint8_t got[192];
    h.phys().read(tr->pa - 64, got, sizeof got);
    for (unsigned i = 0; i < sizeof got; ++i)
      ASSERT_EQ(got[i], (i >= 64 && i < 128) ? 0xA5 : 0x00) << "byte " << i << " around the mm's page";
    EXPECT_EQ(b.dma(0, m.addr, false, pasid).faults, 0u);
    EXPECT_EQ(b.smmu("events.recorded"), 0);

    // The DMA domain still serves requests without a PASID (S1DSS substream 0).
    const uint64_t buf = h.alloc_buffer(4096);
    const uint64_t iova = h.dma_map(0, buf, 4096);
    EXPECT_EQ(b.dma(0, iova, false, 0, false).faults, 0u);
  });
}

TEST(SmmuV3Sva, NarrowPasidWidthGetsALinearCdTable) {
  Bench b({}, 8);
  b.run([&] {
    auto& h = *b.host;
    const uint16_t rid = h.pci_device(0).rid;
    const uint64_t s0 = b.rd64(b.ste_pa(0, rid));
    EXPECT_EQ(bits(s0, 5, 4), 0u);  // linear: 256 CDs
    EXPECT_EQ(bits(s0, 63, 59), 8u);
    Mm& mm = h.create_mm();
    uint32_t pasid = 0;
    ASSERT_EQ(h.sva_bind(0, mm, pasid), 0);
    const uint64_t cd = addr_bits(s0, 51, 6) + uint64_t{pasid} * 64;
    EXPECT_EQ(bits(b.rd64(cd), 31, 31), 1u);
    EXPECT_EQ(addr_bits(b.rd64(cd + 8), 51, 4), mm.pgd());
    const auto m = mm.mmap(4096, {}, /*populate=*/true);
    ASSERT_TRUE(m.ok());
    EXPECT_EQ(b.dma(0, m.addr, true, pasid).faults, 0u);
  });
}

TEST(SmmuV3Sva, DevicesWithoutPasidKeepOneCdAndCannotBind) {
  Bench b({}, 0, 0);
  b.run([&] {
    auto& h = *b.host;
    const uint64_t s0 = b.rd64(b.ste_pa(0, h.pci_device(0).rid));
    const uint64_t s1 = b.rd64(b.ste_pa(0, h.pci_device(0).rid) + 8);
    EXPECT_EQ(bits(s0, 63, 59), 0u);  // S1CDMax 0: one CD
    EXPECT_EQ(bits(s1, 1, 0), 0u);
    auto& dma = dynamic_cast<host::SmmuV3Domain&>(h.dma_domain(0).domain());
    const uint64_t cd = addr_bits(s0, 51, 6);
    EXPECT_EQ(bits(b.rd64(cd), 44, 44), 0u);  // no stall
    EXPECT_EQ(addr_bits(b.rd64(cd + 8), 51, 4), dma.pgtable().root());
    EXPECT_TRUE(b.pasid_writes[0].empty());
    Mm& mm = h.create_mm();
    uint32_t pasid = 0;
    EXPECT_EQ(h.sva_bind(0, mm, pasid), -95);  // EOPNOTSUPP: the device has no PASID
  });
}

TEST(SmmuV3Sva, ReplacingTheDmaDomainRewritesOnlyCd0) {
  Bench b({}, 20);
  b.run([&] {
    auto& h = *b.host;
    const uint16_t rid = h.pci_device(0).rid;
    Mm& mm = h.create_mm();
    uint32_t pasid = 0;
    ASSERT_EQ(h.sva_bind(0, mm, pasid), 0);
    const auto m = mm.mmap(4096, {}, true);
    const uint64_t ste = b.ste_pa(0, rid);
    uint64_t ste_before[8], sva_cd_before[8];
    h.phys().read(ste, ste_before, sizeof ste_before);
    h.phys().read(b.cd_pa(0, rid, pasid), sva_cd_before, sizeof sva_cd_before);
    auto fresh = b.drv(0).alloc_paging_domain();
    auto& nd = dynamic_cast<host::SmmuV3Domain&>(*fresh);
    const double cfgi0 = b.smmu("inv.cfgi");
    ASSERT_EQ(h.try_attach(0, nd), 0);
    EXPECT_EQ(b.smmu("inv.cfgi") - cfgi0, 1);  // one CFGI_CD for SSID 0, the STE untouched
    uint64_t ste_after[8], sva_cd_after[8];
    h.phys().read(ste, ste_after, sizeof ste_after);
    h.phys().read(b.cd_pa(0, rid, pasid), sva_cd_after, sizeof sva_cd_after);
    EXPECT_TRUE(std::equal(ste_before, ste_before + 8, ste_after));
    EXPECT_TRUE(std::equal(sva_cd_before, sva_cd_before + 8, sva_cd_after));
    const uint64_t cd0 = b.cd_pa(0, rid, 0);
    EXPECT_EQ(bits(b.rd64(cd0), 63, 48), nd.asid());
    EXPECT_EQ(addr_bits(b.rd64(cd0 + 8), 51, 4), nd.pgtable().root());
    EXPECT_EQ(b.pasid_writes[0].size(), 1u);  // PASID stays enabled: no second write
    EXPECT_EQ(b.dma(0, m.addr, true, pasid).faults, 0u);  // the SVA binding still works
  });
}

// ---- recoverable faults (stalls) ----------------------------------------------------------------

TEST(SmmuV3Sva, StalledFaultsAreAnsweredThroughTheFaultCore) {
  Bench b({}, 20);
  b.run([&] {
    auto& h = *b.host;
    Mm& mm = h.create_mm();
    uint32_t pasid = 0;
    ASSERT_EQ(h.sva_bind(0, mm, pasid), 0);
    const auto m = mm.mmap(8 * 4096, {});
    ASSERT_TRUE(m.ok());
    const uint64_t page = m.addr + 3 * 4096;  // never touched by the CPU
    ASSERT_FALSE(mm.translate(page).has_value());

    // Untouched page: the read stalls, the fault core maps the page, RESUME retries it.
    const JobResult r = b.dma(0, page + 0x40, false, pasid);
    EXPECT_EQ(r.faults, 0u);
    EXPECT_EQ(b.smmu("events.stalled"), 1);
    EXPECT_EQ(b.smmu("events.stall_retries"), 1);
    EXPECT_EQ(h.iopf().responses(PageResponse::Success), 1u);
    EXPECT_EQ(h.iopf().groups(), 1u);
    EXPECT_EQ(b.hstat("smmu0.stall_events"), 1);
    EXPECT_EQ(b.hstat("smmu0.resumes"), 1);
    const auto tr = mm.translate(page);
    ASSERT_TRUE(tr.has_value()) << "the fault handler should have mapped the page";
    EXPECT_EQ(mm.faults_mapped(), 1u);

    // The retried access used the new page: a write now lands there.
    const JobResult w = b.dma(0, page, true, pasid);
    EXPECT_EQ(w.faults, 0u);
    uint8_t got = 0;
    h.phys().read(tr->pa, &got, 1);
    EXPECT_EQ(got, 0xA5);

    // No VMA there: answered INVALID, resumed with ABORT, the DMA fails.
    const uint64_t hole = 0x10000000;
    ASSERT_FALSE(mm.find_vma(hole).has_value());
    const JobResult bad = b.dma(0, hole, true, pasid);
    EXPECT_EQ(bad.faults, 1u);
    EXPECT_EQ(h.iopf().responses(PageResponse::Invalid), 1u);
    EXPECT_EQ(b.smmu("events.stall_aborts"), 1);
    EXPECT_EQ(b.hstat("smmu0.resumes"), 2);
    EXPECT_EQ(h.iopf().responses(PageResponse::Success), 1u);

    // A read-only VMA: a read fault is served, a write fault is refused (the event's RnW says
    // which access it was).
    const auto ro = mm.mmap(2 * 4096, {true, false, false});
    ASSERT_TRUE(ro.ok());
    EXPECT_EQ(b.dma(0, ro.addr, false, pasid).faults, 0u);
    EXPECT_EQ(h.iopf().responses(PageResponse::Success), 2u);
    EXPECT_EQ(b.dma(0, ro.addr + 4096, true, pasid).faults, 1u);
    EXPECT_EQ(h.iopf().responses(PageResponse::Invalid), 2u);
    EXPECT_FALSE(mm.translate(ro.addr + 4096).has_value());

    // A fault on the DMA domain (no PASID) also stalls on this master; nothing handles it there,
    // so it is aborted.
    const JobResult rid_fault = b.dma(0, 0x40000000, false, 0, false);
    EXPECT_EQ(rid_fault.faults, 1u);
    EXPECT_EQ(b.smmu("events.stall_aborts"), 3);
  });
}

// Two devices sharing one mm (one SVA domain) fault page after page at the same time: every stall
// is answered and no transaction is left held, whatever the interleaving of the event records.
TEST(SmmuV3Sva, ConcurrentStallsFromTwoDevicesAreAllAnswered) {
  Bench b({}, 20, 20, kShared);
  b.run([&] {
    auto& h = *b.host;
    Mm& mm = h.create_mm();
    uint32_t p0 = 0, p1 = 0;
    ASSERT_EQ(h.sva_bind(0, mm, p0), 0);
    ASSERT_EQ(h.sva_bind(1, mm, p1), 0);
    EXPECT_EQ(h.sva().domains_of(mm).size(), 1u);  // per-mm sharing on one SMMU
    constexpr uint64_t kPages = 64;
    const auto m = mm.mmap(2 * kPages * 4096, {});
    ASSERT_TRUE(m.ok());
    JobResult r[2];
    bool done[2] = {false, false};
    sc_core::sc_event finished;
    for (unsigned ep = 0; ep < 2; ++ep)
      sc_core::sc_spawn([&, ep] {
        DmaJob j;
        j.iova = m.addr + ep * kPages * 4096;  // each device its own pages
        j.window = kPages * 4096;
        j.size = 64;
        j.pattern = DmaPattern::Strided;
        j.stride = 4096;
        j.count = kPages;
        j.read_fraction = ep ? 0.0 : 1.0;
        j.pasid = ep ? p1 : p0;
        j.pasid_valid = true;
        r[ep] = h.run_job(ep, j);
        done[ep] = true;
        finished.notify(sc_core::SC_ZERO_TIME);
      });
    while (!(done[0] && done[1])) sc_core::wait(finished);
    EXPECT_EQ(r[0].faults, 0u);
    EXPECT_EQ(r[1].faults, 0u);
    EXPECT_EQ(h.iopf().responses(PageResponse::Success), 2 * kPages);
    EXPECT_EQ(b.smmu("events.stalled"), 2 * kPages);
    EXPECT_EQ(b.smmu("events.stall_retries"), 2 * kPages);
    EXPECT_EQ(mm.resident_pages(), 2 * kPages);
  });
}

TEST(SmmuV3Sva, WithoutStallModelFaultsTerminate) {
  Bench b({"platform.iommus.smmu0.stall=false"}, 20);
  b.run([&] {
    auto& h = *b.host;
    Mm& mm = h.create_mm();
    uint32_t pasid = 0;
    ASSERT_EQ(h.sva_bind(0, mm, pasid), 0);
    EXPECT_EQ(bits(b.rd64(b.cd_pa(0, h.pci_device(0).rid, pasid)), 44, 44), 0u);  // CD.S clear
    const uint64_t s1 = b.rd64(b.ste_pa(0, h.pci_device(0).rid) + 8);
    EXPECT_EQ(bits(s1, 27, 27), 0u);  // no S1STALLD either: the SMMU cannot stall at all
    const auto m = mm.mmap(4096, {});
    EXPECT_EQ(b.dma(0, m.addr, false, pasid).faults, 1u);
    EXPECT_EQ(b.smmu("events.stalled"), 0);
    EXPECT_EQ(b.smmu("events.F_TRANSLATION"), 1);
    EXPECT_EQ(h.iopf().groups(), 0u);
  });
}

TEST(SmmuV3Sva, MastersWithPriDoNotStall) {
  Bench b({}, 20);
  b.pci(0).pri_capacity = 32;  // test-only shortcut, as pasid_bits: before the boot reads it
  b.run([&] {
    auto& h = *b.host;
    const uint16_t rid = h.pci_device(0).rid;
    Mm& mm = h.create_mm();
    uint32_t pasid = 0;
    ASSERT_EQ(h.sva_bind(0, mm, pasid), 0);
    // R3.1: Linux does not use PCIe PRI on SMMUv3; a master with PRI is not a stalling one, and an
    // SMMU that could stall is told not to for it (STE.S1STALLD, dword1 bit 27).
    EXPECT_EQ(bits(b.rd64(b.ste_pa(0, rid) + 8), 27, 27), 1u);
    EXPECT_EQ(bits(b.rd64(b.cd_pa(0, rid, pasid)), 44, 44), 0u);
    EXPECT_FALSE(h.pci_device(0).pri_enabled);
    const auto m = mm.mmap(4096, {});
    EXPECT_EQ(b.dma(0, m.addr, false, pasid).faults, 1u);
    EXPECT_EQ(b.smmu("events.stalled"), 0);
    EXPECT_EQ(h.iopf().groups(), 0u);
  });
}

// ---- mm invalidation (R2.1 + R2.3) --------------------------------------------------------------

struct Expect {
  uint64_t tlbi_va = 0, tlbi_asid = 0, syncs = 0, atc_inv = 0, batches = 0;
};

// What an invalidation of `pages` 4 KiB pages must send, from the rules (0 pages: the whole mm or an
// empty range); `widen`: the range comes from an arm64 mm's TLB flush (munmap), which R2.1 widens.
Expect r23(uint64_t pages, bool ril, bool ats, bool widen = true) {
  constexpr uint64_t granule = 4096;
  // R2.1: arm64 widens a flush of 512 pages or more to the whole mm.
  const bool whole_mm = widen && pages >= 512;
  const uint64_t size = whole_mm ? 0 : pages * granule;
  Expect e;
  uint64_t tlbi_cmds;
  // R2.3: size 0 / whole mm, or without RIL a range of at least (granule / 8) granules: by ASID.
  if (size == 0 || (!ril && size >= (granule / 8) * granule)) {
    e.tlbi_asid = tlbi_cmds = 1;
  } else if (ril) {
    // Each range command covers num (<= 31) * 2^scale pages, lowest scale first. SVA ranges are
    // non-leaf (the CPU may have freed tables), and Linux never sends a non-leaf range with
    // NUM = SCALE = 0: a count of 1 mod 32 is rounded up by one page.
    tlbi_cmds = 0;
    uint64_t left = pages;
    if ((left & 31) == 1) ++left;
    while (left) {
      const unsigned scale = static_cast<unsigned>(std::countr_zero(left));
      left -= ((left >> scale) & 31) << scale;
      ++tlbi_cmds;
    }
    e.tlbi_va = tlbi_cmds;
  } else {
    e.tlbi_va = tlbi_cmds = pages;  // one per granule
  }
  // Batches of 64, one CMD_SYNC after the TLBIs; then the ATC part with its own CMD_SYNC.
  e.batches = (tlbi_cmds + 63) / 64;
  e.syncs = 1;
  if (ats) {
    e.atc_inv = 1;  // one ATS master at one PASID
    e.syncs += 1;
    e.batches += 1;
  }
  return e;
}

class SmmuV3SvaInvalidation : public ::testing::TestWithParam<std::tuple<bool, bool>> {};

TEST_P(SmmuV3SvaInvalidation, MunmapSendsWhatR23Predicts) {
  const auto [ril, ats] = GetParam();
  Bench b({std::string("platform.iommus.smmu0.range_invalidation=") + (ril ? "true" : "false"),
           std::string("platform.iommus.smmu0.ats=") + (ats ? "true" : "false"),
           std::string("platform.endpoints.dev0.ats.enabled=") + (ats ? "true" : "false")},
          20);
  b.run([&] {
    auto& h = *b.host;
    EXPECT_EQ(b.drv(0).range_invalidation(), ril);
    Mm& mm = h.create_mm();
    uint32_t pasid = 0;
    ASSERT_EQ(h.sva_bind(0, mm, pasid), 0);
    EXPECT_EQ(h.pci_device(0).ats_enabled, ats);
    // A second process at another PASID of the same device, with pages at the same addresses:
    // its ATC entries must survive the first one's invalidations (ATC_INV carries the PASID).
    Mm& other = h.create_mm();
    uint32_t pasid2 = 0;
    ASSERT_EQ(h.sva_bind(0, other, pasid2), 0);
    ASSERT_NE(pasid2, pasid);
    Atc* atc = b.pf->endpoints.at(0)->atc();
    ASSERT_EQ(atc != nullptr, ats);
    for (uint64_t pages : {1u, 16u, 100u, 600u}) {
      SCOPED_TRACE("pages " + std::to_string(pages));
      const auto m = mm.mmap(pages * 4096, {});
      ASSERT_TRUE(m.ok());
      ASSERT_TRUE(mm.touch(m.addr, pages * 4096, true).ok());
      const uint64_t last = m.addr + (pages - 1) * 4096;
      ASSERT_TRUE(other.mmap(4096, {}, true, last).ok());
      // The device caches the last page (IOTLB, and its ATC with ATS) before the unmap.
      ASSERT_EQ(b.dma(0, last, false, pasid).faults, 0u);
      ASSERT_EQ(b.dma(0, last, false, pasid2).faults, 0u);
      const double va0 = b.smmu("inv.tlbi_va"), asid0 = b.smmu("inv.tlbi_asid"), sync0 = b.smmu("inv.syncs"),
                   atc0 = b.smmu("inv.atc_inv"), cmd0 = b.smmu("inv.commands"), bat0 = b.hstat("smmu0.batches");
      ASSERT_EQ(mm.munmap(m.addr, pages * 4096).pages, pages);
      const Expect e = r23(pages, ril, ats);
      EXPECT_EQ(b.smmu("inv.tlbi_va") - va0, e.tlbi_va);
      EXPECT_EQ(b.smmu("inv.tlbi_asid") - asid0, e.tlbi_asid);
      EXPECT_EQ(b.smmu("inv.syncs") - sync0, e.syncs);
      EXPECT_EQ(b.smmu("inv.atc_inv") - atc0, e.atc_inv);
      EXPECT_EQ(b.smmu("inv.commands") - cmd0, e.tlbi_va + e.tlbi_asid + e.atc_inv + e.syncs);
      EXPECT_EQ(b.hstat("smmu0.batches") - bat0, e.batches);
      if (ats) {
        EXPECT_EQ(atc->lookup(true, pasid, last), nullptr);
        EXPECT_NE(atc->lookup(true, pasid2, last), nullptr) << "another PASID's entry was invalidated";
      }
      // Nothing stale survives: the page is gone from the mm, so the access fails (without ATS
      // it stalls and is aborted; with ATS the Translation Request is denied).
      EXPECT_EQ(b.dma(0, last, false, pasid).faults, 1u);
      EXPECT_EQ(b.dma(0, last, false, pasid2).faults, 0u);
      ASSERT_EQ(other.munmap(last, 4096).pages, 1u);
    }
    // Ranges an arm64 mm would have widened, given to the domain as they are (as the notifier of a
    // CPU with range TLBIs passes them): the driver's own rule decides. Then the whole mm and an
    // empty range, both ASID-wide.
    auto* dom = const_cast<host::SvaDomain*>(h.sva().domain_of(h.pci_device(0), mm));
    ASSERT_NE(dom, nullptr);
    struct Case {
      uint64_t start, end;
      Expect e;
    };
    constexpr uint64_t base = 0x40000000;
    const Case cases[] = {{base, base + 33 * 4096, r23(33, ril, ats, false)},
                          {base, base + 600 * 4096, r23(600, ril, ats, false)},
                          {0, Mm::kWholeMm, r23(0, ril, ats, false)},
                          {base, base, r23(0, ril, ats, false)}};
    for (size_t i = 0; i < std::size(cases); ++i) {
      SCOPED_TRACE("direct case " + std::to_string(i));
      const Expect& e = cases[i].e;
      const double va0 = b.smmu("inv.tlbi_va"), asid0 = b.smmu("inv.tlbi_asid"), sync0 = b.smmu("inv.syncs"),
                   atc0 = b.smmu("inv.atc_inv"), bat0 = b.hstat("smmu0.batches");
      dom->invalidate(cases[i].start, cases[i].end);
      EXPECT_EQ(b.smmu("inv.tlbi_va") - va0, e.tlbi_va);
      EXPECT_EQ(b.smmu("inv.tlbi_asid") - asid0, e.tlbi_asid);
      EXPECT_EQ(b.smmu("inv.syncs") - sync0, e.syncs);
      EXPECT_EQ(b.smmu("inv.atc_inv") - atc0, e.atc_inv);
      EXPECT_EQ(b.hstat("smmu0.batches") - bat0, e.batches);
    }
  });
}

INSTANTIATE_TEST_SUITE_P(RilAts, SmmuV3SvaInvalidation,
                         ::testing::Combine(::testing::Bool(), ::testing::Bool()),
                         [](const auto& i) {
                           return std::string(std::get<0>(i.param) ? "Ril" : "NoRil") +
                                  (std::get<1>(i.param) ? "Ats" : "NoAts");
                         });

// ---- instances, R7.3 and teardown ---------------------------------------------------------------

TEST(SmmuV3Sva, SvaDomainOfOneSmmuIsRefusedByAnother) {
  Bench b({}, 20, 20);
  b.run([&] {
    auto& h = *b.host;
    Mm& mm = h.create_mm();
    uint32_t p0 = 0, p1 = 0;
    ASSERT_EQ(h.sva_bind(0, mm, p0), 0);
    auto* dom0 = const_cast<host::SvaDomain*>(h.sva().domain_of(h.pci_device(0), mm));
    ASSERT_NE(dom0, nullptr);
    std::string why;
    EXPECT_EQ(b.drv(1).set_dev_pasid(*dom0, b.pci(1), p0, why), 22);  // EINVAL
    EXPECT_EQ(why, "domain of another SMMU instance");
    // Through the SVA core (per-mm sharing): smmu1 refuses the existing domain and gets its own,
    // with its own ASID from the host-wide allocator, at the same PASID.
    ASSERT_EQ(h.sva_bind(1, mm, p1), 0);
    EXPECT_EQ(p1, p0);
    EXPECT_EQ(h.sva().domains_of(mm).size(), 2u);
    EXPECT_EQ(b.hstat("sva.attach_refused"), 1);  // the direct call above is not the core's
    EXPECT_NE(sva_asid(b, 1, mm), sva_asid(b, 0, mm));
    EXPECT_EQ(sva_asid(b, 1, mm), 4u);  // after DMA domains 1, 2 and smmu0's SVA domain 3
  });
}

TEST(SmmuV3Sva, SvaDomainsNeedWhatR73Asks) {
  {
    Bench b({"platform.iommus.smmu1.coherent=false"}, 20, 20);
    b.run([&] {
      auto& h = *b.host;
      Mm& mm = h.create_mm();
      std::string why;
      EXPECT_NE(b.drv(0).alloc_sva_domain(mm, why), nullptr) << why;
      EXPECT_EQ(b.drv(1).alloc_sva_domain(mm, why), nullptr);
      EXPECT_NE(why.find("coherent"), std::string::npos) << why;
      uint32_t pasid = 0;
      EXPECT_EQ(h.sva_bind(1, mm, pasid), -22);
      // A process whose tables are not VMSAv8-64 (an x86-64 mm) cannot be shared by an SMMU.
      host::PhysAlloc other(0x800000000ull, 1ull << 24);
      Mm x86(h.phys(), other, Mm::Format::X86_4, 99);
      EXPECT_EQ(b.drv(0).alloc_sva_domain(x86, why), nullptr);
      EXPECT_NE(why.find("VMSAv8-64"), std::string::npos) << why;
    });
  }
  {
    Bench b({"platform.iommus.smmu1.oas_bits=44"}, 20, 20);
    b.run([&] {
      Mm& mm = b.host->create_mm();
      std::string why;
      EXPECT_EQ(b.drv(1).alloc_sva_domain(mm, why), nullptr);
      EXPECT_NE(why.find("output address size 44"), std::string::npos) << why;
    });
  }
}

TEST(SmmuV3Sva, UnbindClearsTheCdTearsDownAndFreesTheAsid) {
  Bench b({"platform.iommus.smmu0.ats=true", "platform.endpoints.dev0.ats.enabled=true"}, 20);
  b.run([&] {
    auto& h = *b.host;
    const uint16_t rid = h.pci_device(0).rid;
    Mm& mm = h.create_mm();
    uint32_t pasid = 0;
    ASSERT_EQ(h.sva_bind(0, mm, pasid), 0);
    const uint16_t asid = sva_asid(b, 0, mm);
    const auto m = mm.mmap(4096, {}, true);
    ASSERT_EQ(b.dma(0, m.addr, false, pasid).faults, 0u);
    // The DMA domain's translation (no PASID) sits in the ATC beside the PASID's.
    const uint64_t iova = h.dma_map(0, h.alloc_buffer(4096), 4096);
    ASSERT_EQ(b.dma(0, iova, false, 0, false).faults, 0u);
    Atc* atc = b.pf->endpoints.at(0)->atc();
    ASSERT_NE(atc, nullptr);
    ASSERT_NE(atc->lookup(true, pasid, m.addr), nullptr);
    ASSERT_NE(atc->lookup(false, 0, iova), nullptr);
    const uint64_t cd = b.cd_pa(0, rid, pasid);
    const double cfgi0 = b.smmu("inv.cfgi"), asid0 = b.smmu("inv.tlbi_asid"), sync0 = b.smmu("inv.syncs"),
                 atc0 = b.smmu("inv.atc_inv"), cmd0 = b.smmu("inv.commands");
    ASSERT_EQ(h.sva_unbind(0, mm), 0);
    // R1.5: CD cleared + CFGI_CD + SYNC, TLBI_NH_ASID + SYNC, ATC_INV of the PASID + SYNC.
    EXPECT_EQ(bits(b.rd64(cd), 31, 31), 0u);
    EXPECT_EQ(b.smmu("inv.cfgi") - cfgi0, 1);
    EXPECT_EQ(b.smmu("inv.tlbi_asid") - asid0, 1);
    EXPECT_EQ(b.smmu("inv.atc_inv") - atc0, 1);
    EXPECT_EQ(b.smmu("inv.syncs") - sync0, 3);
    EXPECT_EQ(b.smmu("inv.commands") - cmd0, 6);
    EXPECT_EQ(atc->lookup(true, pasid, m.addr), nullptr);
    EXPECT_NE(atc->lookup(false, 0, iova), nullptr) << "the PASID's teardown must not flush the RID's entries";
    // The PASID no longer translates (its CD is invalid): a configuration fault, not a stall.
    const double stalls0 = b.hstat("smmu0.stall_events");
    EXPECT_EQ(b.dma(0, m.addr, false, pasid).faults, 1u);
    EXPECT_EQ(b.hstat("smmu0.stall_events"), stalls0);
    // The domain went with its last user: its ASID is handed out again.
    Mm& mm2 = h.create_mm();
    uint32_t p2 = 0;
    ASSERT_EQ(h.sva_bind(0, mm2, p2), 0);
    EXPECT_EQ(p2, 2u);  // mm keeps PASID 1 until it dies (R1.2)
    EXPECT_EQ(sva_asid(b, 0, mm2), asid);
  });
}

}  // namespace
}  // namespace iommusim::test
