// Arm SMMUv3 structure encoders/decoders (STE, CD, commands, events, PRI entries) and log names.
#include "models/iommu/smmuv3/smmuv3_defs.h"

namespace iommusim::smmuv3 {

namespace {

template <typename T>
constexpr T get(uint64_t w, unsigned hi, unsigned lo) {
    return static_cast<T>((w & genmask(hi, lo)) >> lo);
}
constexpr bool flag(uint64_t w, unsigned n) { return (w >> n) & 1; }
constexpr uint64_t put(uint64_t v, unsigned hi, unsigned lo) { return (v << lo) & genmask(hi, lo); }
constexpr uint64_t put_flag(bool b, unsigned n) { return b ? bit(n) : 0; }

// Field groups shared by several commands, so one switch can describe each opcode.
enum : unsigned {
    F_SID = 1u << 0,     // SID [63:32]
    F_SSID = 1u << 1,    // SSID [31:12]
    F_SSV = 1u << 2,     // SSV bit 11
    F_SSEC = 1u << 3,    // SSEC bit 10
    F_VMID = 1u << 4,    // VMID [47:32]
    F_ASID = 1u << 5,    // ASID [63:48]
    F_RANGE = 1u << 6,   // NUM/SCALE in dword0, Leaf/TTL/TG/Address[63:12] in dword1
    F_IPA = 1u << 7,     // as F_RANGE but Address [51:12]
    F_LEAF = 1u << 8,    // dword1 bit 0 only
};

unsigned layout(uint8_t opcode) {
    switch (opcode) {
        case op::PREFETCH_CONFIG:
        case op::PREFETCH_ADDR: return F_SID | F_SSID | F_SSV | F_SSEC;
        case op::CFGI_STE: return F_SID | F_SSEC | F_LEAF;
        case op::CFGI_STE_RANGE: return F_SID | F_SSEC;
        case op::CFGI_CD: return F_SID | F_SSID | F_SSEC | F_LEAF;
        case op::CFGI_CD_ALL: return F_SID | F_SSEC;
        case op::TLBI_NH_ALL:
        case op::TLBI_S12_VMALL: return F_VMID;
        case op::TLBI_NH_ASID: return F_VMID | F_ASID;
        case op::TLBI_NH_VA: return F_VMID | F_ASID | F_RANGE;
        case op::TLBI_NH_VAA: return F_VMID | F_RANGE;
        case op::TLBI_EL3_VA:
        case op::TLBI_EL2_VAA: return F_RANGE;
        case op::TLBI_EL2_ASID: return F_ASID;
        case op::TLBI_EL2_VA: return F_ASID | F_RANGE;
        case op::TLBI_S2_IPA: return F_VMID | F_IPA;
        case op::ATC_INV:
        case op::PRI_RESP: return F_SID | F_SSID | F_SSV;
        case op::RESUME:
        case op::STALL_TERM: return F_SID | F_SSEC;
        default: return 0;
    }
}

AddrRange aligned_span(uint64_t addr, unsigned log2_bytes) {
    if (log2_bytes >= 64) return {0, ~uint64_t{0}};
    const uint64_t size = uint64_t{1} << log2_bytes;
    const uint64_t first = addr & ~(size - 1);
    return {first, first + (size - 1)};
}

}  // namespace

// ---- STE ----------------------------------------------------------------------------------------

void encode(const Ste& s, uint64_t out[STE_DWORDS]) {
    for (unsigned i = 0; i < STE_DWORDS; ++i) out[i] = 0;
    out[0] = put_flag(s.valid, 0) | put(static_cast<uint64_t>(s.config), 3, 1) | put(s.s1fmt, 5, 4) |
             (s.s1_context_ptr & genmask(51, 6)) | put(s.s1_cdmax, 63, 59);
    out[1] = put(s.s1dss, 1, 0) | put(s.s1cir, 3, 2) | put(s.s1cor, 5, 4) | put(s.s1csh, 7, 6) | put_flag(s.mev, 19) |
             put_flag(s.s2fwb, 25) | put_flag(s.s1stalld, 27) | put(s.eats, 29, 28) | put(s.strw, 31, 30) |
             put(s.memattr, 35, 32) | put_flag(s.mtcfg, 36) | put(s.alloccfg, 40, 37) | put(s.shcfg, 45, 44) |
             put(s.nscfg, 47, 46) | put(s.privcfg, 49, 48) | put(s.instcfg, 51, 50);
    out[2] = put(s.s2vmid, 15, 0) | put(s.s2t0sz, 37, 32) | put(s.s2sl0, 39, 38) | put(s.s2ir0, 41, 40) |
             put(s.s2or0, 43, 42) | put(s.s2sh0, 45, 44) | put(s.s2tg, 47, 46) | put(s.s2ps, 50, 48) |
             put_flag(s.s2aa64, 51) | put_flag(s.s2endi, 52) | put_flag(s.s2affd, 53) | put_flag(s.s2ptw, 54) | put_flag(s.s2hd, 55) |
             put_flag(s.s2ha, 56) | put_flag(s.s2s, 57) | put_flag(s.s2r, 58);
    out[3] = s.s2ttb & genmask(51, 4);
}

Ste decode_ste(const uint64_t in[STE_DWORDS]) {
    Ste s;
    const uint64_t w0 = in[0], w1 = in[1], w2 = in[2], w3 = in[3];
    s.valid = flag(w0, 0);
    s.config = static_cast<SteConfig>(get<uint8_t>(w0, 3, 1));
    s.s1fmt = get<uint8_t>(w0, 5, 4);
    s.s1_context_ptr = w0 & genmask(51, 6);
    s.s1_cdmax = get<uint8_t>(w0, 63, 59);
    s.s1dss = get<uint8_t>(w1, 1, 0);
    s.s1cir = get<uint8_t>(w1, 3, 2);
    s.s1cor = get<uint8_t>(w1, 5, 4);
    s.s1csh = get<uint8_t>(w1, 7, 6);
    s.mev = flag(w1, 19);
    s.s2fwb = flag(w1, 25);
    s.s1stalld = flag(w1, 27);
    s.eats = get<uint8_t>(w1, 29, 28);
    s.strw = get<uint8_t>(w1, 31, 30);
    s.memattr = get<uint8_t>(w1, 35, 32);
    s.mtcfg = flag(w1, 36);
    s.alloccfg = get<uint8_t>(w1, 40, 37);
    s.shcfg = get<uint8_t>(w1, 45, 44);
    s.nscfg = get<uint8_t>(w1, 47, 46);
    s.privcfg = get<uint8_t>(w1, 49, 48);
    s.instcfg = get<uint8_t>(w1, 51, 50);
    s.s2vmid = get<uint16_t>(w2, 15, 0);
    s.s2t0sz = get<uint8_t>(w2, 37, 32);
    s.s2sl0 = get<uint8_t>(w2, 39, 38);
    s.s2ir0 = get<uint8_t>(w2, 41, 40);
    s.s2or0 = get<uint8_t>(w2, 43, 42);
    s.s2sh0 = get<uint8_t>(w2, 45, 44);
    s.s2tg = get<uint8_t>(w2, 47, 46);
    s.s2ps = get<uint8_t>(w2, 50, 48);
    s.s2aa64 = flag(w2, 51);
    s.s2endi = flag(w2, 52);
    s.s2affd = flag(w2, 53);
    s.s2ptw = flag(w2, 54);
    s.s2hd = flag(w2, 55);
    s.s2ha = flag(w2, 56);
    s.s2s = flag(w2, 57);
    s.s2r = flag(w2, 58);
    s.s2ttb = w3 & genmask(51, 4);
    return s;
}

// ---- CD -----------------------------------------------------------------------------------------

void encode(const Cd& c, uint64_t out[CD_DWORDS]) {
    for (unsigned i = 0; i < CD_DWORDS; ++i) out[i] = 0;
    out[0] = put(c.t0sz, 5, 0) | put(c.tg0, 7, 6) | put(c.ir0, 9, 8) | put(c.or0, 11, 10) | put(c.sh0, 13, 12) |
             put_flag(c.epd0, 14) | put_flag(c.endi, 15) | put(c.t1sz, 21, 16) | put(c.tg1, 23, 22) | put(c.ir1, 25, 24) |
             put(c.or1, 27, 26) | put(c.sh1, 29, 28) | put_flag(c.epd1, 30) | put_flag(c.valid, 31) | put(c.ips, 34, 32) |
             put_flag(c.affd, 35) | put_flag(c.wxn, 36) | put_flag(c.uwxn, 37) | put_flag(c.tbi0, 38) | put_flag(c.tbi1, 39) |
             put_flag(c.pan, 40) | put_flag(c.aa64, 41) | put_flag(c.hd, 42) | put_flag(c.ha, 43) | put_flag(c.s, 44) | put_flag(c.r, 45) |
             put_flag(c.a, 46) | put_flag(c.aset, 47) | put(c.asid, 63, 48);
    out[1] = put_flag(c.had0, 1) | (c.ttb0 & genmask(51, 4));
    out[2] = put_flag(c.had1, 1) | (c.ttb1 & genmask(51, 4));
    out[3] = c.mair;
    out[4] = c.amair;
}

Cd decode_cd(const uint64_t in[CD_DWORDS]) {
    Cd c;
    const uint64_t w = in[0];
    c.t0sz = get<uint8_t>(w, 5, 0);
    c.tg0 = get<uint8_t>(w, 7, 6);
    c.ir0 = get<uint8_t>(w, 9, 8);
    c.or0 = get<uint8_t>(w, 11, 10);
    c.sh0 = get<uint8_t>(w, 13, 12);
    c.epd0 = flag(w, 14);
    c.endi = flag(w, 15);
    c.t1sz = get<uint8_t>(w, 21, 16);
    c.tg1 = get<uint8_t>(w, 23, 22);
    c.ir1 = get<uint8_t>(w, 25, 24);
    c.or1 = get<uint8_t>(w, 27, 26);
    c.sh1 = get<uint8_t>(w, 29, 28);
    c.epd1 = flag(w, 30);
    c.valid = flag(w, 31);
    c.ips = get<uint8_t>(w, 34, 32);
    c.affd = flag(w, 35);
    c.wxn = flag(w, 36);
    c.uwxn = flag(w, 37);
    c.tbi0 = flag(w, 38);
    c.tbi1 = flag(w, 39);
    c.pan = flag(w, 40);
    c.aa64 = flag(w, 41);
    c.hd = flag(w, 42);
    c.ha = flag(w, 43);
    c.s = flag(w, 44);
    c.r = flag(w, 45);
    c.a = flag(w, 46);
    c.aset = flag(w, 47);
    c.asid = get<uint16_t>(w, 63, 48);
    c.had0 = flag(in[1], 1);
    c.ttb0 = in[1] & genmask(51, 4);
    c.had1 = flag(in[2], 1);
    c.ttb1 = in[2] & genmask(51, 4);
    c.mair = in[3];
    c.amair = in[4];
    return c;
}

// ---- commands -----------------------------------------------------------------------------------

bool valid_opcode(uint8_t o) {
    switch (o) {
        case op::PREFETCH_CONFIG: case op::PREFETCH_ADDR: case op::CFGI_STE: case op::CFGI_STE_RANGE:
        case op::CFGI_CD: case op::CFGI_CD_ALL: case op::TLBI_NH_ALL: case op::TLBI_NH_ASID: case op::TLBI_NH_VA:
        case op::TLBI_NH_VAA: case op::TLBI_EL3_ALL: case op::TLBI_EL3_VA: case op::TLBI_EL2_ALL:
        case op::TLBI_EL2_ASID: case op::TLBI_EL2_VA: case op::TLBI_EL2_VAA: case op::TLBI_S12_VMALL:
        case op::TLBI_S2_IPA: case op::TLBI_NSNH_ALL: case op::ATC_INV: case op::PRI_RESP: case op::RESUME:
        case op::STALL_TERM: case op::CMD_SYNC:
            return true;
        default:
            return false;
    }
}

void encode(const Cmd& c, uint64_t out[CMD_DWORDS]) {
    uint64_t w0 = c.opcode, w1 = 0;
    const unsigned l = layout(c.opcode);
    if (l & F_SID) w0 |= put(c.sid, 63, 32);
    if (l & F_SSID) w0 |= put(c.ssid, 31, 12);
    if (l & F_SSV) w0 |= put_flag(c.ssv, 11);
    if (l & F_SSEC) w0 |= put_flag(c.ssec, 10);
    if (l & F_VMID) w0 |= put(c.vmid, 47, 32);
    if (l & F_ASID) w0 |= put(c.asid, 63, 48);
    if (l & (F_RANGE | F_IPA)) {
        w0 |= put(c.num, 16, 12) | put(c.scale, 24, 20);
        w1 |= put_flag(c.leaf, 0) | put(c.ttl, 9, 8) | put(c.tg, 11, 10) |
              (c.addr & ((l & F_IPA) ? genmask(51, 12) : genmask(63, 12)));
    }
    if (l & F_LEAF) w1 |= put_flag(c.leaf, 0);
    switch (c.opcode) {
        case op::PREFETCH_ADDR: w1 |= put(c.size, 4, 0) | (c.addr & genmask(63, 12)); break;
        case op::CFGI_STE_RANGE: w1 |= put(c.range, 4, 0); break;
        case op::ATC_INV:
            w0 |= put_flag(c.global, 9);
            w1 |= put(c.size, 5, 0) | (c.addr & genmask(63, 12));
            break;
        case op::PRI_RESP: w1 |= put(c.prg_index, 8, 0) | put(c.resp, 13, 12); break;
        case op::RESUME:
            w0 |= put(c.resp, 13, 12);
            w1 |= put(c.stag, 15, 0);
            break;
        case op::CMD_SYNC:
            w0 |= put(c.cs, 13, 12) | put(c.msh, 23, 22) | put(c.msi_attr, 27, 24) | put(c.msi_data, 63, 32);
            w1 |= c.msi_addr & genmask(51, 2);
            break;
        default: break;
    }
    out[0] = w0;
    out[1] = w1;
}

Cmd decode_cmd(const uint64_t in[CMD_DWORDS]) {
    Cmd c;
    const uint64_t w0 = in[0], w1 = in[1];
    c.opcode = get<uint8_t>(w0, 7, 0);
    const unsigned l = layout(c.opcode);
    if (l & F_SID) c.sid = get<uint32_t>(w0, 63, 32);
    if (l & F_SSID) c.ssid = get<uint32_t>(w0, 31, 12);
    if (l & F_SSV) c.ssv = flag(w0, 11);
    if (l & F_SSEC) c.ssec = flag(w0, 10);
    if (l & F_VMID) c.vmid = get<uint16_t>(w0, 47, 32);
    if (l & F_ASID) c.asid = get<uint16_t>(w0, 63, 48);
    if (l & (F_RANGE | F_IPA)) {
        c.num = get<uint8_t>(w0, 16, 12);
        c.scale = get<uint8_t>(w0, 24, 20);
        c.leaf = flag(w1, 0);
        c.ttl = get<uint8_t>(w1, 9, 8);
        c.tg = get<uint8_t>(w1, 11, 10);
        c.addr = w1 & ((l & F_IPA) ? genmask(51, 12) : genmask(63, 12));
    }
    if (l & F_LEAF) c.leaf = flag(w1, 0);
    switch (c.opcode) {
        case op::PREFETCH_ADDR:
            c.size = get<uint8_t>(w1, 4, 0);
            c.addr = w1 & genmask(63, 12);
            break;
        case op::CFGI_STE_RANGE: c.range = get<uint8_t>(w1, 4, 0); break;
        case op::ATC_INV:
            c.global = flag(w0, 9);
            c.size = get<uint8_t>(w1, 5, 0);
            c.addr = w1 & genmask(63, 12);
            break;
        case op::PRI_RESP:
            c.prg_index = get<uint16_t>(w1, 8, 0);
            c.resp = get<uint8_t>(w1, 13, 12);
            break;
        case op::RESUME:
            c.resp = get<uint8_t>(w0, 13, 12);
            c.stag = get<uint16_t>(w1, 15, 0);
            break;
        case op::CMD_SYNC:
            c.cs = get<uint8_t>(w0, 13, 12);
            c.msh = get<uint8_t>(w0, 23, 22);
            c.msi_attr = get<uint8_t>(w0, 27, 24);
            c.msi_data = get<uint32_t>(w0, 63, 32);
            c.msi_addr = w1 & genmask(51, 2);
            break;
        default: break;
    }
    return c;
}

AddrRange tlbi_range(const Cmd& c) {
    const unsigned gshift = c.tg == 1 ? 12 : c.tg == 2 ? 14 : c.tg == 3 ? 16 : 0;
    if (gshift == 0) return aligned_span(c.addr, 12);
    const uint64_t first = c.addr & ~((uint64_t{1} << gshift) - 1);
    // (NUM+1) <= 32 and SCALE <= 31: the byte count fits in 64 bits for every granule (at most 2^52).
    const uint64_t bytes = (uint64_t{c.num} + 1) << (c.scale + gshift);
    const uint64_t last = first + (bytes - 1);
    return {first, last < first ? ~uint64_t{0} : last};  // clamp at the top of the address space
}

AddrRange atc_inv_range(const Cmd& c) {
    if (c.size >= ATC_INV_SIZE_ALL) return {0, ~uint64_t{0}};
    return aligned_span(c.addr, 12u + c.size);
}

AddrRange cfgi_sid_range(const Cmd& c) {
    if (c.opcode != op::CFGI_STE_RANGE) return {c.sid, c.sid};
    const unsigned log2 = c.range + 1u;  // Range 31 -> all 2^32 StreamIDs
    if (log2 >= 32) return {0, 0xFFFFFFFFu};
    const uint64_t n = uint64_t{1} << log2;
    const uint64_t first = c.sid & ~(n - 1);
    return {first, first + n - 1};
}

// ---- events -------------------------------------------------------------------------------------

void encode(const Event& e, uint64_t out[EVT_DWORDS]) {
    out[0] = put(e.type, 7, 0) | put_flag(e.ssv, 11) | put(e.ssid, 31, 12) | put(e.sid, 63, 32);
    out[1] = put(e.stag, 15, 0) | put_flag(e.stall, 31) | put_flag(e.pnu, 33) | put_flag(e.ind, 34) | put_flag(e.rnw, 35) |
             put_flag(e.nsipa, 38) | put_flag(e.s2, 39) | put(e.cls, 41, 40) | put_flag(e.ttrnw, 44);
    out[2] = e.input_addr;
    out[3] = e.ipa & genmask(51, 3);
}

Event decode_event(const uint64_t in[EVT_DWORDS]) {
    Event e;
    e.type = get<uint8_t>(in[0], 7, 0);
    e.ssv = flag(in[0], 11);
    e.ssid = get<uint32_t>(in[0], 31, 12);
    e.sid = get<uint32_t>(in[0], 63, 32);
    e.stag = get<uint16_t>(in[1], 15, 0);
    e.stall = flag(in[1], 31);
    e.pnu = flag(in[1], 33);
    e.ind = flag(in[1], 34);
    e.rnw = flag(in[1], 35);
    e.nsipa = flag(in[1], 38);
    e.s2 = flag(in[1], 39);
    e.cls = get<uint8_t>(in[1], 41, 40);
    e.ttrnw = flag(in[1], 44);
    e.input_addr = in[2];
    e.ipa = in[3] & genmask(51, 3);
    return e;
}

// ---- PRI queue ----------------------------------------------------------------------------------

void encode(const PriEntry& p, uint64_t out[PRI_DWORDS]) {
    out[0] = put(p.sid, 31, 0) | put(p.ssid, 51, 32) | put_flag(p.priv, 58) | put_flag(p.exec, 59) | put_flag(p.read, 60) |
             put_flag(p.write, 61) | put_flag(p.last, 62) | put_flag(p.ssv, 63);
    out[1] = put(p.prg_index, 8, 0) | (p.addr & genmask(63, 12));
}

PriEntry decode_pri(const uint64_t in[PRI_DWORDS]) {
    PriEntry p;
    p.sid = get<uint32_t>(in[0], 31, 0);
    p.ssid = get<uint32_t>(in[0], 51, 32);
    p.priv = flag(in[0], 58);
    p.exec = flag(in[0], 59);
    p.read = flag(in[0], 60);
    p.write = flag(in[0], 61);
    p.last = flag(in[0], 62);
    p.ssv = flag(in[0], 63);
    p.prg_index = get<uint16_t>(in[1], 8, 0);
    p.addr = in[1] & genmask(63, 12);
    return p;
}

// ---- names --------------------------------------------------------------------------------------

const char* event_name(uint8_t t) {
    switch (t) {
        case evt::F_UUT: return "F_UUT";
        case evt::C_BAD_STREAMID: return "C_BAD_STREAMID";
        case evt::F_STE_FETCH: return "F_STE_FETCH";
        case evt::C_BAD_STE: return "C_BAD_STE";
        case evt::F_BAD_ATS_TREQ: return "F_BAD_ATS_TREQ";
        case evt::F_STREAM_DISABLED: return "F_STREAM_DISABLED";
        case evt::F_TRANSL_FORBIDDEN: return "F_TRANSL_FORBIDDEN";
        case evt::C_BAD_SUBSTREAMID: return "C_BAD_SUBSTREAMID";
        case evt::F_CD_FETCH: return "F_CD_FETCH";
        case evt::C_BAD_CD: return "C_BAD_CD";
        case evt::F_WALK_EABT: return "F_WALK_EABT";
        case evt::F_TRANSLATION: return "F_TRANSLATION";
        case evt::F_ADDR_SIZE: return "F_ADDR_SIZE";
        case evt::F_ACCESS: return "F_ACCESS";
        case evt::F_PERMISSION: return "F_PERMISSION";
        case evt::F_TLB_CONFLICT: return "F_TLB_CONFLICT";
        case evt::F_CFG_CONFLICT: return "F_CFG_CONFLICT";
        case evt::E_PAGE_REQUEST: return "E_PAGE_REQUEST";
        case evt::F_VMS_FETCH: return "F_VMS_FETCH";
        default: return (t >= 0xE0 && t <= 0xEF) ? "IMPDEF_EVENT" : "UNKNOWN_EVENT";
    }
}

const char* opcode_name(uint8_t o) {
    switch (o) {
        case op::PREFETCH_CONFIG: return "CMD_PREFETCH_CONFIG";
        case op::PREFETCH_ADDR: return "CMD_PREFETCH_ADDR";
        case op::CFGI_STE: return "CMD_CFGI_STE";
        case op::CFGI_STE_RANGE: return "CMD_CFGI_STE_RANGE";
        case op::CFGI_CD: return "CMD_CFGI_CD";
        case op::CFGI_CD_ALL: return "CMD_CFGI_CD_ALL";
        case op::TLBI_NH_ALL: return "CMD_TLBI_NH_ALL";
        case op::TLBI_NH_ASID: return "CMD_TLBI_NH_ASID";
        case op::TLBI_NH_VA: return "CMD_TLBI_NH_VA";
        case op::TLBI_NH_VAA: return "CMD_TLBI_NH_VAA";
        case op::TLBI_EL3_ALL: return "CMD_TLBI_EL3_ALL";
        case op::TLBI_EL3_VA: return "CMD_TLBI_EL3_VA";
        case op::TLBI_EL2_ALL: return "CMD_TLBI_EL2_ALL";
        case op::TLBI_EL2_ASID: return "CMD_TLBI_EL2_ASID";
        case op::TLBI_EL2_VA: return "CMD_TLBI_EL2_VA";
        case op::TLBI_EL2_VAA: return "CMD_TLBI_EL2_VAA";
        case op::TLBI_S12_VMALL: return "CMD_TLBI_S12_VMALL";
        case op::TLBI_S2_IPA: return "CMD_TLBI_S2_IPA";
        case op::TLBI_NSNH_ALL: return "CMD_TLBI_NSNH_ALL";
        case op::ATC_INV: return "CMD_ATC_INV";
        case op::PRI_RESP: return "CMD_PRI_RESP";
        case op::RESUME: return "CMD_RESUME";
        case op::STALL_TERM: return "CMD_STALL_TERM";
        case op::CMD_SYNC: return "CMD_SYNC";
        default: return "CMD_UNKNOWN";
    }
}

}  // namespace iommusim::smmuv3
