// VMSAv8-64 (AArch64 long-descriptor) translation table descriptor codec: geometry, encode, decode.
#pragma once

#include <cstdint>
#include <optional>

namespace iommusim::pgtable {

// 48-bit output addresses only: 52-bit PA (LPA/LPA2) is not modelled.
inline constexpr unsigned kOaBits = 48;
inline constexpr uint64_t kOaMask = (uint64_t{1} << kOaBits) - 1;
inline constexpr unsigned kLastLevel = 3;

enum class Granule : uint8_t { K4, K16, K64 };

constexpr unsigned granule_shift(Granule g) {
    return g == Granule::K4 ? 12u : g == Granule::K16 ? 14u : 16u;
}

// Shape of one translation regime: which levels exist and how a VA is split between them.
struct Geometry {
    Granule granule = Granule::K4;
    uint8_t shift = 12;        // log2(granule)
    uint8_t stride = 9;        // index bits of a full table (shift - 3)
    uint8_t start_level = 0;
    uint8_t last_level = kLastLevel;
    uint8_t input_bits = 48;   // 64 - TxSZ
    uint8_t start_bits = 9;    // index bits at the start level (< stride, or > stride with S2 concatenation)

    // Stage 1 (and stage 2 without explicit SL0): start level = 4 - ceil((input_bits - shift) / stride).
    // Throws std::invalid_argument unless shift < input_bits <= 48.
    static Geometry make(Granule g, unsigned input_bits);
    // Stage 2 with the STE/VTCR SL0 encoding (4K: level 2 - sl0; 16K/64K: level 3 - sl0). Returns nullopt
    // when SL0 is reserved or inconsistent with the input size (more than 16 concatenated tables, or a start
    // level too low to consume at least one index bit).
    static std::optional<Geometry> make_s2(Granule g, unsigned input_bits, unsigned sl0);

