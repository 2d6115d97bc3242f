// AMD-Vi v1 (host) I/O page table codec: geometry per DTE mode, PDE/PTE decode and encode, level skipping.
#pragma once

#include <bit>
#include <cstdint>

// Levels are numbered as in the AMD spec: 1 is the 4 KiB level, 6 the largest; a DTE Mode m (1..6) roots
// the walk at level m. Level n resolves VA[12+9n-1 : 12+9(n-1)], level 6 only [63:57] (128 entries).
//
// Generic walker (models/iommu/core/table_format.h) mapping, for an adapter:
//  - walker level g = 6 - n, so start_level() = 6 - mode, last_level() = 5, input_bits() = 12 + 9 * mode
//    (64 for mode 6: callers must not shift by it; use Geometry::va_in_range). WalkCache::kLevels must
//    then cover 5 table levels (today it has 4).
//  - A PDE may skip levels (decode() reports next_level explicitly). The walker's ++level cannot express
//    this: WalkStep needs the next level (and the walk cache must remember it for the cached table), plus
//    a VA mask that must be zero (skipped_va_mask()), or the walk faults.
//  - IR/IW of every PDE on the path are ANDed into the leaf's permissions.
namespace iommusim::pgtable::amdv1 {

inline constexpr unsigned kMaxMode = 6;   // DTE Mode 0: no translation; 7: reserved
inline constexpr unsigned kPaBits = 52;
inline constexpr uint64_t kAddrMask = 0x000F'FFFF'FFFF'F000ull;  // [51:12]

namespace bits {
inline constexpr uint64_t PR = 1ull << 0;
inline constexpr uint64_t A = 1ull << 5;    // accessed (hardware A/D update)
inline constexpr uint64_t D = 1ull << 6;    // dirty, leaf only
inline constexpr unsigned NL_SHIFT = 9;     // Next Level [11:9]
inline constexpr uint64_t NL_MASK = 7ull << NL_SHIFT;
inline constexpr uint64_t U = 1ull << 59;   // ATS: device must use untranslated access
inline constexpr uint64_t FC = 1ull << 60;  // force coherent
inline constexpr uint64_t IR = 1ull << 61;
inline constexpr uint64_t IW = 1ull << 62;
}  // namespace bits

inline constexpr unsigned NL_DEFAULT = 0;  // leaf of the level's natural size
inline constexpr unsigned NL_SIZE = 7;     // leaf whose size is encoded in the address field

constexpr bool mode_valid(unsigned mode) { return mode >= 1 && mode <= kMaxMode; }
// Lowest VA bit resolved by `level` (1..6); log2 of the bytes one entry maps.
constexpr unsigned level_shift(unsigned level) { return 12 + 9 * (level - 1); }
constexpr unsigned index_bits(unsigned level) { return level >= 6 ? 7 : 9; }
constexpr unsigned index(uint64_t va, unsigned level) {
    return static_cast<unsigned>((va >> level_shift(level)) & ((1u << index_bits(level)) - 1));
}
constexpr uint64_t entry_span(unsigned level) { return uint64_t{1} << level_shift(level); }
// The top level (6) holds only PDEs.
constexpr bool leaf_allowed(unsigned level) { return level >= 1 && level <= 5; }

// Shape of the walk a DTE Mode selects.
struct Geometry {
    uint8_t mode = 3;

    // Throws std::invalid_argument unless mode is 1..6.
    static Geometry make(unsigned mode);

