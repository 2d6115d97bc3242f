// Parameters of the GICv3 ITS model. No published ITS timing figure exists in
// /work/shared/reference/timing-anchors.md: every time below is an estimate (reason given with
// it); table reads and command fetches are timed by the memory model on top.
#pragma once
#include "models/common/params.h"
#include "models/iommu/core/cache_params.h"

namespace iommusim::its {

struct ItsParams {
  // ITS_base: the control frame; GITS_TRANSLATER is at base + 0x10040. QEMU's Arm virt platform
  // puts its ITS at 0x08080000.
  uint64_t base = 0x08080000;
  uint64_t device_id_bits = 16;  // GITS_TYPER.Devbits + 1: PCIe RIDs (StreamID = DeviceID, identity)
  uint64_t event_id_bits = 16;   // GITS_TYPER.ID_bits + 1
  uint64_t intid_bits = 16;      // LPI INTID width (GICD_TYPER.IDbits + 1); Linux uses at most 16
  uint64_t itt_entry_size = 8;   // GITS_TYPER.ITT_entry_size + 1 (bytes per ITE)
  uint64_t max_processors = 256;  // processor numbers MAPC accepts (beyond: MAPC_PROCNUM_OOR)
  // Estimate: the ITS's own pipeline and the message to the redistributor, tens of cycles at 1-2 GHz.
  Time translation_latency = Time::ns(50);
  // Estimate: execution of one command besides its fetch and table accesses, the order of the
  // SMMUv3 model's command execution times (10-30 ns).
  Time cmd_cost = Time::ns(20);
  // The SMMUv3 model's register access time (a device register behind the same interconnect).
  Time mmio_latency = Time::ns(40);
  // Sizes are estimates (no published ITS cache sizes): a few devices, a few dozen events.
  CacheParams device_cache{16, 0};      // DTEs by DeviceID
  CacheParams ite_cache{64, 0};         // ITEs by (DeviceID, EventID)
  CacheParams collection_cache{16, 0};  // CTEs by ICID
  CacheParams lpi_config_cache{64, 0};  // LPI configuration bytes by INTID (INV/INVALL refresh them)
  // IMPLEMENTATION DEFINED reaction to a command error (IHI 0069 6.2): false = the command is
  // ignored and processing goes on; true = processing stalls (GITS_CREADR.Stalled) on it until
  // software writes GITS_CWRITER with Retry. Errors are counted either way.
  bool stall_on_error = false;

  void visit(ParamVisitor& v) {
    v.bytes("base", base, "ITS_base physical address (GITS_TRANSLATER at base + 0x10040); QEMU virt's value");
    v.count("device_id_bits", device_id_bits, "DeviceID width (GITS_TYPER.Devbits + 1)", 1, 32);
    v.count("event_id_bits", event_id_bits, "EventID width (GITS_TYPER.ID_bits + 1)", 1, 32);
    v.count("intid_bits", intid_bits, "LPI INTID width; LPIs are 8192 .. 2^bits - 1", 14, 32);
    v.count("itt_entry_size", itt_entry_size, "bytes per ITT entry (GITS_TYPER.ITT_entry_size + 1)", 8, 16);
    v.count("max_processors", max_processors, "processor numbers a collection may target", 1, 1u << 16);
    v.time("translation_latency", translation_latency,
           "doorbell write to LPI delivery besides table reads; estimate (ITS pipeline and redistributor message)");
    v.time("cmd_cost", cmd_cost, "execution time of one command besides its fetch and table accesses; estimate "
                                 "of the order of SMMUv3 command execution");
    v.time("mmio_latency", mmio_latency, "register access from the CPU; the SMMUv3 model's figure");
    v.group("device_cache", device_cache, "cache of device table entries; size an estimate");
    v.group("ite_cache", ite_cache, "cache of interrupt translation entries; size an estimate");
    v.group("collection_cache", collection_cache, "cache of collection table entries; size an estimate");
    v.group("lpi_config_cache", lpi_config_cache,
            "cache of LPI configuration bytes (refreshed by INV/INVALL); size an estimate");
    v.flag("stall_on_error", stall_on_error, "command errors stall the queue (GITS_CREADR.Stalled) instead of "
                                             "being ignored");
  }
};

}  // namespace iommusim::its
