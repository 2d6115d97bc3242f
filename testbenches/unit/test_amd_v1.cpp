// Unit tests of the AMD-Vi v1 page table codec against hand-computed entries and hand-built tables.
#include "models/pgtable/amd_v1.h"

#include <gtest/gtest.h>

#include <map>
#include <stdexcept>

using namespace iommusim::pgtable::amdv1;

// ---- geometry ---------------------------------------------------------------------------------

TEST(AmdV1Geometry, LevelShiftsAndInputBits) {
    EXPECT_EQ(level_shift(1), 12u);
    EXPECT_EQ(level_shift(2), 21u);
    EXPECT_EQ(level_shift(3), 30u);
    EXPECT_EQ(level_shift(4), 39u);
    EXPECT_EQ(level_shift(5), 48u);
    EXPECT_EQ(level_shift(6), 57u);
    EXPECT_EQ(entry_span(2), 0x200000ull);
    EXPECT_EQ(entry_span(4), 0x8000000000ull);
    EXPECT_EQ(Geometry::make(3).input_bits(), 39u);
    EXPECT_EQ(Geometry::make(4).input_bits(), 48u);
    EXPECT_EQ(Geometry::make(5).input_bits(), 57u);
    EXPECT_EQ(Geometry::make(6).input_bits(), 64u);
    EXPECT_EQ(Geometry::make(6).entries(6), 128u);
    EXPECT_EQ(Geometry::make(6).entries(5), 512u);
    EXPECT_THROW(Geometry::make(0), std::invalid_argument);
    EXPECT_THROW(Geometry::make(7), std::invalid_argument);
}

TEST(AmdV1Geometry, VaRange) {
    const Geometry g3 = Geometry::make(3);
    EXPECT_TRUE(g3.va_in_range(0x7FFFFFFFFFull));
    EXPECT_FALSE(g3.va_in_range(0x8000000000ull));
    const Geometry g4 = Geometry::make(4);
    EXPECT_TRUE(g4.va_in_range(0xFFFFFFFFFFFFull));
    EXPECT_FALSE(g4.va_in_range(0x1000000000000ull));
    EXPECT_TRUE(Geometry::make(6).va_in_range(~0ull));
}

TEST(AmdV1Geometry, Indices) {
    // Indices 0x55 / 0x1A5 / 0x0F3 / 0x1FF / 0x001 / 0x100 (levels 6..1), offset 0xABC.
    const uint64_t va = 0xABA579FFC0300ABCull;
    EXPECT_EQ(index(va, 6), 0x55u);
    EXPECT_EQ(index(va, 5), 0x1A5u);
    EXPECT_EQ(index(va, 4), 0x0F3u);
    EXPECT_EQ(index(va, 3), 0x1FFu);
    EXPECT_EQ(index(va, 2), 0x001u);
    EXPECT_EQ(index(va, 1), 0x100u);
    EXPECT_EQ(Geometry::make(6).entry_offset(va, 6), 0x2A8u);
    EXPECT_EQ(Geometry::make(6).entry_offset(va, 1), 0x800u);
}

// ---- encoders ---------------------------------------------------------------------------------

TEST(AmdV1Encode, Pde) {
    // PR | NL 3 << 9 | address | IR | IW
    EXPECT_EQ(encode_pde(0x12345000, 3), 0x6000000012345601ull);
    EXPECT_EQ(encode_pde(0x12345000, 2, false, false), 0x0000000012345401ull);
    EXPECT_EQ(encode_pde(0xFFFFFFFFFF000ull, 1, true, false), 0x200FFFFFFFFFF201ull);
    EXPECT_THROW(encode_pde(0x12345800, 3), std::invalid_argument);         // not 4 KiB aligned
    EXPECT_THROW(encode_pde(0x10000000000000ull, 3), std::invalid_argument);  // beyond 52 bits
    EXPECT_THROW(encode_pde(0x1000, 0), std::invalid_argument);
    EXPECT_THROW(encode_pde(0x1000, 6), std::invalid_argument);
    EXPECT_THROW(encode_pde(0x1000, 7), std::invalid_argument);
}

