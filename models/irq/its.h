// Arm GICv3 Interrupt Translation Service (IHI 0069 chapters 5, 6, 12): turns MSI writes to
// GITS_TRANSLATER into LPIs for the CPU interrupt model (IrqSink).
//
// Models: the control frame (GITS_CTLR, IIDR, TYPER, CBASER, CWRITER, CREADR, BASER<0> = device
// table, BASER<1> = collection table, PIDR2) on `regs`, and the translation frame on `doorbell`:
// a 16- or 32-bit write to GITS_TRANSLATER (offset 0x40 of the second 64 KiB frame) carries the
// EventID as data and the DeviceID as the requester ID of its PcieExt (the SMMU's StreamID in Arm
// systems, identity here). The doorbell accepts addresses relative to the translation frame (0x40)
// or the physical address (base + 0x10040); the write always completes OK (posted).
// Translation reads the DTE (device table, flat, 8-byte entries), the ITE (the device's ITT,
// GITS_TYPER.ITT_entry_size bytes per entry) and the CTE (collection table, flat, 8-byte entries;
// GITS_TYPER.HCC = 0) from memory with timed reads through `mem`, each unless cached; then the LPI's
// configuration byte (Enable) from the LPI configuration table, unless cached. An enabled LPI is
// delivered to the collection's target processor (GITS_TYPER.PTA = 0) with the write's MsiTag at the
// absolute time after the reads and translation_latency. A disabled one becomes pending in the ITS
// (one per INTID: a second write while pending is coalesced) and is delivered when an INV or INVALL
// finds it enabled. Unmapped or out-of-range DeviceIDs and EventIDs, and writes while GITS_CTLR is
// disabled, are dropped and reported lost (IrqLoss::UnmappedDevice / UnmappedEvent); an ITE whose
// collection is unmapped is reported as UnmappedEvent and counted separately; any other write to
// the translation frame is NotDoorbell.
//
// Commands (32 bytes, queue at GITS_CBASER, processed while GITS_CTLR.Enabled by a thread woken
// by CWRITER writes; each fetched with a timed read, executed with its table accesses timed, then
// cmd_cost; CREADR moves past a command only once it completed): MAPD, MAPC, MAPTI, MAPI, MOVI,
// DISCARD, INV, INVALL, INT, CLEAR, SYNC. Command errors (IHI 0069 6.2 codes) are counted and
// either ignored or stall the queue (GITS_CREADR.Stalled, cleared by a CWRITER write with Retry),
// per `stall_on_error`.
//
// Caching, as the architecture permits: the ITS tables are written only by the ITS, so the
// commands that change them (MAPD, MAPC, MAPTI/MAPI, MOVI, DISCARD) update the caches themselves
// and take effect at once. The LPI configuration table is written by software; a cached
// configuration stays in use until INV (that LPI) or INVALL (the collection) or DISCARD, which is
// when software must issue them.
//
// Not modelled: GICv4 (vPEs, VLPIs, VMAPP/VMAPTI/VMOVP/VSYNC/VINVALL, GITS_VPENDBASER), MOVALL
// (reported UNSUPPORTED), two-level (Indirect) tables (GITS_BASER.Indirect is RAZ/WI), 52-bit
// addresses, the redistributors (GICR_*: the LPI configuration table base comes from an
// IMPLEMENTATION DEFINED ITS register standing for GICR_PROPBASER; LPI pending tables in memory,
// GICR_PENDBASER and priorities are not modelled: pending state lives in the model), SError on
// command errors (GITS_TYPER.SEIS = 0), GITS_CTLR.Quiescent sequencing beyond "disabled and idle",
// GITS_UMSIR, MPAM, cache and shareability attributes (stored, not used), the ITS's own memory
// access ordering beyond call order.
#pragma once
#include <systemc>
#include <tlm>
#include <tlm_utils/multi_passthrough_target_socket.h>
#include <tlm_utils/simple_initiator_socket.h>
#include <tlm_utils/simple_target_socket.h>

#include <array>
#include <map>

#include "models/common/payload_pool.h"
#include "models/common/stats.h"
#include "models/iommu/core/set_assoc.h"
#include "models/irq/irq_sink.h"
#include "models/irq/its_defs.h"
#include "models/irq/its_params.h"

namespace iommusim::its {

class Its : public sc_core::sc_module, public HasStats {
 public:
  tlm_utils::simple_target_socket<Its> regs;                      // control frame (MMIO from the CPU)
  tlm_utils::multi_passthrough_target_socket<Its> doorbell;       // translation frame (MSI writes)
  tlm_utils::simple_initiator_socket<Its> mem;                    // table reads/writes, command fetches

  Its(sc_core::sc_module_name name, const ItsParams& p, uint64_t seed = 1);
  SC_HAS_PROCESS(Its);

  // The CPU interrupt model LPIs go to (without one they are counted only).
  void set_sink(IrqSink* s) { sink_ = s; }
  uint64_t translater_pa() const { return p_.base + reg::TRANSLATER_PA_OFFSET; }
  // The last command error code (0: none) and how many commands failed with `code`.
  uint32_t last_error() const { return last_error_; }
  uint64_t error_count(uint32_t code) const {
    auto it = errors_by_code_.find(code);
    return it == errors_by_code_.end() ? 0 : it->second;
  }
  // LPIs held pending because their configuration said disabled.
  size_t pending() const { return held_.size(); }
  StatGroup& stats() override { return stats_; }

