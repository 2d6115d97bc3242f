// SMMUv3 nested translation (STE.Config = 0b111): stage-1 CDs and tables live at IPAs that the STE's
// stage 2 maps. The tables are composed here as raw descriptors (Arm ARM D8, IHI 0070 5.2/5.4) on a
// guest-physical layout whose IPA -> PA map is written out by hand; an independent two-stage reference
// walker in this file (bit positions spelled out, no pgtable codec) must agree with every translation the
// SMMU performs. Event records are checked at their IHI 0070 7.3 bit positions; read counts are derived
// by hand for walks without walk caches.
#include <gtest/gtest.h>

#include "models/pcie/ats_defs.h"
#include "testbenches/unit/smmuv3_tb.h"

namespace iommusim {
namespace {

using namespace smmu_tb;

// ---- the guest-physical layout (stage 2, 4 KiB granule, 39-bit IPA: S2T0SZ 25, SL0 1) -----------
// [0x80000000, 0x80200000): one 2 MiB block at PA 0x40000000: the guest's CDs and stage-1 tables.
// 0x80400000 + k * 4K, k < 8: 4 KiB pages at PA 0x50000000 + (7 - k) * 4K (reversed order); k = 3 is
//   read-only at stage 2.
// [0x80600000, 0x80800000): a 2 MiB block at PA 0x60000000.
// Everything else (0x80800000, 0x90000000, ...) is unmapped.
constexpr uint64_t kGuestTables = 0x80000000, kGuestTablesPa = 0x40000000;
constexpr uint64_t kPages = 0x80400000, kPagesPa = 0x50000000;
constexpr uint64_t kBlock = 0x80600000, kBlockPa = 0x60000000;
constexpr uint64_t kUnmappedIpa = 0x80800000, kUnmappedTableIpa = 0x90000000;
constexpr uint16_t kVmid = 9, kAsid = 0x31;

// The IPA -> PA map above, or ~0 when unmapped.
uint64_t layout_pa(uint64_t ipa) {
  if (ipa >= kGuestTables && ipa < kGuestTables + (2u << 20)) return kGuestTablesPa + (ipa - kGuestTables);
  if (ipa >= kPages && ipa < kPages + 8 * 0x1000) {
    const uint64_t k = (ipa - kPages) >> 12;
    return kPagesPa + (7 - k) * 0x1000 + (ipa & 0xFFF);
  }
  if (ipa >= kBlock && ipa < kBlock + (2u << 20)) return kBlockPa + (ipa - kBlock);
  return ~uint64_t{0};
}

// STE dword0 Config[3:1] = 0b111 (nested) with S1ContextPtr (an IPA); dword2/3 as for stage 2.
Ste ste_nested(uint64_t cd_ipa, uint16_t vmid, uint64_t s2ttb, bool s2r = true) {
  Ste s = ste_s2(vmid, s2ttb, 25, 1);
  s.d[0] = 1 | (0b111u << 1) | (cd_ipa & mask(51, 6));
  if (!s2r) s.d[2] &= ~(1ull << 58);
  return s;
}

// Stage-1 tables (4 KiB granule, 48-bit VA, levels 0-3) written at IPAs: every table address in a
// descriptor is an IPA, every write lands at the layout's PA.
class GuestPt {
 public:
  GuestPt(SparseMemory& m, uint64_t& ipa_bump) : m_(m), bump_(ipa_bump) { root_ = alloc(); }
  uint64_t root() const { return root_; }
  // Entry for va at `level` (3: page; 1, 2: block) set to desc; missing tables created.
  void set(uint64_t va, uint64_t desc, unsigned level = 3) { m_.write64(layout_pa(slot(va, level)), desc); }
  // IPA of the entry for va at `level`, creating the tables above it.
  uint64_t slot(uint64_t va, unsigned level) {
    uint64_t table = root_;
    for (unsigned l = 0; l < level; ++l) {
      const uint64_t s = table + index(va, l) * 8;
      const uint64_t d = m_.read64(layout_pa(s));
      if (d & D_VALID) {
        table = d & mask(47, 12);
      } else {
        const uint64_t next = alloc();
        m_.write64(layout_pa(s), next | D_VALID | D_TYPE);
        table = next;
      }
    }
    return table + index(va, level) * 8;
  }
  static uint64_t index(uint64_t va, unsigned l) { return (va >> (12 + 9 * (3 - l))) & 511; }

