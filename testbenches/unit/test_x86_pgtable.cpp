// Unit tests of the x86-64 paging codec (VT-d first and second stage) against hand-computed entries.
#include "models/pgtable/x86_64.h"

#include <gtest/gtest.h>

#include <stdexcept>

using namespace iommusim::pgtable::x86;

// ---- geometry ---------------------------------------------------------------------------------

TEST(X86Geometry, FourLevelShape) {
    const Geometry g = Geometry::make(4, true, true);
    EXPECT_EQ(g.start_level, 1);
    EXPECT_EQ(g.input_bits(), 48u);
    EXPECT_EQ(Geometry::level_shift(1), 39u);
    EXPECT_EQ(Geometry::level_shift(4), 12u);
    EXPECT_EQ(Geometry::entry_span(1), 0x8000000000ull);  // 512 GiB per PML4E
    EXPECT_EQ(Geometry::entry_span(2), 0x40000000ull);    // 1 GiB
    EXPECT_EQ(Geometry::entry_span(3), 0x200000ull);      // 2 MiB
    EXPECT_EQ(Geometry::entry_span(4), 0x1000ull);
    EXPECT_FALSE(g.level_valid(0));
    EXPECT_TRUE(g.level_valid(1));
    EXPECT_TRUE(g.level_valid(4));
    EXPECT_FALSE(g.level_valid(5));
    EXPECT_FALSE(g.leaf_allowed(1));
    EXPECT_TRUE(g.leaf_allowed(2));
    EXPECT_TRUE(g.leaf_allowed(3));
    EXPECT_TRUE(g.leaf_allowed(4));
    // VA from indices PML4 0x1A5 / PDPT 0x0F3 / PD 0x1FF / PT 0x001, offset 0xABC.
    const uint64_t va = 0xD2BCFFE01ABCull;
    EXPECT_EQ(g.index(va, 1), 0x1A5u);
    EXPECT_EQ(g.index(va, 2), 0x0F3u);
    EXPECT_EQ(g.index(va, 3), 0x1FFu);
    EXPECT_EQ(g.index(va, 4), 0x001u);
}

TEST(X86Geometry, FiveLevelIndexSplit) {
    const Geometry g = Geometry::make(5);
    EXPECT_EQ(g.start_level, 0);
    EXPECT_EQ(g.input_bits(), 57u);
    EXPECT_EQ(Geometry::level_shift(0), 48u);
    EXPECT_EQ(Geometry::entry_span(0), 0x1000000000000ull);  // 256 TiB per PML5E
    // Indices PML5 0x0AB / PML4 0x1CD / PDPT 0x0EF / PD 0x123 / PT 0x145, offset 0x678.
    const uint64_t va = 0x00ABE6BBE4745678ull;
    EXPECT_EQ(g.index(va, 0), 0x0ABu);
    EXPECT_EQ(g.index(va, 1), 0x1CDu);
    EXPECT_EQ(g.index(va, 2), 0x0EFu);
    EXPECT_EQ(g.index(va, 3), 0x123u);
    EXPECT_EQ(g.index(va, 4), 0x145u);
    EXPECT_TRUE(g.canonical(va));
    EXPECT_FALSE(Geometry::make(4).canonical(va));  // bits above 47 are not a sign extension
}

TEST(X86Geometry, LeafSizesFollowCapabilities) {
    const Geometry no_large = Geometry::make(4, false, false);
    EXPECT_FALSE(no_large.leaf_allowed(2));
    EXPECT_FALSE(no_large.leaf_allowed(3));
    EXPECT_TRUE(no_large.leaf_allowed(4));
    const Geometry g2m = Geometry::make(4);  // defaults: 2 MiB yes, 1 GiB no
    EXPECT_TRUE(g2m.leaf_allowed(3));
    EXPECT_FALSE(g2m.leaf_allowed(2));
    const Geometry g5 = Geometry::make(5, true, true);
    EXPECT_FALSE(g5.leaf_allowed(0));  // never at PML5E/PML4E
    EXPECT_FALSE(g5.leaf_allowed(1));
}

