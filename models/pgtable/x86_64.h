// x86-64 paging-structure entry codec: VT-d first stage (also AMD-Vi v2/GCR3) and VT-d second stage.
#pragma once

#include <cstdint>

namespace iommusim::pgtable::x86 {

// Level numbering counts from the root of the 5-level hierarchy, fixed to the entry format:
//   0 PML5E, 1 PML4E, 2 PDPE (1 GiB leaf), 3 PDE (2 MiB leaf), 4 PTE (4 KiB).
// A 4-level table starts at level 1 and a 3-level (39-bit second-stage) table at level 2, as a shorter
// VMSAv8 regime starts at a later level: the walker runs start_level..kLastLevel either way.
inline constexpr unsigned kLastLevel = 4;
inline constexpr unsigned kMaxOaBits = 52;  // MAXPHYADDR ceiling of the format
inline constexpr uint64_t kAddrMask = 0x000F'FFFF'FFFF'F000ull;  // bits 51:12

enum class Stage : uint8_t { First, Second };
enum class Kind : uint8_t { Invalid, Table, Leaf };

// First-stage (IA-32e paging) entry bits.
namespace fs {
inline constexpr uint64_t P = 1ull << 0;
inline constexpr uint64_t RW = 1ull << 1;
inline constexpr uint64_t US = 1ull << 2;
inline constexpr uint64_t PWT = 1ull << 3;
inline constexpr uint64_t PCD = 1ull << 4;
inline constexpr uint64_t A = 1ull << 5;
inline constexpr uint64_t D = 1ull << 6;          // leaf only
inline constexpr uint64_t PS = 1ull << 7;         // PDPE/PDE: leaf; PTE: this bit is PAT
inline constexpr uint64_t PAT_PTE = 1ull << 7;
inline constexpr uint64_t G = 1ull << 8;          // leaf only
inline constexpr uint64_t EA = 1ull << 10;        // VT-d extended-accessed (PASID entry EAFE)
inline constexpr uint64_t PAT_LARGE = 1ull << 12; // PAT of a 2M/1G leaf
inline constexpr uint64_t XD = 1ull << 63;
}  // namespace fs

// VT-d second-stage entry bits (EPT-like). Bit 62 (TM in VT-d 2.x) is not modelled: reserved since 3.0.
namespace ss {
inline constexpr uint64_t R = 1ull << 0;
inline constexpr uint64_t W = 1ull << 1;
inline constexpr uint64_t X = 1ull << 2;          // honoured only with PASID-entry SSEE/SLEE
inline constexpr unsigned EMT_SHIFT = 3;          // EMT[5:3], leaf
inline constexpr uint64_t EMT_MASK = 7ull << EMT_SHIFT;
inline constexpr uint64_t IPAT = 1ull << 6;       // leaf
inline constexpr uint64_t PS = 1ull << 7;         // PDPE/PDE: leaf
inline constexpr uint64_t A = 1ull << 8;          // with SSADE/SLADE
inline constexpr uint64_t D = 1ull << 9;          // leaf, with SSADE/SLADE
inline constexpr uint64_t SNP = 1ull << 11;       // leaf; legacy mode only (scalable mode uses PGSNP)
}  // namespace ss

// Sign-extension check of a first-stage input address of `va_bits` (48 or 57).
constexpr bool is_canonical(uint64_t va, unsigned va_bits) {
    const uint64_t upper = static_cast<uint64_t>(static_cast<int64_t>(va) >> (va_bits - 1));
    return upper == 0 || upper == ~uint64_t{0};
}

// Shape of one table: its depth and which leaf sizes the hardware accepts (CAP.FL1GP / CAP.SLLPS).
struct Geometry {
    uint8_t levels = 4;          // 4 or 5 (first stage); 3, 4 or 5 (second stage, AW 1-3)
    uint8_t start_level = 1;     // kLastLevel + 1 - levels
    bool leaf_2m = true;         // PS at PDE
    bool leaf_1g = false;        // PS at PDPE
    uint8_t oa_bits = kMaxOaBits;  // output (host) address width; entry address bits above it are reserved

