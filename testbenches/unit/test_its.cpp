// Unit tests of the GICv3 ITS model. Tables and commands are written here from the bit layouts
// (IHI 0069 for commands and registers, its_defs.h's documented entry formats), not with the
// model's encoders; times are derived from the fixture's memory (90 ns + 1 ns/B), the register
// latency (40 ns), cmd_cost (20 ns) and translation_latency (50 ns).
#include <gtest/gtest.h>

#include "testbenches/unit/test_its_fixture.h"

namespace iommusim::test {
namespace {

using sc_core::sc_time;
using sc_core::SC_NS;
using sc_core::SC_PS;

constexpr uint64_t kStalled = 1;

sc_time ns(double v) { return sc_time(v, SC_NS); }
sc_time now() { return sc_core::sc_time_stamp(); }

// Device 5: ITT at kItt with 16 events; event 2 -> LPI 8200 through collection 7 -> CPU 3.
void hand_built(SparseMemory& m) {
  m.write64(ItsTest::kDt + 5 * 8, ItsTest::dte(true, ItsTest::kItt, 3));
  m.write64(ItsTest::kItt + 2 * 8, ItsTest::ite(true, 8200, 7));
  m.write64(ItsTest::kCt + 7 * 8, ItsTest::cte(true, 3));
}

TEST_F(ItsTest, RegistersReportTheConfiguredGeometry) {
  p.device_id_bits = 20;
  p.event_id_bits = 12;
  p.itt_entry_size = 16;
  build();
  run([&](ItsTb& tb) {
    const uint64_t typer = tb.rd(TYPER);
    EXPECT_EQ(typer & 1, 1u);                // Physical LPIs
    EXPECT_EQ((typer >> 4) & 0xF, 15u);      // ITT_entry_size
    EXPECT_EQ((typer >> 8) & 0x1F, 11u);     // ID_bits
    EXPECT_EQ((typer >> 13) & 0x1F, 19u);    // Devbits
    EXPECT_EQ((typer >> 19) & 1, 0u);        // PTA = 0: processor numbers
    EXPECT_EQ((typer >> 24) & 0xFF, 0u);     // HCC = 0: collections live in the table
    EXPECT_EQ(tb.rd(0xFFE8, 4) & 0xF0, 0x30u);  // GITS_PIDR2.ArchRev = GICv3
    EXPECT_EQ(tb.rd(CTLR, 4), 0x80000000u);  // disabled and quiescent
    const uint64_t b0 = tb.rd(BASER0), b1 = tb.rd(BASER1);
    EXPECT_EQ((b0 >> 56) & 7, 1u);  // Devices
    EXPECT_EQ((b0 >> 48) & 0x1F, 7u);
    EXPECT_EQ((b1 >> 56) & 7, 4u);  // Interrupt Collections
    EXPECT_EQ(tb.rd(0x110), 0u);    // BASER2 unimplemented
    tb.wr(0x110, (uint64_t{1} << 63) | kDt);
    EXPECT_EQ(tb.rd(0x110), 0u);
    // Type and Entry_Size are read-only, Indirect is RAZ/WI; the rest is kept.
    tb.wr(BASER0, (uint64_t{1} << 63) | (uint64_t{1} << 62) | (uint64_t{7} << 56) | (uint64_t{3} << 48) | kDt |
                      (2u << 8) | 5);
    const uint64_t w = tb.rd(BASER0);
    EXPECT_EQ((w >> 56) & 7, 1u);
    EXPECT_EQ((w >> 48) & 0x1F, 7u);
    EXPECT_EQ((w >> 62) & 1, 0u);
    EXPECT_EQ(w & 0x0000FFFFFFFFF000ull, kDt);
    EXPECT_EQ((w >> 8) & 3, 2u);
    EXPECT_EQ(w & 0xFF, 5u);
    EXPECT_EQ(w >> 63, 1u);
    // 32-bit halves of a 64-bit register.
    EXPECT_EQ(tb.rd(TYPER + 4, 4), typer >> 32);
    EXPECT_EQ(tb.rd(TYPER, 4), typer & 0xFFFFFFFF);
  });
}

TEST_F(ItsTest, HandBuiltTablesDeliverTheLpiToTheTargetAfterTheReads) {
  build();
  run([&](ItsTb& tb) {
    setup(tb);
    hand_built(*mem);
    const sc_time t0 = now();
    EXPECT_EQ(tb.msi(5, 2, 11), tlm::TLM_OK_RESPONSE);
    ASSERT_EQ(sink.delivered.size(), 1u);
    EXPECT_EQ(sink.delivered[0].cpu, 3u);
    EXPECT_EQ(sink.delivered[0].intid, 8200u);
    EXPECT_TRUE(sink.delivered[0].tagged);
    EXPECT_EQ(sink.delivered[0].seq, 11u);
    // DTE, ITE and CTE read one after the other (98 ns each), then the ITS's own latency.
    EXPECT_EQ(sink.delivered[0].at, t0 + ns(3 * 98 + 50));
    // Everything cached now: only the latency.
    tb.wait_until(t0 + ns(1000));
    EXPECT_EQ(tb.msi(5, 2, 12, 0x40, 2), tlm::TLM_OK_RESPONSE);  // a 16-bit write is a doorbell too
    ASSERT_EQ(sink.delivered.size(), 2u);
    EXPECT_EQ(sink.delivered[1].at, t0 + ns(1050));
    // The physical address of GITS_TRANSLATER reaches the same register.
    EXPECT_EQ(tb.msi(5, 2, 13, p.base + 0x10040), tlm::TLM_OK_RESPONSE);
    ASSERT_EQ(sink.delivered.size(), 3u);
    EXPECT_EQ(sink.delivered[2].intid, 8200u);
    EXPECT_TRUE(sink.losses.empty());
  });
  EXPECT_EQ(stat("delivered"), 3);
  EXPECT_EQ(stat("dte_reads"), 1);
  EXPECT_EQ(stat("ite_reads"), 1);
  EXPECT_EQ(stat("cte_reads"), 1);
  EXPECT_EQ(stat("device_cache_hits"), 2);
}

TEST_F(ItsTest, UntaggedWritesAreDeliveredWithoutATag) {
  // An SMMU's own queue interrupt: a write with the SMMU's DeviceID and no MsiTag.
  build();
  run([&](ItsTb& tb) {
    setup(tb);
    submit(tb, {mapd(0x1F0, 1, kItt, true), mapc(0, 0, true), mapti(0x1F0, 1, 9000, 0), sync()});
    tb.msi(0x1F0, 1, 0);
    ASSERT_EQ(sink.delivered.size(), 1u);
    EXPECT_FALSE(sink.delivered[0].tagged);
    EXPECT_EQ(sink.delivered[0].intid, 9000u);
    EXPECT_EQ(sink.delivered[0].cpu, 0u);
  });
}

TEST_F(ItsTest, LargerIttEntriesChangeTheStrideAndTheReadSize) {
  p.itt_entry_size = 16;
  build();
  run([&](ItsTb& tb) {
    setup(tb);
    EXPECT_EQ((tb.rd(TYPER) >> 4) & 0xF, 15u);
    submit(tb, {mapd(5, 3, kItt, true), mapc(7, 3, true), mapti(5, 2, 8200, 7), sync()});
    EXPECT_EQ(mem->read64(kItt + 2 * 16), ite(true, 8200, 7));
    EXPECT_EQ(mem->read64(kItt + 2 * 8), 0u);
    tb.wait_until(now() + ns(1000));
    const sc_time t0 = now();
    tb.msi(5, 2, 1);
    ASSERT_EQ(sink.delivered.size(), 1u);
    // MAPTI's lookup left the DTE cached; the ITE (16 B: 106 ns) and the CTE (8 B: 98 ns) are read.
    EXPECT_EQ(sink.delivered[0].at, t0 + ns(106 + 98 + 50));
  });
}

TEST_F(ItsTest, WithoutCachesEveryWriteReadsTheTables) {
  p.device_cache.entries = p.ite_cache.entries = p.collection_cache.entries = 0;
  build();
  run([&](ItsTb& tb) {
    setup(tb);
    hand_built(*mem);
    for (int i = 0; i < 3; ++i) {
      const sc_time t0 = now();
      tb.msi(5, 2, 1 + i);
      ASSERT_EQ(sink.delivered.size(), i + 1u);
      EXPECT_EQ(sink.delivered.back().at, t0 + ns(3 * 98 + 50));
      tb.wait_until(t0 + ns(1000));
    }
  });
  EXPECT_EQ(stat("dte_reads"), 3);
  EXPECT_EQ(stat("ite_reads"), 3);
}

TEST_F(ItsTest, UnmappedAndOutOfRangeWritesAreDroppedAndCounted) {
  build();
  run([&](ItsTb& tb) {
    setup(tb);
    hand_built(*mem);
    mem->write64(kItt + 4 * 8, ite(true, 8201, 8));  // collection 8 is not mapped
    const sc_time t0 = now();
    EXPECT_EQ(tb.msi(6, 2, 1), tlm::TLM_OK_RESPONSE);    // DTE invalid
    EXPECT_EQ(tb.msi(600, 2, 2), tlm::TLM_OK_RESPONSE);  // beyond the 512-entry device table
    EXPECT_EQ(tb.msi(5, 16, 3), tlm::TLM_OK_RESPONSE);   // beyond the device's 16 events
    EXPECT_EQ(tb.msi(5, 3, 4), tlm::TLM_OK_RESPONSE);    // ITE invalid
    EXPECT_EQ(tb.msi(5, 4, 5), tlm::TLM_OK_RESPONSE);    // collection unmapped
    EXPECT_EQ(tb.msi(5, 2, 6, 0x44), tlm::TLM_OK_RESPONSE);  // not GITS_TRANSLATER
    tb.wr(CTLR, 0);
    EXPECT_EQ(tb.msi(5, 2, 7), tlm::TLM_OK_RESPONSE);  // ITS disabled
    EXPECT_TRUE(sink.delivered.empty());
    ASSERT_EQ(sink.losses.size(), 7u);
    const IrqLoss want[] = {IrqLoss::UnmappedDevice, IrqLoss::UnmappedDevice, IrqLoss::UnmappedEvent,
                            IrqLoss::UnmappedEvent,  IrqLoss::UnmappedEvent,  IrqLoss::NotDoorbell,
                            IrqLoss::UnmappedDevice};
    for (size_t i = 0; i < 7; ++i) {
      EXPECT_EQ(sink.losses[i].why, want[i]) << i;
      EXPECT_EQ(sink.losses[i].seq, i + 1) << i;
    }
    // A beyond-the-table DeviceID costs no memory read; an invalid DTE costs one.
    EXPECT_EQ(sink.losses[0].at, t0 + ns(98));
    EXPECT_EQ(sink.losses[1].at, t0);
  });
  EXPECT_EQ(stat("lost_unmapped_device"), 2);
  EXPECT_EQ(stat("lost_unmapped_event"), 2);
  EXPECT_EQ(stat("lost_unmapped_collection"), 1);
  EXPECT_EQ(stat("lost_disabled"), 1);
  EXPECT_EQ(stat("not_doorbell"), 1);
  EXPECT_EQ(stat("delivered"), 0);
}

TEST_F(ItsTest, CommandsWriteTheTablesAndMapTranslations) {
  build();
  run([&](ItsTb& tb) {
    setup(tb);
    submit(tb, {mapd(5, 3, kItt, true), mapc(7, 3, true), mapti(5, 2, 8200, 7), mapd(6, 13, kItt + 0x10000, true),
                mapi(6, 8300, 7), sync()});
    EXPECT_EQ(mem->read64(kDt + 5 * 8), dte(true, kItt, 3));
    EXPECT_EQ(mem->read64(kCt + 7 * 8), cte(true, 3));
    EXPECT_EQ(mem->read64(kItt + 2 * 8), ite(true, 8200, 7));
    EXPECT_EQ(mem->read64(kItt + 0x10000 + 8300 * 8), ite(true, 8300, 7));
    tb.msi(5, 2, 1);
    tb.msi(6, 8300, 2);
    ASSERT_EQ(sink.delivered.size(), 2u);
    EXPECT_EQ(sink.delivered[0].intid, 8200u);
    EXPECT_EQ(sink.delivered[0].cpu, 3u);
    EXPECT_EQ(sink.delivered[1].intid, 8300u);
  });
  EXPECT_EQ(stat("commands"), 6);
  EXPECT_EQ(stat("cmd_errors"), 0);
  EXPECT_EQ(stat("cmd_sync"), 1);
}

TEST_F(ItsTest, MapdInvalidAndDiscardRemoveCachedTranslations) {
  build();
  run([&](ItsTb& tb) {
    setup(tb);
    submit(tb, {mapd(5, 3, kItt, true), mapc(7, 3, true), mapti(5, 2, 8200, 7), mapti(5, 3, 8201, 7), sync()});
    tb.msi(5, 2, 1);  // fills the caches
    tb.msi(5, 3, 2);
    ASSERT_EQ(sink.delivered.size(), 2u);
    submit(tb, {discard(5, 2), sync()});
    EXPECT_EQ(mem->read64(kItt + 2 * 8) >> 63, 0u);
    tb.msi(5, 2, 3);
    tb.msi(5, 3, 4);  // the other event is untouched
    ASSERT_EQ(sink.losses.size(), 1u);
    EXPECT_EQ(sink.losses[0].why, IrqLoss::UnmappedEvent);
    EXPECT_EQ(sink.losses[0].seq, 3u);
    ASSERT_EQ(sink.delivered.size(), 3u);
    submit(tb, {mapd(5, 0, 0, false), sync()});
    tb.msi(5, 3, 5);
    ASSERT_EQ(sink.losses.size(), 2u);
    EXPECT_EQ(sink.losses[1].why, IrqLoss::UnmappedDevice);
    // Mapped again with a fresh ITT: the old ITT's cached entries must not translate.
    submit(tb, {mapd(5, 3, kItt + 0x1000, true), sync()});
    tb.msi(5, 3, 6);
    ASSERT_EQ(sink.losses.size(), 3u);
    EXPECT_EQ(sink.losses[2].why, IrqLoss::UnmappedEvent);
    EXPECT_EQ(sink.delivered.size(), 3u);
  });
}

TEST_F(ItsTest, CachedLpiConfigurationStaysInUseUntilInv) {
  build();
  run([&](ItsTb& tb) {
    setup(tb);
    tb.wr(PROPBASER, kProp | 15);  // 16 INTID bits
    mem->write(kProp + (8200 - 8192), "\xA3", 1);  // priority 0xA0, group 1, enabled
    submit(tb, {mapd(5, 3, kItt, true), mapc(7, 3, true), mapti(5, 2, 8200, 7), sync()});
    tb.msi(5, 2, 1);
    ASSERT_EQ(sink.delivered.size(), 1u);
    // Software disables the LPI in memory; the cached configuration is still used (permitted: software
    // must issue INV for the change to take effect).
    mem->write(kProp + 8, "\xA2", 1);
    tb.msi(5, 2, 2);
    ASSERT_EQ(sink.delivered.size(), 2u);
    submit(tb, {inv(5, 2), sync()});
    // After the INV the LPI is disabled: it stays pending in the ITS, neither delivered nor lost.
    tb.msi(5, 2, 3);
    tb.msi(5, 2, 4);  // merged with the pending one
    EXPECT_EQ(sink.delivered.size(), 2u);
    EXPECT_TRUE(sink.losses.empty());
    EXPECT_EQ(its->pending(), 1u);
    // Enabled again: not delivered before the INV...
    mem->write(kProp + 8, "\xA3", 1);
    sc_core::wait(ns(500));
    EXPECT_EQ(sink.delivered.size(), 2u);
    // ... and at the INV: CWRITER (40 ns) + fetch (122 ns) + configuration read (91 ns) + latency.
    const sc_time t0 = now();
    submit(tb, {inv(5, 2), sync()});
    ASSERT_EQ(sink.delivered.size(), 3u);
    EXPECT_EQ(sink.delivered[2].seq, 3u);  // the first pending write's tag
    EXPECT_EQ(sink.delivered[2].cpu, 3u);
    EXPECT_EQ(sink.delivered[2].at, t0 + ns(40 + 122 + 91 + 50));
    EXPECT_EQ(its->pending(), 0u);
  });
  EXPECT_EQ(stat("held"), 1);
  EXPECT_EQ(stat("coalesced"), 1);
  EXPECT_EQ(stat("released"), 1);
  EXPECT_EQ(stat("lpi_config_reads"), 3);  // first use, the first INV's refresh at the next write, the second INV
}

TEST_F(ItsTest, WithoutAConfigurationCacheThereIsNoStaleWindow) {
  p.lpi_config_cache.entries = 0;
  build();
  run([&](ItsTb& tb) {
    setup(tb);
    tb.wr(PROPBASER, kProp | 15);
    mem->write(kProp + 8, "\xA3", 1);
    submit(tb, {mapd(5, 3, kItt, true), mapc(7, 3, true), mapti(5, 2, 8200, 7), sync()});
    tb.msi(5, 2, 1);
    mem->write(kProp + 8, "\xA2", 1);
    tb.msi(5, 2, 2);
    EXPECT_EQ(sink.delivered.size(), 1u);
    EXPECT_EQ(its->pending(), 1u);
    // CLEAR removes the pending state: enabling and INV then deliver nothing.
    submit(tb, {clear(5, 2), sync()});
    EXPECT_EQ(its->pending(), 0u);
    mem->write(kProp + 8, "\xA3", 1);
    submit(tb, {inv(5, 2), sync()});
    EXPECT_EQ(sink.delivered.size(), 1u);
  });
  EXPECT_EQ(stat("cleared"), 1);
}

TEST_F(ItsTest, InvallReleasesPendingLpisOfTheCollection) {
  build();
  run([&](ItsTb& tb) {
    setup(tb);
    tb.wr(PROPBASER, kProp | 15);
    mem->write(kProp + 8, "\xA2", 1);  // 8200 disabled
    mem->write(kProp + 9, "\xA2", 1);  // 8201 disabled
    submit(tb, {mapd(5, 3, kItt, true), mapc(7, 3, true), mapc(8, 1, true), mapti(5, 2, 8200, 7),
                mapti(5, 3, 8201, 8), sync()});
    tb.msi(5, 2, 1);
    tb.msi(5, 3, 2);
    EXPECT_EQ(its->pending(), 2u);
    mem->write(kProp + 8, "\xA3", 1);
    mem->write(kProp + 9, "\xA3", 1);
    submit(tb, {invall(7), sync()});
    ASSERT_EQ(sink.delivered.size(), 1u);  // only collection 7's LPI
    EXPECT_EQ(sink.delivered[0].intid, 8200u);
    EXPECT_EQ(its->pending(), 1u);
    submit(tb, {invall(8), sync()});
    ASSERT_EQ(sink.delivered.size(), 2u);
    EXPECT_EQ(sink.delivered[1].intid, 8201u);
    EXPECT_EQ(sink.delivered[1].cpu, 1u);
  });
}

TEST_F(ItsTest, MoviRetargetsAndIntRaisesWithoutATag) {
  build();
  run([&](ItsTb& tb) {
    setup(tb);
    submit(tb, {mapd(5, 3, kItt, true), mapc(7, 3, true), mapc(8, 1, true), mapti(5, 2, 8200, 7), sync()});
    tb.msi(5, 2, 1);
    submit(tb, {movi(5, 2, 8), sync()});
    EXPECT_EQ(mem->read64(kItt + 2 * 8), ite(true, 8200, 8));
    tb.msi(5, 2, 2);
    submit(tb, {int_cmd(5, 2), sync()});
    ASSERT_EQ(sink.delivered.size(), 3u);
    EXPECT_EQ(sink.delivered[0].cpu, 3u);
    EXPECT_EQ(sink.delivered[1].cpu, 1u);
    EXPECT_EQ(sink.delivered[2].cpu, 1u);
    EXPECT_FALSE(sink.delivered[2].tagged);
    EXPECT_EQ(sink.delivered[2].intid, 8200u);
  });
}

TEST_F(ItsTest, CreadrAdvancesOnlyOnceEachCommandCompleted) {
  build();
  run([&](ItsTb& tb) {
    setup(tb);
    mem->write(kCmdq, sync().dw, 32);
    sc_time t0 = now();
    tb.wr(CWRITER, 32);
    // CWRITER write (40 ns) + fetch of 32 B (122 ns) + cmd_cost (20 ns).
    tb.wait_until(t0 + ns(182) - sc_time(1, SC_PS));
    EXPECT_EQ(tb.rd(CREADR), 0u);
    tb.wait_until(t0 + ns(182));
    EXPECT_EQ(tb.rd(CREADR), 32u);
    // MAPD also writes its DTE (8 B: 98 ns) before its cost.
    mem->write(kCmdq + 32, mapd(5, 3, kItt, true).dw, 32);
    t0 = now();
    tb.wr(CWRITER, 64);
    tb.wait_until(t0 + ns(40 + 122 + 98 + 20) - sc_time(1, SC_PS));
    EXPECT_EQ(tb.rd(CREADR), 32u);
    tb.wait_until(t0 + ns(40 + 122 + 98 + 20));
    EXPECT_EQ(tb.rd(CREADR), 64u);
    // Two commands: the second starts when the first completed.
    mem->write(kCmdq + 64, sync().dw, 32);
    mem->write(kCmdq + 96, sync().dw, 32);
    t0 = now();
    tb.wr(CWRITER, 128);
    tb.wait_until(t0 + ns(40 + 142) - sc_time(1, SC_PS));
    EXPECT_EQ(tb.rd(CREADR), 64u);
    tb.wait_until(t0 + ns(40 + 142));
    EXPECT_EQ(tb.rd(CREADR), 96u);
    tb.wait_until(t0 + ns(40 + 2 * 142) - sc_time(1, SC_PS));
    EXPECT_EQ(tb.rd(CREADR), 96u);
    tb.wait_until(t0 + ns(40 + 2 * 142));
    EXPECT_EQ(tb.rd(CREADR), 128u);
  });
}

TEST_F(ItsTest, TheCommandQueueWrapsAround) {
  build();
  run([&](ItsTb& tb) {
    setup(tb);
    std::vector<RawCmd> fill(126, sync());
    submit(tb, fill);
    ASSERT_EQ(wptr, 126u * 32);
    // MAPD and MAPC in the last two slots, MAPTI and SYNC at the start of the queue again.
    submit(tb, {mapd(5, 3, kItt, true), mapc(7, 3, true), mapti(5, 2, 8200, 7), sync()});
    EXPECT_EQ(wptr, 64u);
    EXPECT_EQ(tb.rd(CREADR), 64u);
    tb.msi(5, 2, 1);
    ASSERT_EQ(sink.delivered.size(), 1u);
    EXPECT_EQ(sink.delivered[0].intid, 8200u);
    // Writing CBASER (ITS disabled) resets CREADR.
    tb.wr(CTLR, 0);
    tb.wr(CBASER, (uint64_t{1} << 63) | kCmdq);
    EXPECT_EQ(tb.rd(CREADR), 0u);
  });
  EXPECT_EQ(stat("commands"), 130);
  EXPECT_EQ(stat("cmd_errors"), 0);
}

TEST_F(ItsTest, CommandErrorsAreIgnoredAndCountedByDefault) {
  build();
  run([&](ItsTb& tb) {
    setup(tb);
    submit(tb, {mapti(9, 0, 8200, 7),       // device 9 not mapped
                mapd(600, 3, kItt, true),   // DeviceID beyond the table
                mapd(5, 16, kItt, true),    // 17 EventID bits > 16
                mapc(7, 300, true),         // processor 300 >= max_processors
                mapc(600, 0, true),         // ICID beyond the table
                mapd(5, 3, kItt, true),     // fine
                mapti(5, 16, 8200, 7),      // EventID beyond the ITT
                mapti(5, 2, 100, 7),        // not an LPI
                mapti(5, 2, 8200, 600),     // ICID beyond the table
                discard(5, 2),              // nothing mapped at event 2
                inv(5, 2),
                {{0x0E, 0, 0, 0}},          // MOVALL: not implemented
                mapc(7, 3, true), mapti(5, 2, 8200, 7), sync()});
    EXPECT_EQ(tb.rd(CREADR) & kStalled, 0u);
    tb.msi(5, 2, 1);
    EXPECT_EQ(sink.delivered.size(), 1u);
  });
  EXPECT_EQ(stat("cmd_errors"), 11);
  EXPECT_EQ(its->error_count(0x010A04), 1u);
  EXPECT_EQ(its->error_count(0x010801), 1u);
  EXPECT_EQ(its->error_count(0x010802), 1u);
  EXPECT_EQ(its->error_count(0x010902), 1u);
  EXPECT_EQ(its->error_count(0x010903), 1u);
  EXPECT_EQ(its->error_count(0x010A05), 1u);
  EXPECT_EQ(its->error_count(0x010A06), 1u);
  EXPECT_EQ(its->error_count(0x010A03), 1u);
  EXPECT_EQ(its->error_count(0x010F07), 1u);
  EXPECT_EQ(its->error_count(0x010C07), 1u);
  EXPECT_EQ(its->error_count(its::err::UNSUPPORTED), 1u);
}

TEST_F(ItsTest, CommandErrorsStallTheQueueWhenConfigured) {
  p.stall_on_error = true;
  build();
  run([&](ItsTb& tb) {
    setup(tb);
    submit(tb, {mapti(9, 0, 8200, 7), sync()}, false);
    sc_core::wait(ns(2000));
    EXPECT_EQ(tb.rd(CREADR), 0u | kStalled);  // stopped on the failed command
    EXPECT_EQ(its->last_error(), 0x010A04u);
    EXPECT_EQ(stat("cmd_sync"), 0);  // the SYNC after it did not run
    // Software repairs the command and retries.
    mem->write(kCmdq, mapd(9, 3, kItt, true).dw, 32);
    tb.wr(CWRITER, 64 | 1);
    sc_core::wait(ns(2000));
    EXPECT_EQ(tb.rd(CREADR), 64u);
    EXPECT_EQ(mem->read64(kDt + 9 * 8), dte(true, kItt, 3));
  });
  EXPECT_EQ(stat("cmd_errors"), 1);
  EXPECT_EQ(stat("cmd_sync"), 1);
}

TEST_F(ItsTest, NoCommandsRunWhileDisabled) {
  build();
  run([&](ItsTb& tb) {
    setup(tb, false);
    submit(tb, {mapd(5, 3, kItt, true)}, false);
    sc_core::wait(ns(2000));
    EXPECT_EQ(tb.rd(CREADR), 0u);
    tb.wr(CTLR, 1);
    sc_core::wait(ns(2000));
    EXPECT_EQ(tb.rd(CREADR), 32u);
    EXPECT_EQ(tb.rd(CTLR, 4), 1u);  // enabled, so not quiescent
  });
}

}  // namespace
}  // namespace iommusim::test