TEST(X86Geometry, ThreeLevelSecondStage) {
    const Geometry g = Geometry::make(3);
    EXPECT_EQ(g.start_level, 2);
    EXPECT_EQ(g.input_bits(), 39u);
    EXPECT_TRUE(g.in_range(0x7FFFFFFFFFull));
    EXPECT_FALSE(g.in_range(0x8000000000ull));
}

TEST(X86Geometry, RejectsBadShapes) {
    EXPECT_THROW(Geometry::make(2), std::invalid_argument);
    EXPECT_THROW(Geometry::make(6), std::invalid_argument);
    EXPECT_THROW(Geometry::make(4, true, false, 53), std::invalid_argument);
    EXPECT_THROW(Geometry::make(4, true, false, 31), std::invalid_argument);
}

TEST(X86Canonical, FourAndFiveLevel) {
    EXPECT_TRUE(is_canonical(0x00007FFFFFFFFFFFull, 48));
    EXPECT_TRUE(is_canonical(0xFFFF800000000000ull, 48));
    EXPECT_TRUE(is_canonical(0, 48));
    EXPECT_TRUE(is_canonical(~0ull, 48));
    EXPECT_FALSE(is_canonical(0x0000800000000000ull, 48));
    EXPECT_FALSE(is_canonical(0xFFFF7FFFFFFFFFFFull, 48));
    EXPECT_FALSE(is_canonical(0x0001000000000000ull, 48));
    EXPECT_TRUE(is_canonical(0x00FFFFFFFFFFFFFFull, 57));
    EXPECT_TRUE(is_canonical(0xFF00000000000000ull, 57));
    EXPECT_TRUE(is_canonical(0x0000800000000000ull, 57));
    EXPECT_FALSE(is_canonical(0x0100000000000000ull, 57));
    EXPECT_FALSE(is_canonical(0xFEFFFFFFFFFFFFFFull, 57));
}

// ---- first stage --------------------------------------------------------------------------------

TEST(X86FirstStage, EncodePte4K) {
    const Geometry g = Geometry::make(4);
    FsLeafAttrs a;
    a.write = true;
    a.user = true;
    a.accessed = true;
    a.dirty = true;
    // P | RW | US | A (bit 5) | D (bit 6)
    EXPECT_EQ(encode_leaf(0x12345000ull, 4, g, a), 0x0000000012345067ull);
    a.xd = true;
    a.global = true;
    EXPECT_EQ(encode_leaf(0x12345000ull, 4, g, a), 0x8000000012345167ull);
    // PAT index 7 on a PTE: PWT bit 3, PCD bit 4, PAT bit 7.
    FsLeafAttrs b;
    b.pat_index = 7;
    EXPECT_EQ(encode_leaf(0xABCDE000ull, 4, g, b), 0x00000000ABCDE099ull);
}

TEST(X86FirstStage, EncodeLargeLeaves) {
    const Geometry g = Geometry::make(4, true, true);
    FsLeafAttrs a;
    a.write = true;
    // 2 MiB: P | RW | PS
    EXPECT_EQ(encode_leaf(0x40200000ull, 3, g, a), 0x0000000040200083ull);
    // PAT of a large leaf is bit 12.
    a.pat_index = 4;
    EXPECT_EQ(encode_leaf(0x40200000ull, 3, g, a), 0x0000000040201083ull);
    // 1 GiB: P | RW | US | PS
    FsLeafAttrs b;
    b.write = true;
    b.user = true;
    EXPECT_EQ(encode_leaf(0x1C0000000ull, 2, g, b), 0x00000001C0000087ull);
}

TEST(X86FirstStage, EncodeTable) {
    EXPECT_EQ(encode_table(0xABCDE000ull, FsTableAttrs{}), 0x00000000ABCDE007ull);  // P | RW | US
    FsTableAttrs a;
    a.write = false;
    a.user = false;
    a.xd = true;
    a.accessed = true;
    EXPECT_EQ(encode_table(0x000F000000001000ull, a), 0x800F000000001021ull);
}

