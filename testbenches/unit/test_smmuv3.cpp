// Unit tests of the SMMUv3 model as a black box: SparseMemory + SmmuV3 + a test initiator that
// programs registers through `regs` and issues DMA through `upstream` with a PcieExt. Stream
// tables, context descriptors, page tables, commands and event records are raw dwords composed
// here at the architectural bit positions (Arm IHI 0070 / Arm ARM D8), not with the model's
// format helpers; timings are computed by hand from the parameters.
#include <gtest/gtest.h>

#include "testbenches/unit/smmuv3_tb.h"

namespace iommusim {
namespace {

using namespace smmu_tb;

// ---- stream table and translation ---------------------------------------------------------------

TEST_F(SmmuTest, LinearStreamTableStage1Translates) {
  build();
  Pt pt(*mem, bump, 12, 48);
  pt.set(0x12345000, s1_page(0x40007000));
  pt.set(0x12346000, s1_page(0x40008000));
  mem->write64(0x40007018, 0x1122334455667788ull);
  mem->write64(0x12345018, 0xBADBADBADull);  // what an untranslated access would read
  s1_stream(2, kCd, 0x42, pt.root());
  run([&](Tb& t) {
    enable(t, linear_cfg(4));
    DmaResult r = t.read(2, 0x12345018);
    EXPECT_EQ(r.st, tlm::TLM_OK_RESPONSE);
    EXPECT_EQ(r.io, IoStatus::Ok);
    EXPECT_EQ(r.data, 0x1122334455667788ull);
    EXPECT_EQ(stat("walk.walks"), 1);
    EXPECT_EQ(stat("walk.reads"), 4);  // 4 levels, cold
    EXPECT_EQ(stat("config_misses"), 1);
    // Same page: IOTLB hit, cached config.
    r = t.read(2, 0x12345FF8);
    EXPECT_EQ(r.st, tlm::TLM_OK_RESPONSE);
    EXPECT_EQ(stat("walk.walks"), 1);
    EXPECT_EQ(stat("iotlb.hits"), 1);
    EXPECT_EQ(stat("config_misses"), 1);
    // Write through the neighbouring page: lands at its PA; the walk cache leaves 1 read.
    r = t.write(2, 0x12346020, 0xFEEDFACECAFEBEEFull);
    EXPECT_EQ(r.st, tlm::TLM_OK_RESPONSE);
    EXPECT_EQ(stat("walk.walks"), 2);
    EXPECT_EQ(stat("walk.reads"), 5);
    EXPECT_EQ(t.rd(R_EVENTQ_PROD), 0u);
  });
  EXPECT_EQ(mem->read64(0x40008020), 0xFEEDFACECAFEBEEFull);
  EXPECT_EQ(mem->read64(0x12346020), 0u);
}

TEST_F(SmmuTest, Stage1With64KGranule) {
  build();
  Pt pt(*mem, bump, 16, 48);  // levels 1-3: VA[47:42], [41:29], [28:16]
  ASSERT_EQ(pt.start(), 1u);
  const uint64_t va = (3ull << 42) | (5ull << 29) | (7ull << 16);
  pt.set(va, s1_page(0x50000000));
  pt.set(va + 0x10000, s1_page(0x50030000));
  mem->write64(0x50001238, 0x6464646464646464ull);
  mem->write64(0x50030008, 0x1234);
  s1_stream(1, kCd, 5, pt.root(), /*tg0=64K*/ 1, 16);
  run([&](Tb& t) {
    enable(t, linear_cfg(4));
    DmaResult r = t.read(1, va + 0x1238);
    EXPECT_EQ(r.st, tlm::TLM_OK_RESPONSE);
    EXPECT_EQ(r.data, 0x6464646464646464ull);
    EXPECT_EQ(stat("walk.reads"), 3);
    r = t.read(1, va + 0xFFF8);  // same 64 KiB page: no walk
    EXPECT_EQ(stat("walk.walks"), 1);
    r = t.read(1, va + 0x10008);
    EXPECT_EQ(r.data, 0x1234u);
    EXPECT_EQ(stat("walk.reads"), 4);
  });
}

TEST_F(SmmuTest, Stage2Translation4K) {
  build();
  // S2T0SZ 25 (39-bit IPA), SL0 1: start at level 1, three levels.
  Pt pt(*mem, bump, 12, 39);
  ASSERT_EQ(pt.start(), 1u);
  pt.set(0x80001000, s2_desc(0x40010000, true, true, true));
  pt.set(0x80002000, s2_desc(0x40011000, true, true, false));    // read-only
  pt.set(0x80200000, s2_desc(0x40200000, false, true, true), 2);  // 2 MiB block
  mem->write64(0x40010008, 0x5252);
  mem->write64(0x40212340, 0xB10C);
  mem->write64(0x40011000, 0x0123456789ull);
  put_ste_linear(3, ste_s2(7, pt.root(), 25, 1));
  run([&](Tb& t) {
    enable(t, linear_cfg(4));
    DmaResult r = t.read(3, 0x80001008);
    EXPECT_EQ(r.st, tlm::TLM_OK_RESPONSE);
    EXPECT_EQ(r.data, 0x5252u);
    EXPECT_EQ(stat("walk.reads"), 3);
    r = t.read(3, 0x80212340);
    EXPECT_EQ(r.data, 0xB10Cu);
    EXPECT_EQ(stat("walk.reads"), 4);  // level-1 table from the walk cache, the block at level 2
    r = t.read(3, 0x80002000);
    EXPECT_EQ(r.data, 0x0123456789ull);
    // Write to the read-only page: stage-2 permission fault, recorded (S2R = 1) with S2 = 1.
    r = t.write(3, 0x80002010, 0xDEAD);
    EXPECT_EQ(r.st, tlm::TLM_ADDRESS_ERROR_RESPONSE);
    EXPECT_EQ(r.io, IoStatus::PermissionFault);
    ASSERT_EQ(t.rd(R_EVENTQ_PROD), 1u);
    const auto e = event_record(0);
    EXPECT_EQ(e[0] & 0xFF, 0x13u);  // F_PERMISSION
    EXPECT_EQ(e[0] >> 32, 3u);
    EXPECT_EQ((e[1] >> 35) & 1, 0u);  // RnW = 0: a write
    EXPECT_EQ((e[1] >> 39) & 1, 1u);  // S2
    EXPECT_EQ(e[2], 0x80002010u);
  });
  EXPECT_EQ(mem->read64(0x40011010), 0u);  // not written
}

TEST_F(SmmuTest, AbortBypassAndGlobalBypass) {
  build();
  put_ste_linear(1, ste_abort());
  put_ste_linear(2, ste_bypass());
  mem->write64(0x40000100, 0xB7B7);
  run([&](Tb& t) {
    enable(t, linear_cfg(4));
    DmaResult r = t.read(1, 0x40000100);
    EXPECT_EQ(r.st, tlm::TLM_ADDRESS_ERROR_RESPONSE);
    EXPECT_EQ(r.io, IoStatus::Aborted);
    EXPECT_EQ(r.data, 0u);
    EXPECT_EQ(t.rd(R_EVENTQ_PROD), 0u);  // an abort STE records nothing
    r = t.read(2, 0x40000100);
    EXPECT_EQ(r.st, tlm::TLM_OK_RESPONSE);
    EXPECT_EQ(r.data, 0xB7B7u);
    // SMMUEN = 0: GBPA decides, for every stream (the abort STE is not consulted).
    t.wr(R_CR0, 0);
    r = t.read(1, 0x40000100);
    EXPECT_EQ(r.st, tlm::TLM_OK_RESPONSE);
    EXPECT_EQ(r.data, 0xB7B7u);
    t.wr(R_GBPA, GBPA_UPDATE | GBPA_ABORT);
    EXPECT_EQ(t.rd(R_GBPA), GBPA_ABORT);  // update completes at once
    r = t.read(2, 0x40000100);
    EXPECT_EQ(r.io, IoStatus::Aborted);
  });
  EXPECT_EQ(stat("aborted"), 2);
  EXPECT_EQ(stat("bypassed"), 2);
}

TEST_F(SmmuTest, TwoLevelStreamTable) {
  build();
  // STRTAB_BASE_CFG: FMT[17:16] = 1 (2-level), SPLIT[10:6] = 6, LOG2SIZE[5:0] = 8.
  const uint32_t cfg = (1u << 16) | (6u << 6) | 8u;
  // L1 descriptors: SPAN[4:0], L2Ptr[51:6]. L1[1]: 64 STEs; L1[2]: SPAN 0; L1[3]: 2 STEs.
  mem->write64(kStrtab + 1 * 8, 7 | 0x110000ull);
  mem->write64(kStrtab + 2 * 8, 0 | 0x118000ull);
  mem->write64(kStrtab + 3 * 8, 2 | 0x120000ull);
  put_ste(0x110000 + 1 * 64, ste_bypass());  // SID 0x41
  Pt pt(*mem, bump, 12, 48);
  pt.set(0x7000, s1_page(0x40030000));
  put_ste(0x120000 + 1 * 64, ste_s1(kCd));  // SID 0xC1
  put_cd(kCd, cd(3, pt.root()));
  put_ste(0x118000 + 0 * 64, ste_bypass());  // behind SPAN 0: must not be used
  mem->write64(0x40020000, 0xAAAA);
  mem->write64(0x40030000, 0xBBBB);
  run([&](Tb& t) {
    enable(t, cfg);
    DmaResult r = t.read(0x41, 0x40020000);
    EXPECT_EQ(r.st, tlm::TLM_OK_RESPONSE);
    EXPECT_EQ(r.data, 0xAAAAu);
    r = t.read(0xC1, 0x7000);
    EXPECT_EQ(r.st, tlm::TLM_OK_RESPONSE);
    EXPECT_EQ(r.data, 0xBBBBu);
    for (uint16_t sid : {0x80, 0xC2, 0x100}) {  // SPAN 0; beyond SPAN; beyond LOG2SIZE
      r = t.read(sid, 0x40020000);
      EXPECT_EQ(r.st, tlm::TLM_ADDRESS_ERROR_RESPONSE) << sid;
      EXPECT_EQ(r.io, IoStatus::ConfigFault) << sid;
    }
    ASSERT_EQ(t.rd(R_EVENTQ_PROD), 3u);
  });
  const uint64_t sids[] = {0x80, 0xC2, 0x100};
  for (unsigned i = 0; i < 3; ++i) {
    const auto e = event_record(i);
    EXPECT_EQ(e[0], 0x02 | (sids[i] << 32)) << i;  // C_BAD_STREAMID, StreamID[63:32]
  }
  EXPECT_EQ(stat("events.C_BAD_STREAMID"), 3);
}

TEST_F(SmmuTest, LinearBadStreamIdAndBadSte) {
  build();
  // SID 5: all zero (V = 0); SID 6: V = 1 with the reserved Config 0b001.
  put_ste_linear(6, Ste{{1 | (0b001u << 1)}});
  run([&](Tb& t) {
    enable(t, linear_cfg(4));  // 16 STEs
    for (uint16_t sid : {16, 5, 6}) {
      const DmaResult r = t.read(sid, 0x1000);
      EXPECT_EQ(r.io, IoStatus::ConfigFault) << sid;
    }
    EXPECT_EQ(t.rd(R_EVENTQ_PROD), 3u);
  });
  EXPECT_EQ(event_record(0)[0], 0x02 | (16ull << 32));  // C_BAD_STREAMID
  EXPECT_EQ(event_record(1)[0], 0x04 | (5ull << 32));   // C_BAD_STE
  EXPECT_EQ(event_record(2)[0], 0x04 | (6ull << 32));
  EXPECT_EQ(stat("events.C_BAD_STE"), 2);
  EXPECT_EQ(stat("events.recorded"), 3);
}

TEST_F(SmmuTest, TranslationFaultRecordFields) {
  build();
  Pt pt(*mem, bump, 12, 48);
  pt.set(0x1000, s1_page(0x40001000));
  s1_stream(3, kCd, 0x11, pt.root());
  // SID 4: S1CDMax 2 (4 linear CDs), SubstreamID 3 has a valid CD.
  put_ste_linear(4, ste_s1(kCd + 0x1000, 2));
  put_cd(kCd + 0x1000 + 3 * 64, cd(0x22, pt.root()));
  const uint64_t va = 0x7654321010ull;
  run([&](Tb& t) {
    enable(t, linear_cfg(4));
    DmaResult r = t.read(3, va);
    EXPECT_EQ(r.st, tlm::TLM_ADDRESS_ERROR_RESPONSE);
    EXPECT_EQ(r.io, IoStatus::TranslationFault);
    sc_core::wait(ns(1000));
    r = t.write(3, va + 8, 1, /*priv=*/true);
    EXPECT_EQ(r.io, IoStatus::TranslationFault);
    sc_core::wait(ns(1000));
    r = t.read(4, va, false, /*pasid=*/3);
    EXPECT_EQ(r.io, IoStatus::TranslationFault);
    sc_core::wait(ns(1000));
    EXPECT_EQ(t.rd(R_EVENTQ_PROD), 3u);
    // The mapped page still works for the PASID stream.
    r = t.read(4, 0x1000, false, 3);
    EXPECT_EQ(r.st, tlm::TLM_OK_RESPONSE);
  });
  auto e = event_record(0);
  EXPECT_EQ(e[0], 0x10 | (3ull << 32));  // F_TRANSLATION, SSV = 0, SID 3
  EXPECT_EQ((e[1] >> 35) & 1, 1u);       // RnW: read
  EXPECT_EQ((e[1] >> 33) & 1, 0u);       // PnU: unprivileged
  EXPECT_EQ((e[1] >> 34) & 1, 0u);       // InD: data
  EXPECT_EQ((e[1] >> 39) & 1, 0u);       // S2 = 0: stage 1
  EXPECT_EQ(e[1] & 0xFFFF, 0u);          // STAG
  EXPECT_EQ(e[2], va);                   // InputAddr
  e = event_record(1);
  EXPECT_EQ(e[0], 0x10 | (3ull << 32));
  EXPECT_EQ((e[1] >> 35) & 1, 0u);  // write
  EXPECT_EQ((e[1] >> 33) & 1, 1u);  // privileged
  EXPECT_EQ(e[2], va + 8);
  e = event_record(2);
  EXPECT_EQ(e[0], 0x10 | (1ull << 11) | (3ull << 12) | (4ull << 32));  // SSV, SubstreamID[31:12], SID
  EXPECT_EQ(e[2], va);
  EXPECT_EQ(stat("events.F_TRANSLATION"), 3);
}

TEST_F(SmmuTest, EventQueueInterruptPerRecord) {
  build();
  put_ste_linear(1, Ste{});
  tb->watch = &smmu->eventq_irq();
  run([&](Tb& t) {
    enable(t, linear_cfg(4));
    t.read(1, 0);
    sc_core::wait(ns(1000));
    t.read(1, 0);
    sc_core::wait(ns(1000));
  });
  EXPECT_EQ(tb->watch_times.size(), 2u);
}

TEST_F(SmmuTest, PermissionFaults) {
  build();
  Pt pt(*mem, bump, 12, 48);
  pt.set(0x9000, s1_page(0x40040000, S1_USER | S1_RO | D_NG));  // read-only
  pt.set(0xA000, s1_page(0x40041000, D_NG));                    // privileged only (AP[1] = 0)
  mem->write64(0x40040000, 0x900D);
  mem->write64(0x40041000, 0x9A9A);
  s1_stream(2, kCd, 1, pt.root());
  run([&](Tb& t) {
    enable(t, linear_cfg(4));
    DmaResult r = t.read(2, 0x9000);
    EXPECT_EQ(r.st, tlm::TLM_OK_RESPONSE);
    EXPECT_EQ(r.data, 0x900Du);
    r = t.write(2, 0x9000, 0xBAD);
    EXPECT_EQ(r.st, tlm::TLM_ADDRESS_ERROR_RESPONSE);
    EXPECT_EQ(r.io, IoStatus::PermissionFault);
    r = t.read(2, 0xA000);
    EXPECT_EQ(r.io, IoStatus::PermissionFault);
    r = t.read(2, 0xA000, /*priv=*/true);
    EXPECT_EQ(r.st, tlm::TLM_OK_RESPONSE);
    EXPECT_EQ(r.data, 0x9A9Au);
    EXPECT_EQ(t.rd(R_EVENTQ_PROD), 2u);
  });
  EXPECT_EQ(mem->read64(0x40040000), 0x900Du);  // the write never reached memory
  auto e = event_record(0);
  EXPECT_EQ(e[0], 0x13 | (2ull << 32));
  EXPECT_EQ((e[1] >> 35) & 1, 0u);
  EXPECT_EQ(e[2], 0x9000u);
  e = event_record(1);
  EXPECT_EQ(e[0], 0x13 | (2ull << 32));
  EXPECT_EQ((e[1] >> 35) & 1, 1u);
  EXPECT_EQ(e[2], 0xA000u);
}

// ---- command queue ------------------------------------------------------------------------------

TEST_F(SmmuTest, CfgiSteMakesChangedSteTakeEffect) {
  build();
  Pt pt(*mem, bump, 12, 48);
  pt.set(0x5000, s1_page(0x40050000));
  s1_stream(4, kCd, 9, pt.root());
  mem->write64(0x40050000, 0xAAAA);  // through the stage-1 mapping
  mem->write64(0x5000, 0xBBBB);      // what bypass reads
  run([&](Tb& t) {
    enable(t, linear_cfg(4));
    EXPECT_EQ(t.read(4, 0x5000).data, 0xAAAAu);
    put_ste_linear(4, ste_bypass());
    EXPECT_EQ(t.read(4, 0x5000).data, 0xAAAAu);  // stale configuration still cached and used
    EXPECT_EQ(stat("config_misses"), 1);
    submit(t, {cmd_cfgi_ste(5)});  // another StreamID: no effect
    EXPECT_EQ(t.read(4, 0x5000).data, 0xAAAAu);
    submit(t, {cmd_cfgi_ste(4)});
    EXPECT_EQ(t.read(4, 0x5000).data, 0xBBBBu);
    EXPECT_EQ(stat("config_misses"), 2);
  });
  EXPECT_EQ(stat("inv.cfgi"), 2);
  EXPECT_EQ(stat("inv.syncs"), 2);
}

TEST_F(SmmuTest, TlbiNhVaRemovesExactlyTheCoveredEntries) {
  build();
  Pt pt(*mem, bump, 12, 48);
  for (uint64_t i = 0; i < 4; ++i) pt.set(0x10000 + i * 0x1000, s1_page(0x40100000 + i * 0x1000));
  s1_stream(6, kCd, 0x42, pt.root());
  s1_stream(7, kCd + 0x40, 0x43, pt.root());  // another ASID over the same tables
  run([&](Tb& t) {
    enable(t, linear_cfg(4));
    for (uint64_t i = 0; i < 4; ++i) EXPECT_EQ(t.read(6, 0x10000 + i * 0x1000).st, tlm::TLM_OK_RESPONSE);
    EXPECT_EQ(stat("walk.walks"), 4);
    EXPECT_EQ(stat("walk.reads"), 7);
    t.read(7, 0x11000);
    EXPECT_EQ(stat("walk.walks"), 5);
    EXPECT_EQ(stat("walk.reads"), 11);
    // Range form: TG 4K, NUM 1, SCALE 0 -> 2 pages from 0x11000; Leaf.
    submit(t, {cmd_tlbi_nh_va(0, 0x42, 0x11000, 1, 1, 0, true)});
    EXPECT_EQ(stat("iotlb.invalidated"), 2);
    t.read(6, 0x10000);
    t.read(6, 0x13000);
    t.read(7, 0x11000);  // other ASID untouched
    EXPECT_EQ(stat("walk.walks"), 5);
    t.read(6, 0x11000);
    EXPECT_EQ(stat("walk.walks"), 6);
    EXPECT_EQ(stat("walk.reads"), 12);  // leaf-only: the walk cache still holds the L3 table
    t.read(6, 0x12000);
    EXPECT_EQ(stat("walk.walks"), 7);
    EXPECT_EQ(stat("walk.reads"), 13);
    // Single-page form (TG 0) without Leaf: table entries for that VA go too, so a full walk.
    submit(t, {cmd_tlbi_nh_va(0, 0x42, 0x13000, 0, 0, 0, false)});
    EXPECT_EQ(stat("iotlb.invalidated"), 3);
    t.read(6, 0x10000);
    EXPECT_EQ(stat("walk.walks"), 7);
    t.read(6, 0x13000);
    EXPECT_EQ(stat("walk.walks"), 8);
    EXPECT_EQ(stat("walk.reads"), 17);
  });
  EXPECT_EQ(stat("inv.tlbi_va"), 2);
}

TEST_F(SmmuTest, TlbiNhAsidKeepsOtherAsidsAndGlobalEntries) {
  build();
  Pt pt(*mem, bump, 12, 48);
  pt.set(0x20000, s1_page(0x40200000));
  pt.set(0x21000, s1_page(0x40201000, S1_USER));  // nG = 0: global
  s1_stream(2, kCd, 1, pt.root());
  s1_stream(3, kCd + 0x40, 2, pt.root());
  run([&](Tb& t) {
    enable(t, linear_cfg(4));
    t.read(2, 0x20000);
    t.read(2, 0x21000);
    t.read(3, 0x20000);
    t.read(3, 0x21000);  // the global entry filled by ASID 1 serves ASID 2
    EXPECT_EQ(stat("walk.walks"), 3);
    EXPECT_EQ(stat("walk.reads"), 9);
    submit(t, {cmd_tlbi_nh_asid(0, 1)});
    EXPECT_EQ(stat("iotlb.invalidated"), 1);
    t.read(2, 0x21000);
    t.read(3, 0x20000);
    EXPECT_EQ(stat("walk.walks"), 3);
    t.read(2, 0x20000);
    EXPECT_EQ(stat("walk.walks"), 4);
    EXPECT_EQ(stat("walk.reads"), 13);  // the ASID's walk-cache entries went too
  });
  EXPECT_EQ(stat("inv.tlbi_asid"), 1);
}

TEST_F(SmmuTest, TlbiTakesEffectNoEarlierThanItsFetchArrives) {
  build();
  Pt pt(*mem, bump, 12, 48);
  pt.set(0x30000, s1_page(0x40300000));
  s1_stream(2, kCd, 1, pt.root());
  run([&](Tb& t) {
    enable(t, linear_cfg(4));
    t.read(2, 0x30000);
    EXPECT_EQ(stat("walk.walks"), 1);
    const sc_time t0 = ns(2000);
    t.wait_until(t0);
    push(t, {cmd_tlbi_nh_asid(0, 1)});
    const sc_time fa = t0 + ns(40) + ns(1) + ns(90);  // mmio + 16 B fetch + memory latency
    t.wait_until(fa - k1ps);
    t.read(2, 0x30000);  // the command has not been read yet: still an IOTLB hit
    EXPECT_EQ(stat("walk.walks"), 1);
    ASSERT_GE(sc_core::sc_time_stamp(), fa + ns(30));  // that DMA took longer than the TLBI's execution
    EXPECT_EQ(t.rd(R_CMDQ_CONS), 1u);
    t.read(2, 0x30000);
    EXPECT_EQ(stat("walk.walks"), 2);
  });
}

TEST_F(SmmuTest, IllegalOpcodeStopsTheQueueWithCerrorIll) {
  build();
  run([&](Tb& t) {
    enable(t, linear_cfg(4));
    const sc_time t0 = ns(1000);
    t.wait_until(t0);
    push(t, {{0x7F, 0}});
    // Visible once the 16 B fetch has arrived: mmio + 16 B at 16 GB/s + memory latency.
    const sc_time fa = t0 + ns(40) + ns(1) + ns(90);
    t.wait_until(fa - k1ps);
    EXPECT_EQ(t.rd(R_CMDQ_CONS), 0u);
    EXPECT_EQ(t.rd(R_GERROR) & 1, 0u);
    t.wait_until(fa);
    sc_core::wait(SC_ZERO_TIME);
    EXPECT_EQ(t.rd(R_CMDQ_CONS), 1u << 24);  // ERR[30:24] = CERROR_ILL, index 0
    EXPECT_EQ(t.rd(R_GERROR) & 1, 1u);       // CMDQ_ERR active (GERRORN = 0)
    sc_core::wait(ns(1000));
    EXPECT_EQ(t.rd(R_CMDQ_CONS), 1u << 24);  // stays stopped
    // Fix the command, acknowledge: the queue resumes from CONS.
    mem->write64(kCmdq, cmd_sync().first);
    mem->write64(kCmdq + 8, cmd_sync().second);
    t.wr(R_GERRORN, t.rd(R_GERROR));
    sc_core::wait(ns(1000));
    EXPECT_EQ(t.rd(R_CMDQ_CONS), 1u);  // advanced, ERR cleared
  });
  EXPECT_EQ(stat("inv.errors"), 1);
  EXPECT_EQ(stat("inv.syncs"), 1);
}

TEST_F(SmmuTest, CmdSyncOnEmptyQueueTimingBoundary) {
  build();
  mem->write64(kMsi, 0xFFFFFFFFFFFFFFFFull);
  tb->watch = &smmu->sev();
  const sc_time t0 = ns(1000);
  // mmio 40 + fetch (16 B at 16 GB/s = 1 ns, then 90 ns latency) + sync 20.
  const sc_time done = t0 + ns(40) + ns(1) + ns(90) + ns(20);
  // The MSI write is issued at `done`; the SMMU sees it complete after 4 B (0.25 ns) + 90 ns.
  const sc_time msi_done = done + ns(0.25) + ns(90);
  run([&](Tb& t) {
    enable(t, linear_cfg(4));
    t.wait_until(t0);
    push(t, {cmd_sync(/*IRQ*/ 1, kMsi, 0x600DF00D)});
    t.wait_until(done - k1ps);
    EXPECT_EQ(t.rd(R_CMDQ_CONS), 0u);
    EXPECT_EQ(mem->read64(kMsi), 0xFFFFFFFFFFFFFFFFull);
    t.wait_until(done);
    sc_core::wait(SC_ZERO_TIME);  // same time, after the SMMU's process ran
    EXPECT_EQ(t.rd(R_CMDQ_CONS), 1u);
    EXPECT_EQ(mem->read64(kMsi), 0xFFFFFFFF600DF00Dull);  // 32-bit MSIData written, upper word untouched
  });
  ASSERT_EQ(tb->watch_times.size(), 1u);
  EXPECT_EQ(tb->watch_times[0], msi_done);
  EXPECT_EQ(stat("inv.fetch_reads"), 1);
}

TEST_F(SmmuTest, CmdSyncWaitsForEarlierCommands) {
  build();
  run([&](Tb& t) {
    enable(t, linear_cfg(4));
    // Round 1: 3 TLBIs + SYNC in one 64 B fetch (4 ns).
    const sc_time t0 = ns(1000);
    t.wait_until(t0);
    push(t, {cmd_tlbi_nh_asid(0, 1), cmd_tlbi_nh_asid(0, 2), cmd_tlbi_nh_asid(0, 3), cmd_sync(1, kMsi, 1)});
    const sc_time f = t0 + ns(40) + ns(4) + ns(90);
    for (unsigned k = 1; k <= 4; ++k) {
      const sc_time at = f + ns(30) * std::min(k, 3u) + (k == 4 ? ns(20) : SC_ZERO_TIME);
      t.wait_until(at - k1ps);
      EXPECT_EQ(t.rd(R_CMDQ_CONS), k - 1) << k;
      t.wait_until(at);
      sc_core::wait(SC_ZERO_TIME);
      EXPECT_EQ(t.rd(R_CMDQ_CONS), k) << k;
    }
    // Relative to a lone SYNC (151 ns): N * tlbi_latency later, plus 3 more 16 B fetched (3 ns).
    EXPECT_EQ(sc_core::sc_time_stamp() - t0, ns(151) + ns(3 * 30) + ns(3));
    EXPECT_EQ(mem->read64(kMsi) & 0xFFFFFFFF, 1u);

    // Round 2: 6 TLBIs + SYNC: fetched 4 then 3 (second fetch after the 4th command completes).
    const sc_time t1 = ns(3000);
    t.wait_until(t1);
    std::vector<Cmd2> cmds;
    for (uint16_t a = 0; a < 6; ++a) cmds.push_back(cmd_tlbi_nh_asid(0, a));
    cmds.push_back(cmd_sync(1, kMsi, 2));
    push(t, cmds);
    const sc_time f1 = t1 + ns(40) + ns(4) + ns(90);
    const sc_time f2 = f1 + ns(4 * 30) + ns(3) + ns(90);
    t.wait_until(f2 - k1ps);
    EXPECT_EQ(t.rd(R_CMDQ_CONS), 8u);
    const sc_time end = f2 + ns(2 * 30) + ns(20);
    t.wait_until(end - k1ps);
    EXPECT_EQ(t.rd(R_CMDQ_CONS), 10u);
    EXPECT_EQ(mem->read64(kMsi) & 0xFFFFFFFF, 1u);
    t.wait_until(end);
    sc_core::wait(SC_ZERO_TIME);
    EXPECT_EQ(t.rd(R_CMDQ_CONS), 11u);
    EXPECT_EQ(mem->read64(kMsi) & 0xFFFFFFFF, 2u);
  });
  EXPECT_EQ(stat("inv.tlbi"), 9);
  EXPECT_EQ(stat("inv.fetch_reads"), 3);
}

// ---- event queue --------------------------------------------------------------------------------

TEST_F(SmmuTest, EventQueueFullCountsLostEvents) {
  build();
  put_ste_linear(5, Ste{});  // V = 0: C_BAD_STE on every access
  run([&](Tb& t) {
    enable(t, linear_cfg(4), /*evtq_log2=*/1);  // 2 records
    for (int i = 0; i < 3; ++i) EXPECT_EQ(t.read(5, 0x1000).io, IoStatus::ConfigFault);
    // Two records, then full: PROD = index 0 with wrap set, and OVFLG[31] toggled.
    EXPECT_EQ(t.rd(R_EVENTQ_PROD), 0x80000002u);
    EXPECT_EQ(stat("events.recorded"), 2);
    EXPECT_EQ(stat("events.lost"), 1);
    // The host consumes both: the next event fits again.
    t.wr(R_EVENTQ_CONS, 2);
    t.read(5, 0x2000);
    EXPECT_EQ(t.rd(R_EVENTQ_PROD), 0x80000003u);
    EXPECT_EQ(stat("events.recorded"), 3);
    EXPECT_EQ(stat("events.lost"), 1);
  });
  EXPECT_EQ(event_record(0)[0], 0x04 | (5ull << 32));
  EXPECT_EQ(event_record(1)[0], 0x04 | (5ull << 32));
}

}  // namespace
}  // namespace iommusim