    // Throws std::invalid_argument unless 3 <= levels <= 5 and 32 <= oa_bits <= 52.
    static Geometry make(unsigned levels, bool leaf_2m = true, bool leaf_1g = false, unsigned oa_bits = kMaxOaBits);

    constexpr unsigned input_bits() const { return 12u + 9u * levels; }
    static constexpr unsigned level_shift(unsigned level) { return 12u + 9u * (kLastLevel - level); }
    static constexpr uint64_t entry_span(unsigned level) { return uint64_t{1} << level_shift(level); }
    static constexpr unsigned index(uint64_t va, unsigned level) {
        return static_cast<unsigned>((va >> level_shift(level)) & 0x1FF);
    }
    static constexpr unsigned kEntries = 512;
    static constexpr unsigned kTableBytes = 4096;
    constexpr bool level_valid(unsigned level) const { return level >= start_level && level <= kLastLevel; }
    constexpr bool leaf_allowed(unsigned level) const {
        return level == kLastLevel || (level == 3 && leaf_2m) || (level == 2 && leaf_1g);
    }
    // First stage: bits above the input width sign-extend it. Second stage: they are zero.
    constexpr bool canonical(uint64_t va) const { return is_canonical(va, input_bits()); }
    constexpr bool in_range(uint64_t va) const { return (va >> input_bits()) == 0; }
    constexpr uint64_t oa_mask() const { return ((uint64_t{1} << oa_bits) - 1) & kAddrMask; }
};

// One decoded entry. Permission bits of a Table entry restrict everything below it (see PermAcc).
struct Decoded {
    Kind kind = Kind::Invalid;
    bool reserved = false;  // Invalid because a reserved bit or encoding is set (a different fault than !P)
    uint64_t addr = 0;      // next-table PA (Table) or output base (Leaf)
    uint64_t span = 0;      // bytes one entry of this level covers
    bool read = false;      // first stage: always true when present
    bool write = false;
    bool exec = false;      // first stage: !XD (meaningful only with PASID-entry NXE/ERE)
    bool user = false;      // second stage: always true
    bool accessed = false;
    bool dirty = false;     // leaf only
    bool global = false;    // first-stage leaf only
    uint8_t memtype = 0;    // first stage: PAT index (PAT<<2 | PCD<<1 | PWT); second-stage leaf: EMT
    bool ipat = false;      // second-stage leaf
    bool snoop = false;     // second-stage leaf (SNP)
};

// Accumulates the access rights of a walk: x86 rights are the AND of every level (XD is an OR).
struct PermAcc {
    bool read = true, write = true, exec = true, user = true;
    constexpr void apply(const Decoded& d) {
        read = read && d.read;
        write = write && d.write;
        exec = exec && d.exec;
        user = user && d.user;
    }
};

namespace detail {
// Address bits [shift-1:lo] of a large leaf must be zero (lo 13 in the first stage: bit 12 is PAT).
constexpr bool large_leaf_misaligned(uint64_t e, unsigned level, unsigned lo) {
    const unsigned shift = Geometry::level_shift(level);
    if (shift <= lo) return false;
    const uint64_t m = ((uint64_t{1} << shift) - 1) & ~((uint64_t{1} << lo) - 1);
    return (e & m) != 0;
}
}  // namespace detail

// Hot path: no allocation, no throw. `level` must satisfy g.level_valid(level).
inline Decoded decode_fs(uint64_t e, unsigned level, const Geometry& g) {
    Decoded r;
    if (!(e & fs::P)) return r;
    const bool leaf = level == kLastLevel || (e & fs::PS);
    if (leaf && !g.leaf_allowed(level)) {  // PS at PML5E/PML4E, or a page size the hardware lacks
        r.reserved = true;
        return r;
    }
    if (e & kAddrMask & ~g.oa_mask()) {
        r.reserved = true;
        return r;
    }
    r.span = Geometry::entry_span(level);
    r.read = true;
    r.write = e & fs::RW;
    r.user = e & fs::US;
    r.exec = !(e & fs::XD);
    r.accessed = e & fs::A;
    const unsigned pwt_pcd = static_cast<unsigned>((e >> 3) & 3);
    if (!leaf) {
        r.kind = Kind::Table;
        r.addr = e & kAddrMask;
        r.memtype = static_cast<uint8_t>(pwt_pcd);
        return r;
    }
    if (level != kLastLevel && detail::large_leaf_misaligned(e, level, 13)) {
        r.reserved = true;
        return r;
    }
    r.kind = Kind::Leaf;
    r.addr = e & kAddrMask & ~(r.span - 1);
    r.dirty = e & fs::D;
    r.global = e & fs::G;
    const bool pat = level == kLastLevel ? (e & fs::PAT_PTE) : (e & fs::PAT_LARGE);
    r.memtype = static_cast<uint8_t>((pat ? 4u : 0u) | pwt_pcd);
    return r;
}

// Second stage: an entry is present when R or W is set (X alone is not present).
inline Decoded decode_ss(uint64_t e, unsigned level, const Geometry& g) {
    Decoded r;
    if (!(e & (ss::R | ss::W))) return r;
    const bool leaf = level == kLastLevel || (e & ss::PS);
    if (leaf && !g.leaf_allowed(level)) {
        r.reserved = true;
        return r;
    }
    if (e & kAddrMask & ~g.oa_mask()) {
        r.reserved = true;
        return r;
    }
    r.span = Geometry::entry_span(level);
    r.read = e & ss::R;
    r.write = e & ss::W;
    r.exec = e & ss::X;
    r.user = true;
    r.accessed = e & ss::A;
    if (!leaf) {
        r.kind = Kind::Table;
        r.addr = e & kAddrMask;
        return r;
    }
    if (level != kLastLevel && detail::large_leaf_misaligned(e, level, 12)) {
        r.reserved = true;
        return r;
    }
    r.kind = Kind::Leaf;
    r.addr = e & kAddrMask & ~(r.span - 1);
    r.dirty = e & ss::D;
    r.memtype = static_cast<uint8_t>((e & ss::EMT_MASK) >> ss::EMT_SHIFT);
    r.ipat = e & ss::IPAT;
    r.snoop = e & ss::SNP;
    return r;
}

inline Decoded decode(uint64_t e, unsigned level, const Geometry& g, Stage s) {
    return s == Stage::First ? decode_fs(e, level, g) : decode_ss(e, level, g);
}

// Output address of `va` through a Leaf.
constexpr uint64_t output_address(const Decoded& d, uint64_t va) { return d.addr | (va & (d.span - 1)); }

// ---- encoders (host side) ------------------------------------------------------------------------
// The attribute type selects the stage. Encoders throw std::invalid_argument on an address that is
// misaligned or beyond 52 bits (leaves: beyond g.oa_bits), a level outside g, a leaf where g forbids one,
// or a second-stage entry with neither R nor W (which would read back as not present).

struct FsTableAttrs {
    bool write = true;
    bool user = true;
    bool xd = false;
    bool accessed = false;
    bool pwt = false, pcd = false;
};

struct FsLeafAttrs {
    bool write = false;
    bool user = false;
    bool xd = false;
    bool accessed = false;
    bool dirty = false;
    bool global = false;
    uint8_t pat_index = 0;  // PAT<<2 | PCD<<1 | PWT
};

struct SsTableAttrs {
    bool read = true;
    bool write = true;
    bool exec = false;
    bool accessed = false;
};

struct SsLeafAttrs {
    bool read = false;
    bool write = false;
    bool exec = false;
    uint8_t emt = 0;  // 0 UC, 1 WC, 4 WT, 5 WP, 6 WB
    bool ipat = false;
    bool accessed = false;
    bool dirty = false;
    bool snoop = false;
};

uint64_t encode_table(uint64_t next_table_pa, const FsTableAttrs& a);
uint64_t encode_table(uint64_t next_table_pa, const SsTableAttrs& a);
uint64_t encode_leaf(uint64_t pa, unsigned level, const Geometry& g, const FsLeafAttrs& a);
uint64_t encode_leaf(uint64_t pa, unsigned level, const Geometry& g, const SsLeafAttrs& a);

}  // namespace iommusim::pgtable::x86