TEST(X86FirstStage, EncodeRejects) {
    const Geometry g = Geometry::make(4);  // no 1 GiB
    const FsLeafAttrs a;
    EXPECT_THROW(encode_leaf(0x40000000ull, 2, g, a), std::invalid_argument);  // 1 GiB not supported
    EXPECT_THROW(encode_leaf(0x0ull, 1, g, a), std::invalid_argument);         // never at PML4E
    EXPECT_THROW(encode_leaf(0x0ull, 0, g, a), std::invalid_argument);         // outside a 4-level table
    EXPECT_THROW(encode_leaf(0x40201000ull, 3, g, a), std::invalid_argument);  // 2 MiB misaligned
    EXPECT_THROW(encode_leaf(0x12345800ull, 4, g, a), std::invalid_argument);  // 4 KiB misaligned
    EXPECT_THROW(encode_leaf(0x0010000000000000ull, 4, g, a), std::invalid_argument);  // beyond 52 bits
    EXPECT_THROW(encode_leaf(0x1000000000ull, 4, Geometry::make(4, true, false, 36), a), std::invalid_argument);
    FsLeafAttrs bad_pat;
    bad_pat.pat_index = 8;
    EXPECT_THROW(encode_leaf(0x1000ull, 4, g, bad_pat), std::invalid_argument);
    EXPECT_THROW(encode_table(0x1800ull, FsTableAttrs{}), std::invalid_argument);
    EXPECT_THROW(encode_table(0x0010000000000000ull, FsTableAttrs{}), std::invalid_argument);
}

TEST(X86FirstStage, DecodePte) {
    const Geometry g = Geometry::make(4);
    const Decoded d = decode_fs(0x8000000012345167ull, 4, g);
    EXPECT_EQ(d.kind, Kind::Leaf);
    EXPECT_FALSE(d.reserved);
    EXPECT_EQ(d.addr, 0x12345000ull);
    EXPECT_EQ(d.span, 0x1000ull);
    EXPECT_TRUE(d.read && d.write && d.user && d.accessed && d.dirty && d.global);
    EXPECT_FALSE(d.exec);
    EXPECT_EQ(output_address(d, 0x7000ABCull), 0x12345ABCull);
    // Read-only supervisor page; bits 62:52 are ignored, not address.
    const Decoded r = decode_fs(0x7FF0000000042001ull, 4, g);
    EXPECT_EQ(r.kind, Kind::Leaf);
    EXPECT_EQ(r.addr, 0x42000ull);
    EXPECT_FALSE(r.write || r.user || r.accessed || r.dirty || r.global);
    EXPECT_TRUE(r.exec);
    // PTE bit 7 is PAT, not PS.
    EXPECT_EQ(decode_fs(0x00000000ABCDE099ull, 4, g).memtype, 7);
}

TEST(X86FirstStage, DecodeTableAndLarge) {
    const Geometry g = Geometry::make(5, true, true);
    const Decoded t = decode_fs(0x800F000000001021ull, 0, g);
    EXPECT_EQ(t.kind, Kind::Table);
    EXPECT_EQ(t.addr, 0x000F000000001000ull);
    EXPECT_EQ(t.span, 0x1000000000000ull);
    EXPECT_FALSE(t.write || t.user || t.exec);
    EXPECT_TRUE(t.accessed);
    const Decoded big = decode_fs(0x0000000040201083ull, 3, g);
    EXPECT_EQ(big.kind, Kind::Leaf);
    EXPECT_EQ(big.addr, 0x40200000ull);  // bit 12 is PAT, not address
    EXPECT_EQ(big.span, 0x200000ull);
    EXPECT_EQ(big.memtype, 4);
    EXPECT_EQ(output_address(big, 0x7FFF123456ull), 0x40323456ull);
    const Decoded gig = decode_fs(0x00000001C0000087ull, 2, g);
    EXPECT_EQ(gig.kind, Kind::Leaf);
    EXPECT_EQ(gig.addr, 0x1C0000000ull);
    EXPECT_EQ(gig.span, 0x40000000ull);
}

