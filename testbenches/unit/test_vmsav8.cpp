// Unit tests of the VMSAv8-64 descriptor codec against hand-computed descriptors and geometries.
#include "models/pgtable/vmsav8.h"

#include <gtest/gtest.h>

#include <stdexcept>

using namespace iommusim::pgtable;

// ---- geometry ---------------------------------------------------------------------------------

TEST(Vmsav8Geometry, K4_48bit_FourLevels) {
    const Geometry g = Geometry::make(Granule::K4, 48);
    EXPECT_EQ(g.shift, 12);
    EXPECT_EQ(g.stride, 9);
    EXPECT_EQ(g.start_level, 0);
    EXPECT_EQ(g.last_level, 3);
    EXPECT_EQ(g.entries(0), 512u);
    EXPECT_EQ(g.entries(3), 512u);
    EXPECT_EQ(g.table_bytes(0), 4096u);
    EXPECT_EQ(g.entry_span(0), 0x8000000000ull);  // 512 GiB
    EXPECT_EQ(g.entry_span(1), 0x40000000ull);    // 1 GiB
    EXPECT_EQ(g.entry_span(2), 0x200000ull);      // 2 MiB
    EXPECT_EQ(g.entry_span(3), 0x1000ull);
    // VA built from indices 0x1A5 / 0x0F3 / 0x1FF / 0x001, offset 0xABC.
    const uint64_t va = 0xD2BCFFE01ABCull;
    EXPECT_EQ(g.index(va, 0), 0x1A5u);
    EXPECT_EQ(g.index(va, 1), 0x0F3u);
    EXPECT_EQ(g.index(va, 2), 0x1FFu);
    EXPECT_EQ(g.index(va, 3), 0x001u);
}

TEST(Vmsav8Geometry, K4_39bit_StartsAtLevel1) {
    const Geometry g = Geometry::make(Granule::K4, 39);
    EXPECT_EQ(g.start_level, 1);
    EXPECT_EQ(g.entries(1), 512u);
    const uint64_t va = 0x40401FF007ull;  // indices 0x101 / 0x000 / 0x1FF
    EXPECT_EQ(g.index(va, 1), 0x101u);
    EXPECT_EQ(g.index(va, 2), 0x000u);
    EXPECT_EQ(g.index(va, 3), 0x1FFu);
}

TEST(Vmsav8Geometry, K4_40bit_ShortStartLevel) {
    const Geometry g = Geometry::make(Granule::K4, 40);
    EXPECT_EQ(g.start_level, 0);
    EXPECT_EQ(g.entries(0), 2u);
    EXPECT_EQ(g.table_bytes(0), 16u);
    EXPECT_EQ(g.index(0x8000000000ull, 0), 1u);
    EXPECT_EQ(g.index(0x7FFFFFFFFFull, 0), 0u);
}

TEST(Vmsav8Geometry, K16_47bit) {
    const Geometry g = Geometry::make(Granule::K16, 47);
    EXPECT_EQ(g.shift, 14);
    EXPECT_EQ(g.stride, 11);
    EXPECT_EQ(g.start_level, 1);
    EXPECT_EQ(g.entries(1), 2048u);
    EXPECT_EQ(g.table_bytes(1), 16384u);
    EXPECT_EQ(g.entry_span(1), 0x1000000000ull);  // 64 GiB
    EXPECT_EQ(g.entry_span(2), 0x2000000ull);     // 32 MiB
    EXPECT_EQ(g.entry_span(3), 0x4000ull);
    const uint64_t va = 0x7FF554557FFFull;  // indices 0x7FF / 0x2AA / 0x155
    EXPECT_EQ(g.index(va, 1), 0x7FFu);
    EXPECT_EQ(g.index(va, 2), 0x2AAu);
    EXPECT_EQ(g.index(va, 3), 0x155u);
}

TEST(Vmsav8Geometry, K16_48bit_LevelZeroHasTwoEntries) {
    const Geometry g = Geometry::make(Granule::K16, 48);
    EXPECT_EQ(g.start_level, 0);
    EXPECT_EQ(g.entries(0), 2u);
}