TEST(AmdV1Encode, NaturalSizePtes) {
    EXPECT_EQ(encode_pte(0xABCDE000, 1, 0x1000, true, false), 0x20000000ABCDE001ull);
    EXPECT_EQ(encode_pte(0x200000, 2, 0x200000, true, true), 0x6000000000200001ull);
    EXPECT_EQ(encode_pte(0x40000000, 3, 0x40000000, true, true), 0x6000000040000001ull);
    // IW | FC | U
    EXPECT_EQ(encode_pte(0x2000, 1, 0x1000, false, true, true, true), 0x5800000000002001ull);
}

TEST(AmdV1Encode, NextLevel7Sizes) {
    // 8 KiB at level 1: no address bit forced, bit 12 clear, NL 7 (0xE00).
    EXPECT_EQ(encode_pte(0x12346000, 1, 0x2000, true, true), 0x6000000012346E01ull);
    // 64 KiB: bits 14:12 set, bit 15 clear.
    EXPECT_EQ(encode_pte(0x50000, 1, 0x10000, true, false), 0x2000000000057E01ull);
    // 1 MiB: bits 18:12 set, bit 19 clear (the largest size of a level-1 entry).
    EXPECT_EQ(encode_pte(0x300000, 1, 0x100000, true, true), 0x600000000037FE01ull);
    // 4 MiB at level 2: bits 20:12 set, bit 21 clear.
    EXPECT_EQ(encode_pte(0xC00000, 2, 0x400000, true, true), 0x6000000000DFFE01ull);
    // 4 GiB at level 3: bits 30:12 set, bit 31 clear.
    EXPECT_EQ(encode_pte(0x100000000ull, 3, 0x100000000ull, true, true), 0x600000017FFFFE01ull);
    // 2^52 at level 5: bits 50:12 set, bit 51 clear.
    EXPECT_EQ(encode_pte(0, 5, 1ull << 52, true, true), 0x6007FFFFFFFFFE01ull);
}

TEST(AmdV1Encode, PteErrors) {
    EXPECT_THROW(encode_pte(0x200000, 1, 0x200000, true, true), std::invalid_argument);  // 2 MiB lives at level 2
    EXPECT_THROW(encode_pte(0x1000, 2, 0x1000, true, true), std::invalid_argument);      // smaller than level 2
    EXPECT_THROW(encode_pte(0x3000, 1, 0x3000, true, true), std::invalid_argument);      // not a power of two
    EXPECT_THROW(encode_pte(0x1000, 1, 0x2000, true, true), std::invalid_argument);      // misaligned for 8 KiB
    EXPECT_THROW(encode_pte(0, 6, 1ull << 57, true, true), std::invalid_argument);       // no leaves at level 6
    EXPECT_THROW(encode_pte(0, 0, 0x1000, true, true), std::invalid_argument);
    EXPECT_THROW(encode_pte(0, 5, 1ull << 53, true, true), std::invalid_argument);       // beyond the address field
    EXPECT_THROW(encode_pte(1ull << 52, 1, 0x1000, true, true), std::invalid_argument);
}

TEST(AmdV1Encode, LeafLevelAndReplicas) {
    EXPECT_EQ(leaf_level(0x1000), 1u);
    EXPECT_EQ(leaf_level(0x10000), 1u);
    EXPECT_EQ(leaf_level(0x200000), 2u);
    EXPECT_EQ(leaf_level(0x400000), 2u);
    EXPECT_EQ(leaf_level(0x40000000), 3u);
    EXPECT_EQ(leaf_level(1ull << 52), 5u);
    EXPECT_EQ(replicas(1, 0x10000), 16u);
    EXPECT_EQ(replicas(2, 0x400000), 2u);
    EXPECT_EQ(replicas(3, 0x40000000), 1u);
    EXPECT_EQ(replicas(5, 1ull << 52), 16u);
}

// ---- decode -----------------------------------------------------------------------------------

TEST(AmdV1Decode, NotPresent) {
    EXPECT_EQ(decode(0, 1).kind, Kind::Invalid);
    EXPECT_EQ(decode(0, 1).error, Error::NotPresent);
    const Decoded d = decode(0x6000000012345600ull, 4);  // everything but PR
    EXPECT_EQ(d.kind, Kind::Invalid);
    EXPECT_EQ(d.error, Error::NotPresent);
}