 private:
  uint64_t alloc() {
    const uint64_t a = bump_;
    bump_ += 0x1000;
    return a;
  }
  SparseMemory& m_;
  uint64_t& bump_;
  uint64_t root_ = 0;
};

// ---- the independent reference: both stages decoded from the raw words ---------------------------
struct Ref {
  enum Stage { Ok, S1, S2Table, S2Out } stage = Ok;
  uint64_t pa = 0, ipa = 0;  // ipa: S2Table the descriptor's IPA, S2Out / Ok the output IPA
  unsigned page_shift = 0;   // Ok: log2 of the combined page (the smaller leaf)
  bool s1_w = false, s2_w = false, s1_user = false;
};

// VMSAv8-64 stage 2, 4 KiB, start level 1, 39-bit IPA: bit0 valid, bit1 table/page, S2AP[7:6]
// (bit 6 read, bit 7 write), output [47:12].
bool ref_s2(SparseMemory& m, uint64_t s2root, uint64_t ipa, uint64_t& pa, unsigned& shift, bool& w) {
  if (ipa >> 39) return false;
  uint64_t table = s2root;
  for (unsigned l = 1; l <= 3; ++l) {
    const unsigned sh = 12 + 9 * (3 - l);
    const uint64_t d = m.read64(table + ((ipa >> sh) & 511) * 8);
    if (!(d & 1)) return false;
    if (l < 3 && (d & 2)) {
      table = d & mask(47, 12);
      continue;
    }
    if (l == 3 && !(d & 2)) return false;
    if (!((d >> 6) & 1)) return false;  // no read: not a usable mapping for these tests
    shift = sh;
    w = (d >> 7) & 1;
    pa = (d & mask(47, sh)) | (ipa & ((uint64_t{1} << sh) - 1));
    return true;
  }
  return false;
}

// Stage 1, 4 KiB, levels 0-3, table addresses IPAs: AP[2] (bit 7) read-only, AP[1] (bit 6) EL0.
Ref ref_nested(SparseMemory& m, uint64_t s2root, uint64_t s1root, uint64_t va) {
  Ref r;
  uint64_t table = s1root;
  for (unsigned l = 0; l <= 3; ++l) {
    const unsigned sh = 12 + 9 * (3 - l);
    const uint64_t slot = table + ((va >> sh) & 511) * 8;
    uint64_t slot_pa = 0;
    unsigned s2shift = 0;
    bool w = false;
    if (!ref_s2(m, s2root, slot, slot_pa, s2shift, w)) {
      r.stage = Ref::S2Table;
      r.ipa = slot;
      return r;
    }
    const uint64_t d = m.read64(slot_pa);
    if (!(d & 1) || (l == 3 && !(d & 2)) || (l == 0 && !(d & 2))) {
      r.stage = Ref::S1;
      return r;
    }
    if (l < 3 && (d & 2)) {
      table = d & mask(47, 12);
      continue;
    }
    r.ipa = (d & mask(47, sh)) | (va & ((uint64_t{1} << sh) - 1));
    r.s1_w = !((d >> 7) & 1);
    r.s1_user = (d >> 6) & 1;
    if (!ref_s2(m, s2root, r.ipa, r.pa, s2shift, r.s2_w)) {
      r.stage = Ref::S2Out;
      return r;
    }
    r.page_shift = sh < s2shift ? sh : s2shift;
    return r;
  }
  r.stage = Ref::S1;
  return r;
}

// Commands of the nested tests: dword0 opcode, VMID[47:32], ASID[63:48]; dword1 Leaf[0], Address.
Cmd2 cmd_tlbi_s2_ipa(uint16_t vmid, uint64_t ipa, bool leaf) {
  return {0x2A | (uint64_t{vmid} << 32), (leaf ? 1u : 0u) | (ipa & mask(51, 12))};
}
Cmd2 cmd_tlbi_s12_vmall(uint16_t vmid) { return {0x28 | (uint64_t{vmid} << 32), 0}; }
Cmd2 cmd_tlbi_nh_all(uint16_t vmid) { return {0x10 | (uint64_t{vmid} << 32), 0}; }

// Event record fields (IHI 0070 7.3): dword1 RnW[35], S2[39], CLASS[41:40], TTRnW[44]; dword3 IPA[51:3].
unsigned ev_s2(const std::vector<uint64_t>& e) { return (e[1] >> 39) & 1; }
unsigned ev_class(const std::vector<uint64_t>& e) { return (e[1] >> 40) & 3; }
unsigned ev_ttrnw(const std::vector<uint64_t>& e) { return (e[1] >> 44) & 1; }
uint64_t ev_ipa(const std::vector<uint64_t>& e) { return e[3] & mask(51, 3); }
constexpr unsigned kClassCd = 0, kClassTt = 1, kClassIn = 2;

class SmmuNestedTest : public SmmuTest {
 protected:
  // Stage 2 of the layout, S1 tables rooted in the guest-table block, CD at kGuestTables (linear, one CD).
  void layout(bool s2r = true) {
    Pt s2(*mem, bump, 12, 39);
    s2root = s2.root();
    s2.set(kGuestTables, s2_desc(kGuestTablesPa, false, true, true), 2);
    for (uint64_t k = 0; k < 8; ++k)
      s2.set(kPages + k * 0x1000, s2_desc(kPagesPa + (7 - k) * 0x1000, true, true, k != 3));
    s2.set(kBlock, s2_desc(kBlockPa, false, true, true), 2);
    guest = std::make_unique<GuestPt>(*mem, ipa_bump);
    put_ste_linear(kSid, ste_nested(kGuestTables, kVmid, s2root, s2r));
    const auto d = cd(kAsid, guest->root());
    for (unsigned i = 0; i < 8; ++i) mem->write64(layout_pa(kGuestTables) + i * 8, d[i]);
  }
  Ref ref(uint64_t va) { return ref_nested(*mem, s2root, guest->root(), va); }