TEST(Vmsav8Geometry, K64_42bit_StartsAtLevel2) {
    const Geometry g = Geometry::make(Granule::K64, 42);
    EXPECT_EQ(g.shift, 16);
    EXPECT_EQ(g.stride, 13);
    EXPECT_EQ(g.start_level, 2);
    EXPECT_EQ(g.entries(2), 8192u);
    EXPECT_EQ(g.table_bytes(2), 65536u);
    EXPECT_EQ(g.entry_span(2), 0x20000000ull);  // 512 MiB
    EXPECT_EQ(g.entry_span(3), 0x10000ull);
    const uint64_t va = 0x3578123BEEFull;  // indices 0x1ABC / 0x0123
    EXPECT_EQ(g.index(va, 2), 0x1ABCu);
    EXPECT_EQ(g.index(va, 3), 0x0123u);
}

TEST(Vmsav8Geometry, K64_48bit_StartsAtLevel1With64Entries) {
    const Geometry g = Geometry::make(Granule::K64, 48);
    EXPECT_EQ(g.start_level, 1);
    EXPECT_EQ(g.entries(1), 64u);
    EXPECT_EQ(g.table_bytes(1), 512u);
}

TEST(Vmsav8Geometry, RejectsUnsupportedSizes) {
    EXPECT_THROW(Geometry::make(Granule::K4, 49), std::invalid_argument);
    EXPECT_THROW(Geometry::make(Granule::K64, 52), std::invalid_argument);
    EXPECT_THROW(Geometry::make(Granule::K4, 12), std::invalid_argument);
}

TEST(Vmsav8Geometry, BlockAllowedRules) {
    const Geometry g4 = Geometry::make(Granule::K4, 48);
    EXPECT_FALSE(g4.block_allowed(0));
    EXPECT_TRUE(g4.block_allowed(1));
    EXPECT_TRUE(g4.block_allowed(2));
    EXPECT_FALSE(g4.block_allowed(3));
    const Geometry g16 = Geometry::make(Granule::K16, 48);
    EXPECT_FALSE(g16.block_allowed(0));
    EXPECT_FALSE(g16.block_allowed(1));
    EXPECT_TRUE(g16.block_allowed(2));
    const Geometry g64 = Geometry::make(Granule::K64, 48);
    EXPECT_FALSE(g64.block_allowed(1));
    EXPECT_TRUE(g64.block_allowed(2));
    EXPECT_FALSE(g64.block_allowed(3));
}

TEST(Vmsav8Geometry, Stage2Sl0AndConcatenation) {
    // 4K, 40-bit IPA, SL0=1: start at level 1 with two concatenated 4 KiB tables.
    auto g = Geometry::make_s2(Granule::K4, 40, 1);
    ASSERT_TRUE(g);
    EXPECT_EQ(g->start_level, 1);
    EXPECT_EQ(g->entries(1), 1024u);
    EXPECT_EQ(g->table_bytes(1), 8192u);
    EXPECT_EQ(g->concatenated_tables(), 2u);
    EXPECT_EQ(g->index(0xFFC0000000ull, 1), 0x3FFu);
    EXPECT_EQ(g->sl0(), 1u);
    // Same IPA size from level 0 (SL0=2): 2 entries.
    g = Geometry::make_s2(Granule::K4, 40, 2);
    ASSERT_TRUE(g);
    EXPECT_EQ(g->start_level, 0);
    EXPECT_EQ(g->entries(0), 2u);
    // 4K SL0=0 (level 2), 32-bit IPA: 2048 entries = 4 tables.
    g = Geometry::make_s2(Granule::K4, 32, 0);
    ASSERT_TRUE(g);
    EXPECT_EQ(g->start_level, 2);
    EXPECT_EQ(g->concatenated_tables(), 4u);
    // Limits of level 1 start: 31..43 bits (43 = 16 tables).
    EXPECT_TRUE(Geometry::make_s2(Granule::K4, 31, 1));
    EXPECT_FALSE(Geometry::make_s2(Granule::K4, 30, 1));
    ASSERT_TRUE(Geometry::make_s2(Granule::K4, 43, 1));
    EXPECT_EQ(Geometry::make_s2(Granule::K4, 43, 1)->concatenated_tables(), 16u);
    EXPECT_FALSE(Geometry::make_s2(Granule::K4, 44, 1));
    EXPECT_FALSE(Geometry::make_s2(Granule::K4, 48, 0));
    EXPECT_FALSE(Geometry::make_s2(Granule::K4, 48, 3));   // reserved SL0
    EXPECT_FALSE(Geometry::make_s2(Granule::K16, 48, 3));  // level 0 for 16K needs LPA2
    // 64K, 42-bit, SL0=1: level 2, one full 64 KiB table.
    g = Geometry::make_s2(Granule::K64, 42, 1);
    ASSERT_TRUE(g);
    EXPECT_EQ(g->start_level, 2);
    EXPECT_EQ(g->entries(2), 8192u);
    EXPECT_EQ(g->concatenated_tables(), 1u);
    // 16K, 48-bit, SL0=2: level 1 with two concatenated 16 KiB tables.
    g = Geometry::make_s2(Granule::K16, 48, 2);
    ASSERT_TRUE(g);
    EXPECT_EQ(g->start_level, 1);
    EXPECT_EQ(g->entries(1), 4096u);
    EXPECT_EQ(g->concatenated_tables(), 2u);
}

