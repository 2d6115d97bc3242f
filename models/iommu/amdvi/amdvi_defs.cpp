// AMD-Vi structure encoders/decoders (DTE, commands, event and PPR log entries), command builders, log names.
#include "models/iommu/amdvi/amdvi_defs.h"

namespace iommusim::amdvi {

namespace {

template <typename T>
constexpr T get(uint64_t w, unsigned hi, unsigned lo) {
    return static_cast<T>((w & genmask(hi, lo)) >> lo);
}
constexpr bool flag(uint64_t w, unsigned n) { return (w >> n) & 1; }
constexpr uint64_t put(uint64_t v, unsigned hi, unsigned lo) { return (v << lo) & genmask(hi, lo); }
constexpr uint64_t put_flag(bool b, unsigned n) { return b ? bit(n) : 0; }

constexpr uint64_t kAddr63_12 = genmask(63, 12);

}  // namespace

// ---- DTE ----------------------------------------------------------------------------------------

void encode(const Dte& d, uint64_t out[DTE_QWORDS]) {
    const uint64_t g = d.gcr3_root;
    out[0] = put_flag(d.v, 0) | put_flag(d.tv, 1) | put(d.had, 8, 7) | put(d.mode, 11, 9) | (d.pt_root & ADDR_4K_MASK) |
             put_flag(d.ppr, 52) | put_flag(d.gprp, 53) | put_flag(d.giov, 54) | put_flag(d.gv, 55) | put(d.glx, 57, 56) |
             put(g >> 12, 60, 58) | put_flag(d.ir, 61) | put_flag(d.iw, 62);
    out[1] = put(d.domain_id, 15, 0) | put(g >> 15, 31, 16) | put_flag(d.i, 32) | put_flag(d.se, 33) | put_flag(d.sa, 34) |
             put(d.ioctl, 36, 35) | put_flag(d.cache, 37) | put_flag(d.sd, 38) | put_flag(d.ex, 39) | put(d.sysmgt, 41, 40) |
             put(g >> 31, 63, 43);
    out[2] = put_flag(d.iv, 0) | put(d.int_tab_len, 4, 1) | put_flag(d.ig, 5) | (d.int_table_root & genmask(51, 6)) |
             put(d.gpm, 55, 54) | put_flag(d.init_pass, 56) | put_flag(d.eint_pass, 57) | put_flag(d.nmi_pass, 58) |
             put(d.int_ctl, 61, 60) | put_flag(d.lint0_pass, 62) | put_flag(d.lint1_pass, 63);
    out[3] = 0;
}

Dte decode_dte(const uint64_t in[DTE_QWORDS]) {
    Dte d;
    const uint64_t q0 = in[0], q1 = in[1], q2 = in[2];
    d.v = flag(q0, 0);
    d.tv = flag(q0, 1);
    d.had = get<uint8_t>(q0, 8, 7);
    d.mode = get<uint8_t>(q0, 11, 9);
    d.pt_root = q0 & ADDR_4K_MASK;
    d.ppr = flag(q0, 52);
    d.gprp = flag(q0, 53);
    d.giov = flag(q0, 54);
    d.gv = flag(q0, 55);
    d.glx = get<uint8_t>(q0, 57, 56);
    d.gcr3_root = (get<uint64_t>(q0, 60, 58) << 12) | (get<uint64_t>(q1, 31, 16) << 15) | (get<uint64_t>(q1, 63, 43) << 31);
    d.ir = flag(q0, 61);
    d.iw = flag(q0, 62);
    d.domain_id = get<uint16_t>(q1, 15, 0);
    d.i = flag(q1, 32);
    d.se = flag(q1, 33);
    d.sa = flag(q1, 34);
    d.ioctl = get<uint8_t>(q1, 36, 35);
    d.cache = flag(q1, 37);
    d.sd = flag(q1, 38);
    d.ex = flag(q1, 39);
    d.sysmgt = get<uint8_t>(q1, 41, 40);
    d.iv = flag(q2, 0);
    d.int_tab_len = get<uint8_t>(q2, 4, 1);
    d.ig = flag(q2, 5);
    d.int_table_root = q2 & genmask(51, 6);
    d.gpm = get<uint8_t>(q2, 55, 54);
    d.init_pass = flag(q2, 56);
    d.eint_pass = flag(q2, 57);
    d.nmi_pass = flag(q2, 58);
    d.int_ctl = get<uint8_t>(q2, 61, 60);
    d.lint0_pass = flag(q2, 62);
    d.lint1_pass = flag(q2, 63);
    return d;
}

bool dte_legal(const Dte& d) {
    if (!d.v) return true;  // nothing else is looked at
    if (d.tv && d.mode == 7) return false;
    if (d.gv && d.glx == 3) return false;
    if (d.ioctl == 3 || d.int_ctl == 3) return false;
    if (d.iv && d.int_tab_len > dte::INT_TAB_LEN_MAX) return false;
    return true;
}

// ---- commands -----------------------------------------------------------------------------------

bool valid_opcode(uint8_t o) { return o >= op::COMPLETION_WAIT && o <= op::INVALIDATE_IOMMU_ALL; }

void encode(const Cmd& c, uint64_t out[CMD_QWORDS]) {
    uint64_t q0 = CMD_OPCODE.make(c.opcode), q1 = 0;
    const uint64_t pasid = c.pasid;
    switch (c.opcode) {
        case op::COMPLETION_WAIT:
            q0 |= put_flag(c.store, 0) | put_flag(c.interrupt, 1) | put_flag(c.flush, 2) | (c.store_addr & genmask(51, 3));
            q1 = c.store_data;
            break;
        case op::INVALIDATE_DEVTAB_ENTRY:
        case op::INVALIDATE_INTERRUPT_TABLE:
            q0 |= c.device_id;
            break;
        case op::INVALIDATE_IOMMU_PAGES:
            q0 |= put(pasid, 19, 0) | put(c.domain_id, 47, 32);
            q1 = put_flag(c.s, 0) | put_flag(c.pde, 1) | put_flag(c.gn, 2) | (c.addr & kAddr63_12);
            break;
        case op::INVALIDATE_IOTLB_PAGES:
            q0 |= put(c.device_id, 15, 0) | put(pasid >> 8, 23, 16) | put(c.maxpend, 31, 24) | put(c.queue_id, 47, 32) |
                  put(pasid, 55, 48) | put(pasid >> 16, 59, 56);
            q1 = put_flag(c.s, 0) | put_flag(c.gn, 2) | (c.addr & kAddr63_12);
            break;
        case op::PREFETCH_IOMMU_PAGES:
            q0 |= put(c.device_id, 15, 0) | put(c.pf_count, 31, 24) | put(pasid, 51, 32);
            q1 = put_flag(c.s, 0) | put_flag(c.gn, 2) | put_flag(c.inval, 4) | (c.addr & kAddr63_12);
            break;
        case op::COMPLETE_PPR_REQUEST:
            q0 |= put(c.device_id, 15, 0) | put(pasid, 51, 32);
            q1 = put_flag(c.gn, 2) | put(c.tag, 40, 32) | put(c.status, 47, 44);
            break;
        default:
            break;
    }
    out[0] = q0;
    out[1] = q1;
}

Cmd decode_cmd(const uint64_t in[CMD_QWORDS]) {
    Cmd c;
    const uint64_t q0 = in[0], q1 = in[1];
    c.opcode = static_cast<uint8_t>(CMD_OPCODE.get(q0));
    switch (c.opcode) {
        case op::COMPLETION_WAIT:
            c.store = flag(q0, 0);
            c.interrupt = flag(q0, 1);
            c.flush = flag(q0, 2);
            c.store_addr = q0 & genmask(51, 3);
            c.store_data = q1;
            break;
        case op::INVALIDATE_DEVTAB_ENTRY:
        case op::INVALIDATE_INTERRUPT_TABLE:
            c.device_id = get<uint16_t>(q0, 15, 0);
            break;
        case op::INVALIDATE_IOMMU_PAGES:
            c.pasid = get<uint32_t>(q0, 19, 0);
            c.domain_id = get<uint16_t>(q0, 47, 32);
            c.s = flag(q1, 0);
            c.pde = flag(q1, 1);
            c.gn = flag(q1, 2);
            c.addr = q1 & kAddr63_12;
            break;
        case op::INVALIDATE_IOTLB_PAGES:
            c.device_id = get<uint16_t>(q0, 15, 0);
            c.pasid = (get<uint32_t>(q0, 59, 56) << 16) | (get<uint32_t>(q0, 23, 16) << 8) | get<uint32_t>(q0, 55, 48);
            c.maxpend = get<uint8_t>(q0, 31, 24);
            c.queue_id = get<uint16_t>(q0, 47, 32);
            c.s = flag(q1, 0);
            c.gn = flag(q1, 2);
            c.addr = q1 & kAddr63_12;
            break;
        case op::PREFETCH_IOMMU_PAGES:
            c.device_id = get<uint16_t>(q0, 15, 0);
            c.pf_count = get<uint8_t>(q0, 31, 24);
            c.pasid = get<uint32_t>(q0, 51, 32);
            c.s = flag(q1, 0);
            c.gn = flag(q1, 2);
            c.inval = flag(q1, 4);
            c.addr = q1 & kAddr63_12;
            break;
        case op::COMPLETE_PPR_REQUEST:
            c.device_id = get<uint16_t>(q0, 15, 0);
            c.pasid = get<uint32_t>(q0, 51, 32);
            c.gn = flag(q1, 2);
            c.tag = get<uint16_t>(q1, 40, 32);
            c.status = get<uint8_t>(q1, 47, 44);
            break;
        default:
            break;
    }
    return c;
}

bool cmd_well_formed(const uint64_t in[CMD_QWORDS]) {
    // A field-by-field round trip drops exactly the reserved bits.
    const Cmd c = decode_cmd(in);
    if (!valid_opcode(c.opcode)) return false;
    uint64_t again[CMD_QWORDS];
    encode(c, again);
    return again[0] == in[0] && again[1] == in[1];
}

Cmd cmd_completion_wait(uint64_t store_addr, uint64_t store_data, bool interrupt) {
    Cmd c;
    c.opcode = op::COMPLETION_WAIT;
    c.store = true;
    c.interrupt = interrupt;
    c.store_addr = store_addr & genmask(51, 3);
    c.store_data = store_data;
    return c;
}

Cmd cmd_inv_devtab_entry(uint16_t device_id) {
    Cmd c;
    c.opcode = op::INVALIDATE_DEVTAB_ENTRY;
    c.device_id = device_id;
    return c;
}

Cmd cmd_inv_iommu_pages(uint16_t domain_id, uint64_t start, uint64_t size, bool pde) {
    const InvAddr a = inv_encode(start, size);
    Cmd c;
    c.opcode = op::INVALIDATE_IOMMU_PAGES;
    c.domain_id = domain_id;
    c.addr = a.addr;
    c.s = a.s;
    c.pde = pde;
    return c;
}

Cmd cmd_inv_iommu_pages_pasid(uint16_t domain_id, uint32_t pasid, uint64_t start, uint64_t size) {
    Cmd c = cmd_inv_iommu_pages(domain_id, start, size, true);
    c.pasid = pasid;
    c.gn = true;
    return c;
}

Cmd cmd_inv_iotlb_pages(uint16_t device_id, uint8_t maxpend, uint64_t start, uint64_t size) {
    const InvAddr a = inv_encode(start, size);
    Cmd c;
    c.opcode = op::INVALIDATE_IOTLB_PAGES;
    c.device_id = device_id;
    c.queue_id = device_id;
    c.maxpend = maxpend;
    c.addr = a.addr;
    c.s = a.s;
    return c;
}

Cmd cmd_inv_iotlb_pages_pasid(uint16_t device_id, uint8_t maxpend, uint32_t pasid, uint64_t start, uint64_t size) {
    Cmd c = cmd_inv_iotlb_pages(device_id, maxpend, start, size);
    c.pasid = pasid;
    c.gn = true;
    return c;
}

Cmd cmd_inv_interrupt_table(uint16_t device_id) {
    Cmd c;
    c.opcode = op::INVALIDATE_INTERRUPT_TABLE;
    c.device_id = device_id;
    return c;
}

Cmd cmd_complete_ppr(uint16_t device_id, uint32_t pasid, bool gn, uint16_t tag, uint8_t status) {
    Cmd c;
    c.opcode = op::COMPLETE_PPR_REQUEST;
    c.device_id = device_id;
    c.pasid = gn ? pasid : 0;
    c.gn = gn;
    c.tag = tag & 0x1FF;
    c.status = status & 0xF;
    return c;
}

Cmd cmd_inv_iommu_all() {
    Cmd c;
    c.opcode = op::INVALIDATE_IOMMU_ALL;
    return c;
}

// ---- event log ----------------------------------------------------------------------------------

void encode(const Event& e, uint64_t out[EVENT_QWORDS]) {
    const bool dom = event_has_domain(e);
    const uint64_t id = dom ? e.domain_id : e.pasid;
    out[0] = put(e.device_id, 15, 0) | put(id >> 16, 19, 16) | put(id, 47, 32) | put_flag(e.gn, 48) | put_flag(e.nx, 49) |
             put_flag(e.us, 50) | put_flag(e.i, 51) | put_flag(e.pr, 52) | put_flag(e.rw, 53) | put_flag(e.pe, 54) |
             put_flag(e.rz, 55) | put_flag(e.tr, 56) | put(e.type, 59, 57) | put(e.code, 63, 60);
    out[1] = e.addr;
}

Event decode_event(const uint64_t in[EVENT_QWORDS]) {
    Event e;
    const uint64_t q0 = in[0];
    e.code = get<uint8_t>(q0, 63, 60);
    e.device_id = get<uint16_t>(q0, 15, 0);
    e.gn = flag(q0, 48);
    e.nx = flag(q0, 49);
    e.us = flag(q0, 50);
    e.i = flag(q0, 51);
    e.pr = flag(q0, 52);
    e.rw = flag(q0, 53);
    e.pe = flag(q0, 54);
    e.rz = flag(q0, 55);
    e.tr = flag(q0, 56);
    e.type = get<uint8_t>(q0, 59, 57);
    if (event_has_domain(e))
        e.domain_id = get<uint16_t>(q0, 47, 32);
    else
        e.pasid = (get<uint32_t>(q0, 19, 16) << 16) | get<uint32_t>(q0, 47, 32);
    e.addr = in[1];
    return e;
}

// ---- PPR log ------------------------------------------------------------------------------------

void encode(const PprEntry& p, uint64_t out[PPR_QWORDS]) {
    out[0] = put(p.device_id, 15, 0) | put(p.pasid, 31, 16) | put(p.prg_index, 40, 32) | put_flag(p.last, 41) |
             put(p.pasid >> 16, 45, 42) | put_flag(p.exec, 49) | put_flag(p.read, 50) | put_flag(p.write, 53) |
             put_flag(p.us, 54) | put_flag(p.rz, 55) | put_flag(p.gn, 56) | put(p.code, 63, 60);
    out[1] = p.addr & kAddr63_12;
}

PprEntry decode_ppr(const uint64_t in[PPR_QWORDS]) {
    PprEntry p;
    const uint64_t q0 = in[0];
    p.code = get<uint8_t>(q0, 63, 60);
    p.device_id = get<uint16_t>(q0, 15, 0);
    p.pasid = (get<uint32_t>(q0, 45, 42) << 16) | get<uint32_t>(q0, 31, 16);
    p.prg_index = get<uint16_t>(q0, 40, 32);
    p.last = flag(q0, 41);
    p.exec = flag(q0, 49);
    p.read = flag(q0, 50);
    p.write = flag(q0, 53);
    p.us = flag(q0, 54);
    p.rz = flag(q0, 55);
    p.gn = flag(q0, 56);
    p.addr = in[1] & kAddr63_12;
    return p;
}

// ---- names --------------------------------------------------------------------------------------

const char* event_name(uint8_t code) {
    switch (code) {
        case evt::ILLEGAL_DEV_TABLE_ENTRY: return "ILLEGAL_DEV_TABLE_ENTRY";
        case evt::IO_PAGE_FAULT: return "IO_PAGE_FAULT";
        case evt::DEV_TAB_HARDWARE_ERROR: return "DEV_TAB_HARDWARE_ERROR";
        case evt::PAGE_TAB_HARDWARE_ERROR: return "PAGE_TAB_HARDWARE_ERROR";
        case evt::ILLEGAL_COMMAND_ERROR: return "ILLEGAL_COMMAND_ERROR";
        case evt::COMMAND_HARDWARE_ERROR: return "COMMAND_HARDWARE_ERROR";
        case evt::IOTLB_INV_TIMEOUT: return "IOTLB_INV_TIMEOUT";
        case evt::INVALID_DEVICE_REQUEST: return "INVALID_DEVICE_REQUEST";
        case evt::INVALID_PPR_REQUEST: return "INVALID_PPR_REQUEST";
        case evt::EVENT_COUNTER_ZERO: return "EVENT_COUNTER_ZERO";
        case evt::RMP_PAGE_FAULT: return "RMP_PAGE_FAULT";
        case evt::RMP_HARDWARE_ERROR: return "RMP_HARDWARE_ERROR";
        default: return "UNKNOWN_EVENT";
    }
}

const char* opcode_name(uint8_t opcode) {
    switch (opcode) {
        case op::COMPLETION_WAIT: return "COMPLETION_WAIT";
        case op::INVALIDATE_DEVTAB_ENTRY: return "INVALIDATE_DEVTAB_ENTRY";
        case op::INVALIDATE_IOMMU_PAGES: return "INVALIDATE_IOMMU_PAGES";
        case op::INVALIDATE_IOTLB_PAGES: return "INVALIDATE_IOTLB_PAGES";
        case op::INVALIDATE_INTERRUPT_TABLE: return "INVALIDATE_INTERRUPT_TABLE";
        case op::PREFETCH_IOMMU_PAGES: return "PREFETCH_IOMMU_PAGES";
        case op::COMPLETE_PPR_REQUEST: return "COMPLETE_PPR_REQUEST";
        case op::INVALIDATE_IOMMU_ALL: return "INVALIDATE_IOMMU_ALL";
        default: return "UNKNOWN_COMMAND";
    }
}

}  // namespace iommusim::amdvi
