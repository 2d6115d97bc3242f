// AMD-Vi nested guest translation (guest_nested, DTE.GV = 1 with Mode 3): the GCR3 table, the guest CR3
// and every x86-64 guest table sit at GPAs that the DTE's v1 host table maps. Host and guest entries are
// raw words at their 48882 bit positions (v1: PR[0], NextLevel[11:9], address, IR[61], IW[62]; x86-64:
// P[0], R/W[1], U/S[2]); the GPA -> SPA layout is written out here and an independent reference walker
// of both levels checks every translation. IO_PAGE_FAULT: DeviceID[15:0], PASID/DomainID[47:32], GN[48],
// US[50], PR[52], RW[53], PE[54], code 2 at [63:60], address in the second qword.
#include <gtest/gtest.h>

#include "testbenches/unit/amdvi_tb.h"

namespace iommusim {
namespace {

using namespace amd_tb;

// Host (GPA -> SPA) layout of the test, 4 KiB pages of a mode-3 (39-bit) v1 table:
// 0x10000000 + k * 4K (k < 16): guest tables and the GCR3 table, at SPA 0x48000000 + (15 - k) * 4K;
// 0x20000000 + k * 4K (k < 4): guest data at SPA 0x50000000 + k * 4K, k = 1 read-only at the host.
// Everything else is unmapped (0x30000000, ...).
constexpr uint64_t kGTab = 0x10000000, kGData = 0x20000000, kGHole = 0x30000000;
uint64_t host_spa(uint64_t gpa) {
  if (gpa >= kGTab && gpa < kGTab + 16 * 0x1000) return 0x48000000 + (15 - ((gpa - kGTab) >> 12)) * 0x1000 + (gpa & 0xFFF);
  if (gpa >= kGData && gpa < kGData + 4 * 0x1000) return 0x50000000 + (gpa - kGData);
  return ~uint64_t{0};
}

constexpr uint16_t kDev = 9, kDom = 0x44;
constexpr uint32_t kPasid = 7;
// Guest virtual addresses: PML4 1, PDPT 2, PD 3, PT 4.. ; kVa2 uses PD entry 4, whose PT is at an
// unmapped GPA.
constexpr uint64_t kVa = (1ull << 39) | (2ull << 30) | (3ull << 21) | (4ull << 12);
constexpr uint64_t kVa2 = (1ull << 39) | (2ull << 30) | (4ull << 21) | (9ull << 12);
constexpr uint64_t X86_P = 1, X86_RW = 2, X86_US = 4;
constexpr uint64_t gidx(uint64_t va, unsigned level /*4 PML4 .. 1 PT*/) { return (va >> (12 + 9 * (level - 1))) & 511; }

// Reference: the host level (v1, mode 3, no level skipping in these tables) and the guest level.
struct Ref {
  bool ok = false, host_fault = false;
  uint64_t spa = 0, gpa = 0;  // gpa: the failing GPA on a host fault, else the guest output
  bool guest_w = false, host_w = false;
};
bool ref_host(SparseMemory& m, uint64_t root, uint64_t gpa, uint64_t& spa, bool& w) {
  if (gpa >> 39) return false;
  uint64_t table = root;
  w = true;
  for (unsigned l = 3; l >= 1; --l) {
    const uint64_t e = m.read64(table + idx(gpa, l) * 8);
    if (!(e & PR)) return false;
    w = w && (e & IW);
    const unsigned nl = (e >> 9) & 7;
    if (l > 1) {
      if (nl != l - 1) return false;
      table = e & 0x000FFFFFFFFFF000ull;
      continue;
    }
    spa = (e & 0x000FFFFFFFFFF000ull) | (gpa & 0xFFF);
    return true;
  }
  return false;
}
Ref ref_nested(SparseMemory& m, uint64_t host_root, uint64_t cr3_gpa, uint64_t va) {
  Ref r;
  uint64_t table = cr3_gpa, spa = 0;
  bool hw = false;
  r.guest_w = true;
  for (unsigned l = 4; l >= 1; --l) {
    const uint64_t slot = table + gidx(va, l) * 8;
    if (!ref_host(m, host_root, slot, spa, hw)) {
      r.host_fault = true;
      r.gpa = slot;
      return r;
    }
    const uint64_t e = m.read64(spa);
    if (!(e & X86_P)) return r;
    r.guest_w = r.guest_w && (e & X86_RW);
    table = e & 0x000FFFFFFFFFF000ull;
  }
  r.gpa = table | (va & 0xFFF);
  if (!ref_host(m, host_root, r.gpa, r.spa, r.host_w)) {
    r.host_fault = true;
    return r;
  }
  r.ok = true;
  return r;
}

uint64_t io_page_fault(uint16_t dev, uint32_t id, bool gn, bool pr, bool rw, bool pe) {
  return dev | (uint64_t{id} << 32) | (gn ? 1ull << 48 : 0) | (1ull << 50) | (pr ? 1ull << 52 : 0) |
         (rw ? 1ull << 53 : 0) | (pe ? 1ull << 54 : 0) | (2ull << 60);
}

class AmdNestedTest : public AmdViTest {
 protected:
  AmdNestedTest() { ap.guest_nested = true; }
  // Host table, guest tables at GPAs (writes land at host_spa), GCR3 table at kGTab (PASID 7).
  void layout() {
    host = std::make_unique<V1>(v1(3));
    for (uint64_t k = 0; k < 16; ++k) host->map(kGTab + k * 0x1000, pte(0x48000000 + (15 - k) * 0x1000));
    for (uint64_t k = 0; k < 4; ++k) host->map(kGData + k * 0x1000, pte(0x50000000 + k * 0x1000, true, k != 1));
    const uint64_t pml4 = kGTab + 0x1000, pdpt = kGTab + 0x2000, pd = kGTab + 0x3000, pt = kGTab + 0x4000;
    cr3 = pml4;
    gput(kGTab + kPasid * 8, pml4 | 1);  // GCR3 entry: V[0], guest CR3 (a GPA)
    gput(pml4 + gidx(kVa, 4) * 8, pdpt | 7);
    gput(pdpt + gidx(kVa, 3) * 8, pd | 7);
    gput(pd + gidx(kVa, 2) * 8, pt | 7);
    gput(pd + gidx(kVa2, 2) * 8, (kGHole + 0x5000) | 7);  // a PT at an unmapped GPA
    gput(pt + gidx(kVa, 1) * 8, kGData | 7);                      // RW user
    gput(pt + gidx(kVa + 0x1000, 1) * 8, (kGData + 0x1000) | 7);  // host read-only page
    gput(pt + gidx(kVa + 0x2000, 1) * 8, kGHole | 7);             // output not mapped at the host
    gput(pt + gidx(kVa + 0x3000, 1) * 8, (kGData + 0x2000) | X86_P | X86_US);  // guest read-only
    Dte4 d = dte_guest(kGTab, kDom);
    d.q[0] |= (3ull << 9) | host->root;  // Mode 3 host table under the guest level
    put_dte(kDev, d);
    for (uint64_t k = 0; k < 4; ++k) mem->write64(0x50000000 + k * 0x1000 + 0x18, 0x7000 + k);
  }
  void gput(uint64_t gpa, uint64_t v) { mem->write64(host_spa(gpa), v); }
  Ref ref(uint64_t va) { return ref_nested(*mem, host->root, cr3, va); }
  std::unique_ptr<V1> host;
  uint64_t cr3 = 0;
};

TEST_F(AmdNestedTest, GuestTablesAtGpasTranslateThroughTheHostTable) {
  ap.core.walk_cache = CacheParams{0, 0};  // every level read: counts by hand
  build();
  layout();
  run([&](Tb& t) {
    enable(t, C_GT_EN);
    // Table reads (walk.reads; the GCR3 entry itself is a configuration read, not counted): 3 host reads
    // for the GCR3 entry's GPA; four guest levels, each 3 host reads + the entry; the output GPA 3 more:
    // 3 + 16 + 3 = 22.
    DmaResult r = t.read(kDev, kVa + 0x18, kPasid);
    EXPECT_EQ(r.st, tlm::TLM_OK_RESPONSE);
    EXPECT_EQ(r.data, 0x7000u);
    EXPECT_EQ(stat("walk.reads"), 22);
    EXPECT_EQ(stat("walk.nested"), 1);
    t.read(kDev, kVa + 0x10, kPasid);  // combined IOTLB entry
    EXPECT_EQ(stat("walk.reads"), 22);
    r = t.read(kDev, kVa + 0x3018, kPasid);  // GCR3 cached: 16 + 3
    EXPECT_EQ(r.data, 0x7002u);
    EXPECT_EQ(stat("walk.reads"), 41);
  });
  for (uint64_t va : {kVa, kVa + 0x3000}) {
    const Ref w = ref(va + 0x18);
    ASSERT_TRUE(w.ok);
    EXPECT_EQ(w.spa, host_spa(w.gpa));
  }
  EXPECT_EQ(ref(kVa + 0x18).spa, 0x50000018u);
}

TEST_F(AmdNestedTest, FaultsReportTheGuestOrTheHostLevel) {
  build();
  layout();
  // Device 10: GCR3 table root at an unmapped GPA.
  Dte4 d = dte_guest(kGHole, kDom);
  d.q[0] |= (3ull << 9) | host->root;
  put_dte(10, d);
  run([&](Tb& t) {
    enable(t, C_GT_EN);
    EXPECT_EQ(t.read(kDev, kVa, kPasid).st, tlm::TLM_OK_RESPONSE);
    EXPECT_EQ(t.access(kDev, kVa + 0x1008, true, 1, kPasid).io, IoStatus::PermissionFault);  // host RO
    EXPECT_EQ(t.read(kDev, kVa + 0x2010, kPasid).io, IoStatus::TranslationFault);  // output not at host
    EXPECT_EQ(t.access(kDev, kVa + 0x3008, true, 1, kPasid).io, IoStatus::PermissionFault);  // guest RO
    EXPECT_EQ(t.read(kDev, kVa2, kPasid).io, IoStatus::TranslationFault);  // guest PT at a hole
    EXPECT_EQ(t.read(kDev, kVa, 8).io, IoStatus::TranslationFault);        // PASID 8: no GCR3 entry
    EXPECT_EQ(t.read(10, kVa, kPasid).io, IoStatus::TranslationFault);     // GCR3 table at a hole
    EXPECT_EQ(t.access(kDev, kVa + 0x1008, false, 0, kPasid).st, tlm::TLM_OK_RESPONSE);  // reads work
  });
  EXPECT_TRUE(ref(kVa + 0x1008).guest_w);
  EXPECT_FALSE(ref(kVa + 0x1008).host_w);
  EXPECT_FALSE(ref(kVa + 0x3008).guest_w);
  EXPECT_TRUE(ref(kVa + 0x2010).host_fault);
  EXPECT_TRUE(ref(kVa2).host_fault);
  // Host denies the write: GN = 0, the DomainID, PR, RW, PE, the GPA.
  EXPECT_EQ(event(0).first, io_page_fault(kDev, kDom, false, true, true, true));
  EXPECT_EQ(event(0).second, kGData + 0x1008);
  // The guest output is not mapped at the host: GN = 0, PR = 0, the output GPA.
  EXPECT_EQ(event(1).first, io_page_fault(kDev, kDom, false, false, false, false));
  EXPECT_EQ(event(1).second, kGHole + 0x10);
  // The guest denies the write: GN = 1 with the PASID and the guest virtual address.
  EXPECT_EQ(event(2).first, io_page_fault(kDev, kPasid, true, true, true, true));
  EXPECT_EQ(event(2).second, kVa + 0x3008);
  // The guest PT's GPA is not mapped at the host: GN = 0, the GPA of the PTE being fetched.
  EXPECT_EQ(event(3).first, io_page_fault(kDev, kDom, false, false, false, false));
  EXPECT_EQ(event(3).second, kGHole + 0x5000 + gidx(kVa2, 1) * 8);
  EXPECT_EQ(event(3).second, ref(kVa2).gpa);
  // No GCR3 entry for PASID 8: a guest-level fault.
  EXPECT_EQ(event(4).first, io_page_fault(kDev, 8, true, false, false, false));
  EXPECT_EQ(event(4).second, kVa);
  // The GCR3 table's own GPA is not mapped: GN = 0 with the entry's GPA.
  EXPECT_EQ(event(5).first, io_page_fault(10, kDom, false, false, false, false));
  EXPECT_EQ(event(5).second, kGHole + kPasid * 8);
}

TEST_F(AmdNestedTest, HostInvalidationOfANestedDomainDropsCombinedEntries) {
  build();
  layout();
  run([&](Tb& t) {
    enable(t, C_GT_EN);
    EXPECT_EQ(t.read(kDev, kVa + 0x18, kPasid).data, 0x7000u);
    // The host moves GPA kGData to SPA page 3; a GN = 0 page invalidation of that GPA must not leave
    // the combined entry (tagged by guest address) behind.
    host->map(kGData, pte(0x50003000));
    submit(t, {cmd_inv_pages(kDom, kGData, false, false)});
    EXPECT_EQ(t.read(kDev, kVa + 0x18, kPasid).data, 0x7003u);
    // The guest remaps kVa to GPA page 2; GN = 1 for the PASID removes the entry by guest address.
    gput(kGTab + 0x4000 + gidx(kVa, 1) * 8, (kGData + 0x2000) | 7);
    submit(t, {cmd_inv_pages(kDom, kVa, false, false, true, kPasid)});
    EXPECT_EQ(t.read(kDev, kVa + 0x18, kPasid).data, 0x7002u);
  });
}

TEST_F(AmdNestedTest, WithoutGuestNestedTheV2OutputIsASystemAddress) {
  ap.guest_nested = false;
  build();
  // The guest tables at SPAs, output SPA 0x50000000: the host table (Mode 3) is not consulted.
  const uint64_t pml4 = alloc(), pdpt = alloc(), pd = alloc(), pt = alloc();
  mem->write64(kGcr3 + kPasid * 8, pml4 | 1);
  mem->write64(pml4 + gidx(kVa, 4) * 8, pdpt | 7);
  mem->write64(pdpt + gidx(kVa, 3) * 8, pd | 7);
  mem->write64(pd + gidx(kVa, 2) * 8, pt | 7);
  mem->write64(pt + gidx(kVa, 1) * 8, 0x50000000 | 7);
  mem->write64(0x50000018, 0x7777);
  Dte4 d = dte_guest(kGcr3, kDom);
  d.q[0] |= (3ull << 9) | alloc();  // an empty host table
  put_dte(kDev, d);
  run([&](Tb& t) {
    enable(t, C_GT_EN);
    EXPECT_EQ(t.read(kDev, kVa + 0x18, kPasid).data, 0x7777u);
    EXPECT_EQ(stat("walk.nested"), 0);
  });
}

}  // namespace
}  // namespace iommusim