TEST(AmdV1Decode, Pde) {
    const Decoded d = decode(0x6000000012345601ull, 4);
    EXPECT_EQ(d.kind, Kind::Table);
    EXPECT_EQ(d.addr, 0x12345000ull);
    EXPECT_EQ(d.next_level, 3);
    EXPECT_EQ(d.span, 0x8000000000ull);
    EXPECT_TRUE(d.read);
    EXPECT_TRUE(d.write);
    // Skipping PDE: level 6 straight to level 2, IR only.
    const Decoded s = decode(0x2000000000ABC401ull, 6);
    EXPECT_EQ(s.kind, Kind::Table);
    EXPECT_EQ(s.next_level, 2);
    EXPECT_EQ(s.addr, 0xABC000ull);
    EXPECT_TRUE(s.read);
    EXPECT_FALSE(s.write);
}

TEST(AmdV1Decode, BadNextLevel) {
    EXPECT_EQ(decode(0x6000000012345801ull, 4).error, Error::NextLevel);  // NL 4 at level 4
    EXPECT_EQ(decode(0x6000000012345A01ull, 4).error, Error::NextLevel);  // NL 5 at level 4
    EXPECT_EQ(decode(0x6000000012345201ull, 1).error, Error::NextLevel);  // NL 1 at level 1
    EXPECT_EQ(decode(0x6000000012345C01ull, 6).error, Error::NextLevel);  // NL 6 at level 6
}

TEST(AmdV1Decode, NaturalLeaves) {
    const Decoded g = decode(0x6000000040000001ull, 3);
    EXPECT_EQ(g.kind, Kind::Leaf);
    EXPECT_EQ(g.addr, 0x40000000ull);
    EXPECT_EQ(g.span, 0x40000000ull);
    EXPECT_EQ(g.page_shift, 30);
    const Decoded p = decode(0x5800000000002001ull, 1);
    EXPECT_EQ(p.kind, Kind::Leaf);
    EXPECT_EQ(p.addr, 0x2000ull);
    EXPECT_EQ(p.span, 0x1000ull);
    EXPECT_FALSE(p.read);
    EXPECT_TRUE(p.write);
    EXPECT_TRUE(p.fc);
    EXPECT_TRUE(p.u);
    EXPECT_EQ(output_address(p, 0x7777ABCull), 0x2ABCull);
    // A level-2 leaf ignores address bits below 2 MiB.
    EXPECT_EQ(decode(0x6000000000345001ull, 2).addr, 0x200000ull);
    // Top level never holds leaves.
    EXPECT_EQ(decode(0x6000000000000001ull, 6).error, Error::LeafAtTop);
    EXPECT_EQ(decode(0x6000000000000E01ull, 6).error, Error::LeafAtTop);
}

TEST(AmdV1Decode, NextLevel7Sizes) {
    const Decoded a = decode(0x6000000012346E01ull, 1);
    EXPECT_EQ(a.kind, Kind::Leaf);
    EXPECT_EQ(a.span, 0x2000ull);
    EXPECT_EQ(a.addr, 0x12346000ull);
    const Decoded b = decode(0x2000000000057E01ull, 1);
    EXPECT_EQ(b.span, 0x10000ull);
    EXPECT_EQ(b.addr, 0x50000ull);
    EXPECT_TRUE(b.read);
    EXPECT_FALSE(b.write);
    const Decoded c = decode(0x600000000037FE01ull, 1);
    EXPECT_EQ(c.span, 0x100000ull);
    EXPECT_EQ(c.addr, 0x300000ull);
    const Decoded d = decode(0x6000000000DFFE01ull, 2);
    EXPECT_EQ(d.span, 0x400000ull);
    EXPECT_EQ(d.page_shift, 22);
    EXPECT_EQ(d.addr, 0xC00000ull);
    EXPECT_EQ(output_address(d, 0x20000F23456ull), 0xF23456ull);
    const Decoded e = decode(0x600000017FFFFE01ull, 3);
    EXPECT_EQ(e.span, 0x100000000ull);
    EXPECT_EQ(e.addr, 0x100000000ull);
    const Decoded f = decode(0x6007FFFFFFFFFE01ull, 5);
    EXPECT_EQ(f.span, 1ull << 52);
    EXPECT_EQ(f.addr, 0ull);
    // NL 7 naming the level's own size (bits 19:12 set, bit 20 clear at level 2) is accepted.
    const Decoded n = decode(0x60000000002FFE01ull, 2);
    EXPECT_EQ(n.kind, Kind::Leaf);
    EXPECT_EQ(n.span, 0x200000ull);
    EXPECT_EQ(n.addr, 0x200000ull);
}

