// Unit tests of the AMD-Vi model as a black box: SparseMemory + AmdVi + a test initiator that programs
// registers through `regs` and issues DMA through `upstream` with a PcieExt. Device table entries, v1 and
// v2 page tables, GCR3 entries, commands and event-log entries are raw words composed here at their
// architectural bit positions (AMD 48882), not with the model's codecs; timings are computed by hand.
#include "testbenches/unit/amdvi_tb.h"

namespace iommusim {
namespace {

using namespace amd_tb;

// ---- registers ----------------------------------------------------------------------------------

TEST_F(AmdViTest, ExtendedFeatureRegisterReportsParameters) {
  ap.pas_max = 15;
  ap.host_levels = 6;
  ap.guest_levels = 5;
  ap.hd_sup = true;
  build();
  run([&](Tb& t) {
    const uint64_t efr = t.rd(R_EFR);
    EXPECT_EQ((efr >> 1) & 1, 1u);      // PPRSup
    EXPECT_EQ((efr >> 4) & 1, 1u);      // GTSup
    EXPECT_EQ((efr >> 6) & 1, 1u);      // IASup
    EXPECT_EQ((efr >> 10) & 3, 2u);     // HATS: 6 levels
    EXPECT_EQ((efr >> 12) & 3, 1u);     // GATS: 5 levels
    EXPECT_EQ((efr >> 32) & 31, 15u);   // PASmax
    EXPECT_EQ((efr >> 48) & 1, 1u);     // GIoSup
    EXPECT_EQ((efr >> 49) & 1, 0u);     // HASup
    EXPECT_EQ((efr >> 52) & 1, 1u);     // HDSup
    t.wr(R_EFR, 0);                     // read-only
    EXPECT_EQ(t.rd(R_EFR), efr);
  });
}

// ---- v1 translation -----------------------------------------------------------------------------

TEST_F(AmdViTest, Mode4WalkTranslatesAndCachesDirectories) {
  build();
  V1 pt = v1(4);
  pt.map(0x12345000, pte(0x40007000));
  pt.map(0x12346000, pte(0x40008000));
  mem->write64(0x40007018, 0x1122334455667788ull);
  mem->write64(0x12345018, 0xBADull);
  put_dte(0x10, dte_v1(4, pt.root, 5));
  run([&](Tb& t) {
    enable(t);
    DmaResult r = t.read(0x10, 0x12345018);
    EXPECT_EQ(r.st, tlm::TLM_OK_RESPONSE);
    EXPECT_EQ(r.data, 0x1122334455667788ull);
    EXPECT_EQ(stat("walk.walks"), 1);
    EXPECT_EQ(stat("walk.reads"), 4);
    EXPECT_EQ(stat("devtab_misses"), 1);
    r = t.read(0x10, 0x12345FF8);  // same page: IOTLB hit
    EXPECT_EQ(stat("walk.walks"), 1);
    EXPECT_EQ(stat("iotlb.hits"), 1);
    r = t.write(0x10, 0x12346020, 0xFEEDull);  // neighbour: the level-1 table from the walk cache
    EXPECT_EQ(r.st, tlm::TLM_OK_RESPONSE);
    EXPECT_EQ(stat("walk.reads"), 5);
    EXPECT_EQ(t.rd(R_EVT_TAIL), 0u);
  });
  EXPECT_EQ(mem->read64(0x40008020), 0xFEEDull);
}

TEST_F(AmdViTest, Mode3WalkWithLevelSkippingPde) {
  build();
  // Mode 3: root at level 3. Its entry 2 skips level 2 (Next Level 1) to a level-1 table.
  const uint64_t root = alloc(), l1 = alloc();
  mem->write64(root + 2 * 8, pde(l1, 1));
  mem->write64(l1 + 5 * 8, pte(0x50005000));
  mem->write64(0x50005100, 0x5151);
  put_dte(3, dte_v1(3, root, 9));
  const uint64_t good = (2ull << 30) | (5ull << 12) | 0x100;
  const uint64_t bad = good | (1ull << 21);  // a level-2 index bit set under the skipping PDE
  run([&](Tb& t) {
    enable(t);
    // Fresh walk of the bad address: the skipped level's VA bits must be zero.
    DmaResult r = t.read(3, bad);
    EXPECT_EQ(r.io, IoStatus::TranslationFault);
    EXPECT_EQ(stat("walk.reads"), 1);
    r = t.read(3, good);
    EXPECT_EQ(r.st, tlm::TLM_OK_RESPONSE);
    EXPECT_EQ(r.data, 0x5151u);
    EXPECT_EQ(stat("walk.reads"), 3);  // two levels read
    // Beyond mode 3's 39 bits: fault without a walk.
    r = t.read(3, 1ull << 39);
    EXPECT_EQ(r.io, IoStatus::TranslationFault);
    EXPECT_EQ(stat("walk.reads"), 3);
  });
  // The skip fault: IO_PAGE_FAULT, present (PR), DomainID 9, address = the DVA.
  auto [q0, q1] = event(0);
  EXPECT_EQ(q0, 3 | (9ull << 32) | (1ull << 52) | (2ull << 60));
  EXPECT_EQ(q1, bad);
  EXPECT_EQ(event(1).first, 3 | (9ull << 32) | (2ull << 60));  // out of range: not present
  EXPECT_EQ(event(1).second, 1ull << 39);
}

TEST_F(AmdViTest, NextLevel7LeafMapsItsEncodedSize) {
  build();
  // Mode 3; level-2 entry: Next Level 7 leaf of 2 MiB (address bits 12..19 set, bit 20 clear).
  const uint64_t root = alloc(), l2 = alloc(), l1 = alloc();
  const uint64_t va = (1ull << 30) | (3ull << 21);
  mem->write64(root + 1 * 8, pde(l2, 2));
  mem->write64(l2 + 3 * 8, 0x80000000ull | 0xFF000 | (7ull << 9) | PR | IR | IW);
  // Level 1 under another level-2 entry: a 16 KiB Next Level 7 page (bit 12 set, bit 13 clear),
  // replicated in its 4 slots.
  mem->write64(l2 + 4 * 8, pde(l1, 1));
  for (unsigned i = 8; i < 12; ++i) mem->write64(l1 + i * 8, 0x90010000ull | 0x1000 | (7ull << 9) | PR | IR | IW);
  mem->write64(0x800FF008, 0x2222);
  mem->write64(0x90013008, 0x1616);
  put_dte(1, dte_v1(3, root, 2));
  run([&](Tb& t) {
    enable(t);
    EXPECT_EQ(t.read(1, va + 0xFF008).data, 0x2222u);
    EXPECT_EQ(stat("walk.reads"), 2);
    t.read(1, va + 0x1FFFF8);  // same 2 MiB page: no walk
    EXPECT_EQ(stat("walk.walks"), 1);
    const uint64_t va16 = (1ull << 30) | (4ull << 21) | (8ull << 12);
    EXPECT_EQ(t.read(1, va16 + 0x3008).data, 0x1616u);
    t.read(1, va16);  // same 16 KiB page
    EXPECT_EQ(stat("walk.walks"), 2);
  });
}

TEST_F(AmdViTest, PassThroughAndPermissionDenial) {
  build();
  mem->write64(0x7000, 0x7777);
  put_dte(1, dte_v1(0, 0, 1, /*ir*/ true, /*iw*/ false));  // Mode 0: untranslated, read only
  put_dte(2, Dte4{});                                      // V = 0: pass-through
  V1 pt = v1(3);
  pt.map(0x10000, pte(0x60000000, true, false));  // read-only leaf
  // A second subtree whose PDE forbids writes above a writable leaf.
  const uint64_t l2 = alloc(), l1 = alloc();
  mem->write64(pt.root + 1 * 8, pde(l2, 2, true, false));
  mem->write64(l2, pde(l1, 1));
  mem->write64(l1, pte(0x61000000));
  put_dte(3, dte_v1(3, pt.root, 3));
  put_dte(4, dte_v1(3, pt.root, 4, /*ir*/ false, /*iw*/ true));  // DTE denies reads
  run([&](Tb& t) {
    enable(t);
    EXPECT_EQ(t.read(1, 0x7000).data, 0x7777u);
    EXPECT_EQ(t.write(1, 0x7000, 1).io, IoStatus::PermissionFault);
    EXPECT_EQ(t.read(2, 0x7000).data, 0x7777u);
    EXPECT_EQ(t.write(2, 0x7008, 2).st, tlm::TLM_OK_RESPONSE);
    EXPECT_EQ(stat("bypassed"), 3);
    EXPECT_EQ(t.read(3, 0x10000).st, tlm::TLM_OK_RESPONSE);
    EXPECT_EQ(t.write(3, 0x10000, 3).io, IoStatus::PermissionFault);      // PTE IW = 0
    EXPECT_EQ(t.read(3, 1ull << 30).st, tlm::TLM_OK_RESPONSE);
    EXPECT_EQ(t.write(3, 1ull << 30, 3).io, IoStatus::PermissionFault);   // PDE IW = 0
    EXPECT_EQ(t.read(4, 0x10000).io, IoStatus::PermissionFault);          // DTE IR = 0
  });
  EXPECT_EQ(mem->read64(0x7000), 0x7777u);
  EXPECT_EQ(mem->read64(0x7008), 2u);
  EXPECT_EQ(mem->read64(0x60000000), 0u);
  // Mode-0 write denial: IO_PAGE_FAULT with PR, RW, PE; DomainID 1.
  EXPECT_EQ(event(0).first, 1 | (1ull << 32) | (1ull << 52) | (1ull << 53) | (1ull << 54) | (2ull << 60));
  EXPECT_EQ(stat("faults"), 4);
}

// ---- event log ----------------------------------------------------------------------------------

TEST_F(AmdViTest, IoPageFaultEventRecordFields) {
  build();
  V1 pt = v1(4);
  pt.map(0x1000, pte(0x2000));
  put_dte(0x42, dte_v1(4, pt.root, 0x1234));
  tb->watch = &iommu->event_irq();
  run([&](Tb& t) {
    enable(t, C_EVT_INT_EN);
    DmaResult r = t.access(0x42, 0x5000, /*write*/ true, 1);
    EXPECT_EQ(r.st, tlm::TLM_ADDRESS_ERROR_RESPONSE);
    EXPECT_EQ(r.io, IoStatus::TranslationFault);
    EXPECT_EQ(t.rd(R_EVT_TAIL), 16u);
    EXPECT_EQ(t.rd(R_STATUS) & (S_EVT_INT | S_EVT_RUN), S_EVT_INT | S_EVT_RUN);
    t.wr(R_STATUS, S_EVT_INT);  // write 1 to clear
    EXPECT_EQ(t.rd(R_STATUS) & S_EVT_INT, 0u);
    sc_core::wait(ns(200));  // the first interrupt has fired
    // Illegal DTE (Mode 7): ILLEGAL_DEV_TABLE_ENTRY, transaction aborted.
    put_dte(0x43, dte_v1(7, pt.root, 1));
    EXPECT_EQ(t.read(0x43, 0x1000).io, IoStatus::ConfigFault);
    EXPECT_EQ(t.rd(R_EVT_TAIL), 32u);
  });
  // Word 0: DeviceID 0x42, DomainID 0x1234 in [47:32] (GN = 0), RW (bit 53), not present, code 2.
  auto [q0, q1] = event(0);
  EXPECT_EQ(q0 & 0xFFFF, 0x42u);
  EXPECT_EQ((q0 >> 32) & 0xFFFF, 0x1234u);
  EXPECT_EQ((q0 >> 48) & 0xFFF, 1u << 5);  // flags: only RW
  EXPECT_EQ(q0 >> 60, 2u);
  EXPECT_EQ(q1, 0x5000u);
  // ILLEGAL_DEV_TABLE_ENTRY: code 1, DeviceID, RZ, address = DVA.
  EXPECT_EQ(event(1).first, 0x43 | (1ull << 55) | (1ull << 60));
  EXPECT_EQ(event(1).second, 0x1000u);
  ASSERT_EQ(tb->watch_times.size(), 2u);
}

TEST_F(AmdViTest, EventLogOverflowStopsLogging) {
  build();
  put_dte(5, dte_v1(3, alloc(), 5));  // empty table: every access faults
  run([&](Tb& t) {
    enable(t);
    for (unsigned i = 0; i < 256; ++i) t.read(5, uint64_t{i} << 12);
    // 255 entries fit (one slot stays free); the 256th overflows and stops logging.
    EXPECT_EQ(t.rd(R_EVT_TAIL), 255u * 16);
    EXPECT_EQ(t.rd(R_STATUS) & (S_EVT_OVERFLOW | S_EVT_RUN), S_EVT_OVERFLOW);
    EXPECT_EQ(stat("events.recorded"), 255);
    EXPECT_EQ(stat("events.lost"), 1);
    // Software drains, clears the overflow and re-enables logging.
    t.wr(R_EVT_HEAD, 255u * 16);
    t.wr(R_STATUS, S_EVT_OVERFLOW);
    t.wr(R_CONTROL, C_IOMMU_EN | C_CMD_BUF_EN);
    t.wr(R_CONTROL, C_IOMMU_EN | C_CMD_BUF_EN | C_EVT_LOG_EN);
    t.read(5, 0x999000);
    EXPECT_EQ(t.rd(R_EVT_TAIL), 0u);  // wrapped
    EXPECT_EQ(stat("events.recorded"), 256);
  });
  EXPECT_EQ(event(255).second, 0x999000u);
}

// ---- commands -----------------------------------------------------------------------------------

TEST_F(AmdViTest, InvalidateIommuPagesRangeRemovesExactlyTheCoveredPages) {
  build();
  V1 pt = v1(4);
  for (uint64_t p = 0; p < 12; ++p) pt.map(0x100000 + p * 0x1000, pte(0x40000000 + p * 0x1000));
  put_dte(7, dte_v1(4, pt.root, 11));
  put_dte(8, dte_v1(4, pt.root, 12));  // same tables, another domain
  run([&](Tb& t) {
    enable(t);
    for (uint64_t p = 0; p < 12; ++p) t.read(7, 0x100000 + p * 0x1000);
    t.read(8, 0x104000);
    EXPECT_EQ(stat("walk.walks"), 13);
    // S = 1, address 0x105000: bit 12 set, bit 13 clear -> 16 KiB at 0x104000 (pages 4..7). PDE = 0.
    submit(t, {cmd_inv_pages(11, 0x105000, true, false)});
    for (uint64_t p = 0; p < 12; ++p) t.read(7, 0x100000 + p * 0x1000);
    t.read(8, 0x104000);
    EXPECT_EQ(stat("walk.walks"), 17);  // exactly the 4 covered pages walked again
    // Cold walk, 11 leaf reads, domain 12's cold walk, then 4 leaf reads (the walk cache kept, PDE = 0).
    EXPECT_EQ(stat("walk.reads"), 4 + 11 + 4 + 4);
    // PDE = 1 also drops the directory entries: the next walk of the range reads all 4 levels.
    submit(t, {cmd_inv_pages(11, 0x105000, true, true)});
    t.read(7, 0x104000);
    EXPECT_EQ(stat("walk.reads"), 4 + 11 + 4 + 4 + 4);
    // S = 0: one page.
    submit(t, {cmd_inv_pages(11, 0x100000, false, false)});
    t.read(7, 0x100000);
    t.read(7, 0x101000);
    EXPECT_EQ(stat("walk.walks"), 19);
  });
  EXPECT_EQ(stat("inv.pages"), 3);
  EXPECT_EQ(stat("inv.waits"), 3);
  EXPECT_EQ(stat("inv.commands"), 6);
}

TEST_F(AmdViTest, InvalidateDevtabEntryMakesChangedDteTakeEffect) {
  build();
  V1 a = v1(3), b = v1(3);
  a.map(0x3000, pte(0x41000000));
  b.map(0x3000, pte(0x42000000));
  mem->write64(0x41000000, 0xAAAA);
  mem->write64(0x42000000, 0xBBBB);
  put_dte(6, dte_v1(3, a.root, 1));
  run([&](Tb& t) {
    enable(t);
    EXPECT_EQ(t.read(6, 0x3000).data, 0xAAAAu);
    put_dte(6, dte_v1(3, b.root, 2));
    EXPECT_EQ(t.read(6, 0x3000).data, 0xAAAAu);  // cached DTE
    submit(t, {cmd_inv_dte(6)});
    EXPECT_EQ(t.read(6, 0x3000).data, 0xBBBBu);
    EXPECT_EQ(stat("devtab_misses"), 2);
  });
  EXPECT_EQ(stat("inv.devtab"), 1);
}

TEST_F(AmdViTest, CompletionWaitStoreTimingBoundary) {
  build();
  mem->write64(kSem, 0);
  tb->watch = &iommu->comp_wait_irq();
  const sc_time t0 = ns(1000);
  // Tail write (mmio 40) + 16 B fetch (1 ns + 90 ns) + wait execution 20.
  const sc_time done = t0 + ns(40) + ns(1) + ns(90) + ns(20);
  // The interrupt follows the store's completion: 8 B (0.5 ns) + 90 ns.
  const sc_time irq = done + ns(0.5) + ns(90);
  run([&](Tb& t) {
    enable(t, C_COMW_INT_EN);
    t.wait_until(t0);
    push(t, {cmd_wait(kSem, 0x600DF00DCAFEull, true)});
    t.wait_until(done - k1ps);
    EXPECT_EQ(mem->read64(kSem), 0u);
    EXPECT_EQ(t.rd(R_CMD_HEAD), 0u);
    EXPECT_EQ(t.rd(R_STATUS) & S_COMW_INT, 0u);
    t.wait_until(done);
    sc_core::wait(SC_ZERO_TIME);
    EXPECT_EQ(mem->read64(kSem), 0x600DF00DCAFEull);
    EXPECT_EQ(t.rd(R_CMD_HEAD), 16u);
    EXPECT_EQ(t.rd(R_STATUS) & S_COMW_INT, S_COMW_INT);
  });
  ASSERT_EQ(tb->watch_times.size(), 1u);
  EXPECT_EQ(tb->watch_times[0], irq);
}

TEST_F(AmdViTest, CompletionWaitWaitsForEarlierCommands) {
  build();
  run([&](Tb& t) {
    enable(t);
    const sc_time t0 = ns(1000);
    t.wait_until(t0);
    // 3 page invalidations + wait in one 64 B fetch (4 ns): the store at 3 * 30 + 20 after the fetch.
    push(t, {cmd_inv_pages(1, 0, false, false), cmd_inv_pages(2, 0, false, false), cmd_inv_pages(3, 0, false, false),
             cmd_wait(kSem, 7)});
    const sc_time f = t0 + ns(40) + ns(4) + ns(90);
    for (unsigned k = 1; k <= 3; ++k) {
      t.wait_until(f + ns(30) * k - k1ps);
      EXPECT_EQ(t.rd(R_CMD_HEAD), (k - 1) * 16) << k;
      t.wait_until(f + ns(30) * k);
      sc_core::wait(SC_ZERO_TIME);
      EXPECT_EQ(t.rd(R_CMD_HEAD), k * 16) << k;
    }
    const sc_time done = f + ns(90) + ns(20);
    t.wait_until(done - k1ps);
    EXPECT_EQ(mem->read64(kSem), 0u);
    t.wait_until(done);
    sc_core::wait(SC_ZERO_TIME);
    EXPECT_EQ(mem->read64(kSem), 7u);
    EXPECT_EQ(t.rd(R_CMD_HEAD), 64u);
  });
  EXPECT_EQ(stat("inv.fetch_reads"), 1);
}

TEST_F(AmdViTest, IllegalCommandStopsTheBufferUntilReenabled) {
  build();
  run([&](Tb& t) {
    enable(t);
    const sc_time t0 = ns(1000);
    t.wait_until(t0);
    push(t, {{0xFull << 60, 0}});  // opcode 0xF
    const sc_time fa = t0 + ns(40) + ns(1) + ns(90);
    t.wait_until(fa - k1ps);
    EXPECT_EQ(t.rd(R_STATUS) & S_CMD_RUN, S_CMD_RUN);
    t.wait_until(fa);
    sc_core::wait(SC_ZERO_TIME);
    EXPECT_EQ(t.rd(R_STATUS) & S_CMD_RUN, 0u);
    EXPECT_EQ(t.rd(R_CMD_HEAD), 0u);
    EXPECT_EQ(t.rd(R_EVT_TAIL), 16u);
    // A reserved bit set in an otherwise valid command is illegal too; it is not reached while stopped.
    push(t, {cmd_wait(kSem, 1)});
    sc_core::wait(ns(1000));
    EXPECT_EQ(mem->read64(kSem), 0u);
    // Fix the command, re-enable the buffer: processing resumes at Head.
    mem->write64(kCmd, cmd_inv_dte(1).first);
    mem->write64(kCmd + 8, cmd_inv_dte(1).second);
    t.wr(R_CONTROL, C_IOMMU_EN | C_EVT_LOG_EN);
    t.wr(R_CONTROL, C_IOMMU_EN | C_EVT_LOG_EN | C_CMD_BUF_EN);
    sc_core::wait(ns(1000));
    EXPECT_EQ(mem->read64(kSem), 1u);
    EXPECT_EQ(t.rd(R_CMD_HEAD), 32u);
    EXPECT_EQ(t.rd(R_STATUS) & S_CMD_RUN, S_CMD_RUN);
    // Reserved bit (qword1 bit 3 of INVALIDATE_IOMMU_PAGES): illegal.
    push(t, {{3ull << 60, 8}});
    sc_core::wait(ns(1000));
    EXPECT_EQ(t.rd(R_CMD_HEAD), 32u);
    EXPECT_EQ(t.rd(R_EVT_TAIL), 32u);
  });
  EXPECT_EQ(event(0).first, 5ull << 60);  // ILLEGAL_COMMAND_ERROR
  EXPECT_EQ(event(0).second, kCmd);       // address of the command
  EXPECT_EQ(event(1).second, kCmd + 32);
  EXPECT_EQ(stat("inv.errors"), 2);
}

// ---- v2 guest tables via GCR3 -------------------------------------------------------------------

TEST_F(AmdViTest, GuestWalkViaGcr3ForPasidRequest) {
  build();
  // x86 4-level guest table: PML4 -> PDPT -> PD -> PT, entries P[0] | RW[1] | US[2] | address.
  const uint64_t pml4 = alloc(), pdpt = alloc(), pd = alloc(), ptab = alloc();
  const uint64_t va = (1ull << 39) | (2ull << 30) | (3ull << 21) | (4ull << 12);
  mem->write64(pml4 + 1 * 8, pdpt | 7);
  mem->write64(pdpt + 2 * 8, pd | 7);
  mem->write64(pd + 3 * 8, ptab | 7);
  mem->write64(ptab + 4 * 8, 0x70004000ull | 7);
  mem->write64(ptab + 5 * 8, 0x70005000ull | 5);  // read-only
  mem->write64(0x70004010, 0x6262);
  // GCR3 table (GLX 0: one level of 512 entries), PASID 7 -> guest CR3.
  mem->write64(kGcr3 + 7 * 8, pml4 | 1);
  put_dte(9, dte_guest(kGcr3, 0x33));
  run([&](Tb& t) {
    enable(t, C_GT_EN);
    DmaResult r = t.read(9, va + 0x10, 7);
    EXPECT_EQ(r.st, tlm::TLM_OK_RESPONSE);
    EXPECT_EQ(r.data, 0x6262u);
    EXPECT_EQ(stat("walk.reads"), 4);
    EXPECT_EQ(stat("gcr3_misses"), 1);
    EXPECT_EQ(t.access(9, va + 0x1000, true, 1, 7).io, IoStatus::PermissionFault);
    // PASID 8 has no GCR3 entry: IO_PAGE_FAULT with GN and the PASID.
    EXPECT_EQ(t.read(9, va, 8).io, IoStatus::TranslationFault);
    // INVALIDATE_IOMMU_PAGES GN = 1 for PASID 7 drops its entries only.
    submit(t, {cmd_inv_pages(0x33, va, false, false, true, 7)});
    t.read(9, va, 7);
    EXPECT_EQ(stat("walk.walks"), 3);
  });
  // GN (48), US (50: a PASID request without privilege), PR (52), RW (53), PE (54); PASID in [47:32].
  EXPECT_EQ(event(0).first, 9 | (7ull << 32) | (1ull << 48) | (1ull << 50) | (1ull << 52) | (1ull << 53) |
                                (1ull << 54) | (2ull << 60));
  EXPECT_EQ(event(1).first, 9 | (8ull << 32) | (1ull << 48) | (1ull << 50) | (2ull << 60));
  EXPECT_EQ(event(1).second, va);
}

// ---- interrupt remapping ------------------------------------------------------------------------

TEST_F(AmdViTest, InterruptWritesAreRemappedThroughTheIrte) {
  build();
  constexpr uint64_t kIrt = 0x240000;
  // qword2: IV[0], IntTabLen[4:1] = 1 (2 entries), root[51:6], IntCtl[61:60] = 2 (remap).
  Dte4 d = dte_v1(3, alloc(), 4);
  d.q[2] = 1 | (1u << 1) | kIrt | (2ull << 60);
  put_dte(0x20, d);
  // 32-bit IRTE 1: RemapEn[0], IntType[4:2] = fixed, Destination[15:8] = 5, Vector[23:16] = 0x41.
  mem->write64(kIrt, uint64_t{1 | (5u << 8) | (0x41u << 16)} << 32);
  run([&](Tb& t) {
    enable(t);
    EXPECT_EQ(t.access(0x20, 0xFEE00000, true, 1, -1, 4).st, tlm::TLM_OK_RESPONSE);
    EXPECT_EQ(stat("interrupts_remapped"), 1);
    EXPECT_EQ(stat("walk.walks"), 0);  // interrupts bypass translation
    // Index 2 is beyond the 2-entry table: IO_PAGE_FAULT with I set; the request fails as an
    // interrupt the remapping refused.
    EXPECT_EQ(t.access(0x20, 0xFEE00000, true, 2, -1, 4).io, IoStatus::InterruptFault);
    // A changed IRTE takes effect after INVALIDATE_INTERRUPT_TABLE (op 5).
    mem->write64(kIrt, uint64_t{1 | (6u << 8) | (0x42u << 16)} << 32);
    submit(t, {{0x20 | (5ull << 60), 0}});
    EXPECT_EQ(t.access(0x20, 0xFEE00000, true, 1, -1, 4).st, tlm::TLM_OK_RESPONSE);
  });
  // Compatibility MSI: 0xFEE0_0000 | destination << 12, data = vector (fixed delivery).
  EXPECT_EQ(mem->read64(0xFEE05000) & 0xFFFFFFFF, 0x41u);
  EXPECT_EQ(mem->read64(0xFEE06000) & 0xFFFFFFFF, 0x42u);
  EXPECT_EQ(event(0).first, 0x20 | (4ull << 32) | (1ull << 51) | (1ull << 53) | (2ull << 60));
  EXPECT_EQ(event(0).second, 0xFEE00000u);
}

}  // namespace
}  // namespace iommusim
