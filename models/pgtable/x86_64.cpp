// x86-64 paging codec: geometry construction and validating entry encoders.
#include "models/pgtable/x86_64.h"

#include <cstdio>
#include <stdexcept>

namespace iommusim::pgtable::x86 {

namespace {

[[noreturn]] void bad(const char* what, uint64_t v) {
    char buf[160];
    std::snprintf(buf, sizeof buf, "x86 paging: %s 0x%llx", what, static_cast<unsigned long long>(v));
    throw std::invalid_argument(buf);
}

void check_table(uint64_t pa) {
    if (pa & ~((uint64_t{1} << kMaxOaBits) - 1)) bad("table address beyond 52 bits:", pa);
    if (pa & 0xFFF) bad("table address not 4 KiB aligned:", pa);
}

void check_leaf(uint64_t pa, unsigned level, const Geometry& g) {
    if (!g.level_valid(level)) bad("leaf at a level outside the table:", level);
    if (!g.leaf_allowed(level)) bad("leaf not allowed at level", level);
    if (pa >> g.oa_bits) bad("output address beyond the output width:", pa);
    if (pa & (Geometry::entry_span(level) - 1)) bad("output address not aligned to the entry span:", pa);
}

}  // namespace

Geometry Geometry::make(unsigned levels, bool leaf_2m, bool leaf_1g, unsigned oa_bits) {
    if (levels < 3 || levels > 5) bad("unsupported number of levels:", levels);
    if (oa_bits < 32 || oa_bits > kMaxOaBits) bad("unsupported output width (bits):", oa_bits);
    Geometry g;
    g.levels = static_cast<uint8_t>(levels);
    g.start_level = static_cast<uint8_t>(kLastLevel + 1 - levels);
    g.leaf_2m = leaf_2m;
    g.leaf_1g = leaf_1g;
    g.oa_bits = static_cast<uint8_t>(oa_bits);
    return g;
}

uint64_t encode_table(uint64_t next_table_pa, const FsTableAttrs& a) {
    check_table(next_table_pa);
    uint64_t e = next_table_pa | fs::P;
    if (a.write) e |= fs::RW;
    if (a.user) e |= fs::US;
    if (a.pwt) e |= fs::PWT;
    if (a.pcd) e |= fs::PCD;
    if (a.accessed) e |= fs::A;
    if (a.xd) e |= fs::XD;
    return e;
}

uint64_t encode_table(uint64_t next_table_pa, const SsTableAttrs& a) {
    check_table(next_table_pa);
    if (!a.read && !a.write) bad("second-stage table entry without R or W at", next_table_pa);
    uint64_t e = next_table_pa;
    if (a.read) e |= ss::R;
    if (a.write) e |= ss::W;
    if (a.exec) e |= ss::X;
    if (a.accessed) e |= ss::A;
    return e;
}

uint64_t encode_leaf(uint64_t pa, unsigned level, const Geometry& g, const FsLeafAttrs& a) {
    check_leaf(pa, level, g);
    if (a.pat_index > 7) bad("PAT index out of range:", a.pat_index);
    uint64_t e = pa | fs::P;
    if (level != kLastLevel) e |= fs::PS;
    if (a.write) e |= fs::RW;
    if (a.user) e |= fs::US;
    if (a.pat_index & 1) e |= fs::PWT;
    if (a.pat_index & 2) e |= fs::PCD;
    if (a.pat_index & 4) e |= level == kLastLevel ? fs::PAT_PTE : fs::PAT_LARGE;
    if (a.accessed) e |= fs::A;
    if (a.dirty) e |= fs::D;
    if (a.global) e |= fs::G;
    if (a.xd) e |= fs::XD;
    return e;
}

uint64_t encode_leaf(uint64_t pa, unsigned level, const Geometry& g, const SsLeafAttrs& a) {
    check_leaf(pa, level, g);
    if (!a.read && !a.write) bad("second-stage leaf without R or W at", pa);
    if (a.emt > 7) bad("EMT out of range:", a.emt);
    uint64_t e = pa | (uint64_t{a.emt} << ss::EMT_SHIFT);
    if (level != kLastLevel) e |= ss::PS;
    if (a.read) e |= ss::R;
    if (a.write) e |= ss::W;
    if (a.exec) e |= ss::X;
    if (a.ipat) e |= ss::IPAT;
    if (a.accessed) e |= ss::A;
    if (a.dirty) e |= ss::D;
    if (a.snoop) e |= ss::SNP;
    return e;
}

}  // namespace iommusim::pgtable::x86
