// Arm SMMUv3 (IHI 0070) bit formats shared by the SMMUv3 model and its host driver (registers, STE, CD, commands, events).
#pragma once

#include <cstdint>

namespace iommusim::smmuv3 {

// ---- bit-field helpers --------------------------------------------------------------------------

constexpr uint64_t genmask(unsigned hi, unsigned lo) {
    return ((hi >= 63 ? ~uint64_t{0} : ((uint64_t{1} << (hi + 1)) - 1))) & ~((uint64_t{1} << lo) - 1);
}

// A field [hi:lo] of a register or descriptor word; get() returns it right-aligned.
struct Field {
    uint8_t hi, lo;
    constexpr uint64_t mask() const { return genmask(hi, lo); }
    constexpr uint64_t get(uint64_t w) const { return (w & mask()) >> lo; }
    constexpr uint64_t put(uint64_t w, uint64_t v) const { return (w & ~mask()) | ((v << lo) & mask()); }
    constexpr uint64_t make(uint64_t v) const { return (v << lo) & mask(); }
};

constexpr uint64_t bit(unsigned n) { return uint64_t{1} << n; }

// ---- register map -------------------------------------------------------------------------------

namespace reg {
inline constexpr uint32_t PAGE1 = 0x10000;  // second 64 KiB page: EVENTQ/PRIQ PROD/CONS
inline constexpr uint32_t SPACE_SIZE = 0x20000;
inline constexpr uint32_t IDR0 = 0x00, IDR1 = 0x04, IDR2 = 0x08, IDR3 = 0x0C, IDR4 = 0x10, IDR5 = 0x14;
inline constexpr uint32_t IIDR = 0x18, AIDR = 0x1C;
inline constexpr uint32_t CR0 = 0x20, CR0ACK = 0x24, CR1 = 0x28, CR2 = 0x2C;
inline constexpr uint32_t STATUSR = 0x40, GBPA = 0x44, AGBPA = 0x48;
inline constexpr uint32_t IRQ_CTRL = 0x50, IRQ_CTRLACK = 0x54;
inline constexpr uint32_t GERROR = 0x60, GERRORN = 0x64;
inline constexpr uint32_t GERROR_IRQ_CFG0 = 0x68, GERROR_IRQ_CFG1 = 0x70, GERROR_IRQ_CFG2 = 0x74;  // CFG0 64-bit
inline constexpr uint32_t STRTAB_BASE = 0x80, STRTAB_BASE_CFG = 0x88;                               // BASE 64-bit
inline constexpr uint32_t CMDQ_BASE = 0x90, CMDQ_PROD = 0x98, CMDQ_CONS = 0x9C;                     // BASE 64-bit
inline constexpr uint32_t EVENTQ_BASE = 0xA0;
inline constexpr uint32_t EVENTQ_PROD = PAGE1 + 0xA8, EVENTQ_CONS = PAGE1 + 0xAC;
inline constexpr uint32_t EVENTQ_IRQ_CFG0 = 0xB0, EVENTQ_IRQ_CFG1 = 0xB8, EVENTQ_IRQ_CFG2 = 0xBC;
inline constexpr uint32_t PRIQ_BASE = 0xC0;
inline constexpr uint32_t PRIQ_PROD = PAGE1 + 0xC8, PRIQ_CONS = PAGE1 + 0xCC;
inline constexpr uint32_t PRIQ_IRQ_CFG0 = 0xD0, PRIQ_IRQ_CFG1 = 0xD8, PRIQ_IRQ_CFG2 = 0xDC;
// 64-bit registers: true when `off` is the low word of one.
constexpr bool is_64bit(uint32_t off) {
    return off == GERROR_IRQ_CFG0 || off == STRTAB_BASE || off == CMDQ_BASE || off == EVENTQ_BASE ||
           off == EVENTQ_IRQ_CFG0 || off == PRIQ_BASE || off == PRIQ_IRQ_CFG0;
}
}  // namespace reg

namespace idr0 {
inline constexpr uint32_t S2P = 1u << 0, S1P = 1u << 1, COHACC = 1u << 4, BTM = 1u << 5, DORMHINT = 1u << 8,
                          HYP = 1u << 9, ATS = 1u << 10, NS1ATS = 1u << 11, ASID16 = 1u << 12, MSI = 1u << 13,
                          SEV = 1u << 14, ATOS = 1u << 15, PRI = 1u << 16, VMW = 1u << 17, VMID16 = 1u << 18,
                          CD2L = 1u << 19, VATOS = 1u << 20, ATSRECERR = 1u << 23, TERM_MODEL = 1u << 26;
inline constexpr Field TTF{3, 2};          // 2: AArch64, 3: AArch32+AArch64
inline constexpr Field HTTU{7, 6};         // 1: AF, 2: AF+dirty
inline constexpr Field TTENDIAN{22, 21};   // 0: mixed, 2: LE, 3: BE
inline constexpr Field STALL_MODEL{25, 24};  // 0: stall+terminate, 1: terminate only, 2: stall forced
inline constexpr Field ST_LEVEL{28, 27};   // 0: linear only, 1: 2-level supported
inline constexpr uint32_t TTF_AARCH64 = 2, HTTU_AF = 1, HTTU_AF_DIRTY = 2, TTENDIAN_LE = 2, ST_LEVEL_2LVL = 1;
}  // namespace idr0

namespace idr1 {
inline constexpr Field SIDSIZE{5, 0}, SSIDSIZE{10, 6}, PRIQS{15, 11}, EVENTQS{20, 16}, CMDQS{25, 21};
inline constexpr uint32_t ATTR_PERMS_OVR = 1u << 26, ATTR_TYPES_OVR = 1u << 27, REL = 1u << 28,
                          QUEUES_PRESET = 1u << 29, TABLES_PRESET = 1u << 30, ECMDQ = 1u << 31;
}  // namespace idr1

namespace idr3 {
inline constexpr uint32_t HAD = 1u << 2, PBHA = 1u << 3, XNX = 1u << 4, PPS = 1u << 5, MPAM = 1u << 7,
                          FWB = 1u << 8, STT = 1u << 9, RIL = 1u << 10, E0PD = 1u << 13, PTWNNC = 1u << 14;
inline constexpr Field BBML{12, 11};
}  // namespace idr3

namespace idr5 {
inline constexpr Field OAS{2, 0}, VAX{11, 10}, STALL_MAX{31, 16};
inline constexpr uint32_t GRAN4K = 1u << 4, GRAN16K = 1u << 5, GRAN64K = 1u << 6;
}  // namespace idr5

// CD.IPS / STE.S2PS / IDR5.OAS encoding -> address bits (0 if reserved).
constexpr unsigned ps_bits(unsigned enc) {
    constexpr unsigned t[] = {32, 36, 40, 42, 44, 48, 52};
    return enc < 7 ? t[enc] : 0;
}

namespace cr0 {
inline constexpr uint32_t SMMUEN = 1u << 0, PRIQEN = 1u << 1, EVTQEN = 1u << 2, CMDQEN = 1u << 3,
                          ATSCHK = 1u << 4;
inline constexpr Field VMW{8, 6};
}  // namespace cr0

namespace cr1 {
inline constexpr Field QUEUE_IC{1, 0}, QUEUE_OC{3, 2}, QUEUE_SH{5, 4}, TABLE_IC{7, 6}, TABLE_OC{9, 8},
    TABLE_SH{11, 10};
}  // namespace cr1

namespace cr2 {
inline constexpr uint32_t E2H = 1u << 0, RECINVSID = 1u << 1, PTM = 1u << 2;
}  // namespace cr2

namespace gbpa {
inline constexpr Field MEMATTR{3, 0}, ALLOCCFG{11, 8}, SHCFG{13, 12}, PRIVCFG{17, 16}, INSTCFG{19, 18};
inline constexpr uint32_t MTCFG = 1u << 4, ABORT = 1u << 20, UPDATE = 1u << 31;
}  // namespace gbpa

namespace irq_ctrl {
inline constexpr uint32_t GERROR_IRQEN = 1u << 0, PRIQ_IRQEN = 1u << 1, EVENTQ_IRQEN = 1u << 2;
}  // namespace irq_ctrl

// GERROR/GERRORN: an error is active while the bit differs between the two registers.
namespace gerror {
inline constexpr uint32_t CMDQ_ERR = 1u << 0, EVENTQ_ABT_ERR = 1u << 2, PRIQ_ABT_ERR = 1u << 3,
                          MSI_CMDQ_ABT_ERR = 1u << 4, MSI_EVENTQ_ABT_ERR = 1u << 5, MSI_PRIQ_ABT_ERR = 1u << 6,
                          MSI_GERROR_ABT_ERR = 1u << 7, SFM_ERR = 1u << 8;
inline constexpr uint32_t ALL = 0x1FD;
}  // namespace gerror

// *_IRQ_CFG0/1/2: MSI address, data, attributes.
namespace irq_cfg {
inline constexpr uint64_t ADDR_MASK = genmask(51, 2);
inline constexpr Field SH{5, 4}, MEMATTR{3, 0};
}  // namespace irq_cfg

namespace strtab {
inline constexpr uint64_t BASE_RA = bit(62);
inline constexpr uint64_t BASE_ADDR_MASK = genmask(51, 6);
inline constexpr Field CFG_LOG2SIZE{5, 0}, CFG_SPLIT{10, 6}, CFG_FMT{17, 16};
inline constexpr uint32_t FMT_LINEAR = 0, FMT_2LVL = 1;
}  // namespace strtab

// CMDQ_BASE / EVENTQ_BASE / PRIQ_BASE.
namespace qbase {
inline constexpr uint64_t RWA = bit(62);  // RA for the command queue, WA for the output queues
inline constexpr uint64_t ADDR_MASK = genmask(51, 5);
inline constexpr Field LOG2SIZE{4, 0};
}  // namespace qbase

// PROD/CONS registers: [log2size-1:0] index, [log2size] wrap, upper bits per register.
namespace qreg {
inline constexpr Field CMDQ_CONS_ERR{30, 24};
inline constexpr uint32_t OVFLG = 1u << 31;  // EVENTQ/PRIQ_PROD.OVFLG, *_CONS.OVACKFLG
inline constexpr uint32_t CERROR_NONE = 0, CERROR_ILL = 1, CERROR_ABT = 2, CERROR_ATC_INV_SYNC = 3;
}  // namespace qreg

// ---- queue index arithmetic ---------------------------------------------------------------------

constexpr uint32_t queue_idx_mask(unsigned log2size) { return (1u << log2size) - 1; }
constexpr uint32_t queue_wrap_bit(unsigned log2size) { return 1u << log2size; }
constexpr uint32_t queue_index(uint32_t p, unsigned log2size) { return p & queue_idx_mask(log2size); }
constexpr bool queue_wrap(uint32_t p, unsigned log2size) { return p & queue_wrap_bit(log2size); }
constexpr bool queue_empty(uint32_t prod, uint32_t cons, unsigned log2size) {
    const uint32_t m = (queue_wrap_bit(log2size) << 1) - 1;
    return ((prod ^ cons) & m) == 0;
}
constexpr bool queue_full(uint32_t prod, uint32_t cons, unsigned log2size) {
    const uint32_t m = (queue_wrap_bit(log2size) << 1) - 1;
    return ((prod ^ cons) & m) == queue_wrap_bit(log2size);
}
// Entries between cons and prod.
constexpr uint32_t queue_count(uint32_t prod, uint32_t cons, unsigned log2size) {
    const uint32_t m = (queue_wrap_bit(log2size) << 1) - 1;
    return ((prod & m) - (cons & m)) & m;
}
// Advance by n with wrap; bits above the wrap bit (CMDQ_CONS.ERR, OVFLG) are preserved.
constexpr uint32_t queue_inc(uint32_t p, unsigned log2size, uint32_t n = 1) {
    const uint32_t m = (queue_wrap_bit(log2size) << 1) - 1;
    return (p & ~m) | ((p + n) & m);
}

// ---- Stream table -------------------------------------------------------------------------------

inline constexpr unsigned STE_DWORDS = 8;  // 64 bytes
inline constexpr unsigned CD_DWORDS = 8;   // 64 bytes
inline constexpr unsigned CMD_DWORDS = 2;  // 16 bytes
inline constexpr unsigned EVT_DWORDS = 4;  // 32 bytes
inline constexpr unsigned PRI_DWORDS = 2;  // 16 bytes

enum class SteConfig : uint8_t { Abort = 0b000, Bypass = 0b100, S1Trans = 0b101, S2Trans = 0b110, Nested = 0b111 };
constexpr bool ste_config_valid(uint8_t c) { return c == 0 || (c >= 4 && c <= 7); }
constexpr bool ste_s1_enabled(SteConfig c) { return c == SteConfig::S1Trans || c == SteConfig::Nested; }
constexpr bool ste_s2_enabled(SteConfig c) { return c == SteConfig::S2Trans || c == SteConfig::Nested; }

namespace ste {
inline constexpr uint8_t S1FMT_LINEAR = 0, S1FMT_4K_L2 = 1, S1FMT_64K_L2 = 2;
inline constexpr uint8_t S1DSS_TERMINATE = 0, S1DSS_BYPASS = 1, S1DSS_SSID0 = 2;
inline constexpr uint8_t EATS_ABORT = 0, EATS_TRANS = 1, EATS_S1CHK = 2;
inline constexpr uint8_t STRW_NSEL1 = 0, STRW_EL2 = 2;
inline constexpr uint8_t SHCFG_INCOMING = 1;
}  // namespace ste

struct Ste {
    // dword 0
    bool valid = false;                     // V, bit 0
    SteConfig config = SteConfig::Abort;    // Config[3:1]
    uint8_t s1fmt = 0;                      // S1Fmt[5:4]
    uint64_t s1_context_ptr = 0;            // S1ContextPtr[51:6] (in place)
    uint8_t s1_cdmax = 0;                   // S1CDMax[63:59]: log2 of the number of CDs
    // dword 1
    uint8_t s1dss = 0;                      // [1:0]
    uint8_t s1cir = 0, s1cor = 0, s1csh = 0;  // [3:2], [5:4], [7:6]
    bool mev = false;                       // bit 19
    bool s2fwb = false;                     // bit 25
    bool s1stalld = false;                  // bit 27
    uint8_t eats = 0;                       // [29:28]
    uint8_t strw = 0;                       // [31:30]
    uint8_t memattr = 0;                    // [35:32]
    bool mtcfg = false;                     // bit 36
    uint8_t alloccfg = 0;                   // [40:37]
    uint8_t shcfg = 0;                      // [45:44]
    uint8_t nscfg = 0;                      // [47:46]
    uint8_t privcfg = 0;                    // [49:48]
    uint8_t instcfg = 0;                    // [51:50]
    // dword 2
    uint16_t s2vmid = 0;                    // [15:0]
    uint8_t s2t0sz = 0;                     // [37:32]
    uint8_t s2sl0 = 0;                      // [39:38]
    uint8_t s2ir0 = 0, s2or0 = 0, s2sh0 = 0;  // [41:40], [43:42], [45:44]
    uint8_t s2tg = 0;                       // [47:46]: 0 4K, 1 64K, 2 16K
    uint8_t s2ps = 0;                       // [50:48]
    bool s2aa64 = false;                    // bit 51
    bool s2endi = false;                    // bit 52
    bool s2affd = false;                    // bit 53
    bool s2ptw = false;                     // bit 54
    bool s2hd = false;                      // bit 55
    bool s2ha = false;                      // bit 56
    bool s2s = false;                       // bit 57
    bool s2r = false;                       // bit 58
    // dword 3
    uint64_t s2ttb = 0;                     // S2TTB[51:4] (in place)
    friend bool operator==(const Ste&, const Ste&) = default;
};

void encode(const Ste& s, uint64_t out[STE_DWORDS]);
Ste decode_ste(const uint64_t in[STE_DWORDS]);

// Level-1 stream table descriptor: SPAN[4:0] (2^(SPAN-1) STEs, 0 invalid), L2Ptr[51:6].
struct L1Std {
    uint8_t span = 0;
    uint64_t l2ptr = 0;
    friend bool operator==(const L1Std&, const L1Std&) = default;
};
constexpr uint64_t encode(const L1Std& d) { return (d.span & 0x1Fu) | (d.l2ptr & genmask(51, 6)); }
constexpr L1Std decode_l1std(uint64_t w) { return {static_cast<uint8_t>(w & 0x1F), w & genmask(51, 6)}; }

// ---- Context descriptors ------------------------------------------------------------------------

struct Cd {
    // dword 0
    uint8_t t0sz = 0;                  // [5:0]
    uint8_t tg0 = 0;                   // [7:6]: 0 4K, 1 64K, 2 16K
    uint8_t ir0 = 0, or0 = 0, sh0 = 0;  // [9:8], [11:10], [13:12]
    bool epd0 = false;                 // bit 14
    bool endi = false;                 // bit 15
    uint8_t t1sz = 0;                  // [21:16]
    uint8_t tg1 = 0;                   // [23:22]: 1 16K, 2 4K, 3 64K
    uint8_t ir1 = 0, or1 = 0, sh1 = 0;  // [25:24], [27:26], [29:28]
    bool epd1 = false;                 // bit 30
    bool valid = false;                // V, bit 31
    uint8_t ips = 0;                   // [34:32]
    bool affd = false;                 // bit 35
    bool wxn = false;                  // bit 36
    bool uwxn = false;                 // bit 37
    bool tbi0 = false, tbi1 = false;   // bits 38, 39
    bool pan = false;                  // bit 40
    bool aa64 = false;                 // bit 41
    bool hd = false, ha = false;       // bits 42, 43
    bool s = false;                    // bit 44: stall
    bool r = false;                    // bit 45: record faults
    bool a = false;                    // bit 46: abort (terminate with abort)
    bool aset = false;                 // bit 47: ASID set (shared with PE broadcast TLBI when 0)
    uint16_t asid = 0;                 // [63:48]
    // dwords 1-4
    bool had0 = false;                 // dword1 bit 1
    uint64_t ttb0 = 0;                 // dword1 TTB0[51:4] (in place)
    bool had1 = false;                 // dword2 bit 1
    uint64_t ttb1 = 0;                 // dword2 TTB1[51:4]
    uint64_t mair = 0;                 // dword3
    uint64_t amair = 0;                // dword4
    friend bool operator==(const Cd&, const Cd&) = default;
};

void encode(const Cd& c, uint64_t out[CD_DWORDS]);
Cd decode_cd(const uint64_t in[CD_DWORDS]);

// Level-1 CD table descriptor: V bit 0, L2Ptr[51:12].
struct L1Cd {
    bool valid = false;
    uint64_t l2ptr = 0;
    friend bool operator==(const L1Cd&, const L1Cd&) = default;
};
constexpr uint64_t encode(const L1Cd& d) { return (d.valid ? 1u : 0u) | (d.l2ptr & genmask(51, 12)); }
constexpr L1Cd decode_l1cd(uint64_t w) { return {static_cast<bool>(w & 1), w & genmask(51, 12)}; }

// Granule shift of CD.TG0 / STE.S2TG, and of CD.TG1 (0 when reserved).
constexpr unsigned tg0_shift(unsigned tg) { return tg == 0 ? 12 : tg == 1 ? 16 : tg == 2 ? 14 : 0; }
constexpr unsigned tg1_shift(unsigned tg) { return tg == 1 ? 14 : tg == 2 ? 12 : tg == 3 ? 16 : 0; }
constexpr uint8_t tg0_encode(unsigned shift) { return shift == 16 ? 1 : shift == 14 ? 2 : 0; }

// ---- Commands -----------------------------------------------------------------------------------

namespace op {
inline constexpr uint8_t PREFETCH_CONFIG = 0x01, PREFETCH_ADDR = 0x02, CFGI_STE = 0x03, CFGI_STE_RANGE = 0x04,
                         CFGI_ALL = 0x04 /* CFGI_STE_RANGE with Range 31 */, CFGI_CD = 0x05, CFGI_CD_ALL = 0x06,
                         TLBI_NH_ALL = 0x10, TLBI_NH_ASID = 0x11, TLBI_NH_VA = 0x12, TLBI_NH_VAA = 0x13,
                         TLBI_EL3_ALL = 0x18, TLBI_EL3_VA = 0x1A, TLBI_EL2_ALL = 0x20, TLBI_EL2_ASID = 0x21,
                         TLBI_EL2_VA = 0x22, TLBI_EL2_VAA = 0x23, TLBI_S12_VMALL = 0x28, TLBI_S2_IPA = 0x2A,
                         TLBI_NSNH_ALL = 0x30, ATC_INV = 0x40, PRI_RESP = 0x41, RESUME = 0x44, STALL_TERM = 0x45,
                         CMD_SYNC = 0x46;
}  // namespace op

inline constexpr uint8_t CFGI_RANGE_ALL = 31;
inline constexpr uint8_t ATC_INV_SIZE_ALL = 52;
namespace sync_cs {
inline constexpr uint8_t NONE = 0, IRQ = 1, SEV = 2;
}
namespace pri_resp {
inline constexpr uint8_t FAILURE = 0, INVALID = 1, SUCCESS = 2;
}
namespace resume_action {
inline constexpr uint8_t TERMINATE = 0, RETRY = 1, ABORT = 2;
}

bool valid_opcode(uint8_t opcode);

// One decoded command; only the fields of its opcode are encoded/decoded, the rest stay zero.
struct Cmd {
    uint8_t opcode = 0;      // dword0 [7:0]
    bool ssec = false;       // bit 10: Secure StreamID (CFGI_*, PREFETCH_*, RESUME, STALL_TERM)
    bool ssv = false;        // bit 11: SubstreamID valid (PREFETCH_*, ATC_INV, PRI_RESP)
    bool global = false;     // ATC_INV: G, dword0 bit 9
    uint32_t ssid = 0;       // [31:12]
    uint32_t sid = 0;        // [63:32]
    uint16_t vmid = 0;       // TLBI: [47:32]
    uint16_t asid = 0;       // TLBI: [63:48]
    uint8_t num = 0;         // TLBI range: NUM [16:12]
    uint8_t scale = 0;       // TLBI range: SCALE [24:20]
    bool leaf = false;       // dword1 bit 0 (CFGI_STE, CFGI_CD, TLBI *VA/IPA)
    uint8_t range = 0;       // CFGI_STE_RANGE: dword1 [4:0]
    uint8_t ttl = 0;         // TLBI: dword1 [9:8]
    uint8_t tg = 0;          // TLBI: dword1 [11:10]: 0 no range, 1 4K, 2 16K, 3 64K
    uint64_t addr = 0;       // TLBI/ATC_INV/PREFETCH_ADDR: dword1 [63:12] (TLBI_S2_IPA: [51:12]), in place
    uint8_t size = 0;        // ATC_INV: dword1 [5:0]; PREFETCH_ADDR: [4:0]
    uint16_t prg_index = 0;  // PRI_RESP: dword1 [8:0]
    uint8_t resp = 0;        // PRI_RESP: dword1 [13:12]; RESUME: action, dword0 [13:12]
    uint16_t stag = 0;       // RESUME: dword1 [15:0]
    uint8_t cs = 0;          // CMD_SYNC: [13:12]
    uint8_t msh = 0;         // CMD_SYNC: [23:22]
    uint8_t msi_attr = 0;    // CMD_SYNC: [27:24]
    uint32_t msi_data = 0;   // CMD_SYNC: [63:32]
    uint64_t msi_addr = 0;   // CMD_SYNC: dword1 [51:2], in place
    friend bool operator==(const Cmd&, const Cmd&) = default;
};

void encode(const Cmd& c, uint64_t out[CMD_DWORDS]);
Cmd decode_cmd(const uint64_t in[CMD_DWORDS]);

// Inclusive address range (inclusive so that "everything" is representable).
struct AddrRange {
    uint64_t first = 0;
    uint64_t last = 0;
    friend bool operator==(const AddrRange&, const AddrRange&) = default;
};

// Range of a TLBI_*_VA/VAA/IPA. TG != 0: (NUM+1) * 2^SCALE granules from Address aligned to the granule.
// TG == 0: not a range; returns the 4 KiB page holding Address, and the invalidation applies to every entry
// (of any size, optionally limited by TTL) that contains it.
AddrRange tlbi_range(const Cmd& c);
// Range of an ATC_INV: 4 KiB * 2^Size, Address aligned down to it; Size >= 52 is everything.
AddrRange atc_inv_range(const Cmd& c);
// StreamIDs covered by CFGI_STE_RANGE: 2^(Range+1) STEs aligned to that count; Range 31 is all.
// Other CFGI commands cover their one StreamID.
AddrRange cfgi_sid_range(const Cmd& c);

// ---- Event records ------------------------------------------------------------------------------

namespace evt {
inline constexpr uint8_t F_UUT = 0x01, C_BAD_STREAMID = 0x02, F_STE_FETCH = 0x03, C_BAD_STE = 0x04,
                         F_BAD_ATS_TREQ = 0x05, F_STREAM_DISABLED = 0x06, F_TRANSL_FORBIDDEN = 0x07,
                         C_BAD_SUBSTREAMID = 0x08, F_CD_FETCH = 0x09, C_BAD_CD = 0x0A, F_WALK_EABT = 0x0B,
                         F_TRANSLATION = 0x10, F_ADDR_SIZE = 0x11, F_ACCESS = 0x12, F_PERMISSION = 0x13,
                         F_TLB_CONFLICT = 0x20, F_CFG_CONFLICT = 0x21, E_PAGE_REQUEST = 0x24, F_VMS_FETCH = 0x25;
inline constexpr uint8_t CLASS_CD = 0, CLASS_TT = 1, CLASS_IN = 2;
}  // namespace evt

struct Event {
    uint8_t type = 0;         // dword0 [7:0]
    bool ssv = false;         // bit 11
    uint32_t ssid = 0;        // [31:12]
    uint32_t sid = 0;         // [63:32]
    uint16_t stag = 0;        // dword1 [15:0]
    bool stall = false;       // dword1 bit 31
    bool pnu = false;         // dword1 bit 33: privileged
    bool ind = false;         // dword1 bit 34: instruction
    bool rnw = false;         // dword1 bit 35: read
    bool nsipa = false;       // dword1 bit 38
    bool s2 = false;          // dword1 bit 39: stage 2 fault
    uint8_t cls = 0;          // dword1 [41:40]: CLASS (evt::CLASS_*)
    bool ttrnw = false;       // dword1 bit 44: F_PERMISSION with CLASS TT
    uint64_t input_addr = 0;  // dword2
    uint64_t ipa = 0;         // dword3 [51:3], in place: IPA, or FetchAddr for *_FETCH / F_WALK_EABT
    friend bool operator==(const Event&, const Event&) = default;
};

void encode(const Event& e, uint64_t out[EVT_DWORDS]);
Event decode_event(const uint64_t in[EVT_DWORDS]);

// ---- PRI queue entries (page requests) ----------------------------------------------------------

struct PriEntry {
    uint32_t sid = 0;        // dword0 [31:0]
    uint32_t ssid = 0;       // [51:32]
    bool priv = false;       // bit 58
    bool exec = false;       // bit 59
    bool read = false;       // bit 60
    bool write = false;      // bit 61
    bool last = false;       // bit 62: last request of the page request group
    bool ssv = false;        // bit 63
    uint16_t prg_index = 0;  // dword1 [8:0]
    uint64_t addr = 0;       // dword1 [63:12], in place
    friend bool operator==(const PriEntry&, const PriEntry&) = default;
};

void encode(const PriEntry& p, uint64_t out[PRI_DWORDS]);
PriEntry decode_pri(const uint64_t in[PRI_DWORDS]);

// ---- names for logs -----------------------------------------------------------------------------

const char* event_name(uint8_t type);
const char* opcode_name(uint8_t opcode);

}  // namespace iommusim::smmuv3
