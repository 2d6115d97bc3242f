// AMD-Vi v1 page table codec: geometry construction and (validating) PDE/PTE encoders.
#include "models/pgtable/amd_v1.h"

#include <cstdio>
#include <stdexcept>

namespace iommusim::pgtable::amdv1 {

namespace {

[[noreturn]] void bad(const char* what, uint64_t v) {
    char buf[160];
    std::snprintf(buf, sizeof buf, "amd_v1: %s 0x%llx", what, static_cast<unsigned long long>(v));
    throw std::invalid_argument(buf);
}

void check_pa(uint64_t pa, uint64_t align) {
    if (pa >> kPaBits) bad("address beyond 52 bits:", pa);
    if (pa & (align - 1)) bad("address not aligned:", pa);
}

}  // namespace

Geometry Geometry::make(unsigned mode) {
    if (!mode_valid(mode)) bad("page table mode not 1..6:", mode);
    Geometry g;
    g.mode = static_cast<uint8_t>(mode);
    return g;
}

uint64_t encode_pde(uint64_t next_table_pa, unsigned next_level, bool ir, bool iw) {
    // Level 6 tables are only ever roots (DTE), so a PDE points at 1..5.
    if (next_level < 1 || next_level > 5) bad("PDE next level not 1..5:", next_level);
    check_pa(next_table_pa, 0x1000);
    return next_table_pa | (uint64_t{next_level} << bits::NL_SHIFT) | bits::PR | (ir ? bits::IR : 0) |
           (iw ? bits::IW : 0);
}

uint64_t encode_pte(uint64_t pa, unsigned level, uint64_t size, bool ir, bool iw, bool fc, bool u) {
    if (!leaf_allowed(level)) bad("leaf at level", level);
    if (size == 0 || (size & (size - 1))) bad("page size not a power of two:", size);
    const unsigned s = static_cast<unsigned>(std::countr_zero(size));
    const unsigned ls = level_shift(level);
    if (s < ls || s >= ls + 9 || s > kPaBits) bad("page size does not fit the level:", size);
    check_pa(pa, size);
    uint64_t d = pa | bits::PR | (ir ? bits::IR : 0) | (iw ? bits::IW : 0) | (fc ? bits::FC : 0) | (u ? bits::U : 0);
    if (s == ls) return d;  // natural size: Next Level 0 (hardware mishandles NL 7 here)
    // Ones in address bits [s-2:12], bit s-1 zero: lowest zero bit s-1 encodes 2^s.
    const uint64_t ones = ((uint64_t{1} << (s - 1)) - 1) & ~uint64_t{0xFFF};
    return d | ones | (uint64_t{NL_SIZE} << bits::NL_SHIFT);
}

}  // namespace iommusim::pgtable::amdv1
