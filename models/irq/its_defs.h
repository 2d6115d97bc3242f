// Bit formats of the GICv3 Interrupt Translation Service (Arm IHI 0069, chapters 5, 6 and 12):
// register offsets and fields, the 32-byte commands, command error codes, and the
// IMPLEMENTATION DEFINED entry formats of the tables this model keeps in memory. One source of
// truth shared by the ITS model and the host driver.
//
// Table entry formats (IMPLEMENTATION DEFINED by the architecture; software allocates the memory
// but never reads or writes entries, only the ITS does). All little-endian 64-bit words:
//   Device table entry (DTE), 8 bytes, GITS_BASER<0>.Entry_Size = 7:
//     [63]    V: the DeviceID is mapped (MAPD V=1)
//     [51:8]  ITT_addr: bits [51:8] of the device's ITT (256-byte aligned, as MAPD gives it)
//     [4:0]   Size: EventID bits - 1 of the device's ITT (MAPD's Size field)
//   Interrupt translation table entry (ITE), GITS_TYPER.ITT_entry_size + 1 bytes (8 by default;
//   larger entries carry the same first word, the rest is zero):
//     [63]    V: the EventID is mapped (MAPTI/MAPI), cleared by DISCARD
//     [62]    Physical: a physical LPI (always 1; virtual LPIs are not modelled)
//     [47:32] ICID: the collection the LPI is routed through
//     [31:0]  pINTID: the LPI's INTID (>= 8192)
//   Collection table entry (CTE), 8 bytes, GITS_BASER<1>.Entry_Size = 7:
//     [63]    V: the collection is mapped (MAPC V=1)
//     [31:0]  target: the processor number MAPC gave (GITS_TYPER.PTA = 0)
//
// LPI configuration table (the redistributors' GICR_PROPBASER table, 1 byte per LPI, entry for
// INTID n at offset n - 8192): [7:2] priority, [1] RES1 (group 1), [0] Enable. This model reads it
// through an IMPLEMENTATION DEFINED register of the ITS frame (reg::PROPBASER, GICR_PROPBASER
// layout) that stands for the redistributors' copy, since no redistributor is modelled.
#pragma once
#include <cstdint>

