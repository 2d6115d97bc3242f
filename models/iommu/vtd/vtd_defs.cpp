// Intel VT-d descriptor, fault-record and page-request encoders/decoders, range helpers and log names.
#include "models/iommu/vtd/vtd_defs.h"

namespace iommusim::vtd {

namespace {

template <typename T>
constexpr T get(uint64_t w, unsigned hi, unsigned lo) {
    return static_cast<T>((w & genmask(hi, lo)) >> lo);
}
constexpr bool flag(uint64_t w, unsigned n) { return (w >> n) & 1; }
constexpr uint64_t put(uint64_t v, unsigned hi, unsigned lo) { return (v << lo) & genmask(hi, lo); }
constexpr uint64_t put_flag(bool b, unsigned n) { return b ? bit(n) : 0; }

Desc with_type(uint8_t type) {
    Desc d;
    d.qw[0] = desc_type_bits(type);
    return d;
}

// PFSID is split: [3:0] at qw0 [15:12], [15:4] at qw0 [63:52].
constexpr uint64_t put_pfsid(uint16_t pfsid) { return put(pfsid & 0xFu, 15, 12) | put(pfsid >> 4, 63, 52); }
constexpr uint16_t get_pfsid(uint64_t qw0) {
    return static_cast<uint16_t>(get<unsigned>(qw0, 15, 12) | (get<unsigned>(qw0, 63, 52) << 4));
}

AddrRange aligned_span(uint64_t addr, unsigned log2_bytes) {
    if (log2_bytes >= 64) return {0, ~uint64_t{0}};
    const uint64_t size = uint64_t{1} << log2_bytes;
    const uint64_t first = addr & ~(size - 1);
    return {first, first + (size - 1)};
}

}  // namespace

// ---- descriptors --------------------------------------------------------------------------------

Desc encode(const ContextCacheInv& c) {
    Desc d = with_type(dtype::CONTEXT_CACHE);
    d.qw[0] |= put(c.g, 5, 4) | put(c.did, 31, 16) | put(c.sid, 47, 32) | put(c.fm, 49, 48);
    return d;
}
ContextCacheInv decode_context_cache_inv(const Desc& d) {
    const uint64_t w = d.qw[0];
    return {get<uint8_t>(w, 5, 4), get<uint16_t>(w, 31, 16), get<uint16_t>(w, 47, 32), get<uint8_t>(w, 49, 48)};
}

Desc encode(const IotlbInv& c) {
    Desc d = with_type(dtype::IOTLB);
    d.qw[0] |= put(c.g, 5, 4) | put_flag(c.dw, 6) | put_flag(c.dr, 7) | put(c.did, 31, 16);
    d.qw[1] = put(c.am, 5, 0) | put_flag(c.ih, 6) | (c.addr & kPageMask);
    return d;
}
IotlbInv decode_iotlb_inv(const Desc& d) {
    IotlbInv c;
    c.g = get<uint8_t>(d.qw[0], 5, 4);
    c.dw = flag(d.qw[0], 6);
    c.dr = flag(d.qw[0], 7);
    c.did = get<uint16_t>(d.qw[0], 31, 16);
    c.am = get<uint8_t>(d.qw[1], 5, 0);
    c.ih = flag(d.qw[1], 6);
    c.addr = d.qw[1] & kPageMask;
    return c;
}

Desc encode(const DevTlbInv& c) {
    Desc d = with_type(dtype::DEV_TLB);
    d.qw[0] |= put_pfsid(c.pfsid) | put(c.mip, 20, 16) | put(c.sid, 47, 32);
    d.qw[1] = put_flag(c.s, 0) | (c.addr & kPageMask);
    return d;
}
DevTlbInv decode_dev_tlb_inv(const Desc& d) {
    DevTlbInv c;
    c.pfsid = get_pfsid(d.qw[0]);
    c.mip = get<uint8_t>(d.qw[0], 20, 16);
    c.sid = get<uint16_t>(d.qw[0], 47, 32);
    c.s = flag(d.qw[1], 0);
    c.addr = d.qw[1] & kPageMask;
    return c;
}

Desc encode(const IecInv& c) {
    Desc d = with_type(dtype::IEC);
    d.qw[0] |= put_flag(c.index_selective, 4) | put(c.im, 31, 27) | put(c.iidx, 47, 32);
    return d;
}
IecInv decode_iec_inv(const Desc& d) {
    return {flag(d.qw[0], 4), get<uint8_t>(d.qw[0], 31, 27), get<uint16_t>(d.qw[0], 47, 32)};
}

Desc encode(const WaitDesc& c) {
    Desc d = with_type(dtype::WAIT);
    d.qw[0] |= put_flag(c.intr, 4) | put_flag(c.sw, 5) | put_flag(c.fn, 6) | put_flag(c.pd, 7) |
               put(c.status_data, 63, 32);
    d.qw[1] = c.status_addr & genmask(63, 2);
    return d;
}
WaitDesc decode_wait(const Desc& d) {
    WaitDesc c;
    c.intr = flag(d.qw[0], 4);
    c.sw = flag(d.qw[0], 5);
    c.fn = flag(d.qw[0], 6);
    c.pd = flag(d.qw[0], 7);
    c.status_data = get<uint32_t>(d.qw[0], 63, 32);
    c.status_addr = d.qw[1] & genmask(63, 2);
    return c;
}

Desc encode(const PasidIotlbInv& c) {
    Desc d = with_type(dtype::PASID_IOTLB);
    d.qw[0] |= put(c.g, 5, 4) | put(c.did, 31, 16) | put(c.pasid, 51, 32);
    d.qw[1] = put(c.am, 5, 0) | put_flag(c.ih, 6) | (c.addr & kPageMask);
    return d;
}
PasidIotlbInv decode_pasid_iotlb_inv(const Desc& d) {
    PasidIotlbInv c;
    c.g = get<uint8_t>(d.qw[0], 5, 4);
    c.did = get<uint16_t>(d.qw[0], 31, 16);
    c.pasid = get<uint32_t>(d.qw[0], 51, 32);
    c.am = get<uint8_t>(d.qw[1], 5, 0);
    c.ih = flag(d.qw[1], 6);
    c.addr = d.qw[1] & kPageMask;
    return c;
}

Desc encode(const PasidCacheInv& c) {
    Desc d = with_type(dtype::PASID_CACHE);
    d.qw[0] |= put(c.g, 5, 4) | put(c.did, 31, 16) | put(c.pasid, 51, 32);
    return d;
}
PasidCacheInv decode_pasid_cache_inv(const Desc& d) {
    return {get<uint8_t>(d.qw[0], 5, 4), get<uint16_t>(d.qw[0], 31, 16), get<uint32_t>(d.qw[0], 51, 32)};
}

Desc encode(const PasidDevTlbInv& c) {
    Desc d = with_type(dtype::PASID_DEV_TLB);
    d.qw[0] |= put(c.mip, 8, 4) | put_pfsid(c.pfsid) | put(c.sid, 31, 16) | put(c.pasid, 51, 32);
    d.qw[1] = put_flag(c.global, 0) | put_flag(c.s, 11) | (c.addr & kPageMask);
    return d;
}
PasidDevTlbInv decode_pasid_dev_tlb_inv(const Desc& d) {
    PasidDevTlbInv c;
    c.mip = get<uint8_t>(d.qw[0], 8, 4);
    c.pfsid = get_pfsid(d.qw[0]);
    c.sid = get<uint16_t>(d.qw[0], 31, 16);
    c.pasid = get<uint32_t>(d.qw[0], 51, 32);
    c.global = flag(d.qw[1], 0);
    c.s = flag(d.qw[1], 11);
    c.addr = d.qw[1] & kPageMask;
    return c;
}

Desc encode(const PageGroupResp& c) {
    Desc d = with_type(dtype::PAGE_GROUP_RESP);
    d.qw[0] |= put_flag(c.pasid_present, 4) | put(c.rc, 15, 12) | put(c.rid, 31, 16) | put(c.pasid, 51, 32);
    d.qw[1] = put_flag(c.lpig, 2) | put(c.prgi, 11, 3);
    return d;
}
PageGroupResp decode_page_group_resp(const Desc& d) {
    PageGroupResp c;
    c.pasid_present = flag(d.qw[0], 4);
    c.rc = get<uint8_t>(d.qw[0], 15, 12);
    c.rid = get<uint16_t>(d.qw[0], 31, 16);
    c.pasid = get<uint32_t>(d.qw[0], 51, 32);
    c.lpig = flag(d.qw[1], 2);
    c.prgi = get<uint16_t>(d.qw[1], 11, 3);
    return c;
}

bool valid_desc_type(uint8_t type) { return type >= dtype::CONTEXT_CACHE && type <= dtype::PAGE_GROUP_RESP; }

// ---- ranges -------------------------------------------------------------------------------------

AddrRange am_range(uint64_t addr, unsigned am) { return aligned_span(addr, 12u + am); }

unsigned am_covering(uint64_t addr, uint64_t size) {
    const uint64_t first = addr >> 12;
    const uint64_t last = (size == 0 ? addr : addr + (size - 1)) >> 12;
    unsigned am = 0;
    while (am < 52 && (first >> am) != (last >> am)) ++am;
    return am;
}

DevTlbAddr devtlb_encode(uint64_t addr, unsigned order) {
    if (order == 0) return {addr & kPageMask, false};
    if (order > 52) order = 52;            // 2^64 bytes: bits [62:12] set, bit 63 clear
    const unsigned n = 12u + order - 1u;  // the bit left clear
    const uint64_t base = addr & ~genmask(n, 0);
    return {base | (n > 12 ? genmask(n - 1, 12) : 0), true};
}

AddrRange devtlb_range(uint64_t addr, bool s) {
    if (!s) return aligned_span(addr, 12);
    unsigned n = 12;
    while (n < 64 && ((addr >> n) & 1)) ++n;
    return aligned_span(addr, n + 1u);  // no clear bit at all (n == 64) is the whole space too
}

// ---- fault records and page requests -------------------------------------------------------------

void encode(const FaultRecord& f, uint64_t out[2]) {
    out[0] = f.fi & kPageMask;
    out[1] = put(f.sid, 15, 0) | put_flag(f.t2, 28) | put_flag(f.priv, 29) | put_flag(f.exe, 30) |
             put_flag(f.pp, 31) | put(f.fr, 39, 32) | put(f.pasid, 59, 40) | put(f.at, 61, 60) | put_flag(f.t1, 62) |
             put_flag(f.f, 63);
}
FaultRecord decode_fault_record(const uint64_t in[2]) {
    FaultRecord f;
    f.fi = in[0] & kPageMask;
    f.sid = get<uint16_t>(in[1], 15, 0);
    f.t2 = flag(in[1], 28);
    f.priv = flag(in[1], 29);
    f.exe = flag(in[1], 30);
    f.pp = flag(in[1], 31);
    f.fr = get<uint8_t>(in[1], 39, 32);
    f.pasid = get<uint32_t>(in[1], 59, 40);
    f.at = get<uint8_t>(in[1], 61, 60);
    f.t1 = flag(in[1], 62);
    f.f = flag(in[1], 63);
    return f;
}

Desc encode(const PageRequest& p) {
    Desc d;
    d.qw[0] = PRQ_TYPE_PAGE_REQUEST | put_flag(p.pasid_present, 8) | put(p.rid, 31, 16) | put(p.pasid, 51, 32) |
              put_flag(p.exe, 52) | put_flag(p.priv, 53);
    d.qw[1] = put_flag(p.read, 0) | put_flag(p.write, 1) | put_flag(p.lpig, 2) | put(p.prgi, 11, 3) |
              (p.addr & kPageMask);
    return d;
}
PageRequest decode_page_request(const Desc& d) {
    PageRequest p;
    p.pasid_present = flag(d.qw[0], 8);
    p.rid = get<uint16_t>(d.qw[0], 31, 16);
    p.pasid = get<uint32_t>(d.qw[0], 51, 32);
    p.exe = flag(d.qw[0], 52);
    p.priv = flag(d.qw[0], 53);
    p.read = flag(d.qw[1], 0);
    p.write = flag(d.qw[1], 1);
    p.lpig = flag(d.qw[1], 2);
    p.prgi = get<uint16_t>(d.qw[1], 11, 3);
    p.addr = d.qw[1] & kPageMask;
    return p;
}

// ---- names --------------------------------------------------------------------------------------

const char* desc_type_name(uint8_t type) {
    switch (type) {
        case dtype::CONTEXT_CACHE: return "context_cache_inv";
        case dtype::IOTLB: return "iotlb_inv";
        case dtype::DEV_TLB: return "dev_tlb_inv";
        case dtype::IEC: return "iec_inv";
        case dtype::WAIT: return "inv_wait";
        case dtype::PASID_IOTLB: return "pasid_iotlb_inv";
        case dtype::PASID_CACHE: return "pasid_cache_inv";
        case dtype::PASID_DEV_TLB: return "pasid_dev_tlb_inv";
        case dtype::PAGE_GROUP_RESP: return "page_group_resp";
        default: return "unknown";
    }
}

const char* fault_reason_name(uint8_t reason) {
    switch (reason) {
        case fr::ROOT_NOT_PRESENT: return "root entry not present";
        case fr::CTX_NOT_PRESENT: return "context entry not present";
        case fr::CTX_INVALID: return "invalid context entry";
        case fr::ADDR_BEYOND_AGAW: return "address beyond AGAW";
        case fr::WRITE: return "write not permitted";
        case fr::READ: return "read not permitted";
        case fr::PTE_ACCESS: return "page-table entry access error";
        case fr::ROOT_ACCESS: return "root table access error";
        case fr::CTX_ACCESS: return "context table access error";
        case fr::ROOT_RSVD: return "reserved field in root entry";
        case fr::CTX_RSVD: return "reserved field in context entry";
        case fr::PTE_RSVD: return "reserved field in page-table entry";
        case fr::TT_BLOCKED: return "request blocked by translation type";
        case fr::IR_RSVD: return "IR: reserved field in interrupt request";
        case fr::IR_INDEX: return "IR: index beyond table";
        case fr::IR_NOT_PRESENT: return "IR: IRTE not present";
        case fr::IR_ACCESS: return "IR: IRTE access error";
        case fr::IR_IRTE_RSVD: return "IR: reserved field in IRTE";
        case fr::IR_CFI_BLOCKED: return "IR: compatibility-format interrupt blocked";
        case fr::IR_SID: return "IR: source-id check failed";
        case fr::SM_RTA_INVALID: return "SM: invalid root table address";
        case fr::SM_TTM0_PASID: return "SM: legacy mode request with PASID";
        case fr::SM_TTM0_PRQ: return "SM: legacy mode page request";
        case fr::SM_ROOT_ACCESS: return "SM: root entry access error";
        case fr::SM_ROOT_NOT_PRESENT: return "SM: root entry not present";
        case fr::SM_ROOT_RSVD: return "SM: reserved field in root entry";
        case fr::SM_CTX_ACCESS: return "SM: context entry access error";
        case fr::SM_CTX_NOT_PRESENT: return "SM: context entry not present";
        case fr::SM_CTX_RSVD: return "SM: reserved field in context entry";
        case fr::SM_CTX_INVALID: return "SM: invalid context entry";
        case fr::SM_CTX_DTE: return "SM: DTE clear for translation request";
        case fr::SM_CTX_PASIDE: return "SM: PASIDE clear for request with PASID";
        case fr::SM_CTX_PASID_TOO_BIG: return "SM: PASID beyond directory size";
        case fr::SM_CTX_PRE: return "SM: PRE clear for page request";
        case fr::SM_CTX_RID_PASID: return "SM: RID_PASID error";
        case fr::SM_PDE_ACCESS: return "SM: PASID directory entry access error";
        case fr::SM_PDE_NOT_PRESENT: return "SM: PASID directory entry not present";
        case fr::SM_PDE_RSVD: return "SM: reserved field in PASID directory entry";
        case fr::SM_PTE_ACCESS: return "SM: PASID table entry access error";
        case fr::SM_PTE_NOT_PRESENT: return "SM: PASID table entry not present";
        case fr::SM_PTE_RSVD: return "SM: reserved field in PASID table entry";
        case fr::SM_PTE_INVALID: return "SM: invalid PASID table entry";
        case fr::SM_PTE_ERE: return "SM: ERE clear for execute request";
        case fr::SM_PTE_SRE: return "SM: SRE clear for supervisor request";
        case fr::SM_FS_ACCESS: return "SM: first-stage entry access error";
        case fr::SM_FS_NOT_PRESENT: return "SM: first-stage entry not present";
        case fr::SM_FS_RSVD: return "SM: reserved field in first-stage entry";
        case fr::SM_NESTED_BEYOND: return "SM: nested: first-stage address beyond the second-stage width";
        case fr::SM_NESTED_FS_ROOT_READ: return "SM: nested: second stage denies reading the first-stage root";
        case fr::SM_NESTED_FS_READ: return "SM: nested: second stage denies reading a first-stage table";
        case fr::SM_SS_ACCESS: return "SM: second-stage entry access error";
        case fr::SM_SS_PERM: return "SM: second-stage entry permission (not present)";
        case fr::SM_SS_RSVD: return "SM: reserved field in second-stage entry";
        case fr::SM_SS_PTR_INVALID: return "SM: invalid second-stage table pointer";
        case fr::SM_NOT_CANONICAL: return "SM: non-canonical first-stage address";
        case fr::SM_FS_US: return "SM: user request to supervisor page";
        case fr::SM_NO_EXEC: return "SM: execute not permitted";
        case fr::SM_BEYOND_HW: return "SM: address beyond hardware width";
        case fr::SM_SS_ADDR_BEYOND: return "SM: second-stage address beyond width";
        case fr::SM_NO_WRITE: return "SM: write not permitted";
        case fr::SM_NO_READ: return "SM: read not permitted";
        default: return "unknown";
    }
}

}  // namespace iommusim::vtd
