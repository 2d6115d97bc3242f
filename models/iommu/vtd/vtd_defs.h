// Intel VT-d (rev 4.x) bit formats shared by the VT-d model and its host driver: registers, root/context/PASID
// entries, invalidation and page-request descriptors, fault records, IRTEs and remappable MSIs.
#pragma once

#include <cstdint>
#include <optional>

namespace iommusim::vtd {

// ---- bit-field helpers --------------------------------------------------------------------------

constexpr uint64_t genmask(unsigned hi, unsigned lo) {
    return (hi >= 63 ? ~uint64_t{0} : ((uint64_t{1} << (hi + 1)) - 1)) & ~((uint64_t{1} << lo) - 1);
}
constexpr uint64_t bit(unsigned n) { return uint64_t{1} << n; }

// A field [hi:lo] of a register or entry word; get() returns it right-aligned.
struct Field {
    uint8_t hi, lo;
    constexpr uint64_t mask() const { return genmask(hi, lo); }
    constexpr uint64_t get(uint64_t w) const { return (w & mask()) >> lo; }
    constexpr uint64_t put(uint64_t w, uint64_t v) const { return (w & ~mask()) | ((v << lo) & mask()); }
    constexpr uint64_t make(uint64_t v) const { return (v << lo) & mask(); }
};

inline constexpr uint64_t kPageMask = genmask(63, 12);  // 4 KiB-aligned pointer fields [63:12]

// ---- register map -------------------------------------------------------------------------------

namespace reg {
inline constexpr uint32_t VER = 0x00, CAP = 0x08, ECAP = 0x10, GCMD = 0x18, GSTS = 0x1C, RTADDR = 0x20,
                          CCMD = 0x28, FSTS = 0x34, FECTL = 0x38, FEDATA = 0x3C, FEADDR = 0x40, FEUADDR = 0x44,
                          AFLOG = 0x58, PMEN = 0x64, PLMBASE = 0x68, PLMLIMIT = 0x6C, PHMBASE = 0x70,
                          PHMLIMIT = 0x78, IQH = 0x80, IQT = 0x88, IQA = 0x90, ICS = 0x9C, IECTL = 0xA0,
                          IEDATA = 0xA4, IEADDR = 0xA8, IEUADDR = 0xAC, IQERCD = 0xB0, IRTA = 0xB8, PQH = 0xC0,
                          PQT = 0xC8, PQA = 0xD0, PRS = 0xDC, PECTL = 0xE0, PEDATA = 0xE4, PEADDR = 0xE8,
                          PEUADDR = 0xEC, MTRRCAP = 0x100, MTRRDEF = 0x108;
// Fixed 64-bit registers: true when `off` is the low word of one. The fault-recording (CAP.FRO) and
// IOTLB (ECAP.IRO) registers move with the capabilities and are not listed.
constexpr bool is_64bit(uint32_t off) {
    return off == CAP || off == ECAP || off == RTADDR || off == CCMD || off == AFLOG || off == PHMBASE ||
           off == PHMLIMIT || off == IQH || off == IQT || off == IQA || off == IQERCD || off == IRTA ||
           off == PQH || off == PQT || off == PQA || off == MTRRCAP || off == MTRRDEF;
}
}  // namespace reg

namespace ver {
inline constexpr Field MIN{3, 0}, MAX{7, 4};
}

namespace cap {
inline constexpr Field ND{2, 0};       // domains = 2^(4 + 2*ND)
inline constexpr Field SAGAW{12, 8};   // bit n: AW n supported (1: 39-bit 3-level, 2: 48-bit, 3: 57-bit)
inline constexpr Field MGAW{21, 16};   // max guest address width - 1
inline constexpr Field FRO{33, 24};    // fault-recording registers at FRO * 16
inline constexpr Field SLLPS{37, 34};  // bit 0: 2 MiB, bit 1: 1 GiB second-stage leaves
inline constexpr Field NFR{47, 40};    // fault-recording registers - 1
inline constexpr Field MAMV{53, 48};   // max address mask of page-selective IOTLB invalidation
inline constexpr uint64_t AFL = bit(3), RWBF = bit(4), PLMR = bit(5), PHMR = bit(6), CM = bit(7), ZLR = bit(22),
                          PSI = bit(39), DWD = bit(54), DRD = bit(55), FL1GP = bit(56), PI = bit(59),
                          FL5LP = bit(60), ESIRTPS = bit(62), ESRTPS = bit(63);
}  // namespace cap

namespace ecap {
inline constexpr Field IRO{17, 8};   // IOTLB registers at IRO * 16
inline constexpr Field MHMV{23, 20}; // max handle mask of index-selective IEC invalidation
inline constexpr Field PSS{39, 35};  // PASID bits supported - 1
inline constexpr uint64_t C = bit(0), QI = bit(1), DT = bit(2), IR = bit(3), EIM = bit(4), PT = bit(6),
                          SC = bit(7), MTS = bit(25), NEST = bit(26), PRS = bit(29), ERS = bit(30), SRS = bit(31),
                          NWFS = bit(33), EAFS = bit(34), PASID = bit(40), DIT = bit(41), PDS = bit(42),
                          SMTS = bit(43), VCS = bit(44), SSADS = bit(45), SSTS = bit(46), FSTS = bit(47),
                          SMPWCS = bit(48), RPS = bit(49), ADMS = bit(52), RPRIVS = bit(53);
// Pre-4.0 names of the stage capabilities.
inline constexpr uint64_t SLADS = SSADS, SLTS = SSTS, FLTS = FSTS;
}  // namespace ecap

// Derived capability values.
constexpr unsigned cap_num_domains_log2(uint64_t c) { return 4u + 2u * static_cast<unsigned>(cap::ND.get(c)); }
constexpr unsigned cap_mgaw_bits(uint64_t c) { return static_cast<unsigned>(cap::MGAW.get(c)) + 1u; }
constexpr bool cap_sagaw_supports(uint64_t c, unsigned aw) { return (cap::SAGAW.get(c) >> aw) & 1; }
constexpr unsigned cap_num_fault_regs(uint64_t c) { return static_cast<unsigned>(cap::NFR.get(c)) + 1u; }
constexpr uint32_t fault_record_offset(uint64_t c, unsigned index) {
    return static_cast<uint32_t>(cap::FRO.get(c) * 16u + index * 16u);
}
constexpr uint32_t iva_reg_offset(uint64_t e) { return static_cast<uint32_t>(ecap::IRO.get(e) * 16u); }
constexpr uint32_t iotlb_reg_offset(uint64_t e) { return iva_reg_offset(e) + 8u; }
constexpr unsigned ecap_pasid_bits(uint64_t e) { return static_cast<unsigned>(ecap::PSS.get(e)) + 1u; }

// Context/PASID-entry AW: 1 39-bit 3-level, 2 48-bit 4-level, 3 57-bit 5-level.
constexpr unsigned aw_bits(unsigned aw) { return 30u + 9u * aw; }
constexpr unsigned aw_levels(unsigned aw) { return aw + 2u; }
constexpr unsigned aw_for_levels(unsigned levels) { return levels - 2u; }

// GCMD and GSTS share bit positions (TE/TES, SRTP/RTPS, ...).
namespace gcmd {
inline constexpr uint32_t CFI = 1u << 23, SIRTP = 1u << 24, IRE = 1u << 25, QIE = 1u << 26, WBF = 1u << 27,
                          EAFL = 1u << 28, SFL = 1u << 29, SRTP = 1u << 30, TE = 1u << 31;
// One-shot commands: GSTS reports their completion, they are not persistent enables.
inline constexpr uint32_t ONE_SHOT = SIRTP | WBF | SFL | SRTP;
}  // namespace gcmd
namespace gsts {
inline constexpr uint32_t CFIS = gcmd::CFI, IRTPS = gcmd::SIRTP, IRES = gcmd::IRE, QIES = gcmd::QIE,
                          WBFS = gcmd::WBF, AFLS = gcmd::EAFL, FLS = gcmd::SFL, RTPS = gcmd::SRTP, TES = gcmd::TE;
}

namespace rtaddr {
inline constexpr Field TTM{11, 10};
inline constexpr uint64_t RTA_MASK = kPageMask;
inline constexpr uint8_t TTM_LEGACY = 0, TTM_SCALABLE = 1, TTM_ABORT_DMA = 3;
}  // namespace rtaddr

// Register-based context-cache invalidation.
namespace ccmd {
inline constexpr Field DID{15, 0}, SID{31, 16}, FM{33, 32}, CAIG{60, 59}, CIRG{62, 61};
inline constexpr uint64_t ICC = bit(63);
}  // namespace ccmd

// Register-based IOTLB invalidation: IVA at IRO*16, IOTLB_REG at IRO*16 + 8.
namespace iva {
inline constexpr Field AM{5, 0};
inline constexpr uint64_t IH = bit(6), ADDR_MASK = kPageMask;
}  // namespace iva
namespace iotlb_reg {
inline constexpr Field DID{47, 32}, IAIG{58, 57}, IIRG{61, 60};
inline constexpr uint64_t DW = bit(48), DR = bit(49), IVT = bit(63);
}  // namespace iotlb_reg

// Granularities shared by CCMD/context-cache descriptors and IOTLB_REG/IOTLB descriptors.
namespace gran {
inline constexpr uint8_t GLOBAL = 1, DOMAIN = 2, DEVICE = 3 /* context cache */, PAGE = 3 /* IOTLB */;
}

namespace fsts {
inline constexpr uint32_t PFO = 1u << 0, PPF = 1u << 1, AFO = 1u << 2, APF = 1u << 3, IQE = 1u << 4,
                          ICE = 1u << 5, ITE = 1u << 6;
inline constexpr Field FRI{15, 8};
inline constexpr uint32_t RW1C = PFO | AFO | APF | IQE | ICE | ITE;
}  // namespace fsts

// FECTL / IECTL / PECTL.
namespace ectl {
inline constexpr uint32_t IP = 1u << 30, IM = 1u << 31;
}

namespace pmen {
inline constexpr uint32_t PRS = 1u << 0, EPM = 1u << 31;
}

namespace iqa {
inline constexpr Field QS{2, 0};
inline constexpr uint64_t DW = bit(11), ADDR_MASK = kPageMask;
}  // namespace iqa

namespace ics {
inline constexpr uint32_t IWC = 1u << 0;
}

namespace iqercd {
inline constexpr Field IQEI{3, 0}, ITESID{47, 32}, ICESID{63, 48};
// IQEI values.
inline constexpr uint8_t INFO_NA = 0, BAD_TAIL = 1, FETCH_ERR = 2, BAD_TYPE = 3, RSVD_FIELD = 4, BAD_WIDTH = 5,
                         TAIL_MISALIGNED = 6, BAD_TTM = 7;
}  // namespace iqercd

namespace irta {
inline constexpr Field S{3, 0};  // entries = 2^(S+1)
inline constexpr uint64_t EIME = bit(11), ADDR_MASK = kPageMask;
}  // namespace irta
constexpr uint32_t irta_entries(uint64_t v) { return 1u << (irta::S.get(v) + 1); }

namespace pqa {
inline constexpr Field PQS{2, 0};
inline constexpr uint64_t ADDR_MASK = kPageMask;
}  // namespace pqa

namespace prs {
inline constexpr uint32_t PPR = 1u << 0, PRO = 1u << 1;
}

// ---- queues -------------------------------------------------------------------------------------
// VT-d queues have no wrap bit: head/tail registers hold byte offsets, empty when equal, full when the
// tail is one entry behind the head.

enum class DescWidth : uint8_t { W128 = 0, W256 = 1 };  // IQA.DW

constexpr unsigned desc_bytes(DescWidth w) { return w == DescWidth::W128 ? 16u : 32u; }
constexpr unsigned desc_shift(DescWidth w) { return w == DescWidth::W128 ? 4u : 5u; }
// Invalidation queue of 2^QS 4 KiB pages.
constexpr uint32_t iq_entries(unsigned qs, DescWidth w) { return (4096u << qs) >> desc_shift(w); }
inline constexpr uint64_t IQ_OFFSET_MASK = genmask(18, 4);  // IQH/IQT offset field
constexpr uint32_t iq_index(uint64_t reg_value, DescWidth w) {
    return static_cast<uint32_t>((reg_value & IQ_OFFSET_MASK) >> desc_shift(w));
}
constexpr uint64_t iq_reg(uint32_t index, DescWidth w) { return uint64_t{index} << desc_shift(w); }
// 256-bit descriptors need IQT[4] clear (else IQE with IQEI TAIL_MISALIGNED).
constexpr bool iq_tail_aligned(uint64_t iqt, DescWidth w) { return w == DescWidth::W128 || !(iqt & bit(4)); }

inline constexpr unsigned PRQ_DESC_BYTES = 32;
inline constexpr uint64_t PQ_OFFSET_MASK = genmask(18, 5);  // PQH/PQT offset field
constexpr uint32_t prq_entries(unsigned pqs) { return (4096u << pqs) / PRQ_DESC_BYTES; }
constexpr uint32_t prq_index(uint64_t reg_value) { return static_cast<uint32_t>((reg_value & PQ_OFFSET_MASK) >> 5); }
constexpr uint64_t prq_reg(uint32_t index) { return uint64_t{index} << 5; }

constexpr uint32_t ring_next(uint32_t index, uint32_t entries) { return index + 1 == entries ? 0 : index + 1; }
constexpr bool ring_empty(uint32_t head, uint32_t tail) { return head == tail; }
constexpr bool ring_full(uint32_t head, uint32_t tail, uint32_t entries) { return ring_next(tail, entries) == head; }
constexpr uint32_t ring_count(uint32_t head, uint32_t tail, uint32_t entries) {
    return tail >= head ? tail - head : entries - head + tail;
}

// ---- root and context entries -------------------------------------------------------------------

// Legacy root entry (128-bit, indexed by bus): P bit 0, CTP [63:12]; the upper qword is reserved.
struct RootEntry {
    bool present = false;
    uint64_t ctp = 0;  // context table, in place
    friend bool operator==(const RootEntry&, const RootEntry&) = default;
};
constexpr void encode(const RootEntry& r, uint64_t out[2]) {
    out[0] = (r.present ? 1u : 0u) | (r.ctp & kPageMask);
    out[1] = 0;
}
constexpr RootEntry decode_root(const uint64_t in[2]) { return {static_cast<bool>(in[0] & 1), in[0] & kPageMask}; }

// Scalable-mode root entry: lower context table for devfn 0-127, upper for 128-255.
struct SmRootEntry {
    bool lower_present = false;
    uint64_t lower_ctp = 0;
    bool upper_present = false;
    uint64_t upper_ctp = 0;
    friend bool operator==(const SmRootEntry&, const SmRootEntry&) = default;
};
constexpr void encode(const SmRootEntry& r, uint64_t out[2]) {
    out[0] = (r.lower_present ? 1u : 0u) | (r.lower_ctp & kPageMask);
    out[1] = (r.upper_present ? 1u : 0u) | (r.upper_ctp & kPageMask);
}
constexpr SmRootEntry decode_sm_root(const uint64_t in[2]) {
    return {static_cast<bool>(in[0] & 1), in[0] & kPageMask, static_cast<bool>(in[1] & 1), in[1] & kPageMask};
}
// Where a devfn's context entry sits: which half of the root entry, and the byte offset in that table.
constexpr bool sm_context_upper(uint8_t devfn) { return devfn >= 128; }
constexpr uint32_t sm_context_offset(uint8_t devfn) { return (devfn & 0x7Fu) * 32u; }
constexpr uint32_t legacy_context_offset(uint8_t devfn) { return devfn * 16u; }

// Legacy context entry (128-bit).
namespace tt {
inline constexpr uint8_t UNTRANSLATED = 0;  // untranslated requests through the second stage, no device TLB
inline constexpr uint8_t ALL = 1;           // also translation/translated requests (device TLB)
inline constexpr uint8_t PASS_THROUGH = 2;
}  // namespace tt
struct ContextEntry {
    bool present = false;      // bit 0
    bool fpd = false;          // bit 1: fault processing disable
    uint8_t tt = 0;            // [3:2]
    uint64_t slptptr = 0;      // [63:12] second-stage root, in place
    uint8_t aw = 0;            // [66:64]
    uint16_t did = 0;          // [87:72]
    friend bool operator==(const ContextEntry&, const ContextEntry&) = default;
};
constexpr void encode(const ContextEntry& c, uint64_t out[2]) {
    out[0] = (c.present ? bit(0) : 0) | (c.fpd ? bit(1) : 0) | (uint64_t{c.tt & 3u} << 2) | (c.slptptr & kPageMask);
    out[1] = uint64_t{c.aw & 7u} | (uint64_t{c.did} << 8);
}
constexpr ContextEntry decode_context(const uint64_t in[2]) {
    ContextEntry c;
    c.present = in[0] & bit(0);
    c.fpd = in[0] & bit(1);
    c.tt = static_cast<uint8_t>((in[0] >> 2) & 3);
    c.slptptr = in[0] & kPageMask;
    c.aw = static_cast<uint8_t>(in[1] & 7);
    c.did = static_cast<uint16_t>(in[1] >> 8);
    return c;
}

// Scalable-mode context entry (256-bit; qwords 2-3 reserved).
struct SmContextEntry {
    bool present = false;       // bit 0
    bool fpd = false;           // bit 1
    bool dte = false;           // bit 2: device-TLB (ATS) enable
    bool paside = false;        // bit 3: requests with PASID allowed
    bool pre = false;           // bit 4: page requests allowed
    uint8_t pdts = 0;           // [11:9]: PASID directory of 2^(PDTS+7) entries
    uint64_t pasid_dir_ptr = 0; // [63:12], in place
    uint32_t rid_pasid = 0;     // [83:64]: PASID for requests without one
    bool rid_priv = false;      // bit 84: such requests are privileged
    friend bool operator==(const SmContextEntry&, const SmContextEntry&) = default;
};
constexpr void encode(const SmContextEntry& c, uint64_t out[4]) {
    out[0] = (c.present ? bit(0) : 0) | (c.fpd ? bit(1) : 0) | (c.dte ? bit(2) : 0) | (c.paside ? bit(3) : 0) |
             (c.pre ? bit(4) : 0) | (uint64_t{c.pdts & 7u} << 9) | (c.pasid_dir_ptr & kPageMask);
    out[1] = (c.rid_pasid & 0xFFFFFu) | (c.rid_priv ? bit(20) : 0);
    out[2] = 0;
    out[3] = 0;
}
constexpr SmContextEntry decode_sm_context(const uint64_t in[4]) {
    SmContextEntry c;
    c.present = in[0] & bit(0);
    c.fpd = in[0] & bit(1);
    c.dte = in[0] & bit(2);
    c.paside = in[0] & bit(3);
    c.pre = in[0] & bit(4);
    c.pdts = static_cast<uint8_t>((in[0] >> 9) & 7);
    c.pasid_dir_ptr = in[0] & kPageMask;
    c.rid_pasid = static_cast<uint32_t>(in[1] & 0xFFFFF);
    c.rid_priv = in[1] & bit(20);
    return c;
}
constexpr uint32_t pasid_dir_entries(uint8_t pdts) { return 1u << (pdts + 7u); }

// ---- PASID directory and table ------------------------------------------------------------------
// PASID[19:6] indexes the directory (8-byte entries), PASID[5:0] a 4 KiB table of 64-byte entries.

constexpr uint32_t pasid_dir_index(uint32_t pasid) { return (pasid >> 6) & 0x3FFF; }
constexpr uint32_t pasid_table_index(uint32_t pasid) { return pasid & 0x3F; }

struct PasidDirEntry {
    bool present = false;  // bit 0
    bool fpd = false;      // bit 1
    uint64_t table = 0;    // [63:12], in place
    friend bool operator==(const PasidDirEntry&, const PasidDirEntry&) = default;
};
constexpr uint64_t encode(const PasidDirEntry& d) {
    return (d.present ? bit(0) : 0) | (d.fpd ? bit(1) : 0) | (d.table & kPageMask);
}
constexpr PasidDirEntry decode_pasid_dir(uint64_t w) {
    return {static_cast<bool>(w & bit(0)), static_cast<bool>(w & bit(1)), w & kPageMask};
}

namespace pgtt {
inline constexpr uint8_t FIRST_STAGE = 1, SECOND_STAGE = 2, NESTED = 3, PASS_THROUGH = 4;
}
namespace flpm {
inline constexpr uint8_t LEVEL4 = 0, LEVEL5 = 1;
}

// Scalable-mode PASID table entry (512-bit; qwords 3-7 reserved). 4.x names: SS = second stage
// (SLPTPTR/SLEE/SLADE before 4.0), FS = first stage (FLPTPTR/FLPM).
struct PasidEntry {
    // qword 0
    bool present = false;     // bit 0
    bool fpd = false;         // bit 1
    uint8_t aw = 0;           // [4:2]: second-stage AW
    bool ssee = false;        // bit 5: second-stage execute enable
    uint8_t pgtt = 0;         // [8:6]
    bool ssade = false;       // bit 9: second-stage A/D enable
    uint64_t ssptptr = 0;     // [63:12], in place
    // qword 1
    uint16_t did = 0;         // [79:64]
    bool pwsnp = false;       // bit 87: page-walk snoop
    bool pgsnp = false;       // bit 88: page snoop
    bool cd = false;          // bit 89
    bool emte = false;        // bit 90
    uint8_t emt = 0;          // [93:91]
    bool pwt = false;         // bit 94
    bool pcd = false;         // bit 95
    uint32_t pat = 0;         // [127:96]
    // qword 2
    bool sre = false;         // bit 128: supervisor requests enable
    bool ere = false;         // bit 129: execute requests enable
    uint8_t flpm = 0;         // [131:130]: first-stage paging mode
    bool wpe = false;         // bit 132
    bool nxe = false;         // bit 133
    bool smep = false;        // bit 134
    bool eafe = false;        // bit 135
    uint64_t fsptptr = 0;     // [191:140], in place
    friend bool operator==(const PasidEntry&, const PasidEntry&) = default;
};
inline constexpr unsigned PASID_ENTRY_QWORDS = 8;
constexpr void encode(const PasidEntry& p, uint64_t out[PASID_ENTRY_QWORDS]) {
    out[0] = (p.present ? bit(0) : 0) | (p.fpd ? bit(1) : 0) | (uint64_t{p.aw & 7u} << 2) | (p.ssee ? bit(5) : 0) |
             (uint64_t{p.pgtt & 7u} << 6) | (p.ssade ? bit(9) : 0) | (p.ssptptr & kPageMask);
    out[1] = uint64_t{p.did} | (p.pwsnp ? bit(23) : 0) | (p.pgsnp ? bit(24) : 0) | (p.cd ? bit(25) : 0) |
             (p.emte ? bit(26) : 0) | (uint64_t{p.emt & 7u} << 27) | (p.pwt ? bit(30) : 0) | (p.pcd ? bit(31) : 0) |
             (uint64_t{p.pat} << 32);
    out[2] = (p.sre ? bit(0) : 0) | (p.ere ? bit(1) : 0) | (uint64_t{p.flpm & 3u} << 2) | (p.wpe ? bit(4) : 0) |
             (p.nxe ? bit(5) : 0) | (p.smep ? bit(6) : 0) | (p.eafe ? bit(7) : 0) | (p.fsptptr & kPageMask);
    for (unsigned i = 3; i < PASID_ENTRY_QWORDS; ++i) out[i] = 0;
}
constexpr PasidEntry decode_pasid_entry(const uint64_t in[PASID_ENTRY_QWORDS]) {
    PasidEntry p;
    p.present = in[0] & bit(0);
    p.fpd = in[0] & bit(1);
    p.aw = static_cast<uint8_t>((in[0] >> 2) & 7);
    p.ssee = in[0] & bit(5);
    p.pgtt = static_cast<uint8_t>((in[0] >> 6) & 7);
    p.ssade = in[0] & bit(9);
    p.ssptptr = in[0] & kPageMask;
    p.did = static_cast<uint16_t>(in[1]);
    p.pwsnp = in[1] & bit(23);
    p.pgsnp = in[1] & bit(24);
    p.cd = in[1] & bit(25);
    p.emte = in[1] & bit(26);
    p.emt = static_cast<uint8_t>((in[1] >> 27) & 7);
    p.pwt = in[1] & bit(30);
    p.pcd = in[1] & bit(31);
    p.pat = static_cast<uint32_t>(in[1] >> 32);
    p.sre = in[2] & bit(0);
    p.ere = in[2] & bit(1);
    p.flpm = static_cast<uint8_t>((in[2] >> 2) & 3);
    p.wpe = in[2] & bit(4);
    p.nxe = in[2] & bit(5);
    p.smep = in[2] & bit(6);
    p.eafe = in[2] & bit(7);
    p.fsptptr = in[2] & kPageMask;
    return p;
}
constexpr bool pgtt_valid(uint8_t v) { return v >= pgtt::FIRST_STAGE && v <= pgtt::PASS_THROUGH; }
constexpr unsigned flpm_levels(uint8_t v) { return v == flpm::LEVEL5 ? 5u : 4u; }

// ---- invalidation descriptors -------------------------------------------------------------------
// Type is qword0 [3:0] plus [11:9] as type[6:4]. In 128-bit mode only qw[0..1] exist in the queue.

struct Desc {
    uint64_t qw[4]{};
    friend bool operator==(const Desc&, const Desc&) = default;
};

namespace dtype {
inline constexpr uint8_t CONTEXT_CACHE = 0x1, IOTLB = 0x2, DEV_TLB = 0x3, IEC = 0x4, WAIT = 0x5, PASID_IOTLB = 0x6,
                         PASID_CACHE = 0x7, PASID_DEV_TLB = 0x8, PAGE_GROUP_RESP = 0x9;
}
constexpr uint8_t desc_type(uint64_t qw0) { return static_cast<uint8_t>((qw0 & 0xF) | ((qw0 >> 5) & 0x70)); }
constexpr uint64_t desc_type_bits(uint8_t type) { return (type & 0xFu) | (uint64_t{type & 0x70u} << 5); }

// Context-cache invalidation (type 1): G [5:4] (gran::GLOBAL/DOMAIN/DEVICE), DID [31:16], SID [47:32], FM [49:48].
struct ContextCacheInv {
    uint8_t g = gran::GLOBAL;
    uint16_t did = 0;
    uint16_t sid = 0;
    uint8_t fm = 0;  // function mask: low SID bits ignored (0 none, 1 bit 2, 2 bits 2:1, 3 bits 2:0)
    friend bool operator==(const ContextCacheInv&, const ContextCacheInv&) = default;
};

// IOTLB invalidation (type 2): G [5:4] (GLOBAL/DOMAIN/PAGE), DW 6, DR 7, DID [31:16];
// qw1 AM [5:0], IH 6, ADDR [63:12].
struct IotlbInv {
    uint8_t g = gran::GLOBAL;
    bool dw = false, dr = false;
    uint16_t did = 0;
    uint8_t am = 0;
    bool ih = false;  // invalidation hint: leaf-only, paging-structure caches may be kept
    uint64_t addr = 0;
    friend bool operator==(const IotlbInv&, const IotlbInv&) = default;
};

// Device-TLB invalidation (type 3): PFSID [15:12]+[63:52], MIP [20:16], SID [47:32]; qw1 S 0, ADDR [63:12].
struct DevTlbInv {
    uint16_t pfsid = 0;
    uint8_t mip = 0;   // max invalidations pending (ATS queue depth; 0 = 32)
    uint16_t sid = 0;
    bool s = false;    // size encoded in the address, see devtlb_range
    uint64_t addr = 0;
    friend bool operator==(const DevTlbInv&, const DevTlbInv&) = default;
};

// Interrupt-entry-cache invalidation (type 4): G bit 4 (0 global, 1 index-selective), IM [31:27], IIDX [47:32].
struct IecInv {
    bool index_selective = false;
    uint8_t im = 0;     // 2^IM entries from IIDX (aligned)
    uint16_t iidx = 0;
    friend bool operator==(const IecInv&, const IecInv&) = default;
};

// Invalidation wait (type 5): IF 4, SW 5, FN 6, PD 7, status data [63:32]; qw1 status address [63:2].
struct WaitDesc {
    bool intr = false;   // IF: raise the invalidation completion event
    bool sw = false;     // status write
    bool fn = false;     // fence: later descriptors wait for this one
    bool pd = false;     // drain page requests
    uint32_t status_data = 0;
    uint64_t status_addr = 0;  // 4-byte aligned
    friend bool operator==(const WaitDesc&, const WaitDesc&) = default;
};

// PASID-based IOTLB invalidation (type 6): G [5:4], DID [31:16], PASID [51:32]; qw1 AM, IH, ADDR as IOTLB.
namespace pgran {
inline constexpr uint8_t PASID_ALL = 2;   // all mappings of a PASID within a domain
inline constexpr uint8_t PASID_PAGE = 3;  // page-selective within a PASID
}
struct PasidIotlbInv {
    uint8_t g = pgran::PASID_ALL;
    uint16_t did = 0;
    uint32_t pasid = 0;
    uint8_t am = 0;
    bool ih = false;
    uint64_t addr = 0;
    friend bool operator==(const PasidIotlbInv&, const PasidIotlbInv&) = default;
};

// PASID-cache invalidation (type 7): G [5:4], DID [31:16], PASID [51:32].
namespace pcgran {
inline constexpr uint8_t DOMAIN = 0, PASID = 1, GLOBAL = 3;
}
struct PasidCacheInv {
    uint8_t g = pcgran::DOMAIN;
    uint16_t did = 0;
    uint32_t pasid = 0;
    friend bool operator==(const PasidCacheInv&, const PasidCacheInv&) = default;
};

// PASID-based device-TLB invalidation (type 8): MIP [8:4], PFSID [15:12]+[63:52], SID [31:16],
// PASID [51:32]; qw1 G 0, S 11, ADDR [63:12].
struct PasidDevTlbInv {
    uint8_t mip = 0;
    uint16_t pfsid = 0;
    uint16_t sid = 0;
    uint32_t pasid = 0;
    bool global = false;  // ATS Global Invalidate: global mappings of every PASID
    bool s = false;
    uint64_t addr = 0;
    friend bool operator==(const PasidDevTlbInv&, const PasidDevTlbInv&) = default;
};

// Page group response (type 9): PASID present 4, response code [15:12], RID [31:16], PASID [51:32];
// qw1 LPIG 2, PRGI [11:3].
namespace prg_rc {
inline constexpr uint8_t SUCCESS = 0x0, INVALID = 0x1, FAILURE = 0xF;
}
struct PageGroupResp {
    bool pasid_present = false;
    uint8_t rc = prg_rc::SUCCESS;
    uint16_t rid = 0;
    uint32_t pasid = 0;
    bool lpig = false;
    uint16_t prgi = 0;
    friend bool operator==(const PageGroupResp&, const PageGroupResp&) = default;
};

Desc encode(const ContextCacheInv& d);
Desc encode(const IotlbInv& d);
Desc encode(const DevTlbInv& d);
Desc encode(const IecInv& d);
Desc encode(const WaitDesc& d);
Desc encode(const PasidIotlbInv& d);
Desc encode(const PasidCacheInv& d);
Desc encode(const PasidDevTlbInv& d);
Desc encode(const PageGroupResp& d);
ContextCacheInv decode_context_cache_inv(const Desc& d);
IotlbInv decode_iotlb_inv(const Desc& d);
DevTlbInv decode_dev_tlb_inv(const Desc& d);
IecInv decode_iec_inv(const Desc& d);
WaitDesc decode_wait(const Desc& d);
PasidIotlbInv decode_pasid_iotlb_inv(const Desc& d);
PasidCacheInv decode_pasid_cache_inv(const Desc& d);
PasidDevTlbInv decode_pasid_dev_tlb_inv(const Desc& d);
PageGroupResp decode_page_group_resp(const Desc& d);

bool valid_desc_type(uint8_t type);

// ---- address ranges -----------------------------------------------------------------------------

// Inclusive, so that the whole 64-bit space is representable.
struct AddrRange {
    uint64_t first = 0;
    uint64_t last = 0;
    friend bool operator==(const AddrRange&, const AddrRange&) = default;
};

// Page-selective IOTLB/PASID-IOTLB invalidation: 2^AM 4 KiB pages, the address aligned down to that size.
AddrRange am_range(uint64_t addr, unsigned am);
// Smallest AM whose aligned block holds [addr, addr + size); size > 0.
unsigned am_covering(uint64_t addr, uint64_t size);

// Device-TLB (ATS) size encoding. S=0: the 4 KiB page at ADDR. S=1: the lowest clear address bit at or
// above bit 12, at position n, makes the range 2^(n+1) bytes (bits below n set to one).
struct DevTlbAddr {
    uint64_t addr = 0;
    bool s = false;
    friend bool operator==(const DevTlbAddr&, const DevTlbAddr&) = default;
};
// Encode 2^order pages at `addr` (aligned down to the range); order >= 52 is the whole space.
DevTlbAddr devtlb_encode(uint64_t addr, unsigned order);
AddrRange devtlb_range(uint64_t addr, bool s);

// ---- fault recording ----------------------------------------------------------------------------

// Primary fault record (128-bit, also the FRCD register layout).
struct FaultRecord {
    uint64_t fi = 0;        // [63:12] faulting page; interrupt-remapping faults: index in [63:48]
    uint16_t sid = 0;       // [79:64]
    bool t2 = false;        // bit 92
    bool priv = false;      // bit 93
    bool exe = false;       // bit 94
    bool pp = false;        // bit 95: PASID present
    uint8_t fr = 0;         // [103:96] fault reason
    uint32_t pasid = 0;     // [123:104]
    uint8_t at = 0;         // [125:124] address type
    bool t1 = false;        // bit 126: legacy type, 1 read / 0 write
    bool f = false;         // bit 127: fault (RW1C in the register)
    friend bool operator==(const FaultRecord&, const FaultRecord&) = default;
};
void encode(const FaultRecord& f, uint64_t out[2]);
FaultRecord decode_fault_record(const uint64_t in[2]);

enum class FaultReqType : uint8_t { Write, PageRequest, Read, AtomicOp };
// (T1, T2): 00 write, 01 page/translation request, 10 read, 11 AtomicOp.
constexpr FaultReqType fault_req_type(const FaultRecord& f) {
    return static_cast<FaultReqType>((f.t1 ? 2u : 0u) | (f.t2 ? 1u : 0u));
}
constexpr void set_fault_req_type(FaultRecord& f, FaultReqType t) {
    f.t1 = static_cast<unsigned>(t) & 2u;
    f.t2 = static_cast<unsigned>(t) & 1u;
}

// Fault reasons used by the model (legacy 0x1-0xD, interrupt remapping 0x20-0x26, scalable mode 0x30+).
// Nested only (SFS.5-SFS.7): 74h a first-stage table or output address beyond the second stage's input
// width; 75h / 76h the second stage does not let the first-stage root / a lower first-stage table be read.
namespace fr {
inline constexpr uint8_t ROOT_NOT_PRESENT = 0x01, CTX_NOT_PRESENT = 0x02, CTX_INVALID = 0x03,
                         ADDR_BEYOND_AGAW = 0x04, WRITE = 0x05, READ = 0x06, PTE_ACCESS = 0x07,
                         ROOT_ACCESS = 0x08, CTX_ACCESS = 0x09, ROOT_RSVD = 0x0A, CTX_RSVD = 0x0B, PTE_RSVD = 0x0C,
                         TT_BLOCKED = 0x0D;
inline constexpr uint8_t IR_RSVD = 0x20, IR_INDEX = 0x21, IR_NOT_PRESENT = 0x22, IR_ACCESS = 0x23,
                         IR_IRTE_RSVD = 0x24, IR_CFI_BLOCKED = 0x25, IR_SID = 0x26;
inline constexpr uint8_t SM_RTA_INVALID = 0x30, SM_TTM0_PASID = 0x31, SM_TTM0_PRQ = 0x32, SM_ROOT_ACCESS = 0x38,
                         SM_ROOT_NOT_PRESENT = 0x39, SM_ROOT_RSVD = 0x3A, SM_CTX_ACCESS = 0x40,
                         SM_CTX_NOT_PRESENT = 0x41, SM_CTX_RSVD = 0x42, SM_CTX_INVALID = 0x43, SM_CTX_DTE = 0x44,
                         SM_CTX_PASIDE = 0x45, SM_CTX_PASID_TOO_BIG = 0x46, SM_CTX_PRE = 0x47,
                         SM_CTX_RID_PASID = 0x48, SM_PDE_ACCESS = 0x50, SM_PDE_NOT_PRESENT = 0x51,
                         SM_PDE_RSVD = 0x52, SM_PTE_ACCESS = 0x58, SM_PTE_NOT_PRESENT = 0x59, SM_PTE_RSVD = 0x5A,
                         SM_PTE_INVALID = 0x5B, SM_PTE_ERE = 0x5C, SM_PTE_SRE = 0x5D, SM_FS_ACCESS = 0x70,
                         SM_FS_NOT_PRESENT = 0x71, SM_FS_RSVD = 0x72, SM_NESTED_BEYOND = 0x74,
                         SM_NESTED_FS_ROOT_READ = 0x75, SM_NESTED_FS_READ = 0x76, SM_SS_ACCESS = 0x78,
                         SM_SS_PERM = 0x79, SM_SS_RSVD = 0x7A, SM_SS_PTR_INVALID = 0x7B, SM_NOT_CANONICAL = 0x80,
                         SM_FS_US = 0x81, SM_NO_EXEC = 0x82, SM_BEYOND_HW = 0x83, SM_SS_ADDR_BEYOND = 0x84,
                         SM_NO_WRITE = 0x85, SM_NO_READ = 0x86;
}  // namespace fr

// ---- page requests ------------------------------------------------------------------------------

// Page request descriptor in the PRQ (32 bytes; qwords 2-3 carried no data since 4.0).
struct PageRequest {
    bool pasid_present = false;  // bit 8
    uint16_t rid = 0;            // [31:16]
    uint32_t pasid = 0;          // [51:32]
    bool exe = false;            // bit 52
    bool priv = false;           // bit 53
    bool read = false;           // qw1 bit 0
    bool write = false;          // qw1 bit 1
    bool lpig = false;           // qw1 bit 2: last page in group
    uint16_t prgi = 0;           // qw1 [11:3]
    uint64_t addr = 0;           // qw1 [63:12], in place
    friend bool operator==(const PageRequest&, const PageRequest&) = default;
};
inline constexpr uint8_t PRQ_TYPE_PAGE_REQUEST = 1;  // qw0 [7:0]
Desc encode(const PageRequest& p);
PageRequest decode_page_request(const Desc& d);

// ---- interrupt remapping ------------------------------------------------------------------------

// IRTE, remapped format (128-bit). With IRTA.EIME=0 (xAPIC) the 8-bit APIC ID sits in DST[15:8].
namespace dlm {
inline constexpr uint8_t FIXED = 0, LOWEST = 1, SMI = 2, NMI = 4, INIT = 5, EXTINT = 7;
}
namespace svt {
inline constexpr uint8_t NONE = 0, SID_SQ = 1, BUS_RANGE = 2;
}
struct Irte {
    bool present = false;  // bit 0
    bool fpd = false;      // bit 1
    bool dm = false;       // bit 2: destination mode, 1 logical
    bool rh = false;       // bit 3: redirection hint
    bool tm = false;       // bit 4: trigger mode, 1 level
    uint8_t dlm = 0;       // [7:5]
    uint8_t avail = 0;     // [11:8]
    bool im = false;       // bit 15: 1 posted format
    uint8_t vector = 0;    // [23:16]
    uint32_t dst = 0;      // [63:32]
    uint16_t sid = 0;      // [79:64]
    uint8_t sq = 0;        // [81:80]
    uint8_t svt = 0;       // [83:82]
    friend bool operator==(const Irte&, const Irte&) = default;
};
constexpr void encode(const Irte& e, uint64_t out[2]) {
    out[0] = (e.present ? bit(0) : 0) | (e.fpd ? bit(1) : 0) | (e.dm ? bit(2) : 0) | (e.rh ? bit(3) : 0) |
             (e.tm ? bit(4) : 0) | (uint64_t{e.dlm & 7u} << 5) | (uint64_t{e.avail & 0xFu} << 8) |
             (e.im ? bit(15) : 0) | (uint64_t{e.vector} << 16) | (uint64_t{e.dst} << 32);
    out[1] = uint64_t{e.sid} | (uint64_t{e.sq & 3u} << 16) | (uint64_t{e.svt & 3u} << 18);
}
constexpr Irte decode_irte(const uint64_t in[2]) {
    Irte e;
    e.present = in[0] & bit(0);
    e.fpd = in[0] & bit(1);
    e.dm = in[0] & bit(2);
    e.rh = in[0] & bit(3);
    e.tm = in[0] & bit(4);
    e.dlm = static_cast<uint8_t>((in[0] >> 5) & 7);
    e.avail = static_cast<uint8_t>((in[0] >> 8) & 0xF);
    e.im = in[0] & bit(15);
    e.vector = static_cast<uint8_t>(in[0] >> 16);
    e.dst = static_cast<uint32_t>(in[0] >> 32);
    e.sid = static_cast<uint16_t>(in[1]);
    e.sq = static_cast<uint8_t>((in[1] >> 16) & 3);
    e.svt = static_cast<uint8_t>((in[1] >> 18) & 3);
    return e;
}
constexpr uint32_t xapic_dst(uint8_t apic_id) { return uint32_t{apic_id} << 8; }

// Remappable-format MSI: address 0xFEE[31:20], handle[14:0] [19:5], format 1 bit 4, SHV bit 3,
// handle[15] bit 2; data: subhandle [15:0] when SHV. IRTE index = handle (+ subhandle when SHV).
struct MsiMessage {
    uint64_t addr = 0;
    uint32_t data = 0;
    friend bool operator==(const MsiMessage&, const MsiMessage&) = default;
};
struct RemapMsi {
    uint16_t handle = 0;
    bool shv = false;
    uint16_t subhandle = 0;
    friend bool operator==(const RemapMsi&, const RemapMsi&) = default;
};
inline constexpr uint64_t MSI_BASE = 0xFEE0'0000, MSI_WINDOW_MASK = ~uint64_t{0xFFFFF};
constexpr bool msi_in_window(uint64_t addr) { return (addr & MSI_WINDOW_MASK) == MSI_BASE; }
constexpr bool msi_is_remappable(uint64_t addr) { return addr & bit(4); }
constexpr MsiMessage encode(const RemapMsi& m) {
    const uint64_t a = MSI_BASE | (uint64_t{m.handle & 0x7FFFu} << 5) | bit(4) | (m.shv ? bit(3) : 0) |
                       (uint64_t{(m.handle >> 15) & 1u} << 2);
    return {a, m.shv ? m.subhandle : 0u};
}
// nullopt unless `msg` is a remappable-format write into the interrupt window.
constexpr std::optional<RemapMsi> decode_remap_msi(const MsiMessage& msg) {
    if (!msi_in_window(msg.addr) || !msi_is_remappable(msg.addr)) return std::nullopt;
    RemapMsi m;
    m.handle = static_cast<uint16_t>(((msg.addr >> 5) & 0x7FFF) | (((msg.addr >> 2) & 1) << 15));
    m.shv = msg.addr & bit(3);
    m.subhandle = m.shv ? static_cast<uint16_t>(msg.data) : 0;
    return m;
}
constexpr uint32_t irte_index(const RemapMsi& m) { return uint32_t{m.handle} + (m.shv ? m.subhandle : 0u); }

// ---- names for logs -----------------------------------------------------------------------------

const char* desc_type_name(uint8_t type);
const char* fault_reason_name(uint8_t reason);

}  // namespace iommusim::vtd