  static constexpr uint16_t kSid = 5;
  uint64_t s2root = 0;
  uint64_t ipa_bump = kGuestTables + 0x1000;  // first page after the CD
  std::unique_ptr<GuestPt> guest;
};

TEST_F(SmmuNestedTest, TranslatesThroughBothStagesAsTheReferenceWalkDoes) {
  sp.core.walk_cache = CacheParams{0, 0};  // every level read: counts by hand
  build();
  layout();
  for (uint64_t k = 0; k < 4; ++k) guest->set(0x10000 + k * 0x1000, s1_page(kPages + k * 0x1000));
  guest->set(0x200000, s1_page(kBlock) & ~D_TYPE, 2);  // 2 MiB stage-1 block onto the 2 MiB S2 block
  guest->set(0x600000, s1_page(kPages) & ~D_TYPE, 2);  // 2 MiB stage-1 block onto 4 KiB S2 pages
  for (uint64_t k = 0; k < 8; ++k) mem->write64(kPagesPa + k * 0x1000 + 0x10, 0x1000 + k);
  mem->write64(kBlockPa + 0x1234 * 8, 0xB10C);
  const uint64_t vblk = 0x200000 + 0x1234 * 8;
  run([&](Tb& t) {
    enable(t, linear_cfg(4));
    // First DMA: the CD fetch's stage-2 walk (L1 table, L2 block: 2 reads), then the 2-D walk: four
    // stage-1 tables each located through stage 2 (2 reads in the table block) plus their descriptor
    // (4), and the output IPA through L1, L2, L3 (3): 2 + 4 * 2 + 4 + 3 = 17.
    DmaResult r = t.read(kSid, 0x10010);
    EXPECT_EQ(r.st, tlm::TLM_OK_RESPONSE);
    EXPECT_EQ(r.data, 0x1007u);
    EXPECT_EQ(stat("walk.reads"), 17);
    EXPECT_EQ(stat("walk.nested"), 1);
    r = t.read(kSid, 0x10018);  // IOTLB hit on the combined entry
    EXPECT_EQ(stat("walk.reads"), 17);
    r = t.read(kSid, 0x12010);
    EXPECT_EQ(r.data, 0x1005u);
    EXPECT_EQ(stat("walk.reads"), 32);
    // Stage-1 block onto a stage-2 block: S1 levels 0-2 (3 descriptors, 3 table translations of 2 reads)
    // and the output through L1 and the L2 block (2): 11; the combined entry is 2 MiB.
    r = t.read(kSid, vblk);
    EXPECT_EQ(r.data, 0xB10Cu);
    EXPECT_EQ(stat("walk.reads"), 43);
    t.read(kSid, 0x3FF000);
    EXPECT_EQ(stat("walk.reads"), 43);
    // Stage-1 block onto 4 KiB stage-2 pages: the combined entries are 4 KiB (the smaller leaf), so the
    // next page walks again (3 table translations * 2 + 3 descriptors + 3 output reads = 12).
    r = t.read(kSid, 0x601010);
    EXPECT_EQ(r.data, 0x1006u);
    EXPECT_EQ(stat("walk.reads"), 55);
    r = t.read(kSid, 0x602010);
    EXPECT_EQ(r.data, 0x1005u);
    EXPECT_EQ(stat("walk.reads"), 67);
    EXPECT_EQ(stat("walk.nested"), 5);
    // Every translation agrees with the reference walker.
    for (uint64_t va : {uint64_t{0x10010}, uint64_t{0x11010}, uint64_t{0x13010}, vblk, uint64_t{0x601010},
                        uint64_t{0x607010}}) {
      const Ref w = ref(va);
      ASSERT_EQ(w.stage, Ref::Ok) << std::hex << va;
      EXPECT_EQ(w.pa, layout_pa(w.ipa)) << std::hex << va;
      r = t.read(kSid, va);
      EXPECT_EQ(r.st, tlm::TLM_OK_RESPONSE) << std::hex << va;
      EXPECT_EQ(r.data, mem->read64(w.pa)) << std::hex << va;
    }
  });
  EXPECT_EQ(stat("events.recorded"), 0);
}

TEST_F(SmmuNestedTest, FaultsNameTheStageAndClass) {
  build();
  layout();
  guest->set(0x10000, s1_page(kPages));                       // fine
  guest->set(0x11000, s1_page(kPages + 0x1000, S1_USER | D_NG | S1_RO));  // stage-1 read-only
  guest->set(0x13000, s1_page(kPages + 0x3000));              // stage-2 read-only page
  guest->set(0x14000, s1_page(kUnmappedIpa));                 // output IPA not mapped at stage 2
  // VA 0x40000000: level-1 entry points at a level-2 table at an IPA stage 2 does not map.
  const uint64_t l1_slot = guest->slot(0x40000000, 1);
  mem->write64(layout_pa(l1_slot), kUnmappedTableIpa | D_VALID | D_TYPE);
  const uint64_t va_tt = 0x40000000 + 0x5 * (2u << 20) + 0x88;
  run([&](Tb& t) {
    enable(t, linear_cfg(4), 4);
    EXPECT_EQ(t.read(kSid, 0x10000).st, tlm::TLM_OK_RESPONSE);
    DmaResult r = t.read(kSid, 0x15000);  // stage-1 leaf not present
    EXPECT_EQ(r.io, IoStatus::TranslationFault);
    r = t.write(kSid, 0x11008, 1);  // stage 1 denies the write
    EXPECT_EQ(r.io, IoStatus::PermissionFault);
    r = t.write(kSid, 0x13008, 1);  // stage 2 denies the write
    EXPECT_EQ(r.io, IoStatus::PermissionFault);
    r = t.read(kSid, 0x14020);  // stage 2 of the output
    EXPECT_EQ(r.io, IoStatus::TranslationFault);
    r = t.read(kSid, va_tt);  // stage 2 of a stage-1 table fetch
    EXPECT_EQ(r.io, IoStatus::TranslationFault);
    EXPECT_EQ(t.read(kSid, 0x13008).st, tlm::TLM_OK_RESPONSE);  // reads of the S2 read-only page work
    sc_core::wait(ns(2000));
    EXPECT_EQ(t.rd(R_EVENTQ_PROD), 5u);
  });
  // The reference agrees on which stage stops each walk.
  EXPECT_EQ(ref(0x15000).stage, Ref::S1);
  EXPECT_EQ(ref(0x14020).stage, Ref::S2Out);
  EXPECT_EQ(ref(va_tt).stage, Ref::S2Table);
  EXPECT_FALSE(ref(0x11008).s1_w);
  EXPECT_TRUE(ref(0x13008).s1_w);
  EXPECT_FALSE(ref(0x13008).s2_w);

  auto e = event_record(0);  // stage-1 translation fault
  EXPECT_EQ(e[0], 0x10 | (uint64_t{kSid} << 32));
  EXPECT_EQ(ev_s2(e), 0u);
  EXPECT_EQ(ev_class(e), kClassIn);
  EXPECT_EQ(e[2], 0x15000u);
  e = event_record(1);  // stage-1 permission
  EXPECT_EQ(e[0] & 0xFF, 0x13u);
  EXPECT_EQ(ev_s2(e), 0u);
  EXPECT_EQ((e[1] >> 35) & 1, 0u);  // a write
  EXPECT_EQ(e[2], 0x11008u);
  e = event_record(2);  // stage-2 permission on the output: S2, CLASS IN, the output IPA
  EXPECT_EQ(e[0] & 0xFF, 0x13u);
  EXPECT_EQ(ev_s2(e), 1u);
  EXPECT_EQ(ev_class(e), kClassIn);
  EXPECT_EQ(ev_ipa(e), kPages + 0x3008);
  EXPECT_EQ(e[2], 0x13008u);
  e = event_record(3);  // stage-2 translation fault on the output IPA
  EXPECT_EQ(e[0] & 0xFF, 0x10u);
  EXPECT_EQ(ev_s2(e), 1u);
  EXPECT_EQ(ev_class(e), kClassIn);
  EXPECT_EQ(ev_ipa(e), kUnmappedIpa + 0x20);
  e = event_record(4);  // stage-2 fault fetching the level-2 table: CLASS TT, the descriptor's IPA, TTRnW
  EXPECT_EQ(e[0] & 0xFF, 0x10u);
  EXPECT_EQ(ev_s2(e), 1u);
  EXPECT_EQ(ev_class(e), kClassTt);
  EXPECT_EQ(ev_ttrnw(e), 1u);
  EXPECT_EQ(ev_ipa(e), kUnmappedTableIpa + GuestPt::index(va_tt, 2) * 8);
  EXPECT_EQ(ev_ipa(e), ref(va_tt).ipa);
  EXPECT_EQ(e[2], va_tt);
  EXPECT_EQ(stat("events.F_TRANSLATION"), 3);
  EXPECT_EQ(stat("events.F_PERMISSION"), 2);
}

TEST_F(SmmuNestedTest, CdFetchThroughStageTwoAndS2R) {
  build();
  layout(/*s2r=*/false);
  guest->set(0x10000, s1_page(kPages));
  // SID 6: nested STE whose CD pointer is an IPA stage 2 does not map; S2R = 1.
  put_ste_linear(6, ste_nested(kUnmappedIpa + 0x40, kVmid, s2root, true));
  run([&](Tb& t) {
    enable(t, linear_cfg(4), 4);
    EXPECT_EQ(t.read(kSid, 0x10000).st, tlm::TLM_OK_RESPONSE);
    // S2R = 0: a stage-2 fault is not recorded; a stage-1 fault is (CD.R = 1).
    EXPECT_EQ(t.read(kSid, 0x14000).io, IoStatus::TranslationFault);  // S1 not present: recorded
    guest->set(0x14000, s1_page(kUnmappedIpa));
    submit(t, {cmd_tlbi_nh_va(kVmid, kAsid, 0x14000, 0, 0, 0, true)});
    EXPECT_EQ(t.read(kSid, 0x14000).io, IoStatus::TranslationFault);  // S2 fault: not recorded
    // CD fetch faulting at stage 2: F_TRANSLATION with S2 = 1, CLASS = CD, IPA = the CD's IPA.
    DmaResult r = t.read(6, 0x10000);
    EXPECT_EQ(r.io, IoStatus::TranslationFault);
    sc_core::wait(ns(2000));
    EXPECT_EQ(t.rd(R_EVENTQ_PROD), 2u);
  });
  auto e = event_record(0);
  EXPECT_EQ(e[0] & 0xFF, 0x10u);
  EXPECT_EQ(ev_s2(e), 0u);
  EXPECT_EQ(e[2], 0x14000u);
  e = event_record(1);
  EXPECT_EQ(e[0], 0x10 | (6ull << 32));
  EXPECT_EQ(ev_s2(e), 1u);
  EXPECT_EQ(ev_class(e), kClassCd);
  EXPECT_EQ(ev_ipa(e), kUnmappedIpa + 0x40);
  EXPECT_EQ(e[2], 0x10000u);
  EXPECT_EQ((e[1] >> 35) & 1, 1u);  // the transaction was a read
}

TEST_F(SmmuNestedTest, InvalidationScopesOfCombinedEntries) {
  build();
  layout();
  guest->set(0x10000, s1_page(kPages));           // -> PA page 7
  guest->set(0x11000, s1_page(kPages + 0x1000));  // -> PA page 6
  for (uint64_t k = 0; k < 8; ++k) mem->write64(kPagesPa + k * 0x1000, 0x2000 + k);
  mem->write64(0x58000000, 0x5555);
  run([&](Tb& t) {
    enable(t, linear_cfg(4));
    EXPECT_EQ(t.read(kSid, 0x10000).data, 0x2007u);
    EXPECT_EQ(t.read(kSid, 0x11000).data, 0x2006u);
    // Stage 1 changes: VA 0x10000 now maps IPA page 2 (PA page 5). TLBI_NH_VA of another VMID or ASID
    // leaves the combined entry; the right (VMID, ASID) removes it.
    guest->set(0x10000, s1_page(kPages + 0x2000));
    submit(t, {cmd_tlbi_nh_va(kVmid + 1, kAsid, 0x10000, 0, 0, 0, true),
               cmd_tlbi_nh_va(kVmid, kAsid + 1, 0x10000, 0, 0, 0, true)});
    EXPECT_EQ(t.read(kSid, 0x10000).data, 0x2007u);
    submit(t, {cmd_tlbi_nh_va(kVmid, kAsid, 0x10000, 0, 0, 0, true)});
    EXPECT_EQ(t.read(kSid, 0x10000).data, 0x2005u);
    // TLBI_NH_ASID removes every combined entry of the ASID.
    guest->set(0x11000, s1_page(kPages + 0x4000));  // PA page 3
    submit(t, {cmd_tlbi_nh_asid(kVmid, kAsid)});
    EXPECT_EQ(t.read(kSid, 0x11000).data, 0x2003u);
    // Stage 2 changes: IPA page 4 now at PA 0x58000000. TLBI_S2_IPA alone does not remove the combined
    // entry (nor the stage-1 walk cache); TLBI_NH_ALL after it does, as Linux issues for a nesting parent.
    const double inv0 = stat("iotlb.invalidated");
    const uint64_t s2_l1 = mem->read64(s2root + ((kPages >> 30) & 511) * 8) & mask(47, 12);
    const uint64_t s2_l2 = mem->read64(s2_l1 + ((kPages >> 21) & 511) * 8) & mask(47, 12);
    mem->write64(s2_l2 + (((kPages + 0x4000) >> 12) & 511) * 8, s2_desc(0x58000000, true, true, true));
    submit(t, {cmd_tlbi_s2_ipa(kVmid, kPages + 0x4000, true)});
    EXPECT_EQ(stat("iotlb.invalidated"), inv0);  // no stage-2-only entry of that IPA was cached
    EXPECT_EQ(t.read(kSid, 0x11000).data, 0x2003u);
    submit(t, {cmd_tlbi_nh_all(kVmid)});
    EXPECT_EQ(t.read(kSid, 0x11000).data, 0x5555u);
    EXPECT_EQ(ref(0x11000).pa, 0x58000000u);
    // TLBI_S12_VMALL of the VMID removes combined entries too.
    mem->write64(s2_l2 + (((kPages + 0x4000) >> 12) & 511) * 8, s2_desc(kPagesPa + 3 * 0x1000, true, true, true));
    submit(t, {cmd_tlbi_s12_vmall(kVmid + 1)});
    EXPECT_EQ(t.read(kSid, 0x11000).data, 0x5555u);
    submit(t, {cmd_tlbi_s12_vmall(kVmid)});
    EXPECT_EQ(t.read(kSid, 0x11000).data, 0x2003u);
  });
}

TEST_F(SmmuNestedTest, StageTwoOnlyEntriesOfTheVmidNeverAnswerNestedLookups) {
  build();
  layout();
  // A stage-2-only stream of the same VMID reads IPA 0x80400000 (PA page 7); the nested stream's VA
  // 0x80400000 maps elsewhere through stage 1 (IPA page 1, PA page 6). With ASID 0 a {VMID, 0} tag would
  // alias; stage-2 translations are tagged apart.
  put_ste_linear(7, ste_s2(kVmid, s2root, 25, 1));
  const auto d = cd(0, guest->root());
  for (unsigned i = 0; i < 8; ++i) mem->write64(layout_pa(kGuestTables) + i * 8, d[i]);
  guest->set(kPages, s1_page(kPages + 0x1000));
  for (uint64_t k = 0; k < 8; ++k) mem->write64(kPagesPa + k * 0x1000, 0x3000 + k);
  run([&](Tb& t) {
    enable(t, linear_cfg(4));
    EXPECT_EQ(t.read(7, kPages).data, 0x3007u);
    EXPECT_EQ(t.read(kSid, kPages).data, 0x3006u);
    EXPECT_EQ(t.read(7, kPages).data, 0x3007u);
  });
}

TEST_F(SmmuNestedTest, NestedSteNeedsBothStages) {
  sp.stage1 = false;
  build();
  layout();
  guest->set(0x10000, s1_page(kPages));
  run([&](Tb& t) {
    enable(t, linear_cfg(4));
    EXPECT_EQ(t.read(kSid, 0x10000).io, IoStatus::ConfigFault);
  });
  EXPECT_EQ(event_record(0)[0], 0x04 | (uint64_t{kSid} << 32));  // C_BAD_STE
}

TEST_F(SmmuNestedTest, AtsTranslationCompletionCarriesTheCombinedTranslation) {
  sp.ats = true;
  build();
  layout();
  put_ste_linear(kSid, [&] {
    Ste s = ste_nested(kGuestTables, kVmid, s2root);
    s.d[1] |= 1ull << 28;  // EATS = 0b01
    return s;
  }());
  guest->set(0x200000, s1_page(kBlock) & ~D_TYPE, 2);
  run([&](Tb& t) {
    enable(t, linear_cfg(4));
    DmaResult r;
    const ats::Translation tr = t.ats_translate(kSid, 0x201000, -1, false, r);
    ASSERT_EQ(r.st, tlm::TLM_OK_RESPONSE);
    EXPECT_EQ(tr.addr, kBlockPa);  // the whole 2 MiB combined translation
    EXPECT_EQ(tr.size, 2u << 20);
    EXPECT_TRUE(tr.r && tr.w);
    EXPECT_EQ(ref(0x201000).pa, kBlockPa + 0x1000);
  });
}

}  // namespace
}  // namespace iommusim