// ---- encoders ---------------------------------------------------------------------------------

TEST(Vmsav8Encode, S1PageDescriptor) {
    const Geometry g = Geometry::make(Granule::K4, 48);
    S1Attrs a{};
    a.af = true;
    a.ro = true;
    a.attr_index = 1;
    a.sh = 3;
    // 0x12345000 | AF 0x400 | SH 0x300 | AP[2] 0x80 | AttrIndx 1<<2 | page 0b11
    EXPECT_EQ(encode_s1_leaf(0x12345000ull, 3, g, a), 0x0000000012345787ull);
    a.user = true;
    a.ng = true;
    a.pxn = true;
    a.uxn = true;
    a.dbm = true;
    a.contiguous = true;
    EXPECT_EQ(encode_s1_leaf(0x12345000ull, 3, g, a), 0x0078000012345FC7ull);
}

TEST(Vmsav8Encode, S1BlockDescriptors) {
    const Geometry g = Geometry::make(Granule::K4, 48);
    S1Attrs a{};
    a.af = true;
    a.sh = 3;
    EXPECT_EQ(encode_s1_leaf(0x40200000ull, 2, g, a), 0x0000000040200701ull);  // 2 MiB block
    a.contiguous = true;
    EXPECT_EQ(encode_s1_leaf(0x80000000ull, 1, g, a), 0x0010000080000701ull);  // 1 GiB block
}

TEST(Vmsav8Encode, S2Descriptors) {
    const Geometry g = Geometry::make(Granule::K4, 48);
    S2Attrs a{};
    a.read = true;
    a.write = true;
    a.xn = 2;
    a.af = true;
    a.memattr = 0xF;
    a.sh = 3;
    EXPECT_EQ(encode_s2_leaf(0x4000123000ull, 3, g, a), 0x00400040001237FFull);
    S2Attrs b{};
    b.read = true;
    b.xn = 1;
    b.af = true;
    b.memattr = 0x5;
    EXPECT_EQ(encode_s2_leaf(0x40000000ull, 1, g, b), 0x0020000040000455ull);
}

TEST(Vmsav8Encode, TableDescriptors) {
    EXPECT_EQ(encode_table(0x87654000ull), 0x0000000087654003ull);
    EXPECT_EQ(encode_table(0x87654000ull, tbl::NS | tbl::AP_RO), 0xC000000087654003ull);
    const Geometry g64 = Geometry::make(Granule::K64, 42);
    EXPECT_EQ(encode_table(0x55550000ull, g64), 0x0000000055550003ull);
}