TEST(X86FirstStage, DecodeInvalidAndReserved) {
    const Geometry g = Geometry::make(4);  // 2 MiB yes, 1 GiB no
    const Decoded np = decode_fs(0x0000000012345066ull, 4, g);  // P clear
    EXPECT_EQ(np.kind, Kind::Invalid);
    EXPECT_FALSE(np.reserved);
    const Decoded ps4 = decode_fs(0x0000000000000083ull, 1, g);  // PS at PML4E
    EXPECT_EQ(ps4.kind, Kind::Invalid);
    EXPECT_TRUE(ps4.reserved);
    EXPECT_TRUE(decode_fs(0x00000001C0000087ull, 2, g).reserved);  // 1 GiB without FL1GP
    EXPECT_TRUE(decode_fs(0x0000000040202083ull, 3, g).reserved);  // address bit 13 in a 2 MiB leaf
    const Geometry narrow = Geometry::make(4, true, false, 39);
    EXPECT_TRUE(decode_fs(0x0000008000001003ull, 4, narrow).reserved);  // address bit 39 beyond width
    EXPECT_EQ(decode_fs(0x0000007FFFFFF003ull, 4, narrow).kind, Kind::Leaf);
}

TEST(X86FirstStage, PermissionsAccumulate) {
    const Geometry g = Geometry::make(4);
    PermAcc acc;
    acc.apply(decode_fs(0x0000000000001007ull, 1, g));  // RW US
    acc.apply(decode_fs(0x0000000000002005ull, 2, g));  // read-only at the PDPE
    acc.apply(decode_fs(0x8000000000003007ull, 3, g));  // XD at the PDE
    acc.apply(decode_fs(0x0000000012345067ull, 4, g));
    EXPECT_TRUE(acc.read);
    EXPECT_FALSE(acc.write);
    EXPECT_FALSE(acc.exec);
    EXPECT_TRUE(acc.user);
}

TEST(X86FirstStage, RoundTrip) {
    const Geometry g = Geometry::make(5, true, true);
    for (unsigned level : {2u, 3u, 4u}) {
        FsLeafAttrs a;
        a.write = true;
        a.user = level != 3;
        a.xd = level == 2;
        a.accessed = true;
        a.dirty = level == 4;
        a.global = true;
        a.pat_index = 5;
        const uint64_t pa = 0x000A'BC00'0000'0000ull;
        const Decoded d = decode_fs(encode_leaf(pa, level, g, a), level, g);
        EXPECT_EQ(d.kind, Kind::Leaf) << level;
        EXPECT_EQ(d.addr, pa) << level;
        EXPECT_EQ(d.write, a.write);
        EXPECT_EQ(d.user, a.user);
        EXPECT_EQ(d.exec, !a.xd);
        EXPECT_EQ(d.dirty, a.dirty);
        EXPECT_TRUE(d.global && d.accessed);
        EXPECT_EQ(d.memtype, 5);
    }
    const Decoded t = decode_fs(encode_table(0x000FFFFFFFFFF000ull, FsTableAttrs{}), 1, g);
    EXPECT_EQ(t.kind, Kind::Table);
    EXPECT_EQ(t.addr, 0x000FFFFFFFFFF000ull);
}

// ---- second stage -------------------------------------------------------------------------------

TEST(X86SecondStage, Encode2MLeaf) {
    const Geometry g = Geometry::make(4);
    SsLeafAttrs a;
    a.read = true;
    a.write = true;
    a.emt = 6;  // WB
    a.ipat = true;
    a.snoop = true;
    // R | W | EMT 6 << 3 | IPAT bit 6 | PS bit 7 | SNP bit 11
    EXPECT_EQ(encode_leaf(0x7FE00000ull, 3, g, a), 0x000000007FE008F3ull);
}

TEST(X86SecondStage, Encode4KLeafAndTable) {
    const Geometry g = Geometry::make(3);
    SsLeafAttrs a;
    a.read = true;
    a.accessed = true;
    a.dirty = true;
    a.exec = true;
    // R | X | A bit 8 | D bit 9
    EXPECT_EQ(encode_leaf(0xFEDCB000ull, 4, g, a), 0x00000000FEDCB305ull);
    EXPECT_EQ(encode_table(0x1000ull, SsTableAttrs{}), 0x0000000000001003ull);
    SsTableAttrs ro;
    ro.write = false;
    ro.exec = true;
    ro.accessed = true;
    EXPECT_EQ(encode_table(0x0000123456789000ull, ro), 0x0000123456789105ull);
}