TEST(AmdV1Decode, NextLevel7BadSizes) {
    // 8 KiB (bit 12 clear) in a level-2 entry: smaller than the entry.
    EXPECT_EQ(decode(0x6000000000002E01ull, 2).error, Error::PageSize);
    // 2 MiB (bits 19:12 set, bit 20 clear) in a level-1 entry: as large as the whole table.
    EXPECT_EQ(decode(0x60000000000FFE01ull, 1).error, Error::PageSize);
    // Address bits 51:12 all set: lowest clear bit is 52, outside the field.
    EXPECT_EQ(decode(0x600FFFFFFFFFFE01ull, 5).error, Error::PageSize);
}

TEST(AmdV1Decode, SkippedMask) {
    EXPECT_EQ(skipped_va_mask(4, 3), 0ull);
    EXPECT_EQ(skipped_va_mask(4, 2), 0x7FC0000000ull);             // level 3 bits [38:30]
    EXPECT_EQ(skipped_va_mask(6, 1), 0x01FFFFFFFFE00000ull);      // levels 5..2, bits [56:21]
    EXPECT_EQ(skipped_va_mask(3, 1), 0x3FE00000ull);               // level 2 bits [29:21]
}

// ---- reference walk over hand-built tables ----------------------------------------------------

namespace {

struct Mem {
    std::map<uint64_t, uint64_t> words;
    bool operator()(uint64_t pa, uint64_t& v) const {
        if (pa >= 0x100000000ull) return false;  // bus error outside the first 4 GiB
        const auto it = words.find(pa);
        v = it == words.end() ? 0 : it->second;
        return true;
    }
};

Mem four_level_tables() {
    Mem m;
    // Plain 4-level path: root 0x1000 [1] -> 0x2000 [2] -> 0x3000 [3] -> 0x4000 [4] -> 4K page 0xABC000 (IR).
    m.words[0x1008] = 0x6000000000002601ull;
    m.words[0x2010] = 0x6000000000003401ull;
    m.words[0x3018] = 0x6000000000004201ull;
    m.words[0x4020] = 0x2000000000ABC001ull;
    // Level 4 [2] skips level 3: -> 0x5000 (level 2) [5] -> 0x6000 [6] -> page 0xDEF000 (RW).
    m.words[0x1010] = 0x6000000000005401ull;
    m.words[0x5028] = 0x6000000000006201ull;
    m.words[0x6030] = 0x6000000000DEF001ull;
    // Level 4 [3] skips levels 3 and 2: -> 0x7000 (level 1) [7] -> page 0x123456000.
    m.words[0x1018] = 0x6000000000007201ull;
    m.words[0x7038] = 0x6000000123456001ull;
    // Level 4 [4] -> 0x8000 [0] -> 0x9000 [7]: a 4 MiB NL-7 page at 0xC00000 (replica 2 of 2).
    m.words[0x1020] = 0x6000000000008601ull;
    m.words[0x8000] = 0x6000000000009401ull;
    m.words[0x9038] = 0x6000000000DFFE01ull;
    // Level 4 [5]: NL 5 at level 4 (malformed).
    m.words[0x1028] = 0x6000000000008A01ull;
    // Level 4 [6]: table above the 4 GiB bus-error line.
    m.words[0x1030] = 0x6000000100000601ull;
    return m;
}

}  // namespace