TEST(Vmsav8Encode, RejectsBadLeavesAndTables) {
    const Geometry g4 = Geometry::make(Granule::K4, 48);
    const Geometry g4_39 = Geometry::make(Granule::K4, 39);
    const Geometry g64 = Geometry::make(Granule::K64, 42);
    S1Attrs a{};
    S2Attrs b{};
    EXPECT_THROW(encode_s1_leaf(0x40201000ull, 2, g4, a), std::invalid_argument);       // misaligned 2 MiB
    EXPECT_THROW(encode_s1_leaf(0x8000000000ull, 0, g4, a), std::invalid_argument);     // block at L0
    EXPECT_THROW(encode_s1_leaf(0x1000000000000ull, 3, g4, a), std::invalid_argument);  // > 48-bit PA
    EXPECT_THROW(encode_s1_leaf(0x40000000ull, 0, g4_39, a), std::invalid_argument);    // above start level
    EXPECT_THROW(encode_s2_leaf(0x12341000ull, 3, g64, b), std::invalid_argument);      // not 64K aligned
    EXPECT_THROW(encode_s2_leaf(0x1000000000000ull, 1, g4, b), std::invalid_argument);
    EXPECT_THROW(encode_table(0x1234ull), std::invalid_argument);
    EXPECT_THROW(encode_table(0x1000ull, g64), std::invalid_argument);
    EXPECT_THROW(encode_table(0x1000000000000ull), std::invalid_argument);
}

// ---- decoder ----------------------------------------------------------------------------------

TEST(Vmsav8Decode, InvalidEncodings) {
    const Geometry g4 = Geometry::make(Granule::K4, 48);
    EXPECT_EQ(decode(0x0000000012345786ull, 3, g4, false).kind, Kind::Invalid);  // bit0 clear
    EXPECT_EQ(decode(0x0000000012345401ull, 3, g4, false).kind, Kind::Invalid);  // 0b01 reserved at L3
    EXPECT_EQ(decode(0x0000008000000401ull, 0, g4, false).kind, Kind::Invalid);  // block at L0 (4K)
    EXPECT_EQ(decode(0ull, 1, g4, true).kind, Kind::Invalid);
    const Geometry g16 = Geometry::make(Granule::K16, 48);
    EXPECT_EQ(decode(0x0000001000000401ull, 1, g16, false).kind, Kind::Invalid);  // 64 GiB block
    const Geometry g64 = Geometry::make(Granule::K64, 48);
    EXPECT_EQ(decode(0x0000040000000401ull, 1, g64, false).kind, Kind::Invalid);  // 4 TiB block
}

TEST(Vmsav8Decode, TableDescriptor) {
    const Geometry g4 = Geometry::make(Granule::K4, 48);
    Decoded d = decode(0xC000000087654003ull, 0, g4, false);
    EXPECT_EQ(d.kind, Kind::Table);
    EXPECT_EQ(d.addr, 0x87654000ull);
    EXPECT_EQ(d.table_attrs, tbl::NS | tbl::AP_RO);
    // Ignored bits [11:2] and bits above the 48-bit OA are not part of the address.
    d = decode(0x0004000087654FFFull, 1, g4, false);
    EXPECT_EQ(d.kind, Kind::Table);
    EXPECT_EQ(d.addr, 0x87654000ull);
    EXPECT_EQ(d.table_attrs, 0);
    // 64K: bits [15:12] would be OA[51:48] with 52-bit PA; masked away.
    const Geometry g64 = Geometry::make(Granule::K64, 42);
    d = decode(0x000000005555F003ull, 2, g64, true);
    EXPECT_EQ(d.kind, Kind::Table);
    EXPECT_EQ(d.addr, 0x55550000ull);
}