    // SL0 value that encodes this geometry's start level (stage 2).
    constexpr unsigned sl0() const {
        return granule == Granule::K4 ? 2u - start_level : 3u - start_level;
    }
    // Lowest VA bit resolved by `level`.
    constexpr unsigned level_shift(unsigned level) const { return shift + (kLastLevel - level) * stride; }
    constexpr unsigned index_bits(unsigned level) const { return level == start_level ? start_bits : stride; }
    constexpr unsigned index(uint64_t va, unsigned level) const {
        return static_cast<unsigned>((va >> level_shift(level)) & ((uint64_t{1} << index_bits(level)) - 1));
    }
    constexpr unsigned entries(unsigned level) const { return 1u << index_bits(level); }
    constexpr uint64_t entry_span(unsigned level) const { return uint64_t{1} << level_shift(level); }
    constexpr unsigned table_bytes(unsigned level) const { return entries(level) * 8u; }
    // Granule-sized tables making up the start level (> 1 only for concatenated stage-2 tables).
    constexpr unsigned concatenated_tables() const {
        const unsigned b = table_bytes(start_level), g = 1u << shift;
        return b > g ? b / g : 1u;
    }
    // Block descriptors: 4K at levels 1-2, 16K/64K at level 2 (lower levels need 52-bit OA).
    constexpr bool block_allowed(unsigned level) const {
        return granule == Granule::K4 ? (level == 1 || level == 2) : level == 2;
    }
    constexpr bool level_valid(unsigned level) const { return level >= start_level && level <= last_level; }
};

enum class Kind : uint8_t { Invalid, Table, Block, Page };

struct S1Attrs {
    bool ro = false;          // AP[2], bit 7
    bool user = false;        // AP[1], bit 6: EL0 access
    bool pxn = false;         // bit 53
    bool uxn = false;         // bit 54 (XN)
    bool af = false;          // bit 10
    bool ng = false;          // bit 11
    uint8_t attr_index = 0;   // AttrIndx[2:0], bits 4:2
    uint8_t sh = 0;           // SH[1:0], bits 9:8
    bool dbm = false;         // bit 51
    bool contiguous = false;  // bit 52
    friend bool operator==(const S1Attrs&, const S1Attrs&) = default;
};

struct S2Attrs {
    bool read = false;        // S2AP[0], bit 6
    bool write = false;       // S2AP[1], bit 7
    uint8_t xn = 0;           // XN[1:0], bits 54:53
    bool af = false;          // bit 10
    uint8_t memattr = 0;      // MemAttr[3:0], bits 5:2 (0xF: Normal WB)
    uint8_t sh = 0;           // SH[1:0], bits 9:8
    bool contiguous = false;  // bit 52
    friend bool operator==(const S2Attrs&, const S2Attrs&) = default;
};

// Hierarchical attributes of a table descriptor (bits 63:59), as carried in Decoded::table_attrs.
namespace tbl {
inline constexpr uint8_t PXN = 1u << 0;     // PXNTable, bit 59
inline constexpr uint8_t XN = 1u << 1;      // UXNTable/XNTable, bit 60
inline constexpr uint8_t AP_NO_EL0 = 1u << 2;  // APTable[0], bit 61
inline constexpr uint8_t AP_RO = 1u << 3;   // APTable[1], bit 62
inline constexpr uint8_t NS = 1u << 4;      // NSTable, bit 63
}  // namespace tbl

struct Decoded {
    Kind kind = Kind::Invalid;
    uint64_t addr = 0;        // next-table PA (Table) or output base (Block/Page)
    uint64_t span = 0;        // bytes covered by this entry
    S1Attrs s1{};             // leaf attributes when decoded as stage 1
    S2Attrs s2{};             // leaf attributes when decoded as stage 2
    uint8_t table_attrs = 0;  // Table only: raw bits 63:59, see tbl::
};

namespace desc {
inline constexpr uint64_t VALID = 1ull << 0;
inline constexpr uint64_t TYPE = 1ull << 1;   // 1: table/page, 0: block
inline constexpr uint64_t AF = 1ull << 10;
inline constexpr uint64_t NG = 1ull << 11;
inline constexpr uint64_t DBM = 1ull << 51;
inline constexpr uint64_t CONT = 1ull << 52;
inline constexpr uint64_t PXN = 1ull << 53;
inline constexpr uint64_t UXN = 1ull << 54;
inline constexpr uint64_t AP_USER = 1ull << 6;   // stage 1 AP[1]
inline constexpr uint64_t AP_RO = 1ull << 7;     // stage 1 AP[2]
inline constexpr uint64_t S2AP_R = 1ull << 6;
inline constexpr uint64_t S2AP_W = 1ull << 7;
}  // namespace desc

// Encoders build descriptors for the host; they throw std::invalid_argument on a misaligned or
// out-of-range address, or a leaf at a level where the granule forbids it.
uint64_t encode_table(uint64_t next_table_pa, uint8_t table_attrs = 0);  // pa must be 4 KiB aligned
uint64_t encode_table(uint64_t next_table_pa, const Geometry& g, uint8_t table_attrs = 0);  // granule aligned
uint64_t encode_s1_leaf(uint64_t pa, unsigned level, const Geometry& g, const S1Attrs& a);
uint64_t encode_s2_leaf(uint64_t pa, unsigned level, const Geometry& g, const S2Attrs& a);

inline S1Attrs decode_s1_attrs(uint64_t d) {
    S1Attrs a;
    a.ro = d & desc::AP_RO;
    a.user = d & desc::AP_USER;
    a.pxn = d & desc::PXN;
    a.uxn = d & desc::UXN;
    a.af = d & desc::AF;
    a.ng = d & desc::NG;
    a.attr_index = static_cast<uint8_t>((d >> 2) & 7);
    a.sh = static_cast<uint8_t>((d >> 8) & 3);
    a.dbm = d & desc::DBM;
    a.contiguous = d & desc::CONT;
    return a;
}

inline S2Attrs decode_s2_attrs(uint64_t d) {
    S2Attrs a;
    a.read = d & desc::S2AP_R;
    a.write = d & desc::S2AP_W;
    a.xn = static_cast<uint8_t>((d >> 53) & 3);
    a.af = d & desc::AF;
    a.memattr = static_cast<uint8_t>((d >> 2) & 0xF);
    a.sh = static_cast<uint8_t>((d >> 8) & 3);
    a.contiguous = d & desc::CONT;
    return a;
}

// Hot path of every walker: no allocation, no throw. `level` must be within g's levels.
inline Decoded decode(uint64_t d, unsigned level, const Geometry& g, bool stage2) {
    Decoded r;
    if (!(d & desc::VALID)) return r;
    const bool type = d & desc::TYPE;
    if (level >= kLastLevel) {
        if (!type) return r;  // 0b01 at the last level is reserved
        r.kind = Kind::Page;
    } else if (type) {
        r.kind = Kind::Table;
        r.span = g.entry_span(level);
        // Bits below the granule (and, for 64K, OA[51:48] in bits 15:12) are not address bits here.
        r.addr = d & kOaMask & ~((uint64_t{1} << g.shift) - 1);
        r.table_attrs = static_cast<uint8_t>(d >> 59);
        return r;
    } else if (g.block_allowed(level)) {
        r.kind = Kind::Block;
    } else {
        return r;
    }
    r.span = g.entry_span(level);
    r.addr = d & kOaMask & ~(r.span - 1);
    if (stage2)
        r.s2 = decode_s2_attrs(d);
    else
        r.s1 = decode_s1_attrs(d);
    return r;
}

// Output address of `va` through a Block/Page entry.
inline uint64_t output_address(const Decoded& d, uint64_t va) { return d.addr | (va & (d.span - 1)); }

}  // namespace iommusim::pgtable