 private:
  // Registers (its_regs.cpp)
  void regs_b_transport(tlm::tlm_generic_payload& gp, sc_core::sc_time& delay);
  uint32_t reg_read(uint32_t off) const;
  void reg_write(uint32_t off, uint64_t v, unsigned len, const sc_core::sc_time& delay);
  // Doorbell and translation (its.cpp)
  void doorbell_b_transport(int port, tlm::tlm_generic_payload& gp, sc_core::sc_time& delay);
  enum class Xlate : uint8_t { Ok, NoDevice, NoEvent, NoCollection };
  Xlate translate(uint32_t devid, uint32_t eventid, sc_core::sc_time& t, Ite& ite, Cte& cte);
  // Table entries through their caches; false when the ID is beyond the table (or the table invalid).
  bool get_dte(uint32_t devid, sc_core::sc_time& t, Dte& e);
  bool get_ite(uint32_t devid, const Dte& d, uint32_t eventid, sc_core::sc_time& t, Ite& e);
  bool get_cte(uint16_t icid, sc_core::sc_time& t, Cte& e);
  bool lpi_enabled(uint32_t intid, sc_core::sc_time& t, bool use_cache = true);
  // An LPI raised for `target`: delivered if enabled, else held pending.
  void raise(const Ite& ite, const Cte& cte, const MsiTag* tag, sc_core::sc_time t);
  // Re-reads the configuration of a held LPI; delivers and forgets it when enabled.
  void reevaluate(uint32_t intid, sc_core::sc_time& t);
  // Table geometry from the BASERs.
  uint64_t dt_entries() const;
  uint64_t ct_entries() const;
  uint64_t dt_base() const { return baser::PA.get(baser_[0]) << 12; }
  uint64_t ct_base() const { return baser::PA.get(baser_[1]) << 12; }
  uint64_t itt_entry_addr(const Dte& d, uint32_t eventid) const { return d.itt + uint64_t{eventid} * p_.itt_entry_size; }
  // Command queue (its_cmdq.cpp)
  void cmdq_thread();
  uint32_t execute(const Cmd& c, sc_core::sc_time& t);  // 0 or an error code
  uint32_t cmd_mapd(const Cmd& c, sc_core::sc_time& t);
  uint32_t cmd_mapc(const Cmd& c, sc_core::sc_time& t);
  uint32_t cmd_mapti(const Cmd& c, sc_core::sc_time& t);
  uint32_t cmd_movi(const Cmd& c, sc_core::sc_time& t);
  uint32_t cmd_event(const Cmd& c, sc_core::sc_time& t);  // INT, CLEAR, INV, DISCARD
  uint32_t cmd_invall(const Cmd& c, sc_core::sc_time& t);
  uint64_t queue_bytes() const { return (cbaser::SIZE.get(cbaser_) + 1) * 0x1000; }
  bool mem_access(bool write, uint64_t pa, void* data, unsigned len, sc_core::sc_time& t);
  bool write_entry(uint64_t pa, uint64_t w, unsigned bytes, sc_core::sc_time& t);

  struct DteSlot { uint32_t devid; Dte e; };
  struct IteSlot { uint32_t devid, eventid; Ite e; };
  struct CteSlot { uint16_t icid; Cte e; };
  struct CfgSlot { uint32_t intid; uint8_t prop; };
  struct Held {
    uint32_t target;
    uint16_t icid;
    bool tagged;
    MsiTag tag;
  };
  static uint64_t ite_index(uint32_t devid, uint32_t eventid) { return eventid + uint64_t{devid} * 0x9E37; }

  ItsParams p_;
  IrqSink* sink_ = nullptr;
  PayloadPool pool_;
  SetAssoc<DteSlot> dte_cache_;
  SetAssoc<IteSlot> ite_cache_;
  SetAssoc<CteSlot> cte_cache_;
  SetAssoc<CfgSlot> cfg_cache_;
  std::map<uint32_t, Held> held_;  // by INTID
  sc_core::sc_time latency_, cmd_cost_, mmio_latency_;

  // Register state
  uint32_t ctlr_ = 0;
  uint64_t cbaser_ = 0, cwriter_ = 0, creadr_ = 0, propbaser_ = 0;
  std::array<uint64_t, reg::BASER_COUNT> baser_{};
  bool stalled_ = false, busy_ = false;
  uint32_t last_error_ = 0;
  std::map<uint32_t, uint64_t> errors_by_code_;
  sc_core::sc_event kick_;

  StatGroup stats_;
  Counter& writes_;
  Counter& delivered_;
  Counter& lost_device_;
  Counter& lost_event_;
  Counter& lost_collection_;
  Counter& lost_disabled_;
  Counter& not_doorbell_;
  Counter& held_count_;
  Counter& coalesced_;
  Counter& released_;
  Counter& cleared_;
  Counter& dte_reads_;
  Counter& ite_reads_;
  Counter& cte_reads_;
  Counter& cfg_reads_;
  Counter& dte_hits_;
  Counter& ite_hits_;
  Counter& cte_hits_;
  Counter& cfg_hits_;
  Counter& commands_;
  Counter& cmd_errors_;
  Counter& cmd_syncs_;
  Counter& cmd_invs_;
  Histogram& latency_ns_;
};

}  // namespace iommusim::its