namespace iommusim::its {

constexpr uint64_t genmask(unsigned hi, unsigned lo) {
  return (hi >= 63 ? ~uint64_t{0} : ((uint64_t{1} << (hi + 1)) - 1)) & ~((uint64_t{1} << lo) - 1);
}
constexpr uint64_t bit(unsigned n) { return uint64_t{1} << n; }

struct Field {
  uint8_t hi, lo;
  constexpr uint64_t mask() const { return genmask(hi, lo); }
  constexpr uint64_t get(uint64_t w) const { return (w & mask()) >> lo; }
  constexpr uint64_t put(uint64_t w, uint64_t v) const { return (w & ~mask()) | ((v << lo) & mask()); }
  constexpr uint64_t make(uint64_t v) const { return (v << lo) & mask(); }
};

// ---- register map (offsets from ITS_base; IHI 0069 12.19) ---------------------------------------

namespace reg {
inline constexpr uint32_t CTLR = 0x0000, IIDR = 0x0004, TYPER = 0x0008;
inline constexpr uint32_t CBASER = 0x0080, CWRITER = 0x0088, CREADR = 0x0090;
inline constexpr uint32_t BASER0 = 0x0100;  // GITS_BASER<n> at 0x0100 + 8n, n = 0..7
inline constexpr unsigned BASER_COUNT = 8;
// IMPLEMENTATION DEFINED range 0xC000-0xFFCF: this model's stand-in for GICR_PROPBASER.
inline constexpr uint32_t PROPBASER = 0xC000;
inline constexpr uint32_t PIDR2 = 0xFFE8;
inline constexpr uint32_t FRAME_SIZE = 0x10000;       // the control frame (ITS_base)
inline constexpr uint32_t TRANSLATION_FRAME = 0x10000;  // second 64 KiB frame
inline constexpr uint32_t TRANSLATER = 0x0040;        // GITS_TRANSLATER, within the translation frame
inline constexpr uint32_t TRANSLATER_PA_OFFSET = TRANSLATION_FRAME + TRANSLATER;  // 0x10040 from ITS_base
}  // namespace reg

namespace ctlr {
inline constexpr uint32_t ENABLED = 1u << 0;
inline constexpr uint32_t QUIESCENT = 1u << 31;  // RO: disabled and no operation in progress
}  // namespace ctlr

namespace typer {
inline constexpr uint64_t PHYSICAL = bit(0);         // physical LPIs supported
inline constexpr Field ITT_ENTRY_SIZE{7, 4};         // bytes per ITE - 1
inline constexpr Field ID_BITS{12, 8};               // EventID bits - 1
inline constexpr Field DEVBITS{17, 13};              // DeviceID bits - 1
inline constexpr uint64_t PTA = bit(19);             // 0: collections target processor numbers
inline constexpr Field HCC{31, 24};                  // collections held in the ITS without a table
inline constexpr Field CIDBITS{35, 32};              // ICID bits - 1 (with CIL)
inline constexpr uint64_t CIL = bit(36);             // 0: ICIDs are 16 bits
}  // namespace typer

// GITS_CBASER: the command queue.
namespace cbaser {
inline constexpr uint64_t VALID = bit(63);
inline constexpr Field INNER_CACHE{61, 59};
inline constexpr Field OUTER_CACHE{55, 53};
inline constexpr Field PA{51, 12};
inline constexpr Field SHAREABILITY{11, 10};
inline constexpr Field SIZE{7, 0};  // 4 KiB pages - 1
}  // namespace cbaser

// GITS_CWRITER / GITS_CREADR: byte offsets of 32-byte commands from the queue base.
namespace cq {
inline constexpr Field OFFSET{19, 5};
inline constexpr uint64_t OFFSET_MASK = genmask(19, 5);
inline constexpr uint64_t RETRY = bit(0);    // CWRITER: retry a stalled command
inline constexpr uint64_t STALLED = bit(0);  // CREADR: processing stalled on a command error
inline constexpr unsigned CMD_BYTES = 32;
}  // namespace cq

// GITS_BASER<n>.
namespace baser {
inline constexpr uint64_t VALID = bit(63);
inline constexpr uint64_t INDIRECT = bit(62);  // two-level table (RAZ/WI here: flat tables only)
inline constexpr Field INNER_CACHE{61, 59};
inline constexpr Field TYPE{58, 56};
inline constexpr Field OUTER_CACHE{55, 53};
inline constexpr Field ENTRY_SIZE{52, 48};  // bytes - 1, read-only
inline constexpr Field PA{47, 12};          // with 64 KiB pages, [15:12] hold PA[51:48] (not used: 48-bit PAs)
inline constexpr Field SHAREABILITY{11, 10};
inline constexpr Field PAGE_SIZE{9, 8};  // 0: 4 KiB, 1: 16 KiB, 2: 64 KiB
inline constexpr Field SIZE{7, 0};       // pages - 1
inline constexpr uint64_t TYPE_NONE = 0, TYPE_DEVICE = 1, TYPE_VPE = 2, TYPE_COLLECTION = 4;
inline constexpr uint64_t page_bytes(uint64_t page_size_field) {
  return page_size_field == 0 ? 0x1000 : page_size_field == 1 ? 0x4000 : 0x10000;
}
}  // namespace baser

// GICR_PROPBASER layout (the IMPLEMENTATION DEFINED reg::PROPBASER uses it).
namespace propbaser {
inline constexpr Field IDBITS{4, 0};  // INTID bits - 1
inline constexpr Field PA{51, 12};
}  // namespace propbaser

// LPI configuration table byte.
namespace lpi_prop {
inline constexpr uint8_t ENABLE = 1u << 0;
inline constexpr uint8_t GROUP1 = 1u << 1;  // RES1
inline constexpr uint8_t DEFAULT_PRIO = 0xA0;
}  // namespace lpi_prop

inline constexpr uint32_t kLpiBase = 8192;  // the first LPI INTID
inline constexpr uint32_t PIDR2_ARCHREV_GICV3 = 0x30;  // GITS_PIDR2.ArchRev [7:4] = 3

// ---- commands (IHI 0069 6.3), 32 bytes = 4 doublewords ------------------------------------------

namespace op {
inline constexpr uint8_t MOVI = 0x01, INT = 0x03, CLEAR = 0x04, SYNC = 0x05, MAPD = 0x08, MAPC = 0x09,
                         MAPTI = 0x0A, MAPI = 0x0B, INV = 0x0C, INVALL = 0x0D, MOVALL = 0x0E, DISCARD = 0x0F;
}  // namespace op

namespace cmdf {
inline constexpr Field OPCODE{7, 0};      // DW0
inline constexpr Field DEVICE_ID{63, 32};  // DW0
inline constexpr Field EVENT_ID{31, 0};    // DW1
inline constexpr Field PINTID{63, 32};     // DW1 (MAPTI)
inline constexpr Field SIZE{4, 0};         // DW1 (MAPD): EventID bits - 1
inline constexpr Field ICID{15, 0};        // DW2
inline constexpr Field ITT_ADDR{51, 8};    // DW2 (MAPD): ITT address bits [51:8]
inline constexpr Field RDBASE{51, 16};     // DW2 (MAPC, SYNC): processor number with PTA = 0
inline constexpr uint64_t VALID = bit(63);  // DW2 (MAPD, MAPC)
}  // namespace cmdf

struct Cmd {
  uint8_t opcode = 0;
  uint32_t device_id = 0;
  uint32_t event_id = 0;
  uint32_t pintid = 0;   // MAPTI
  uint16_t icid = 0;     // MAPC, MAPTI, MAPI, MOVI, INVALL
  uint8_t size = 0;      // MAPD: EventID bits - 1
  uint64_t itt_addr = 0;  // MAPD: 256-byte aligned
  uint64_t rdbase = 0;   // MAPC, SYNC: processor number (PTA = 0)
  bool valid = false;    // MAPD, MAPC
};

void encode(const Cmd& c, uint64_t raw[4]);
Cmd decode_cmd(const uint64_t raw[4]);
const char* op_name(uint8_t opcode);

// Command error codes (IHI 0069 6.2; 0x01 <opcode> <kind>).
namespace err {
inline constexpr uint32_t MOVI_UNMAPPED_DEVICE = 0x010104, MOVI_COLLECTION_OOR = 0x010103,
                          MOVI_UNMAPPED_INTERRUPT = 0x010107, MOVI_UNMAPPED_COLLECTION = 0x010109;
inline constexpr uint32_t INT_UNMAPPED_DEVICE = 0x010304, INT_UNMAPPED_INTERRUPT = 0x010307;
inline constexpr uint32_t CLEAR_UNMAPPED_DEVICE = 0x010504, CLEAR_UNMAPPED_INTERRUPT = 0x010507;
inline constexpr uint32_t MAPD_DEVICE_OOR = 0x010801, MAPD_ITTSIZE_OOR = 0x010802;
inline constexpr uint32_t MAPC_PROCNUM_OOR = 0x010902, MAPC_COLLECTION_OOR = 0x010903;
inline constexpr uint32_t MAPTI_DEVICE_OOR = 0x010A01, MAPTI_COLLECTION_OOR = 0x010A03,
                          MAPTI_UNMAPPED_DEVICE = 0x010A04, MAPTI_ID_OOR = 0x010A05,
                          MAPTI_PHYSICALID_OOR = 0x010A06;
inline constexpr uint32_t INV_UNMAPPED_DEVICE = 0x010C04, INV_UNMAPPED_INTERRUPT = 0x010C07;
inline constexpr uint32_t INVALL_COLLECTION_OOR = 0x010D03, INVALL_UNMAPPED_COLLECTION = 0x010D09;
inline constexpr uint32_t DISCARD_UNMAPPED_DEVICE = 0x010F04, DISCARD_UNMAPPED_INTERRUPT = 0x010F07;
// Not an architected code: a command this model does not implement (MOVALL, GICv4 commands).
inline constexpr uint32_t UNSUPPORTED = 0x0100FF;
// Not an architected code: the command fetch or a table access failed in memory.
inline constexpr uint32_t MEMORY = 0x0100FE;
}  // namespace err

// ---- table entries (formats above) ---------------------------------------------------------------

struct Dte {
  bool valid = false;
  uint8_t size = 0;  // EventID bits - 1
  uint64_t itt = 0;
  uint64_t event_count() const { return uint64_t{2} << size; }
};
struct Ite {
  bool valid = false;
  uint32_t pintid = 0;
  uint16_t icid = 0;
};
struct Cte {
  bool valid = false;
  uint32_t target = 0;
};

namespace dte {
inline constexpr uint64_t V = bit(63);
inline constexpr Field ITT{51, 8};
inline constexpr Field SIZE{4, 0};
}  // namespace dte
namespace ite {
inline constexpr uint64_t V = bit(63);
inline constexpr uint64_t PHYSICAL = bit(62);
inline constexpr Field ICID{47, 32};
inline constexpr Field PINTID{31, 0};
}  // namespace ite
namespace cte {
inline constexpr uint64_t V = bit(63);
inline constexpr Field TARGET{31, 0};
}  // namespace cte
inline constexpr unsigned kDteBytes = 8, kCteBytes = 8;

uint64_t encode(const Dte& e);
uint64_t encode(const Ite& e);
uint64_t encode(const Cte& e);
Dte decode_dte(uint64_t w);
Ite decode_ite(uint64_t w);
Cte decode_cte(uint64_t w);

}  // namespace iommusim::its