TEST(Vmsav8Decode, S1PageAndBlock) {
    const Geometry g4 = Geometry::make(Granule::K4, 48);
    Decoded d = decode(0x0078000012345FC7ull, 3, g4, false);
    EXPECT_EQ(d.kind, Kind::Page);
    EXPECT_EQ(d.addr, 0x12345000ull);
    EXPECT_EQ(d.span, 0x1000ull);
    EXPECT_TRUE(d.s1.ro);
    EXPECT_TRUE(d.s1.user);
    EXPECT_TRUE(d.s1.pxn);
    EXPECT_TRUE(d.s1.uxn);
    EXPECT_TRUE(d.s1.af);
    EXPECT_TRUE(d.s1.ng);
    EXPECT_TRUE(d.s1.dbm);
    EXPECT_TRUE(d.s1.contiguous);
    EXPECT_EQ(d.s1.attr_index, 1);
    EXPECT_EQ(d.s1.sh, 3);
    EXPECT_EQ(output_address(d, 0xFFFF800000000ABCull), 0x12345ABCull);

    d = decode(0x0000000012345787ull, 3, g4, false);
    EXPECT_TRUE(d.s1.ro);
    EXPECT_FALSE(d.s1.user);
    EXPECT_FALSE(d.s1.pxn);
    EXPECT_FALSE(d.s1.uxn);
    EXPECT_FALSE(d.s1.ng);

    // 2 MiB block with nT (bit 16) set: bits inside the block span are not address bits.
    d = decode(0x0000000040210401ull, 2, g4, false);
    EXPECT_EQ(d.kind, Kind::Block);
    EXPECT_EQ(d.addr, 0x40200000ull);
    EXPECT_EQ(d.span, 0x200000ull);
    EXPECT_TRUE(d.s1.af);
    EXPECT_EQ(output_address(d, 0x7F12345678ull), 0x40345678ull);

    const Geometry g16 = Geometry::make(Granule::K16, 47);
    d = decode(0x0000000002000401ull, 2, g16, false);
    EXPECT_EQ(d.kind, Kind::Block);
    EXPECT_EQ(d.addr, 0x02000000ull);
    EXPECT_EQ(d.span, 0x2000000ull);

    const Geometry g64 = Geometry::make(Granule::K64, 42);
    d = decode(0x000000001234F403ull, 3, g64, false);
    EXPECT_EQ(d.kind, Kind::Page);
    EXPECT_EQ(d.addr, 0x12340000ull);
    EXPECT_EQ(d.span, 0x10000ull);
    EXPECT_EQ(output_address(d, 0x3578123BEEFull), 0x1234BEEFull);
    d = decode(0x0000000020000401ull, 2, g64, false);
    EXPECT_EQ(d.kind, Kind::Block);
    EXPECT_EQ(d.span, 0x20000000ull);
}

TEST(Vmsav8Decode, S2Attributes) {
    const Geometry g4 = Geometry::make(Granule::K4, 48);
    Decoded d = decode(0x00400040001237FFull, 3, g4, true);
    EXPECT_EQ(d.kind, Kind::Page);
    EXPECT_EQ(d.addr, 0x4000123000ull);
    EXPECT_TRUE(d.s2.read);
    EXPECT_TRUE(d.s2.write);
    EXPECT_EQ(d.s2.xn, 2);
    EXPECT_TRUE(d.s2.af);
    EXPECT_EQ(d.s2.memattr, 0xF);
    EXPECT_EQ(d.s2.sh, 3);
    EXPECT_FALSE(d.s2.contiguous);

    d = decode(0x0020000040000455ull, 1, g4, true);
    EXPECT_EQ(d.kind, Kind::Block);
    EXPECT_EQ(d.addr, 0x40000000ull);
    EXPECT_EQ(d.span, 0x40000000ull);
    EXPECT_TRUE(d.s2.read);
    EXPECT_FALSE(d.s2.write);
    EXPECT_EQ(d.s2.xn, 1);
    EXPECT_EQ(d.s2.memattr, 0x5);
    EXPECT_EQ(d.s2.sh, 0);
}

TEST(Vmsav8Decode, EncodeDecodeAgreeOnHandPickedAttrs) {
    // Consistency only (the constants above are the real check): decode(encode(x)) == x.
    const Geometry g = Geometry::make(Granule::K16, 47);
    S1Attrs a{};
    a.ro = true;
    a.uxn = true;
    a.af = true;
    a.attr_index = 6;
    a.sh = 2;
    const uint64_t desc = encode_s1_leaf(0x0000123456780000ull & ~0x3FFFull, 3, g, a);
    const Decoded d = decode(desc, 3, g, false);
    EXPECT_EQ(d.kind, Kind::Page);
    EXPECT_EQ(d.s1, a);
}