TEST(X86SecondStage, EncodeRejects) {
    const Geometry g = Geometry::make(4);
    SsLeafAttrs none;
    EXPECT_THROW(encode_leaf(0x1000ull, 4, g, none), std::invalid_argument);  // would read as not present
    SsTableAttrs no_rw;
    no_rw.read = false;
    no_rw.write = false;
    EXPECT_THROW(encode_table(0x1000ull, no_rw), std::invalid_argument);
    SsLeafAttrs r;
    r.read = true;
    EXPECT_THROW(encode_leaf(0x40000000ull, 2, g, r), std::invalid_argument);  // no 1 GiB support
    EXPECT_THROW(encode_leaf(0x0ull, 1, g, r), std::invalid_argument);
    EXPECT_THROW(encode_leaf(0x1000ull, 1, Geometry::make(3), r), std::invalid_argument);  // outside 3-level
    EXPECT_THROW(encode_leaf(0x100000ull, 3, g, r), std::invalid_argument);     // 2 MiB misaligned
    r.emt = 8;
    EXPECT_THROW(encode_leaf(0x1000ull, 4, g, r), std::invalid_argument);
}

TEST(X86SecondStage, Decode) {
    const Geometry g = Geometry::make(4);
    const Decoded d = decode_ss(0x000000007FE008F3ull, 3, g);
    EXPECT_EQ(d.kind, Kind::Leaf);
    EXPECT_EQ(d.addr, 0x7FE00000ull);
    EXPECT_EQ(d.span, 0x200000ull);
    EXPECT_TRUE(d.read && d.write && d.user && d.ipat && d.snoop);
    EXPECT_FALSE(d.exec || d.accessed || d.dirty || d.global);
    EXPECT_EQ(d.memtype, 6);
    const Decoded t = decode_ss(0x0000123456789105ull, 1, g);
    EXPECT_EQ(t.kind, Kind::Table);
    EXPECT_EQ(t.addr, 0x0000123456789000ull);
    EXPECT_TRUE(t.read && t.exec && t.accessed);
    EXPECT_FALSE(t.write);
    // Present means R or W: X alone is not present.
    EXPECT_EQ(decode_ss(0x0000000000005004ull, 4, g).kind, Kind::Invalid);
    EXPECT_FALSE(decode_ss(0x0000000000005004ull, 4, g).reserved);
    const Decoded wo = decode_ss(0x0000000000005002ull, 4, g);  // write-only is present
    EXPECT_EQ(wo.kind, Kind::Leaf);
    EXPECT_FALSE(wo.read);
    EXPECT_TRUE(wo.write);
    EXPECT_TRUE(decode_ss(0x0000000000000083ull, 1, g).reserved);  // PS at PML4E
    EXPECT_TRUE(decode_ss(0x0000000040000083ull, 2, g).reserved);  // 1 GiB without SLLPS bit 1
    EXPECT_TRUE(decode_ss(0x000000007FE01083ull, 3, g).reserved);  // address bit 12 in a 2 MiB leaf
}

TEST(X86SecondStage, RoundTrip) {
    const Geometry g = Geometry::make(5, true, true, 46);
    for (unsigned level : {2u, 3u, 4u}) {
        SsLeafAttrs a;
        a.read = level != 3;
        a.write = true;
        a.exec = level == 4;
        a.emt = 4;
        a.ipat = level == 2;
        a.accessed = true;
        a.dirty = true;
        a.snoop = level == 3;
        const uint64_t pa = 0x0000'3FC0'0000'0000ull;
        const Decoded d = decode_ss(encode_leaf(pa, level, g, a), level, g);
        EXPECT_EQ(d.kind, Kind::Leaf) << level;
        EXPECT_EQ(d.addr, pa);
        EXPECT_EQ(d.read, a.read);
        EXPECT_EQ(d.exec, a.exec);
        EXPECT_EQ(d.ipat, a.ipat);
        EXPECT_EQ(d.snoop, a.snoop);
        EXPECT_EQ(d.memtype, 4);
        EXPECT_TRUE(d.write && d.accessed && d.dirty);
    }
    EXPECT_EQ(decode(0x000000007FE008F3ull, 3, g, Stage::Second).kind, Kind::Leaf);
    EXPECT_EQ(decode(0x000000007FE008F3ull, 3, g, Stage::First).kind, Kind::Leaf);  // same bits, other meaning
    EXPECT_FALSE(decode(0x000000007FE008F3ull, 3, g, Stage::First).user);
}