    constexpr unsigned top_level() const { return mode; }
    constexpr unsigned input_bits() const { return mode >= 6 ? 64u : 12u + 9u * mode; }
    // VA bits above the top level must be zero (else IO_PAGE_FAULT).
    constexpr bool va_in_range(uint64_t va) const { return mode >= 6 || (va >> input_bits()) == 0; }
    constexpr unsigned entries(unsigned level) const { return 1u << index_bits(level); }
    constexpr unsigned entry_offset(uint64_t va, unsigned level) const { return index(va, level) * 8u; }
};

enum class Kind : uint8_t { Invalid, Table, Leaf };

// Why an entry is Invalid. Anything but NotPresent is a present-but-malformed entry (event flag RZ).
enum class Error : uint8_t {
    None,
    NotPresent,    // PR = 0
    NextLevel,     // Next Level 1..6 not below the current level (or any table at level 1)
    PageSize,      // NL = 7 size smaller than the level's entry or not smaller than its table
    LeafAtTop,     // leaf at level 6
};

struct Decoded {
    Kind kind = Kind::Invalid;
    Error error = Error::None;
    uint64_t addr = 0;       // Table: next table PA; Leaf: page base (aligned to span)
    uint64_t span = 0;       // Table: bytes this entry covers; Leaf: page size
    uint8_t next_level = 0;  // Table: level of the next table (< level - 1 means levels are skipped)
    uint8_t page_shift = 0;  // Leaf: log2(span)
    bool read = false;       // IR
    bool write = false;      // IW
    bool fc = false;         // Leaf: FC
    bool u = false;          // Leaf: U
};

// Page size of an NL = 7 entry: 2^(p+1), p = lowest zero bit of the address field (bits 11:0 read as ones).
constexpr unsigned nl7_page_shift(uint64_t d) { return static_cast<unsigned>(std::countr_one(d | 0xFFF)) + 1; }

// Hot path of the walker: no allocation, no throw. `level` is 1..6.
inline Decoded decode(uint64_t d, unsigned level) {
    Decoded r;
    if (!(d & bits::PR)) {
        r.error = Error::NotPresent;
        return r;
    }
    r.read = d & bits::IR;
    r.write = d & bits::IW;
    const unsigned nl = static_cast<unsigned>((d >> bits::NL_SHIFT) & 7);
    if (nl != NL_DEFAULT && nl != NL_SIZE) {
        if (nl >= level) {
            r.error = Error::NextLevel;
            return r;
        }
        r.kind = Kind::Table;
        r.addr = d & kAddrMask;
        r.span = entry_span(level);
        r.next_level = static_cast<uint8_t>(nl);
        return r;
    }
    if (!leaf_allowed(level)) {
        r.error = Error::LeafAtTop;
        return r;
    }
    unsigned shift = level_shift(level);
    if (nl == NL_SIZE) {
        // Accepted sizes: the level's own up to, not including, the next level's (one table's worth);
        // the lowest zero bit must lie in the address field.
        const unsigned s = nl7_page_shift(d);
        if (s < shift || s >= shift + 9 || s > kPaBits) {
            r.error = Error::PageSize;
            return r;
        }
        shift = s;
    }
    r.kind = Kind::Leaf;
    r.page_shift = static_cast<uint8_t>(shift);
    r.span = uint64_t{1} << shift;
    r.addr = d & kAddrMask & ~(r.span - 1);
    r.fc = d & bits::FC;
    r.u = d & bits::U;
    return r;
}

// VA bits indexing the levels a PDE at `level` with Next Level `next` skips (next+1 .. level-1); they
// must be zero or the request faults.
constexpr uint64_t skipped_va_mask(unsigned level, unsigned next) {
    if (next + 1 >= level) return 0;
    const unsigned hi = level_shift(level), lo = level_shift(next + 1);
    return ((uint64_t{1} << hi) - 1) & ~((uint64_t{1} << lo) - 1);
}

// Output address of `va` through a Leaf.
constexpr uint64_t output_address(const Decoded& d, uint64_t va) { return d.addr | (va & (d.span - 1)); }

// ---- reference walk -------------------------------------------------------------------------------

enum class Fault : uint8_t { None, AddrRange, NotPresent, Malformed, SkipNonZero, ReadError };

struct WalkResult {
    Fault fault = Fault::None;
    Error error = Error::None;  // Malformed: which rule
    uint64_t pa = 0;
    uint8_t page_shift = 0;
    uint8_t level = 0;          // level of the last entry read (or the top level)
    uint8_t reads = 0;
    bool read = false, write = false;  // IR / IW ANDed over the path
};

// Whole walk for a DTE with Mode `g.mode` and root `root`. read(pa, value) returns false on a bus error.
// The DTE's own IR/IW are not applied here.
template <class Read>
WalkResult walk(const Geometry& g, uint64_t root, uint64_t va, Read&& read) {
    WalkResult w;
    w.level = static_cast<uint8_t>(g.top_level());
    if (!g.va_in_range(va)) {
        w.fault = Fault::AddrRange;
        return w;
    }
    bool rd = true, wr = true;
    uint64_t table = root & kAddrMask;
    for (unsigned level = g.top_level();;) {
        w.level = static_cast<uint8_t>(level);
        uint64_t d = 0;
        ++w.reads;
        if (!read(table + g.entry_offset(va, level), d)) {
            w.fault = Fault::ReadError;
            return w;
        }
        const Decoded e = decode(d, level);
        if (e.kind == Kind::Invalid) {
            w.fault = e.error == Error::NotPresent ? Fault::NotPresent : Fault::Malformed;
            w.error = e.error;
            return w;
        }
        rd = rd && e.read;
        wr = wr && e.write;
        if (e.kind == Kind::Leaf) {
            w.pa = output_address(e, va);
            w.page_shift = e.page_shift;
            w.read = rd;
            w.write = wr;
            return w;
        }
        if (va & skipped_va_mask(level, e.next_level)) {
            w.fault = Fault::SkipNonZero;
            return w;
        }
        table = e.addr;
        level = e.next_level;
    }
}

// ---- encoders (host side) -------------------------------------------------------------------------
// Throw std::invalid_argument on a misaligned or out-of-range address, level or size.

// PDE pointing at a table of `next_level` (1..5); a PDE at level L may use any next_level < L.
uint64_t encode_pde(uint64_t next_table_pa, unsigned next_level, bool ir = true, bool iw = true);
// Leaf of `size` bytes at `level` (1..5). size == entry_span(level): Next Level 0. A larger power of two
// below the next level's span: Next Level 7 with the size in the address bits, and the host writes the
// same entry into all replicas(level, size) consecutive slots.
uint64_t encode_pte(uint64_t pa, unsigned level, uint64_t size, bool ir, bool iw, bool fc = false, bool u = false);

// Level a page of `size` (a power of two, 4 KiB .. 2^52) lives at: the largest with entry_span <= size.
constexpr unsigned leaf_level(uint64_t size) {
    const unsigned s = static_cast<unsigned>(std::countr_zero(size));
    const unsigned l = (s - 12) / 9 + 1;
    return l > 5 ? 5 : l;
}
constexpr uint64_t replicas(unsigned level, uint64_t size) { return size >> level_shift(level); }

}  // namespace iommusim::pgtable::amdv1
