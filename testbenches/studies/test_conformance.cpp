// Translation conformance (issue 3): the same checks on every architecture. The host model builds
// its DMA domain's tables through the DMA API; an independent reference walker in this file decodes
// the raw descriptors straight from memory (bit positions written out here, no pgtable codec or
// io-pgtable call) and must agree with what dma_map mapped; DMA through the IOMMU must succeed on
// mapped pages, land at the reference PA, and fault with the architecture's fault code on
// non-present, permission and out-of-range addresses.
#include <gtest/gtest.h>
#include <sysc/kernel/sc_spawn.h>

#include <algorithm>
#include <cstring>
#include <string>
#include <vector>

#include "models/host/amdvi_driver.h"
#include "models/host/smmuv3_driver.h"
#include "models/host/vtd_driver.h"
#include "models/iommu/amdvi/amdvi.h"
#include "models/iommu/vtd/vtd.h"
#include "models/pcie/dma_job.h"
#include "testbenches/study_util.h"

namespace iommusim::test {
namespace {

enum class Arch { SmmuV3, Vtd, AmdVi };

struct RefWalk {
  bool ok = false;
  uint64_t pa = 0;
  uint64_t page = 0;  // leaf size
  bool r = false, w = false;
};

constexpr uint64_t bits(uint64_t v, unsigned hi, unsigned lo) {
  return (v >> lo) & ((hi - lo == 63) ? ~uint64_t{0} : ((uint64_t{1} << (hi - lo + 1)) - 1));
}
constexpr uint64_t kAddr47_12 = ((uint64_t{1} << 48) - 1) & ~uint64_t{0xFFF};
constexpr uint64_t kAddr51_12 = ((uint64_t{1} << 52) - 1) & ~uint64_t{0xFFF};

// Levels of a 4 KiB-granule radix table with 9 index bits per level covering `ias` input bits.
unsigned levels_for(unsigned ias) { return (ias - 12 + 8) / 9; }

// VMSAv8-64 stage 1, 4 KiB granule. Lookup level 0..3; bit0 valid, bit1 table (level < 3) or page
// (level 3), output address [47:12], AP[2] (bit 7) read-only. Blocks at levels 1 and 2.
RefWalk walk_vmsa(host::PhysMem& m, uint64_t root, unsigned ias, uint64_t va) {
  RefWalk r;
  if (ias < 64 && (va >> ias) != 0) return r;
  const unsigned start = 4 - levels_for(ias);
  uint64_t table = root;
  for (unsigned l = start; l <= 3; ++l) {
    const unsigned shift = 12 + 9 * (3 - l);
    const uint64_t d = m.read64(table + ((va >> shift) & 511) * 8);
    if (!(d & 1)) return r;
    const bool bit1 = d & 2;
    if (l < 3 && bit1) {
      table = d & kAddr47_12;
      continue;
    }
    if (l == 3 && !bit1) return r;  // reserved at level 3
    if (l == 0) return r;           // no level-0 blocks with 4 KiB granule
    r.ok = true;
    r.page = uint64_t{1} << shift;
    r.pa = (d & kAddr47_12 & ~(r.page - 1)) | (va & (r.page - 1));
    r.r = true;
    r.w = !((d >> 7) & 1);
    return r;
  }
  return r;
}

// Intel VT-d second-stage (legacy mode): levels from the root down to 1; R bit0, W bit1, present if
// R|W; PS bit7 makes a level-2/3 entry a 2 MiB/1 GiB leaf; address [51:12].
RefWalk walk_vtd(host::PhysMem& m, uint64_t root, unsigned ias, uint64_t va) {
  RefWalk r;
  if ((va >> ias) != 0) return r;
  uint64_t table = root;
  for (unsigned l = levels_for(ias); l >= 1; --l) {
    const unsigned shift = 12 + 9 * (l - 1);
    const uint64_t d = m.read64(table + ((va >> shift) & 511) * 8);
    if (!(d & 3)) return r;
    const bool leaf = l == 1 || ((l == 2 || l == 3) && ((d >> 7) & 1));
    if (!leaf) {
      table = d & kAddr51_12;
      continue;
    }
    r.ok = true;
    r.page = uint64_t{1} << shift;
    r.pa = (d & kAddr51_12 & ~(r.page - 1)) | (va & (r.page - 1));
    r.r = d & 1;
    r.w = (d >> 1) & 1;
    return r;
  }
  return r;
}

// Intel VT-d first stage (x86-64 4-level, scalable mode): P bit0, R/W bit1 (writable only if set at every
// level), PS bit7 makes a PDPE/PDE a 1 GiB/2 MiB leaf; address [51:12]; the VA must be canonical.
RefWalk walk_vtd_fs(host::PhysMem& m, uint64_t root, unsigned ias, uint64_t va) {
  RefWalk r;
  if ((va >> ias) != 0) return r;  // ias: the lower canonical half (47 bits of a 4-level table)
  uint64_t table = root;
  bool w = true;
  for (unsigned l = levels_for(ias + 1); l >= 1; --l) {
    const unsigned shift = 12 + 9 * (l - 1);
    const uint64_t d = m.read64(table + ((va >> shift) & 511) * 8);
    if (!(d & 1)) return r;
    w = w && ((d >> 1) & 1);
    const bool leaf = l == 1 || ((l == 2 || l == 3) && ((d >> 7) & 1));
    if (!leaf) {
      table = d & kAddr51_12;
      continue;
    }
    r.ok = true;
    r.page = uint64_t{1} << shift;
    r.pa = (d & kAddr51_12 & ~(r.page - 1)) | (va & (r.page - 1));
    r.r = true;
    r.w = w;
    return r;
  }
  return r;
}

// AMD-Vi v1 host table, mode = levels from the root: PR bit0, NextLevel [11:9] (0 = leaf of this
// level's size; otherwise the next table's level, no skipping expected), address [51:12], IR bit61,
// IW bit62.
RefWalk walk_amdv1(host::PhysMem& m, uint64_t root, unsigned ias, uint64_t va) {
  RefWalk r;
  if ((va >> ias) != 0) return r;
  uint64_t table = root;
  for (unsigned l = levels_for(ias); l >= 1; --l) {
    const unsigned shift = 12 + 9 * (l - 1);
    const uint64_t d = m.read64(table + ((va >> shift) & 511) * 8);
    if (!(d & 1)) return r;
    const unsigned next = static_cast<unsigned>(bits(d, 11, 9));
    if (next != 0) {
      EXPECT_EQ(next, l - 1) << "unexpected level skip / large-page encoding at level " << l;
      if (next != l - 1) return r;
      table = d & kAddr51_12;
      continue;
    }
    r.ok = true;
    r.page = uint64_t{1} << shift;
    r.pa = (d & kAddr51_12 & ~(r.page - 1)) | (va & (r.page - 1));
    r.r = (d >> 61) & 1;
    r.w = (d >> 62) & 1;
    return r;
  }
  return r;
}

struct Outcome {
  bool done = false;
  unsigned perm_faults = 0, notpresent_faults = 0, range_faults = 0;
};

class Conformance : public ::testing::TestWithParam<const char*> {};

TEST_P(Conformance, HostTablesMatchReferenceWalkAndFaultCodes) {
  const std::string cfgname = GetParam();
  fresh_context();
  const PlatformConfig cfg = load_config(config_path(cfgname), {}, default_registry());
  tlm::tlm_global_quantum::instance().set(sc_core::sc_time::from_value(cfg.quantum.ps));
  auto pf = build_platform(cfg, default_registry());
  auto* host = pf->host;
  Arch arch;
  if (!pf->smmus.empty()) arch = Arch::SmmuV3;
  else if (!pf->vtds.empty()) arch = Arch::Vtd;
  else {
    ASSERT_FALSE(pf->amdvis.empty());
    arch = Arch::AmdVi;
  }
  Outcome out;
  bool first_stage = false;  // VT-d: the DMA domain is on first-stage tables

  sc_core::sc_spawn([&] {
    host->wait_booted();
    host::IommuDomain& dom = host->dma_domain(0).domain();
    uint64_t root = 0;
    switch (arch) {
      case Arch::SmmuV3: {
        auto* d = dynamic_cast<host::SmmuV3Domain*>(&dom);
        EXPECT_NE(d, nullptr);
        if (d) root = d->pgtable().root();
        break;
      }
      case Arch::Vtd: {
        auto* d = dynamic_cast<host::VtdDomain*>(&dom);
        EXPECT_NE(d, nullptr);
        if (d) root = d->root();
        if (d) first_stage = d->first_stage();
        EXPECT_EQ(first_stage, cfgname == "base-vtd-fs.yaml");
        break;
      }
      case Arch::AmdVi: {
        auto* d = dynamic_cast<host::AmdViDomain*>(&dom);
        EXPECT_NE(d, nullptr);
        if (d) root = d->root();
        break;
      }
    }
    const unsigned ias = dom.ias_bits();
    auto walk = [&](uint64_t va) {
      switch (arch) {
        case Arch::SmmuV3: return walk_vmsa(host->phys(), root, ias, va);
        case Arch::Vtd:
          return first_stage ? walk_vtd_fs(host->phys(), root, ias, va) : walk_vtd(host->phys(), root, ias, va);
        default: return walk_amdv1(host->phys(), root, ias, va);
      }
    };
    auto job = [&](uint64_t iova, bool write) {
      DmaJob j;
      j.iova = iova;
      j.window = 64;
      j.size = 64;
      j.count = 1;
      j.read_fraction = write ? 0.0 : 1.0;
      return host->run_job(0, j);
    };
    if (root == 0) {
      sc_core::sc_stop();
      return;
    }

    struct Buf {
      const char* what;
      uint64_t pa, size, iova;
      host::IoProt prot;
      uint64_t expect_page;
    };
    constexpr uint64_t k4K = 4096, k2M = 2 << 20;
    std::vector<Buf> bufs = {
        {"4K rw", host->alloc_buffer(k4K), k4K, 0, {true, true, false}, k4K},
        {"16K rw (4K pages)", host->alloc_buffer(4 * k4K), 4 * k4K, 0, {true, true, false}, k4K},
        {"2M block", host->alloc_buffer(k2M, k2M), k2M, 0, {true, true, false}, k2M},
        {"8K read-only", host->alloc_buffer(2 * k4K), 2 * k4K, 0, {true, false, false}, k4K},
    };
    for (auto& b : bufs) {
      b.iova = host->dma_map(0, b.pa, b.size, b.prot, b.expect_page);
      EXPECT_NE(b.iova, 0u) << b.what;
    }
    // 1. The reference walk agrees with dma_map at several offsets of every buffer.
    for (const auto& b : bufs) {
      for (uint64_t off : {uint64_t{0}, uint64_t{0x18}, b.size / 2 + 0x40, b.size - 8}) {
        const RefWalk w = walk(b.iova + off);
        ASSERT_TRUE(w.ok) << b.what << " iova " << std::hex << b.iova + off << " not mapped per reference walk";
        EXPECT_EQ(w.pa, b.pa + off) << b.what << " off " << off;
        EXPECT_EQ(w.page, b.expect_page) << b.what << " leaf size (iova " << std::hex << b.iova << ")";
        EXPECT_EQ(w.r, b.prot.read) << b.what;
        EXPECT_EQ(w.w, b.prot.write) << b.what;
      }
    }
    const Buf& rw4k = bufs[0];
    const Buf& blk = bufs[2];
    const Buf& ro = bufs[3];

    // 2. Mapped reads succeed.
    for (const auto& b : bufs) {
      for (uint64_t off : {uint64_t{0}, b.size - 64}) {
        const JobResult jr = job(b.iova + off, false);
        EXPECT_EQ(jr.requests, 1u) << b.what;
        EXPECT_EQ(jr.faults, 0u) << b.what << " read at +" << off;
      }
    }
    // 3. Writes land at the reference PA with the endpoint's 0xA5 pattern.
    for (const Buf* b : {&rw4k, &blk}) {
      const uint64_t off = b->size - 128;
      const RefWalk w = walk(b->iova + off);
      ASSERT_TRUE(w.ok);
      std::vector<uint8_t> zero(192, 0), got(192, 0xFF);  // [off-64, off+128): stays in the buffer
      host->phys().write(w.pa - 64, zero.data(), zero.size());
      const JobResult jr = job(b->iova + off, true);
      EXPECT_EQ(jr.faults, 0u) << b->what << " write";
      host->phys().read(w.pa - 64, got.data(), got.size());
      for (size_t i = 0; i < got.size(); ++i) {
        const uint8_t want = (i >= 64 && i < 128) ? 0xA5 : 0x00;
        if (got[i] != want) {
          ADD_FAILURE() << b->what << ": byte " << i << " at PA " << std::hex << w.pa - 64 + i << " is "
                        << unsigned(got[i]) << ", want " << unsigned(want);
          break;
        }
      }
    }
    // 4. Permission: writes to the read-only mapping fault (memory untouched); reads succeed.
    {
      std::vector<uint8_t> before(64), after(64);
      host->phys().read(ro.pa, before.data(), 64);
      for (uint64_t off : {uint64_t{0}, ro.size - 64}) {
        const JobResult jr = job(ro.iova + off, true);
        EXPECT_EQ(jr.faults, 1u) << "write to read-only mapping at +" << off;
        out.perm_faults += 1;
      }
      host->phys().read(ro.pa, after.data(), 64);
      EXPECT_EQ(before, after) << "faulting write reached memory";
    }
    // 5. Not present: an IOVA after strict dma_unmap, and one far from any mapping.
    {
      const uint64_t pa = host->alloc_buffer(k4K);
      const uint64_t iova = host->dma_map(0, pa, k4K, {true, true, false});
      EXPECT_EQ(job(iova, false).faults, 0u);  // fills the IOTLB
      host->dma_unmap(0, iova, k4K);
      EXPECT_FALSE(walk(iova).ok) << "reference walk still finds the unmapped IOVA";
      EXPECT_EQ(job(iova, false).faults, 1u) << "read after strict unmap";
      out.notpresent_faults += 1;
      const uint64_t far = uint64_t{1} << 40;
      EXPECT_FALSE(walk(far).ok);
      EXPECT_EQ(job(far, false).faults, 1u) << "read of a never-mapped IOVA";
      out.notpresent_faults += 1;
    }
    // 6. Out of range: beyond the domain's input size.
    {
      const uint64_t oor = uint64_t{1} << 50;
      EXPECT_GT(uint64_t{50}, uint64_t{ias - 1});
      EXPECT_FALSE(walk(oor).ok);
      EXPECT_EQ(job(oor, false).faults, 1u) << "read beyond the input address size";
      out.range_faults += 1;
    }
    out.done = true;
    sc_core::sc_stop();
  });
  sc_core::sc_report_handler::set_actions(sc_core::SC_INFO, sc_core::SC_DO_NOTHING);
  sc_core::sc_start(sc_core::sc_time(100, sc_core::SC_MS));
  ASSERT_TRUE(out.done) << "host thread did not finish";
  ASSERT_EQ(out.perm_faults, 2u);
  ASSERT_EQ(out.notpresent_faults, 2u);
  ASSERT_EQ(out.range_faults, 1u);

  // 7. The architecture's fault codes.
  auto stat = [](StatGroup& g, const std::string& path) {
    double v = 0;
    if (!g.find(path, v)) return -1.0;  // counter never created: no event of that kind
    return v;
  };
  auto count = [&](StatGroup& g, const std::string& path) { return std::max(0.0, stat(g, path)); };
  switch (arch) {
    case Arch::SmmuV3: {
      StatGroup& g = pf->smmus[0]->stats();
      // Non-present and out-of-range (beyond T0SZ) are translation faults.
      EXPECT_EQ(count(g, "events.F_TRANSLATION"), out.notpresent_faults + out.range_faults);
      EXPECT_EQ(count(g, "events.F_PERMISSION"), out.perm_faults);
      EXPECT_EQ(count(g, "events.F_ADDR_SIZE"), 0);
      break;
    }
    case Arch::Vtd: {
      StatGroup& g = pf->vtds[0]->stats();
      if (first_stage) {  // scalable-mode first-stage reasons (VT-d 7.2.x, Table 30/31)
        EXPECT_EQ(count(g, "fault_reasons.0x80"), out.range_faults) << "non-canonical address";
        EXPECT_EQ(count(g, "fault_reasons.0x85"), out.perm_faults) << "write to a read-only page";
        EXPECT_EQ(count(g, "fault_reasons.0x71"), out.notpresent_faults) << "first-stage entry not present";
        EXPECT_EQ(count(g, "faults"), out.perm_faults + out.notpresent_faults + out.range_faults);
        // Unmaps were invalidated with PASID-based IOTLB descriptors (qi_flush_piotlb), not IOTLB ones.
        EXPECT_GT(count(g, "inv.pasid_iotlb"), 0);
        break;
      }
      EXPECT_EQ(count(g, "fault_reasons.0x04"), out.range_faults) << "address beyond AGAW";
      EXPECT_EQ(count(g, "fault_reasons.0x05"), out.perm_faults) << "write not permitted";
      EXPECT_EQ(count(g, "fault_reasons.0x06"), out.notpresent_faults) << "read of a not-present entry";
      EXPECT_EQ(count(g, "faults"), out.perm_faults + out.notpresent_faults + out.range_faults);
      break;
    }
    case Arch::AmdVi: {
      StatGroup& g = pf->amdvis[0]->stats();
      EXPECT_EQ(count(g, "events.IO_PAGE_FAULT"), out.perm_faults + out.notpresent_faults + out.range_faults);
      EXPECT_EQ(count(g, "events.ILLEGAL_DEV_TABLE_ENTRY"), 0);
      EXPECT_EQ(count(g, "events.PAGE_TAB_HARDWARE_ERROR"), 0);
      EXPECT_EQ(count(g, "faults"), out.perm_faults + out.notpresent_faults + out.range_faults);
      break;
    }
  }
}

INSTANTIATE_TEST_SUITE_P(AllArchitectures, Conformance,
                         ::testing::Values("base-smmuv3.yaml", "base-vtd.yaml", "base-amdvi.yaml",
                                           "base-vtd-fs.yaml"),
                         [](const ::testing::TestParamInfo<const char*>& i) {
                           std::string n = i.param;
                           n = n.substr(5, n.find('.') - 5);  // base-<arch>.yaml
                           std::replace(n.begin(), n.end(), '-', '_');
                           return n;
                         });

}  // namespace
}  // namespace iommusim::test