TEST(AmdV1Walk, FourLevels) {
    const Mem m = four_level_tables();
    const WalkResult r = walk(Geometry::make(4), 0x1000, 0x8080604123ull, m);
    EXPECT_EQ(r.fault, Fault::None);
    EXPECT_EQ(r.pa, 0xABC123ull);
    EXPECT_EQ(r.page_shift, 12);
    EXPECT_EQ(r.reads, 4);
    EXPECT_EQ(r.level, 1);
    EXPECT_TRUE(r.read);
    EXPECT_FALSE(r.write);
}

TEST(AmdV1Walk, SkipsOneLevel) {
    const Mem m = four_level_tables();
    const WalkResult r = walk(Geometry::make(4), 0x1000, 0x10000A06010ull, m);
    EXPECT_EQ(r.fault, Fault::None);
    EXPECT_EQ(r.pa, 0xDEF010ull);
    EXPECT_EQ(r.reads, 3);
    EXPECT_TRUE(r.write);
    // The same VA with a level-3 index bit set faults after the skipping PDE.
    const WalkResult f = walk(Geometry::make(4), 0x1000, 0x10040A06010ull, m);
    EXPECT_EQ(f.fault, Fault::SkipNonZero);
    EXPECT_EQ(f.reads, 1);
}

TEST(AmdV1Walk, SkipsTwoLevels) {
    const Mem m = four_level_tables();
    const WalkResult r = walk(Geometry::make(4), 0x1000, 0x18000007FFFull, m);
    EXPECT_EQ(r.fault, Fault::None);
    EXPECT_EQ(r.pa, 0x123456FFFull);
    EXPECT_EQ(r.reads, 2);
    EXPECT_EQ(walk(Geometry::make(4), 0x1000, 0x18000207FFFull, m).fault, Fault::SkipNonZero);  // level-2 bit
}

TEST(AmdV1Walk, NextLevel7Page) {
    const Mem m = four_level_tables();
    const WalkResult r = walk(Geometry::make(4), 0x1000, 0x20000F23456ull, m);
    EXPECT_EQ(r.fault, Fault::None);
    EXPECT_EQ(r.page_shift, 22);
    EXPECT_EQ(r.pa, 0xF23456ull);
}

TEST(AmdV1Walk, Faults) {
    const Mem m = four_level_tables();
    const Geometry g = Geometry::make(4);
    EXPECT_EQ(walk(g, 0x1000, 1ull << 48, m).fault, Fault::AddrRange);
    EXPECT_EQ(walk(g, 0x1000, 1ull << 48, m).reads, 0);
    const WalkResult np = walk(g, 0x1000, 0x3800000000ull, m);  // level 4 [0] empty
    EXPECT_EQ(np.fault, Fault::NotPresent);
    EXPECT_EQ(np.level, 4);
    const WalkResult bad = walk(g, 0x1000, 5ull << 39, m);
    EXPECT_EQ(bad.fault, Fault::Malformed);
    EXPECT_EQ(bad.error, Error::NextLevel);
    EXPECT_EQ(walk(g, 0x1000, 6ull << 39, m).fault, Fault::ReadError);
}

TEST(AmdV1Walk, PermissionsAndedAndMode6Skip) {
    Mem m;
    // Mode 3: the level-3 PDE grants read only, the leaf read/write.
    m.words[0xA008] = 0x200000000000B401ull;
    m.words[0xB000] = 0x600000000000C201ull;
    m.words[0xC000] = 0x6000000000005001ull;
    const WalkResult r = walk(Geometry::make(3), 0xA000, 0x40000000ull, m);
    EXPECT_EQ(r.fault, Fault::None);
    EXPECT_EQ(r.pa, 0x5000ull);
    EXPECT_TRUE(r.read);
    EXPECT_FALSE(r.write);
    // Mode 6: top index 0x7F (VA[63:57]) -> straight to a level-1 table.
    m.words[0xD3F8] = 0x600000000000E201ull;
    m.words[0xE0F8] = 0x6000000000077001ull;
    const WalkResult t = walk(Geometry::make(6), 0xD000, 0xFE0000000001F005ull, m);
    EXPECT_EQ(t.fault, Fault::None);
    EXPECT_EQ(t.pa, 0x77005ull);
    EXPECT_EQ(t.reads, 2);
    EXPECT_EQ(walk(Geometry::make(6), 0xD000, 0xFE0000000021F005ull, m).fault, Fault::SkipNonZero);
}
