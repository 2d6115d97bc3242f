// AMD-Vi (AMD I/O Virtualization Technology, spec 48882) bit formats shared by the model and its host driver.
#pragma once

#include <bit>
#include <cstdint>

// Registers, device table entry, GCR3 table entries, commands, event and PPR log entries, IRTEs, ring
// arithmetic. Every 128-bit structure is two little-endian 64-bit words: the spec's 32-bit word n is
// bits [32(n%2)+31 : 32(n%2)] of 64-bit word n/2.
namespace iommusim::amdvi {

// ---- bit-field helpers --------------------------------------------------------------------------

constexpr uint64_t genmask(unsigned hi, unsigned lo) {
    return ((hi >= 63 ? ~uint64_t{0} : ((uint64_t{1} << (hi + 1)) - 1))) & ~((uint64_t{1} << lo) - 1);
}

// A field [hi:lo] of a register or entry word; get() returns it right-aligned.
struct Field {
    uint8_t hi, lo;
    constexpr uint64_t mask() const { return genmask(hi, lo); }
    constexpr uint64_t get(uint64_t w) const { return (w & mask()) >> lo; }
    constexpr uint64_t put(uint64_t w, uint64_t v) const { return (w & ~mask()) | ((v << lo) & mask()); }
    constexpr uint64_t make(uint64_t v) const { return (v << lo) & mask(); }
};

constexpr uint64_t bit(unsigned n) { return uint64_t{1} << n; }

inline constexpr uint64_t ADDR_4K_MASK = genmask(51, 12);  // 4 KiB-aligned 52-bit physical address

// ---- register map (all 64-bit) ------------------------------------------------------------------

namespace reg {
inline constexpr uint32_t DEV_TAB_BASE = 0x0000, CMD_BUF_BASE = 0x0008, EVENT_LOG_BASE = 0x0010,
                          CONTROL = 0x0018, EXCL_BASE = 0x0020, EXCL_LIMIT = 0x0028, EXT_FEATURE = 0x0030,
                          PPR_LOG_BASE = 0x0038;
inline constexpr uint32_t CMD_BUF_HEAD = 0x2000, CMD_BUF_TAIL = 0x2008, EVENT_LOG_HEAD = 0x2010,
                          EVENT_LOG_TAIL = 0x2018, STATUS = 0x2020, PPR_LOG_HEAD = 0x2030, PPR_LOG_TAIL = 0x2038;
inline constexpr uint32_t SPACE_SIZE = 0x4000;  // without the performance counter banks
}  // namespace reg

// Device Table Base: DevTabBase [51:12], Size [8:0] = table bytes / 4 KiB - 1.
namespace devtab {
inline constexpr uint64_t BASE_MASK = ADDR_4K_MASK;
inline constexpr Field SIZE{8, 0};
inline constexpr unsigned ENTRY_BYTES = 32;
constexpr uint32_t entries(unsigned size_field) { return (size_field + 1u) * (4096u / ENTRY_BYTES); }
// Smallest Size field holding `n` entries (n <= 65536).
constexpr unsigned size_field(uint32_t n) { return n <= 128 ? 0u : (n + 127u) / 128u - 1u; }
}  // namespace devtab

namespace control {
inline constexpr uint64_t IOMMU_EN = bit(0), HT_TUN_EN = bit(1), EVENT_LOG_EN = bit(2), EVENT_INT_EN = bit(3),
                          COM_WAIT_INT_EN = bit(4), PASS_PW = bit(8), RES_PASS_PW = bit(9), COHERENT = bit(10),
                          ISOC = bit(11), CMD_BUF_EN = bit(12), PPR_LOG_EN = bit(13), PPR_INT_EN = bit(14),
                          PPR_EN = bit(15), GT_EN = bit(16), GA_EN = bit(17), SMIF_EN = bit(22),
                          SLF_WB_DIS = bit(23), SMIF_LOG_EN = bit(24), GA_LOG_EN = bit(28), GA_INT_EN = bit(29),
                          PPR_AUTO_RSP_EN = bit(39), MARC_EN = bit(40), BLK_STOP_MRK_EN = bit(41),
                          PPR_AUTO_RSP_AON = bit(42), DOMAIN_ID_PNE = bit(43), XT_EN = bit(50),
                          INT_CAP_XT_EN = bit(51), IRT_CACHE_DIS = bit(59);
inline constexpr Field INV_TIMEOUT{7, 5}, CRW{21, 18}, GAM_EN{27, 25}, DUAL_PPR_LOG_EN{31, 30},
    DUAL_EVENT_LOG_EN{33, 32}, DEV_TBL_SEG_EN{36, 34}, PRIV_ABRT_EN{38, 37}, HAD_UPDATE{47, 46};
// INV_TIMEOUT: 0 none, 1 1 ms, 2 10 ms, 3 100 ms, 4 1 s, 5 10 s, 6 100 s.
}  // namespace control

// Exclusion range: base register ExEn bit 0, Allow bit 1, base [51:12]; limit register [51:12], the low
// 12 bits read as ones (the limit is inclusive).
namespace excl {
inline constexpr uint64_t EX_EN = bit(0), ALLOW = bit(1), ADDR_MASK = ADDR_4K_MASK;
constexpr uint64_t limit(uint64_t limit_reg) { return (limit_reg & ADDR_MASK) | 0xFFF; }
}  // namespace excl

namespace efr {
inline constexpr uint64_t PREF_SUP = bit(0), PPR_SUP = bit(1), XT_SUP = bit(2), NX_SUP = bit(3), GT_SUP = bit(4),
                          IA_SUP = bit(6), GA_SUP = bit(7), HE_SUP = bit(8), PC_SUP = bit(9), US_SUP = bit(37),
                          PPR_OVRFLW_EARLY_SUP = bit(40), PPR_AUTO_RSP_SUP = bit(41), BLK_STOP_MRK_SUP = bit(44),
                          PERF_OPT_SUP = bit(45), MSI_CAP_MMIO_SUP = bit(46), GIO_SUP = bit(48), HA_SUP = bit(49),
                          EPH_SUP = bit(50), HD_SUP = bit(52), SNP_SUP = bit(63);
inline constexpr Field HATS{11, 10}, GATS{13, 12}, GLX_SUP{15, 14}, SMIF_SUP{17, 16}, SMIF_RC{20, 18},
    GAM_SUP{23, 21}, DUAL_PPR_LOG_SUP{25, 24}, DUAL_EVENT_LOG_SUP{29, 28}, PAS_MAX{36, 32},
    DEV_TBL_SEG_SUP{39, 38}, MARC_SUP{43, 42};
// HATS: host table levels 4/5/6 (3 reserved); GATS: guest levels 4/5; GLXSup: largest DTE.GLX value.
constexpr unsigned hats_levels(unsigned v) { return v <= 2 ? 4 + v : 0; }
constexpr unsigned gats_levels(unsigned v) { return v <= 1 ? 4 + v : 0; }
constexpr unsigned hats_encode(unsigned levels) { return levels - 4; }
// PASmax: PASID width in bits minus one.
constexpr unsigned pasid_bits(unsigned pas_max) { return pas_max + 1; }
}  // namespace efr

namespace status {
inline constexpr uint64_t EVENT_OVERFLOW = bit(0), EVENT_LOG_INT = bit(1), COM_WAIT_INT = bit(2),
                          EVENT_LOG_RUN = bit(3), CMD_BUF_RUN = bit(4), PPR_OVERFLOW = bit(5), PPR_INT = bit(6),
                          PPR_LOG_RUN = bit(7), GA_LOG_RUN = bit(8), GA_OVERFLOW = bit(9), GA_INT = bit(10);
// Software clears these by writing 1.
inline constexpr uint64_t W1C = EVENT_OVERFLOW | EVENT_LOG_INT | COM_WAIT_INT | PPR_OVERFLOW | PPR_INT |
                                GA_OVERFLOW | GA_INT;
}  // namespace status

// ---- rings: command buffer, event log, PPR log --------------------------------------------------
// Base register: address [51:12], length [59:56] = log2(entries), 8..15 (4 KiB .. 512 KiB of 16-byte
// entries). Head/tail registers hold byte offsets in [18:4]. Empty when head == tail; one slot always
// stays free, so the ring is full when advancing the tail would reach the head.
namespace ring {
inline constexpr unsigned ENTRY_BYTES = 16;
inline constexpr uint64_t BASE_MASK = ADDR_4K_MASK;
inline constexpr Field LEN{59, 56};
inline constexpr Field PTR{18, 4};
inline constexpr uint32_t PTR_MASK = 0x7FFF0;
inline constexpr unsigned LEN_MIN = 8, LEN_MAX = 15;

constexpr bool len_valid(unsigned len) { return len >= LEN_MIN && len <= LEN_MAX; }
constexpr uint32_t entries(unsigned len) { return uint32_t{1} << len; }
constexpr uint32_t bytes(unsigned len) { return entries(len) * ENTRY_BYTES; }
constexpr uint64_t encode_base(uint64_t pa, unsigned len) { return (pa & BASE_MASK) | LEN.make(len); }
constexpr uint32_t next(uint32_t off, unsigned len) { return (off + ENTRY_BYTES) & (bytes(len) - 1); }
constexpr bool empty(uint32_t head, uint32_t tail) { return head == tail; }
constexpr bool full(uint32_t head, uint32_t tail, unsigned len) { return next(tail, len) == head; }
// Entries between head and tail.
constexpr uint32_t count(uint32_t head, uint32_t tail, unsigned len) {
    return ((tail - head) & (bytes(len) - 1)) / ENTRY_BYTES;
}
constexpr uint32_t free_slots(uint32_t head, uint32_t tail, unsigned len) {
    return entries(len) - 1 - count(head, tail, len);
}
}  // namespace ring

// ---- Device Table Entry (256 bits) --------------------------------------------------------------

inline constexpr unsigned DTE_QWORDS = 4;

namespace dte {
inline constexpr uint8_t MODE_NONE = 0;  // no translation: DVA passes through, IR/IW still apply
inline constexpr uint8_t IOCTL_ABORT = 0, IOCTL_FORWARD = 1, IOCTL_TRANSLATE = 2;
inline constexpr uint8_t INTCTL_ABORT = 0, INTCTL_FORWARD = 1, INTCTL_REMAP = 2;
inline constexpr uint8_t SYSMGT_ABORT = 0, SYSMGT_FWD_INTX = 1, SYSMGT_FWD_ALL = 2, SYSMGT_TRANSLATE = 3;
inline constexpr uint8_t GPM_4LEVEL = 0, GPM_5LEVEL = 1;
inline constexpr unsigned INT_TAB_LEN_MAX = 11;  // 2^11 IRTEs
}  // namespace dte

struct Dte {
    // qword 0 (bits 63:0)
    bool v = false;                // bit 0
    bool tv = false;               // bit 1: translation fields valid
    uint8_t had = 0;               // [8:7] host access/dirty update
    uint8_t mode = 0;              // [11:9] 0 none, 1..6 levels, 7 reserved
    uint64_t pt_root = 0;          // Host Page Table Root Pointer [51:12], in place
    bool ppr = false;              // bit 52: PPR (page requests) enabled
    bool gprp = false;             // bit 53: guest PPR response with PASID
    bool giov = false;             // bit 54: guest I/O protection for requests without PASID
    bool gv = false;               // bit 55: guest translation valid (GCR3 table in use)
    uint8_t glx = 0;               // [57:56] GCR3 table levels - 1
    uint64_t gcr3_root = 0;        // GCR3 table root pointer [51:12], in place; stored as GCR3TRP
                                   // [14:12] -> qw0 [60:58], [30:15] -> qw1 [31:16], [51:31] -> qw1 [63:43]
    bool ir = false;               // bit 61
    bool iw = false;               // bit 62
    // qword 1 (bits 127:64)
    uint16_t domain_id = 0;        // [79:64]
    bool i = false;                // bit 96: IOTLB (ATS) enable
    bool se = false;               // bit 97: suppress repeated IO page fault events
    bool sa = false;               // bit 98: suppress all IO page fault events
    uint8_t ioctl = 0;             // [100:99] port I/O control
    bool cache = false;            // bit 101: IOTLB cache hint
    bool sd = false;               // bit 102: snoop disable
    bool ex = false;               // bit 103: exclusion range applies
    uint8_t sysmgt = 0;            // [105:104]
    // qword 2 (bits 191:128): interrupt remapping
    bool iv = false;               // bit 128: interrupt map valid
    uint8_t int_tab_len = 0;       // [132:129] log2(IRTE count)
    bool ig = false;               // bit 133: ignore unmapped interrupts (no event)
    uint64_t int_table_root = 0;   // Interrupt Table Root Pointer [179:134] = PA [51:6], in place
    uint8_t gpm = 0;               // [183:182] guest page table mode (4/5 level)
    bool init_pass = false;        // bit 184
    bool eint_pass = false;        // bit 185
    bool nmi_pass = false;         // bit 186
    uint8_t int_ctl = 0;           // [189:188]
    bool lint0_pass = false;       // bit 190
    bool lint1_pass = false;       // bit 191
    // qword 3: reserved here
    friend bool operator==(const Dte&, const Dte&) = default;
};

void encode(const Dte& d, uint64_t out[DTE_QWORDS]);
Dte decode_dte(const uint64_t in[DTE_QWORDS]);
// Field values the IOMMU rejects with ILLEGAL_DEV_TABLE_ENTRY (reserved encodings).
bool dte_legal(const Dte& d);
constexpr uint32_t irt_entries(const Dte& d) { return uint32_t{1} << d.int_tab_len; }

// ---- GCR3 table (guest CR3 per PASID) -----------------------------------------------------------
// DTE.GLX + 1 levels of 4 KiB tables of 512 entries; level GLX (the root) is indexed first, every level
// by 9 PASID bits. Entries: V bit 0, address [51:12] (next GCR3 table, or at level 0 the guest CR3).
namespace gcr3 {
inline constexpr uint64_t VALID = bit(0);
inline constexpr uint64_t ADDR_MASK = ADDR_4K_MASK;
constexpr unsigned levels(unsigned glx) { return glx + 1; }
// Index into the table at `level` (glx .. 0).
constexpr unsigned index(uint32_t pasid, unsigned level) { return (pasid >> (9 * level)) & 0x1FF; }
constexpr uint64_t encode(uint64_t pa) { return (pa & ADDR_MASK) | VALID; }
constexpr bool valid(uint64_t e) { return e & VALID; }
constexpr uint64_t addr(uint64_t e) { return e & ADDR_MASK; }
// Smallest GLX whose tables index `pasid_bits` PASID bits.
constexpr unsigned glx_for(unsigned pasid_bits) { return pasid_bits <= 9 ? 0u : (pasid_bits - 1) / 9; }
}  // namespace gcr3

// ---- Commands (128 bits) ------------------------------------------------------------------------

inline constexpr unsigned CMD_QWORDS = 2;

namespace op {
inline constexpr uint8_t COMPLETION_WAIT = 0x01, INVALIDATE_DEVTAB_ENTRY = 0x02, INVALIDATE_IOMMU_PAGES = 0x03,
                         INVALIDATE_IOTLB_PAGES = 0x04, INVALIDATE_INTERRUPT_TABLE = 0x05,
                         PREFETCH_IOMMU_PAGES = 0x06, COMPLETE_PPR_REQUEST = 0x07, INVALIDATE_IOMMU_ALL = 0x08;
}  // namespace op
inline constexpr Field CMD_OPCODE{63, 60};  // qword 0, i.e. word 1 [31:28]

namespace ppr_status {
inline constexpr uint8_t SUCCESS = 0x0, INVALID = 0x1, FAILURE = 0xF;  // PCIe PRG response codes
// The PRG Response code sent for a command's Status: the values are the PCIe codes; a reserved value
// goes out as Response Failure, which is how a device must take a reserved code anyway.
constexpr uint8_t response_code(uint8_t status) {
    return status == SUCCESS || status == INVALID || status == FAILURE ? status : FAILURE;
}
}  // namespace ppr_status

bool valid_opcode(uint8_t opcode);

// One decoded command; only the fields of its opcode are encoded/decoded, the rest stay zero.
struct Cmd {
    uint8_t opcode = 0;
    // COMPLETION_WAIT
    bool store = false;          // s, bit 0: write store_data to store_addr
    bool interrupt = false;      // i, bit 1: set Status.ComWaitInt
    bool flush = false;          // f, bit 2: flush queue
    uint64_t store_addr = 0;     // [51:3], in place: word0 [31:3], word1 [19:0]
    uint64_t store_data = 0;     // words 2-3
    // the others
    uint16_t device_id = 0;      // word0 [15:0]
    uint32_t pasid = 0;          // 20 bits; see encode() per opcode
    uint16_t domain_id = 0;      // INVALIDATE_IOMMU_PAGES: word1 [15:0]
    bool s = false;              // word2 bit 0: address encodes a power-of-two range
    bool pde = false;            // word2 bit 1: also page directory entries (INVALIDATE_IOMMU_PAGES)
    bool gn = false;             // word2 bit 2: guest (PASID-tagged) addresses
    bool inval = false;          // PREFETCH_IOMMU_PAGES word2 bit 4: invalidate before prefetch
    uint64_t addr = 0;           // [63:12] in place: word2 [31:12], word3
    uint8_t maxpend = 0;         // INVALIDATE_IOTLB_PAGES word0 [31:24]
    uint16_t queue_id = 0;       // INVALIDATE_IOTLB_PAGES word1 [15:0] (software puts the DeviceID)
    uint8_t pf_count = 0;        // PREFETCH_IOMMU_PAGES word0 [31:24]
    uint16_t tag = 0;            // COMPLETE_PPR_REQUEST word3 [8:0]: PRG index
    uint8_t status = 0;          // COMPLETE_PPR_REQUEST word3 [15:12]: ppr_status
    friend bool operator==(const Cmd&, const Cmd&) = default;
};

// PASID placement: INVALIDATE_IOMMU_PAGES word0 [19:0]; PREFETCH_IOMMU_PAGES and COMPLETE_PPR_REQUEST
// word1 [19:0]; INVALIDATE_IOTLB_PAGES [15:8] in word0 [23:16], [7:0] in word1 [23:16], [19:16] in
// word1 [27:24].
void encode(const Cmd& c, uint64_t out[CMD_QWORDS]);
Cmd decode_cmd(const uint64_t in[CMD_QWORDS]);
// Valid opcode and no bit set outside its fields (else ILLEGAL_COMMAND_ERROR).
bool cmd_well_formed(const uint64_t in[CMD_QWORDS]);

// Inclusive address range ("everything" is representable).
struct AddrRange {
    uint64_t first = 0;
    uint64_t last = 0;
    friend bool operator==(const AddrRange&, const AddrRange&) = default;
};

// Address + S as INVALIDATE_IOMMU_PAGES / INVALIDATE_IOTLB_PAGES / PREFETCH carry them.
struct InvAddr {
    uint64_t addr = 0;  // [63:12]
    bool s = false;
    friend bool operator==(const InvAddr&, const InvAddr&) = default;
};

// S = 1 with every address bit [62:12] set and bit 63 clear: all pages.
inline constexpr uint64_t INV_ALL_ADDR = 0x7FFF'FFFF'FFFF'F000ull;
inline constexpr InvAddr INV_ALL{INV_ALL_ADDR, true};

// Range an invalidation covers. S = 0: the 4 KiB page at addr. S = 1: with p the lowest clear bit of
// addr[63:12], the naturally aligned 2^(p+1) bytes holding addr (all ones up to bit 63: everything).
constexpr AddrRange inv_range(uint64_t addr, bool s) {
    const uint64_t a = addr & ~uint64_t{0xFFF};
    if (!s) return {a, a | 0xFFF};
    const unsigned p = static_cast<unsigned>(std::countr_one(addr | 0xFFF));
    if (p >= 63) return {0, ~uint64_t{0}};
    const uint64_t size_mask = (uint64_t{1} << (p + 1)) - 1;
    return {a & ~size_mask, (a & ~size_mask) | size_mask};
}

// Encoding for [start, start + size): one page when it fits in one, else the smallest naturally aligned
// power of two containing it; INV_ALL when that is 2^64. size 0 is treated as one byte.
constexpr InvAddr inv_encode(uint64_t start, uint64_t size) {
    const uint64_t last = size == 0 ? start : start + (size - 1);
    if (last < start) return INV_ALL;  // wraps past 2^64
    const uint64_t diff = start ^ last;
    if (diff < 0x1000) return {start & ~uint64_t{0xFFF}, false};
    const unsigned msb = static_cast<unsigned>(std::bit_width(diff)) - 1;
    if (msb >= 63) return INV_ALL;
    // Bits below msb set, bit msb clear (start has it clear since start < last).
    return {(start | ((uint64_t{1} << msb) - 1)) & ~uint64_t{0xFFF}, true};
}

// Command builders for the host driver.
Cmd cmd_completion_wait(uint64_t store_addr, uint64_t store_data, bool interrupt);
Cmd cmd_inv_devtab_entry(uint16_t device_id);
Cmd cmd_inv_iommu_pages(uint16_t domain_id, uint64_t start, uint64_t size, bool pde = true);
Cmd cmd_inv_iommu_pages_pasid(uint16_t domain_id, uint32_t pasid, uint64_t start, uint64_t size);
Cmd cmd_inv_iotlb_pages(uint16_t device_id, uint8_t maxpend, uint64_t start, uint64_t size);
Cmd cmd_inv_iotlb_pages_pasid(uint16_t device_id, uint8_t maxpend, uint32_t pasid, uint64_t start, uint64_t size);
Cmd cmd_inv_interrupt_table(uint16_t device_id);
Cmd cmd_complete_ppr(uint16_t device_id, uint32_t pasid, bool gn, uint16_t tag, uint8_t status);
Cmd cmd_inv_iommu_all();

// ---- Event log (128 bits) -----------------------------------------------------------------------

namespace evt {
inline constexpr uint8_t ILLEGAL_DEV_TABLE_ENTRY = 0x1, IO_PAGE_FAULT = 0x2, DEV_TAB_HARDWARE_ERROR = 0x3,
                         PAGE_TAB_HARDWARE_ERROR = 0x4, ILLEGAL_COMMAND_ERROR = 0x5, COMMAND_HARDWARE_ERROR = 0x6,
                         IOTLB_INV_TIMEOUT = 0x7, INVALID_DEVICE_REQUEST = 0x8, INVALID_PPR_REQUEST = 0x9,
                         EVENT_COUNTER_ZERO = 0xA, RMP_PAGE_FAULT = 0xD, RMP_HARDWARE_ERROR = 0xE;
// Hardware error Type: 0 master abort, 1 target abort, 2 data error.
inline constexpr uint8_t HWERR_MASTER_ABORT = 0, HWERR_TARGET_ABORT = 1, HWERR_DATA_ERROR = 2;
// INVALID_DEVICE_REQUEST Type 1: ATS traffic from a device whose DTE has I = 0 or V = 0 (the event's TR
// flag tells a Translation Request from a translated request).
inline constexpr uint8_t INVREQ_ATS_NOT_ALLOWED = 1;
}  // namespace evt

// Common layout: word0 [15:0] DeviceID, [19:16] PASID[19:16]; word1 [15:0] PASID[15:0] (or DomainID,
// see below), [27:16] flags, [31:28] code; words 2-3 address (faulting DVA, or PA of the DTE/PTE/command).
struct Event {
    uint8_t code = 0;
    uint16_t device_id = 0;
    uint32_t pasid = 0;       // events carrying a PASID (GN = 1 for page faults)
    uint16_t domain_id = 0;   // IO_PAGE_FAULT / PAGE_TAB_HARDWARE_ERROR with GN = 0, in word1 [15:0]
    // flags, word1 [27:16]
    bool gn = false;          // bit 16: guest (PASID) address
    bool nx = false;          // bit 17: execute request
    bool us = false;          // bit 18: user request
    bool i = false;           // bit 19: interrupt request
    bool pr = false;          // bit 20: the faulting entry was present
    bool rw = false;          // bit 21: write
    bool pe = false;          // bit 22: permission error
    bool rz = false;          // bit 23: reserved bit / bad encoding in a table entry
    bool tr = false;          // bit 24: translation request (ATS)
    uint8_t type = 0;         // [27:25]: hardware error type / invalid request type
    uint64_t addr = 0;        // words 2-3
    friend bool operator==(const Event&, const Event&) = default;
};

inline constexpr unsigned EVENT_QWORDS = 2;
// True when word1 [15:0] carries the DomainID for this event (else PASID[15:0]).
constexpr bool event_has_domain(const Event& e) {
    return !e.gn && (e.code == evt::IO_PAGE_FAULT || e.code == evt::PAGE_TAB_HARDWARE_ERROR);
}
void encode(const Event& e, uint64_t out[EVENT_QWORDS]);
Event decode_event(const uint64_t in[EVENT_QWORDS]);

// ---- PPR log (128 bits) -------------------------------------------------------------------------

namespace ppr {
inline constexpr uint8_t PAGE_SERVICE_REQUEST = 0x1;
}

// qword 0: [15:0] DeviceID, [31:16] PASID[15:0], [40:32] PRG index, bit 41 last request of the group,
// [45:42] PASID[19:16], [59:48] flags, [63:60] code. qword 1: address [63:12].
// The INVALID_PPR_REQUEST event (evt::INVALID_PPR_REQUEST) has this layout too, with its event code in
// [63:60]; encode it as a PprEntry whose code is evt::INVALID_PPR_REQUEST.
struct PprEntry {
    uint8_t code = ppr::PAGE_SERVICE_REQUEST;
    uint16_t device_id = 0;
    uint32_t pasid = 0;
    uint16_t prg_index = 0;   // tag
    bool last = false;
    bool exec = false;        // flags bit 1 (qword bit 49)
    bool read = false;        // flags bit 2 (bit 50)
    bool write = false;       // flags bit 5 (bit 53)
    bool us = false;          // flags bit 6 (bit 54): user request
    bool rz = false;          // flags bit 7 (bit 55): malformed request
    bool gn = false;          // flags bit 8 (bit 56): PASID valid
    uint64_t addr = 0;        // [63:12], in place
    friend bool operator==(const PprEntry&, const PprEntry&) = default;
};

inline constexpr unsigned PPR_QWORDS = 2;
void encode(const PprEntry& p, uint64_t out[PPR_QWORDS]);
PprEntry decode_ppr(const uint64_t in[PPR_QWORDS]);

// ---- Interrupt remapping ------------------------------------------------------------------------
// MSI data [10:0] indexes the device's table (DTE.int_table_root, 2^int_tab_len entries); entries are
// 32-bit, or 128-bit when Control.GAEn is set.

namespace irte {
inline constexpr uint8_t FIXED = 0, ARBITRATED = 1, SMI = 2, NMI = 4, INIT = 5, EXTINT = 7;  // IntType
constexpr unsigned index(uint32_t msi_data) { return msi_data & 0x7FF; }
}  // namespace irte

// 32-bit format: [0] RemapEn, [1] SupIOPF, [4:2] IntType, [5] RqEoi, [6] DM, [7] GuestMode (0 here),
// [15:8] Destination, [23:16] Vector.
struct Irte {
    bool remap_en = false;
    bool sup_iopf = false;     // no event for an unmapped (RemapEn = 0) entry
    uint8_t int_type = 0;
    bool rq_eoi = false;
    bool dm = false;           // destination mode: 1 logical
    bool guest_mode = false;
    uint32_t destination = 0;  // 8 bits (32-bit form) or 32 bits (128-bit form)
    uint8_t vector = 0;
    friend bool operator==(const Irte&, const Irte&) = default;
};

constexpr uint32_t encode_irte32(const Irte& e) {
    return (e.remap_en ? 1u : 0u) | (e.sup_iopf ? 2u : 0u) | ((e.int_type & 7u) << 2) | (e.rq_eoi ? 1u << 5 : 0u) |
           (e.dm ? 1u << 6 : 0u) | (e.guest_mode ? 1u << 7 : 0u) | ((e.destination & 0xFFu) << 8) |
           (uint32_t{e.vector} << 16);
}
constexpr Irte decode_irte32(uint32_t w) {
    Irte e;
    e.remap_en = w & 1;
    e.sup_iopf = (w >> 1) & 1;
    e.int_type = static_cast<uint8_t>((w >> 2) & 7);
    e.rq_eoi = (w >> 5) & 1;
    e.dm = (w >> 6) & 1;
    e.guest_mode = (w >> 7) & 1;
    e.destination = (w >> 8) & 0xFF;
    e.vector = static_cast<uint8_t>(w >> 16);
    return e;
}

// 128-bit format with GuestMode = 0 (remapped, no guest vAPIC): lo [7:0] as above, [31:8]
// Destination[23:0]; hi [7:0] Vector, [63:56] Destination[31:24].
inline constexpr unsigned IRTE128_QWORDS = 2;
constexpr void encode_irte128(const Irte& e, uint64_t out[IRTE128_QWORDS]) {
    out[0] = (encode_irte32(e) & 0xFFu) | (uint64_t{e.destination & 0xFFFFFFu} << 8);
    out[1] = uint64_t{e.vector} | (uint64_t{e.destination >> 24} << 56);
}
constexpr Irte decode_irte128(const uint64_t in[IRTE128_QWORDS]) {
    Irte e = decode_irte32(static_cast<uint32_t>(in[0] & 0xFF));
    e.destination = static_cast<uint32_t>((in[0] >> 8) & 0xFFFFFF) | (static_cast<uint32_t>(in[1] >> 56) << 24);
    e.vector = static_cast<uint8_t>(in[1]);
    return e;
}

// ---- names for logs -----------------------------------------------------------------------------

const char* event_name(uint8_t code);
const char* opcode_name(uint8_t opcode);

}  // namespace iommusim::amdvi
