// VMSAv8-64 codec: geometry construction and (validating) descriptor encoders.
#include "models/pgtable/vmsav8.h"

#include <cstdio>
#include <stdexcept>

namespace iommusim::pgtable {

namespace {

Geometry base_geometry(Granule g, unsigned input_bits) {
    Geometry geo;
    geo.granule = g;
    geo.shift = static_cast<uint8_t>(granule_shift(g));
    geo.stride = static_cast<uint8_t>(geo.shift - 3);
    geo.input_bits = static_cast<uint8_t>(input_bits);
    geo.last_level = kLastLevel;
    return geo;
}

[[noreturn]] void bad(const char* what, uint64_t v) {
    char buf[160];
    std::snprintf(buf, sizeof buf, "vmsav8: %s 0x%llx", what, static_cast<unsigned long long>(v));
    throw std::invalid_argument(buf);
}

void check_leaf(uint64_t pa, unsigned level, const Geometry& g) {
    if (level > kLastLevel || level < g.start_level) bad("leaf at level outside the walk:", level);
    if (level != kLastLevel && !g.block_allowed(level)) bad("block not allowed at level", level);
    if (pa & ~kOaMask) bad("output address beyond 48 bits:", pa);
    if (pa & (g.entry_span(level) - 1)) bad("output address not aligned to the entry span:", pa);
}

}  // namespace

Geometry Geometry::make(Granule g, unsigned input_bits) {
    const unsigned shift = granule_shift(g);
    if (input_bits <= shift || input_bits > kOaBits) bad("unsupported input size (bits):", input_bits);
    Geometry geo = base_geometry(g, input_bits);
    const unsigned levels = (input_bits - shift + geo.stride - 1) / geo.stride;  // ceil
    geo.start_level = static_cast<uint8_t>(4 - levels);
    geo.start_bits = static_cast<uint8_t>(input_bits - geo.level_shift(geo.start_level));
    return geo;
}

std::optional<Geometry> Geometry::make_s2(Granule g, unsigned input_bits, unsigned sl0) {
    // SL0 0b11 is reserved for every granule without FEAT_TTST/LPA2, which we do not model.
    if (sl0 > 2) return std::nullopt;
    const unsigned shift = granule_shift(g);
    if (input_bits <= shift || input_bits > kOaBits) return std::nullopt;
    Geometry geo = base_geometry(g, input_bits);
    geo.start_level = static_cast<uint8_t>((g == Granule::K4 ? 2u : 3u) - sl0);
    // The start level must consume at least one bit and at most stride + 4 bits (16 concatenated tables).
    const unsigned below = geo.level_shift(geo.start_level);
    if (input_bits <= below || input_bits > below + geo.stride + 4u) return std::nullopt;
    geo.start_bits = static_cast<uint8_t>(input_bits - below);
    return geo;
}

uint64_t encode_table(uint64_t next_table_pa, uint8_t table_attrs) {
    if (next_table_pa & ~kOaMask) bad("table address beyond 48 bits:", next_table_pa);
    if (next_table_pa & 0xFFF) bad("table address not 4 KiB aligned:", next_table_pa);
    return next_table_pa | (uint64_t{table_attrs & 0x1Fu} << 59) | desc::TYPE | desc::VALID;
}

uint64_t encode_table(uint64_t next_table_pa, const Geometry& g, uint8_t table_attrs) {
    if (next_table_pa & ((uint64_t{1} << g.shift) - 1)) bad("table address not granule aligned:", next_table_pa);
    return encode_table(next_table_pa, table_attrs);
}

uint64_t encode_s1_leaf(uint64_t pa, unsigned level, const Geometry& g, const S1Attrs& a) {
    check_leaf(pa, level, g);
    uint64_t d = pa | desc::VALID | (level == kLastLevel ? desc::TYPE : 0);
    d |= uint64_t{a.attr_index & 7u} << 2;
    d |= uint64_t{a.sh & 3u} << 8;
    if (a.user) d |= desc::AP_USER;
    if (a.ro) d |= desc::AP_RO;
    if (a.af) d |= desc::AF;
    if (a.ng) d |= desc::NG;
    if (a.dbm) d |= desc::DBM;
    if (a.contiguous) d |= desc::CONT;
    if (a.pxn) d |= desc::PXN;
    if (a.uxn) d |= desc::UXN;
    return d;
}

uint64_t encode_s2_leaf(uint64_t pa, unsigned level, const Geometry& g, const S2Attrs& a) {
    check_leaf(pa, level, g);
    uint64_t d = pa | desc::VALID | (level == kLastLevel ? desc::TYPE : 0);
    d |= uint64_t{a.memattr & 0xFu} << 2;
    d |= uint64_t{a.sh & 3u} << 8;
    d |= uint64_t{a.xn & 3u} << 53;
    if (a.read) d |= desc::S2AP_R;
    if (a.write) d |= desc::S2AP_W;
    if (a.af) d |= desc::AF;
    if (a.contiguous) d |= desc::CONT;
    return d;
}

}  // namespace iommusim::pgtable
