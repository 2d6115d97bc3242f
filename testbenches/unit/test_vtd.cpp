// Unit tests of the VT-d model as a black box: SparseMemory + VtdIommu + a test initiator that programs
// registers through `regs` and issues DMA and interrupt writes through `upstream` with a PcieExt. Root,
// context, PASID-directory and PASID-table entries, x86 paging entries, invalidation descriptors, IRTEs
// and fault records are raw words composed here at the architectural bit positions (VT-d rev 4.x and
// the x86 paging formats), not with the model's format helpers; timings are computed by hand from the
// parameters.
#include <algorithm>
#include <cstdint>

#include "testbenches/unit/vtd_tb.h"

namespace iommusim {
namespace {

using namespace vtd_tb;

// ---- registers ----------------------------------------------------------------------------------

TEST_F(VtdTest, CapabilitiesAndGlobalStatus) {
  vp.sagaw = 0x6;
  vp.mgaw_bits = 48;
  vp.fault_records = 4;
  vp.mamv = 9;
  vp.fs_5level = true;
  vp.pasid_bits = 16;
  build();
  run([&](Tb& t) {
    EXPECT_EQ(t.rd(R_VER), 0x10u);
    const uint64_t cap = t.rd(R_CAP, 8), ecap = t.rd(R_ECAP, 8);
    EXPECT_EQ(cap, iommu->cap());
    EXPECT_EQ((cap >> 8) & 0x1F, 0x6u);    // SAGAW
    EXPECT_EQ((cap >> 16) & 0x3F, 47u);    // MGAW
    EXPECT_EQ((cap >> 40) & 0xFF, 3u);     // NFR
    EXPECT_EQ((cap >> 48) & 0x3F, 9u);     // MAMV
    EXPECT_EQ((cap >> 39) & 1, 1u);        // PSI
    EXPECT_EQ((cap >> 34) & 0xF, 3u);      // SLLPS: 2M + 1G
    EXPECT_EQ((cap >> 60) & 1, 1u);        // FL5LP
    EXPECT_EQ(cap & 7, 6u);                // ND: 16-bit DIDs
    const uint64_t fro = ((cap >> 24) & 0x3FF) * 16, iro = ((ecap >> 8) & 0x3FF) * 16;
    EXPECT_GE(fro, 0x200u);                // clear of the fixed registers
    EXPECT_GE(iro, fro + 4 * 16);          // and of the fault recording registers
    EXPECT_EQ(ecap & 0x3, 0x3u);           // C, QI
    EXPECT_EQ((ecap >> 3) & 1, 1u);        // IR
    EXPECT_EQ((ecap >> 43) & 1, 1u);       // SMTS
    EXPECT_EQ((ecap >> 35) & 0x1F, 15u);   // PSS
    EXPECT_EQ((ecap >> 46) & 3, 3u);       // SSTS, FSTS
    // GSTS reflects each command at once; one-shot SRTP/SIRTP report RTPS/IRTPS.
    EXPECT_EQ(t.rd(R_GSTS), 0u);
    t.wr(R_RTADDR, kRoot, 8);
    t.wr(R_GCMD, GCMD_SRTP);
    EXPECT_EQ(t.rd(R_GSTS), GCMD_SRTP);
    t.wr(R_GCMD, GCMD_TE);
    EXPECT_EQ(t.rd(R_GSTS), GCMD_TE | GCMD_SRTP);
    t.wr(R_IRTA, kIrt | 3, 8);
    t.wr(R_GCMD, GCMD_TE | GCMD_SIRTP);
    t.wr(R_GCMD, GCMD_TE | GCMD_IRE | GCMD_QIE);
    EXPECT_EQ(t.rd(R_GSTS), GCMD_TE | GCMD_SRTP | GCMD_SIRTP | GCMD_IRE | GCMD_QIE);
    t.wr(R_GCMD, GCMD_QIE);
    EXPECT_EQ(t.rd(R_GSTS), GCMD_SRTP | GCMD_SIRTP | GCMD_QIE);
    EXPECT_EQ(t.rd(R_RTADDR, 8), kRoot);
  });
}

// ---- legacy mode --------------------------------------------------------------------------------

TEST_F(VtdTest, LegacySecondStage4LevelTranslates) {
  build();
  X86Pt pt(*mem, bump, 4, false);
  pt.set(0x12345000, ss_page(0x40007000));
  pt.set(0x12346000, ss_page(0x40008000));
  mem->write64(0x40007018, 0x1122334455667788ull);
  mem->write64(0x12345018, 0xBADBADBADull);  // what an untranslated access would read
  legacy_root(0, kCtx);
  legacy_ctx(0x10, pt.root(), /*TT*/ 0, /*AW 48-bit*/ 2, /*DID*/ 5);
  legacy_ctx(0x20, 0, /*TT pass-through*/ 2, 2, 9);
  mem->write64(0x5000, 0x5A5A);
  run([&](Tb& t) {
    enable(t, false);
    DmaResult r = t.read(0x10, 0x12345018);
    EXPECT_EQ(r.st, tlm::TLM_OK_RESPONSE);
    EXPECT_EQ(r.data, 0x1122334455667788ull);
    EXPECT_EQ(stat("walk.walks"), 1);
    EXPECT_EQ(stat("walk.reads"), 4);  // PML4E, PDPE, PDE, PTE
    EXPECT_EQ(stat("context_misses"), 1);
    r = t.read(0x10, 0x12345FF8);  // same page: IOTLB hit, context cached
    EXPECT_EQ(r.st, tlm::TLM_OK_RESPONSE);
    EXPECT_EQ(stat("walk.walks"), 1);
    EXPECT_EQ(stat("iotlb.hits"), 1);
    EXPECT_EQ(stat("context_misses"), 1);
    // Neighbouring page: the walk cache holds the page table, one read.
    r = t.write(0x10, 0x12346020, 0xFEEDFACECAFEBEEFull);
    EXPECT_EQ(r.st, tlm::TLM_OK_RESPONSE);
    EXPECT_EQ(stat("walk.walks"), 2);
    EXPECT_EQ(stat("walk.reads"), 5);
    // TT pass-through: untranslated.
    r = t.read(0x20, 0x5000);
    EXPECT_EQ(r.st, tlm::TLM_OK_RESPONSE);
    EXPECT_EQ(r.data, 0x5A5Au);
    EXPECT_EQ(stat("bypassed"), 1);
    EXPECT_EQ(t.rd(R_FSTS), 0u);
  });
  EXPECT_EQ(mem->read64(0x40008020), 0xFEEDFACECAFEBEEFull);
  EXPECT_EQ(mem->read64(0x12346020), 0u);
  EXPECT_EQ(stat("translated"), 3);
}

TEST_F(VtdTest, LegacySecondStage3LevelNeedsSagaw) {
  vp.sagaw = 0x6;  // 3- and 4-level; no 5-level
  build();
  X86Pt pt(*mem, bump, 3, false);
  pt.set(0x7F12345000ull, ss_page(0x40001000));  // 39-bit input: PDPE index 0x1FC
  pt.set(0x40000000ull, ss_page(0x40200000) | PS, 3);  // a 2 MiB leaf at the PDE
  mem->write64(0x40001008, 0x3333);
  mem->write64(0x40212348, 0x2222);
  legacy_root(0, kCtx);
  legacy_ctx(0x10, pt.root(), 0, /*AW 39-bit*/ 1, 3);
  legacy_ctx(0x11, pt.root(), 0, /*AW 57-bit*/ 3, 4);
  run([&](Tb& t) {
    enable(t, false);
    DmaResult r = t.read(0x10, 0x7F12345008ull);
    EXPECT_EQ(r.st, tlm::TLM_OK_RESPONSE);
    EXPECT_EQ(r.data, 0x3333u);
    EXPECT_EQ(stat("walk.reads"), 3);
    r = t.read(0x10, 0x40012348ull);
    EXPECT_EQ(r.data, 0x2222u);
    EXPECT_EQ(stat("walk.reads"), 5);  // PDPE, PDE (2 MiB leaf)
    // Beyond 39 bits: address above the AGAW.
    r = t.read(0x10, 1ull << 39);
    EXPECT_EQ(r.io, IoStatus::TranslationFault);
    // 5-level AW on hardware without SAGAW bit 3: invalid context entry.
    r = t.read(0x11, 0x1000);
    EXPECT_EQ(r.io, IoStatus::ConfigFault);
    EXPECT_EQ(frcd(t, 0).fr(), 0x04u);
    EXPECT_EQ(frcd(t, 0).fi(), 1ull << 39);
    EXPECT_EQ(frcd(t, 1).fr(), 0x03u);
    EXPECT_EQ(frcd(t, 1).sid(), 0x11u);
  });
}

TEST_F(VtdTest, FaultRecordsCarryReasonSourceAndAddress) {
  build();
  X86Pt pt(*mem, bump, 4, false);
  pt.set(0x1000, ss_page(0x40001000));
  pt.set(0xA000, ss_page(0x40002000) | (1ull << 50));  // output address above HAW (46): reserved
  legacy_root(0, kCtx);
  legacy_ctx(0x10, pt.root(), 0, 2, 5);
  tb->watch = &iommu->fault_irq();
  run([&](Tb& t) {
    enable(t, false);
    EXPECT_EQ(t.read(0x10, 0x7010).io, IoStatus::TranslationFault);        // not present, read: 06h
    EXPECT_EQ(t.write(0x10, 0x9008, 1).io, IoStatus::TranslationFault);    // not present, write: 05h
    EXPECT_EQ(t.read(0x0300, 0x1000).io, IoStatus::ConfigFault);           // bus 3 root entry absent: 01h
    EXPECT_EQ(t.read(0x0018, 0x1000).io, IoStatus::ConfigFault);           // context entry absent: 02h
    EXPECT_EQ(t.read(0x10, 0xA000).io, IoStatus::TranslationFault);        // reserved bit: 0Ch
    EXPECT_EQ(t.read(0x10, 0x1000, /*pasid*/ 4).io, IoStatus::ConfigFault);  // PASID in legacy mode: 31h
    const uint8_t fr[] = {0x06, 0x05, 0x01, 0x02, 0x0C, 0x31};
    const uint64_t fi[] = {0x7000, 0x9000, 0x1000, 0x1000, 0xA000, 0x1000};
    const uint16_t sid[] = {0x10, 0x10, 0x0300, 0x18, 0x10, 0x10};
    for (unsigned i = 0; i < 6; ++i) {
      const Frcd f = frcd(t, i);
      EXPECT_TRUE(f.f()) << i;
      EXPECT_EQ(f.fr(), fr[i]) << i;
      EXPECT_EQ(f.fi(), fi[i]) << i;
      EXPECT_EQ(f.sid(), sid[i]) << i;
      EXPECT_EQ(f.t1_read(), i != 1) << i;
      EXPECT_EQ(f.pp(), i == 5) << i;
    }
    EXPECT_EQ(frcd(t, 5).pasid(), 4u);
    EXPECT_EQ(t.rd(R_FSTS), FSTS_PPF);  // FRI 0: the oldest pending record
    // Servicing records 0-1 (F is write-1-to-clear in the top dword) moves FRI on.
    const uint32_t base = static_cast<uint32_t>(((iommu->cap() >> 24) & 0x3FF) * 16);
    t.wr(base + 12, 1u << 31);
    t.wr(base + 16 + 12, 1u << 31);
    EXPECT_FALSE(frcd(t, 0).f());
    EXPECT_EQ(t.rd(R_FSTS), FSTS_PPF | (2u << 8));
  });
  // One fault event: PPF went 0 -> 1 at the first fault only.
  EXPECT_EQ(tb->watch_times.size(), 1u);
  EXPECT_EQ(stat("faults"), 6);
  EXPECT_EQ(stat("fault_reasons.0x0c"), 1);
}

TEST_F(VtdTest, FaultRecordingOverflowSetsPfo) {
  vp.fault_records = 2;
  build();
  legacy_root(0, kCtx);
  tb->watch = &iommu->fault_irq();
  run([&](Tb& t) {
    enable(t, false);
    t.read(0x10, 0x1000);  // context entries absent: 02h
    t.read(0x11, 0x2000);
    EXPECT_EQ(t.rd(R_FSTS), FSTS_PPF);
    t.read(0x12, 0x3000);  // register 0 still holds a fault: overflow, dropped
    EXPECT_EQ(t.rd(R_FSTS), FSTS_PPF | FSTS_PFO);
    t.read(0x13, 0x4000);  // PFO set: dropped as well
    EXPECT_EQ(stat("faults_lost"), 2);
    // Service register 0 and clear PFO: the next fault lands in register 0.
    const uint32_t base = static_cast<uint32_t>(((iommu->cap() >> 24) & 0x3FF) * 16);
    t.wr(base + 12, 1u << 31);
    t.wr(R_FSTS, FSTS_PFO);
    t.read(0x14, 0x5000);
    EXPECT_EQ(frcd(t, 0).sid(), 0x14u);
    EXPECT_EQ(frcd(t, 0).fi(), 0x5000u);
    EXPECT_EQ(t.rd(R_FSTS), FSTS_PPF | (1u << 8));  // FRI: register 1 is now the oldest
  });
  EXPECT_EQ(tb->watch_times.size(), 2u);  // first fault, then the overflow
  EXPECT_EQ(stat("faults"), 5);
  EXPECT_EQ(stat("faults_recorded"), 3);
}

TEST_F(VtdTest, WriteToReadOnlyPageFaults) {
  build();
  X86Pt pt(*mem, bump, 4, false);
  pt.set(0x9000, ss_page(0x40040000, /*w*/ false));
  mem->write64(0x40040000, 0x900D);
  legacy_root(0, kCtx);
  legacy_ctx(0x10, pt.root(), 0, 2, 5);
  run([&](Tb& t) {
    enable(t, false);
    DmaResult r = t.read(0x10, 0x9000);
    EXPECT_EQ(r.st, tlm::TLM_OK_RESPONSE);
    EXPECT_EQ(r.data, 0x900Du);
    r = t.write(0x10, 0x9000, 0xBAD);
    EXPECT_EQ(r.st, tlm::TLM_ADDRESS_ERROR_RESPONSE);
    EXPECT_EQ(r.io, IoStatus::PermissionFault);
    const Frcd f = frcd(t, 0);
    EXPECT_EQ(f.fr(), 0x05u);
    EXPECT_EQ(f.fi(), 0x9000u);
    EXPECT_FALSE(f.t1_read());
  });
  EXPECT_EQ(mem->read64(0x40040000), 0x900Du);  // the write never reached memory
  EXPECT_EQ(stat("walk.walks"), 1);               // the permission check used the IOTLB entry
}

TEST_F(VtdTest, TableEntryRightsNarrowTheLeaf) {
  build();
  X86Pt pt(*mem, bump, 4, false);
  pt.set(0x200000, ss_page(0x40200000));  // read-write leaf ...
  pt.set(0x400000, ss_page(0x40400000));
  const uint64_t pde = pt.slot(0x200000, 3);
  mem->write64(pde, mem->read64(pde) & ~SS_W);  // ... under a read-only page-directory entry
  legacy_root(0, kCtx);
  legacy_ctx(0x10, pt.root(), 0, 2, 5);
  run([&](Tb& t) {
    enable(t, false);
    EXPECT_EQ(t.read(0x10, 0x200000).st, tlm::TLM_OK_RESPONSE);
    EXPECT_EQ(t.write(0x10, 0x200008, 1).io, IoStatus::PermissionFault);
    EXPECT_EQ(frcd(t, 0).fr(), 0x05u);
    EXPECT_EQ(t.write(0x10, 0x400008, 1).st, tlm::TLM_OK_RESPONSE);  // its sibling table is writable
  });
}

// ---- scalable mode ------------------------------------------------------------------------------

TEST_F(VtdTest, ScalableFirstStage4Level) {
  vp.nested = false;  // PGTT 011b without ECAP.NEST: an invalid PASID-table entry
  build();
  X86Pt fs(*mem, bump, 4, true);
  fs.set(0x40000, fs_page(0x50040000));
  fs.set(0x41000, fs_page(0x50041000, /*w*/ false));
  fs.set(0x42000, fs_page(0x50042000, true, /*user*/ false));
  fs.set(0xFFFF800000003000ull, fs_page(0x50043000, true, false));  // upper canonical half: PML4 index 256
  X86Pt ss(*mem, bump, 4, false);
  ss.set(0x70000, ss_page(0x50070000));
  for (uint64_t a : {0x50040010ull, 0x50043008ull, 0x50070000ull, 0x60000ull}) mem->write64(a, a ^ 0xABCD);
  sm_root(0, kCtx);
  sm_ctx(0x08, /*RID_PASID*/ 1);
  pasid_entry(1, {.pgtt = 4, .did = 2});
  pasid_entry(5, {.pgtt = 1, .did = 7, .fsptr = fs.root()});
  pasid_entry(9, {.pgtt = 1, .did = 7, .fsptr = fs.root(), .flpm = 1});  // 5-level: not supported here
  pasid_entry(10, {.pgtt = 3, .did = 7, .ssptr = ss.root(), .fsptr = fs.root()});  // nested: ECAP.NEST off
  pasid_entry(11, {.pgtt = 2, .did = 8, .ssptr = ss.root(), .aw = 2});
  pasid_entry(12, {.pgtt = 1, .did = 7, .fsptr = fs.root(), .sre = true});
  pasid_entry(13, {.pgtt = 1, .did = 7, .fsptr = fs.root(), .sre = true, .wpe = true});
  run([&](Tb& t) {
    enable(t, true);
    DmaResult r = t.read(0x08, 0x40010, 5);
    EXPECT_EQ(r.st, tlm::TLM_OK_RESPONSE);
    EXPECT_EQ(r.data, 0x50040010ull ^ 0xABCD);
    EXPECT_EQ(stat("walk.reads"), 4);
    EXPECT_EQ(stat("pasid_misses"), 1);
    EXPECT_EQ(t.write(0x08, 0x41008, 1, 5).io, IoStatus::PermissionFault);   // read-only: 85h
    EXPECT_EQ(t.read(0x08, 0x42000, 5).io, IoStatus::PermissionFault);       // user to supervisor page: 81h
    EXPECT_EQ(t.read(0x08, 0x42000, 5, /*priv*/ true).io, IoStatus::PermissionFault);  // SRE clear: 5Dh
    EXPECT_EQ(t.read(0x08, 0x0000800000000000ull, 5).io, IoStatus::TranslationFault);  // not canonical: 80h
    EXPECT_EQ(t.read(0x08, 0x43000, 5).io, IoStatus::TranslationFault);      // not present: 71h
    EXPECT_EQ(t.read(0x08, 0x1000, 9).io, IoStatus::ConfigFault);            // FLPM 5-level: 5Bh
    EXPECT_EQ(t.read(0x08, 0x1000, 10).io, IoStatus::ConfigFault);           // nested without NEST: 5Bh
    // No PASID: RID_PASID 1, pass-through.
    r = t.read(0x08, 0x60000);
    EXPECT_EQ(r.st, tlm::TLM_OK_RESPONSE);
    EXPECT_EQ(r.data, 0x60000ull ^ 0xABCD);
    // Second stage under PASID 11.
    r = t.read(0x08, 0x70000, 11);
    EXPECT_EQ(r.data, 0x50070000ull ^ 0xABCD);
    // SRE: supervisor requests reach supervisor pages, the upper half is canonical, and with WPE clear a
    // supervisor write ignores R/W; with WPE set it faults.
    r = t.read(0x08, 0xFFFF800000003008ull, 12, true);
    EXPECT_EQ(r.data, 0x50043008ull ^ 0xABCD);
    EXPECT_EQ(t.write(0x08, 0x41000, 0x5151, 12, true).st, tlm::TLM_OK_RESPONSE);
    EXPECT_EQ(t.write(0x08, 0x41000, 0x6161, 13, true).io, IoStatus::PermissionFault);
    const uint8_t fr[] = {0x85, 0x81, 0x5D, 0x80, 0x71, 0x5B, 0x5B, 0x85};
    const uint32_t pasid[] = {5, 5, 5, 5, 5, 9, 10, 13};
    const uint64_t fi[] = {0x41000, 0x42000, 0x42000, 0x0000800000000000ull, 0x43000, 0x1000, 0x1000, 0x41000};
    for (unsigned i = 0; i < 8; ++i) {
      const Frcd f = frcd(t, i);
      EXPECT_EQ(f.fr(), fr[i]) << i;
      EXPECT_TRUE(f.pp()) << i;
      EXPECT_EQ(f.pasid(), pasid[i]) << i;
      EXPECT_EQ(f.fi(), fi[i]) << i;
      EXPECT_EQ(f.sid(), 0x08u) << i;
    }
  });
  EXPECT_EQ(mem->read64(0x50041000), 0x5151u);
}

TEST_F(VtdTest, ScalableFirstStage5Level) {
  vp.fs_5level = true;
  build();
  X86Pt fs(*mem, bump, 5, true);
  const uint64_t va = (0xABull << 48) | 0x7000;  // bits 56:48 in use, bit 56 clear: canonical for 57 bits
  fs.set(va, fs_page(0x50007000));
  mem->write64(0x50007010, 0x5555);
  sm_root(0, kCtx);
  sm_ctx(0x08, 1);
  pasid_entry(5, {.pgtt = 1, .did = 7, .fsptr = fs.root(), .flpm = 1});
  pasid_entry(6, {.pgtt = 1, .did = 7, .fsptr = fs.root(), .flpm = 0});  // same table read as 4-level
  run([&](Tb& t) {
    enable(t, true);
    DmaResult r = t.read(0x08, va + 0x10, 5);
    EXPECT_EQ(r.st, tlm::TLM_OK_RESPONSE);
    EXPECT_EQ(r.data, 0x5555u);
    EXPECT_EQ(stat("walk.reads"), 5);  // PML5E, PML4E, PDPE, PDE, PTE
    // 4-level paging: the address is not canonical for 48 bits.
    EXPECT_EQ(t.read(0x08, va, 6).io, IoStatus::TranslationFault);
    EXPECT_EQ(frcd(t, 0).fr(), 0x80u);
    // A 57-bit address whose bit 56 is set without sign extension.
    EXPECT_EQ(t.read(0x08, 1ull << 56, 5).io, IoStatus::TranslationFault);
    EXPECT_EQ(frcd(t, 1).fr(), 0x80u);
  });
}

TEST_F(VtdTest, TranslatesWithEveryCacheDisabled) {
  vp.context_cache.entries = 0;
  vp.pasid_cache.entries = 0;
  vp.core.iotlb.entries = 0;
  vp.core.walk_cache.entries = 0;
  build();
  X86Pt fs(*mem, bump, 4, true);
  fs.set(0x40000, fs_page(0x50040000));
  mem->write64(0x50040008, 0x4444);
  sm_root(0, kCtx);
  sm_ctx(0x08, 1);
  pasid_entry(5, {.pgtt = 1, .did = 7, .fsptr = fs.root()});
  run([&](Tb& t) {
    enable(t, true);
    for (int i = 0; i < 3; ++i) EXPECT_EQ(t.read(0x08, 0x40008, 5).data, 0x4444u) << i;
  });
  EXPECT_EQ(stat("context_misses"), 3);
  EXPECT_EQ(stat("pasid_misses"), 3);
  EXPECT_EQ(stat("walk.reads"), 12);
}

// ---- invalidation -------------------------------------------------------------------------------

TEST_F(VtdTest, PageSelectiveIotlbInvalidationHonoursAddressMask) {
  build();
  X86Pt pt(*mem, bump, 4, false);
  for (uint64_t i = 0; i < 8; ++i) pt.set(0x10000 + i * 0x1000, ss_page(0x40100000 + i * 0x1000));
  legacy_root(0, kCtx);
  legacy_ctx(0x10, pt.root(), 0, 2, /*DID*/ 5);
  legacy_ctx(0x18, pt.root(), 0, 2, /*DID*/ 6);  // another domain over the same tables
  run([&](Tb& t) {
    enable(t, false);
    for (uint64_t i = 0; i < 8; ++i) EXPECT_EQ(t.read(0x10, 0x10000 + i * 0x1000).st, tlm::TLM_OK_RESPONSE);
    EXPECT_EQ(stat("walk.walks"), 8);
    EXPECT_EQ(stat("walk.reads"), 11);
    t.read(0x18, 0x12000);
    EXPECT_EQ(stat("walk.walks"), 9);
    EXPECT_EQ(stat("walk.reads"), 15);
    // AM 1 at 0x13000: the 2-page block 0x12000-0x13FFF (aligned down); IH: leaf entries only.
    submit(t, {d_iotlb(3, 5, 0x13000, 1, /*ih*/ true)});
    EXPECT_EQ(stat("iotlb.invalidated"), 2);
    for (uint64_t a : {0x10000, 0x11000, 0x14000, 0x15000, 0x16000, 0x17000}) t.read(0x10, a);
    t.read(0x18, 0x12000);  // other DID untouched
    EXPECT_EQ(stat("walk.walks"), 9);
    t.read(0x10, 0x12000);
    t.read(0x10, 0x13000);
    EXPECT_EQ(stat("walk.walks"), 11);
    EXPECT_EQ(stat("walk.reads"), 17);  // the paging-structure cache still held the page table
    // AM 0, IH 0: one page, and the paging-structure entries over it go too.
    submit(t, {d_iotlb(3, 5, 0x15000, 0, false)});
    EXPECT_EQ(stat("iotlb.invalidated"), 3);
    t.read(0x10, 0x14000);
    EXPECT_EQ(stat("walk.walks"), 11);
    t.read(0x10, 0x15000);
    EXPECT_EQ(stat("walk.walks"), 12);
    EXPECT_EQ(stat("walk.reads"), 21);  // a full walk
  });
  EXPECT_EQ(stat("inv.iotlb_page"), 2);
  EXPECT_EQ(stat("inv.waits"), 2);
  EXPECT_EQ(stat("inv.syncs"), 2);
  EXPECT_EQ(stat("inv.commands"), 4);
}

TEST_F(VtdTest, DomainAndGlobalIotlbInvalidation) {
  build();
  X86Pt pt(*mem, bump, 4, false);
  pt.set(0x10000, ss_page(0x40100000));
  pt.set(0x11000, ss_page(0x40101000));
  legacy_root(0, kCtx);
  legacy_ctx(0x10, pt.root(), 0, 2, 5);
  legacy_ctx(0x18, pt.root(), 0, 2, 6);
  run([&](Tb& t) {
    enable(t, false);
    for (uint16_t sid : {0x10, 0x18})
      for (uint64_t a : {0x10000, 0x11000}) t.read(sid, a);
    EXPECT_EQ(stat("walk.walks"), 4);
    EXPECT_EQ(stat("walk.reads"), 10);
    submit(t, {d_iotlb(2, 5)});  // domain-selective: DID 5
    EXPECT_EQ(stat("iotlb.invalidated"), 2);
    t.read(0x18, 0x10000);
    t.read(0x18, 0x11000);
    EXPECT_EQ(stat("walk.walks"), 4);
    t.read(0x10, 0x11000);
    EXPECT_EQ(stat("walk.walks"), 5);
    EXPECT_EQ(stat("walk.reads"), 14);  // the domain's walk-cache entries went too
    submit(t, {d_iotlb(1)});  // global
    t.read(0x18, 0x10000);
    EXPECT_EQ(stat("walk.walks"), 6);
    EXPECT_EQ(stat("walk.reads"), 18);
  });
  EXPECT_EQ(stat("inv.iotlb_domain"), 1);
  EXPECT_EQ(stat("inv.iotlb_global"), 1);
}

TEST_F(VtdTest, RegisterBasedInvalidation) {
  build();
  X86Pt pt(*mem, bump, 4, false);
  pt.set(0x10000, ss_page(0x40100000));
  pt.set(0x11000, ss_page(0x40101000));
  mem->write64(0x40100000, 0xAAAA);
  mem->write64(0x10000, 0xBBBB);
  legacy_root(0, kCtx);
  legacy_ctx(0x10, pt.root(), 0, 2, 5);
  run([&](Tb& t) {
    enable(t, false);
    t.read(0x10, 0x10000);
    t.read(0x10, 0x11000);
    EXPECT_EQ(stat("walk.walks"), 2);
    // IVA at ECAP.IRO * 16: ADDR [63:12], IH 6, AM [5:0]; IOTLB_REG 8 above: IVT 63, IIRG [61:60], DID [47:32].
    const uint32_t iva = static_cast<uint32_t>(((iommu->ecap() >> 8) & 0x3FF) * 16);
    t.wr(iva, 0x11000, 8);
    t.wr(iva + 8, (1ull << 63) | (3ull << 60) | (5ull << 32), 8);
    const uint64_t iotlb_reg = t.rd(iva + 8, 8);
    EXPECT_EQ(iotlb_reg >> 63, 0u);         // IVT clear: done
    EXPECT_EQ((iotlb_reg >> 57) & 3, 3u);  // IAIG: page-selective performed
    EXPECT_EQ(stat("iotlb.invalidated"), 1);
    t.read(0x10, 0x10000);
    EXPECT_EQ(stat("walk.walks"), 2);
    // CCMD: ICC 63, CIRG [62:61] (3 device), SID [31:16]; CAIG [60:59] reports what was done.
    legacy_ctx(0x10, 0, 2, 2, 5);  // now pass-through
    t.wr(R_CCMD, (1ull << 63) | (3ull << 61) | (0x10ull << 16), 8);
    EXPECT_EQ(t.rd(R_CCMD, 8) >> 63, 0u);        // ICC clear: done
    EXPECT_EQ((t.rd(R_CCMD, 8) >> 59) & 3, 3u);  // CAIG: device-selective performed
    EXPECT_EQ(t.read(0x10, 0x10000).data, 0xBBBBu);
  });
  EXPECT_EQ(stat("inv.register"), 2);
}

TEST_F(VtdTest, ContextCacheInvalidationMakesChangedEntryTakeEffect) {
  build();
  X86Pt pt(*mem, bump, 4, false);
  pt.set(0x5000, ss_page(0x40050000));
  mem->write64(0x40050000, 0xAAAA);
  mem->write64(0x5000, 0xBBBB);
  legacy_root(0, kCtx);
  legacy_ctx(0x10, pt.root(), 0, 2, 5);
  run([&](Tb& t) {
    enable(t, false);
    EXPECT_EQ(t.read(0x10, 0x5000).data, 0xAAAAu);
    legacy_ctx(0x10, 0, /*pass-through*/ 2, 2, 5);
    EXPECT_EQ(t.read(0x10, 0x5000).data, 0xAAAAu);  // stale context entry still cached
    submit(t, {d_cc(3, 0, 0x11)});                  // another device: no effect
    EXPECT_EQ(t.read(0x10, 0x5000).data, 0xAAAAu);
    submit(t, {d_cc(3, 0, 0x10)});
    EXPECT_EQ(t.read(0x10, 0x5000).data, 0xBBBBu);
    EXPECT_EQ(stat("context_misses"), 2);
  });
  EXPECT_EQ(stat("inv.context_cache"), 2);
}

TEST_F(VtdTest, PasidIotlbAndPasidCacheInvalidation) {
  build();
  X86Pt fs(*mem, bump, 4, true);
  fs.set(0x20000, fs_page(0x50020000));
  fs.set(0x21000, fs_page(0x50021000));
  mem->write64(0x50020000, 0x2020);
  mem->write64(0x20000, 0x0202);
  sm_root(0, kCtx);
  sm_ctx(0x08, 1);
  pasid_entry(5, {.pgtt = 1, .did = 7, .fsptr = fs.root()});
  pasid_entry(6, {.pgtt = 1, .did = 7, .fsptr = fs.root()});
  run([&](Tb& t) {
    enable(t, true);  // 256-bit descriptors
    for (int pasid : {5, 6})
      for (uint64_t a : {0x20000, 0x21000}) EXPECT_EQ(t.read(0x08, a, pasid).st, tlm::TLM_OK_RESPONSE);
    EXPECT_EQ(stat("walk.walks"), 4);
    EXPECT_EQ(stat("walk.reads"), 10);
    submit(t, {d_piotlb(3, 7, 5, 0x21000, 0, /*ih*/ true)});  // one page of PASID 5
    EXPECT_EQ(stat("iotlb.invalidated"), 1);
    t.read(0x08, 0x21000, 6);
    t.read(0x08, 0x20000, 5);
    EXPECT_EQ(stat("walk.walks"), 4);
    t.read(0x08, 0x21000, 5);
    EXPECT_EQ(stat("walk.walks"), 5);
    EXPECT_EQ(stat("walk.reads"), 11);
    submit(t, {d_piotlb(2, 7, 6)});  // all of PASID 6, with its paging-structure entries
    EXPECT_EQ(stat("iotlb.invalidated"), 3);
    t.read(0x08, 0x20000, 6);
    EXPECT_EQ(stat("walk.walks"), 6);
    EXPECT_EQ(stat("walk.reads"), 15);
    // PASID 5 becomes pass-through: cached until the PASID cache (and the IOTLB) are invalidated.
    pasid_entry(5, {.pgtt = 4, .did = 7});
    EXPECT_EQ(t.read(0x08, 0x20000, 5).data, 0x2020u);
    submit(t, {d_pc(1, 7, 6)});  // another PASID: no effect
    EXPECT_EQ(t.read(0x08, 0x20000, 5).data, 0x2020u);
    submit(t, {d_pc(1, 7, 5), d_piotlb(2, 7, 5)});
    EXPECT_EQ(t.read(0x08, 0x20000, 5).data, 0x0202u);
    EXPECT_EQ(stat("pasid_misses"), 3);
  });
  EXPECT_EQ(stat("inv.pasid_iotlb"), 3);
  EXPECT_EQ(stat("inv.pasid_cache"), 2);
}

TEST_F(VtdTest, WaitDescriptorStatusWriteTimingBoundary) {
  build();
  mem->write64(kStatus, 0xFFFFFFFFFFFFFFFFull);
  tb->watch = &iommu->inv_irq();
  const sc_time t0 = ns(1000);
  // IQT write (mmio 40) + 16 B fetch at 16 GB/s (1 ns) + memory latency 90 + wait execution 20.
  const sc_time done = t0 + ns(40) + ns(1) + ns(90) + ns(20);
  run([&](Tb& t) {
    enable(t, false, false);
    t.wr(R_IECTL, 0);  // unmask the invalidation completion event
    t.wait_until(t0);
    push(t, {d_wait(true, 0x600DF00D, kStatus, /*IF*/ true)});
    t.wait_until(done - k1ps);
    EXPECT_EQ(t.rd(R_IQH, 8), 0u);
    EXPECT_EQ(mem->read64(kStatus), 0xFFFFFFFFFFFFFFFFull);
    EXPECT_EQ(t.rd(R_ICS), 0u);
    t.wait_until(done);
    sc_core::wait(SC_ZERO_TIME);  // same time, after the IOMMU's process ran
    EXPECT_EQ(t.rd(R_IQH, 8), 0x10u);
    EXPECT_EQ(mem->read64(kStatus), 0xFFFFFFFF600DF00Dull);  // 32-bit status data, upper word untouched
    EXPECT_EQ(t.rd(R_ICS), 1u);                              // IWC
    t.wr(R_ICS, 1);
    EXPECT_EQ(t.rd(R_ICS), 0u);

    // Three IOTLB descriptors and a wait in one 64 B fetch (4 ns): each IOTLB descriptor takes 30 ns,
    // and the status is written only once all three have completed.
    const sc_time t1 = ns(3000);
    t.wait_until(t1);
    push(t, {d_iotlb(1), d_iotlb(2, 1), d_iotlb(2, 2), d_wait(true, 2, kStatus)});
    const sc_time f = t1 + ns(40) + ns(4) + ns(90);
    for (unsigned k = 1; k <= 4; ++k) {
      const sc_time at = f + ns(30) * std::min(k, 3u) + (k == 4 ? ns(20) : SC_ZERO_TIME);
      t.wait_until(at - k1ps);
      EXPECT_EQ(t.rd(R_IQH, 8), 0x10u * k) << k;
      EXPECT_EQ(mem->read64(kStatus) & 0xFFFFFFFF, 0x600DF00Du) << k;
      t.wait_until(at);
      sc_core::wait(SC_ZERO_TIME);
      EXPECT_EQ(t.rd(R_IQH, 8), 0x10u * (k + 1)) << k;
    }
    EXPECT_EQ(mem->read64(kStatus) & 0xFFFFFFFF, 2u);
  });
  ASSERT_EQ(tb->watch_times.size(), 1u);
  EXPECT_EQ(tb->watch_times[0], done);
  EXPECT_EQ(stat("inv.fetch_reads"), 2);
  EXPECT_EQ(stat("inv.commands"), 5);
}

TEST_F(VtdTest, InvalidDescriptorRaisesIqeUntilCleared) {
  build();
  tb->watch = &iommu->fault_irq();
  const sc_time t0 = ns(1000);
  const sc_time fa = t0 + ns(40) + ns(1) + ns(90);  // the bad descriptor's fetch arrives
  run([&](Tb& t) {
    enable(t, false, false);
    t.wait_until(t0);
    push(t, {{0xE, 0, 0, 0}});  // type 0Eh does not exist
    t.wait_until(fa - k1ps);
    EXPECT_EQ(t.rd(R_FSTS), 0u);
    t.wait_until(fa);
    sc_core::wait(SC_ZERO_TIME);
    EXPECT_EQ(t.rd(R_FSTS), FSTS_IQE);
    EXPECT_EQ(t.rd(R_IQERCD, 8) & 0xF, 3u);  // IQEI: invalid descriptor type
    EXPECT_EQ(t.rd(R_IQH, 8), 0u);           // IQH stays on the bad descriptor
    sc_core::wait(ns(1000));
    EXPECT_EQ(t.rd(R_IQH, 8), 0u);
    // The host replaces it with a wait and clears IQE: the queue resumes from IQH.
    mem->write64(kIq, d_wait(true, 7, kStatus)[0]);
    mem->write64(kIq + 8, d_wait(true, 7, kStatus)[1]);
    t.wr(R_FSTS, FSTS_IQE);
    sc_core::wait(ns(1000));
    EXPECT_EQ(t.rd(R_IQH, 8), 0x10u);
    EXPECT_EQ(mem->read64(kStatus) & 0xFFFFFFFF, 7u);
    EXPECT_EQ(t.rd(R_FSTS), 0u);
    // A reserved granularity (IOTLB G = 0) is an error too.
    push(t, {d_iotlb(0)});
    sc_core::wait(ns(1000));
    EXPECT_EQ(t.rd(R_FSTS), FSTS_IQE);
    EXPECT_EQ(t.rd(R_IQERCD, 8) & 0xF, 4u);
    EXPECT_EQ(t.rd(R_IQH, 8), 0x10u);
  });
  ASSERT_EQ(tb->watch_times.size(), 2u);
  EXPECT_EQ(tb->watch_times[0], fa);
  EXPECT_EQ(stat("inv.errors"), 2);
  EXPECT_EQ(stat("inv.waits"), 1);
}

// ---- interrupt remapping ------------------------------------------------------------------------

// Remappable MSI address: 0xFEE, handle[14:0] [19:5], format 1 bit 4, SHV bit 3, handle[15] bit 2.
uint64_t remap_addr(uint16_t handle, bool shv = false) {
  return 0xFEE00000ull | (uint64_t{handle & 0x7FFFu} << 5) | (1u << 4) | (shv ? 1u << 3 : 0) |
         ((uint64_t{handle} >> 15) << 2);
}

TEST_F(VtdTest, InterruptRemappingThroughIrte) {
  vp.irq_delivery_base = 0x70000000;
  build();
  // IRTE 5 (128-bit): P 0, DM 2, DLM [7:5], vector [23:16], DST [63:32] (xAPIC: APIC ID in [47:40]);
  // SID [79:64], SQ [81:80], SVT [83:82] = 01b (verify the requester id).
  auto irte = [&](unsigned idx, uint8_t vector, uint8_t apic, uint16_t sid) {
    mem->write64(kIrt + idx * 16, 1 | (uint64_t{vector} << 16) | (uint64_t{apic} << 40));
    mem->write64(kIrt + idx * 16 + 8, sid | (1ull << 18));
  };
  irte(5, 0x41, 3, 0x0010);
  tb->watch = &iommu->fault_irq();
  run([&](Tb& t) {
    enable(t, false, /*te*/ false);
    t.wr(R_IRTA, kIrt | 3, 8);  // S 3: 16 entries, xAPIC
    t.wr(R_GCMD, gcmd | GCMD_SIRTP);
    t.wr(R_GCMD, gcmd | GCMD_IRE);
    DmaResult r = t.msi(0x10, remap_addr(5), 0);
    EXPECT_EQ(r.st, tlm::TLM_OK_RESPONSE);
    // Delivered as a compatibility MSI: APIC ID in address[19:12], vector in data[7:0].
    EXPECT_EQ(mem->read64(0x70003000), 0x41u);
    mem->write64(0x70003000, 0);
    r = t.msi(0x10, remap_addr(4, /*shv*/ true), /*subhandle*/ 1);  // index 4 + 1
    EXPECT_EQ(r.st, tlm::TLM_OK_RESPONSE);
    EXPECT_EQ(mem->read64(0x70003000), 0x41u);
    EXPECT_EQ(stat("ir.iec_misses"), 1);
    EXPECT_EQ(stat("ir.remapped"), 2);
    // Faults: wrong requester (26h), IRTE not present (22h), index beyond the table (21h),
    // compatibility format without CFI (25h).
    EXPECT_EQ(t.msi(0x18, remap_addr(5), 0).st, tlm::TLM_ADDRESS_ERROR_RESPONSE);
    EXPECT_EQ(t.msi(0x10, remap_addr(6), 0).st, tlm::TLM_ADDRESS_ERROR_RESPONSE);
    EXPECT_EQ(t.msi(0x10, remap_addr(16), 0).st, tlm::TLM_ADDRESS_ERROR_RESPONSE);
    EXPECT_EQ(t.msi(0x10, 0xFEE01000, 0x30).st, tlm::TLM_ADDRESS_ERROR_RESPONSE);
    const uint8_t fr[] = {0x26, 0x22, 0x21, 0x25};
    const uint64_t index[] = {5, 6, 16, 0};
    const uint16_t sid[] = {0x18, 0x10, 0x10, 0x10};
    for (unsigned i = 0; i < 4; ++i) {
      const Frcd f = frcd(t, i);
      EXPECT_EQ(f.fr(), fr[i]) << i;
      EXPECT_EQ(f.lo >> 48, index[i]) << i;  // FI[63:48]: the interrupt index
      EXPECT_EQ(f.sid(), sid[i]) << i;
    }
    // The IRTE is cached: a changed vector takes effect after an IEC invalidation of its index.
    irte(5, 0x42, 3, 0x0010);
    t.msi(0x10, remap_addr(5), 0);
    EXPECT_EQ(mem->read64(0x70003000), 0x41u);
    submit(t, {d_iec(true, 0, 4)});  // another index
    t.msi(0x10, remap_addr(5), 0);
    EXPECT_EQ(mem->read64(0x70003000), 0x41u);
    submit(t, {d_iec(true, 1, 4)});  // 2^1 entries from 4: 4 and 5
    t.msi(0x10, remap_addr(5), 0);
    EXPECT_EQ(mem->read64(0x70003000), 0x42u);
    EXPECT_EQ(stat("ir.iec_misses"), 3);  // IRTE 5 twice, and the non-present IRTE 6 (never cached)
  });
  EXPECT_EQ(stat("ir.faults"), 4);
  EXPECT_EQ(stat("inv.iec"), 2);
  EXPECT_EQ(tb->watch_times.size(), 1u);
}

}  // namespace
}  // namespace iommusim
