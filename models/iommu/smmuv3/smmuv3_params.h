// Parameters of the SMMUv3 model: ID-register features, caches, walkers and command timing.
#pragma once
#include "models/common/params.h"
#include "models/iommu/core/ats_port.h"
#include "models/iommu/core/cache_params.h"
#include "models/iommu/core/translation_core.h"

namespace iommusim::smmuv3 {

struct SmmuV3Params {
  TranslationCoreParams core;      // iotlb, walk_cache, walkers, tlb_latency, walk_read_latency
  CacheParams config_cache{64, 0};  // decoded STE+CD per (StreamID, SubstreamID)
  // Features reported in IDR0/1/3/5 (the host driver reads them, as Linux does).
  uint64_t sid_bits = 16;
  uint64_t ssid_bits = 20;
  uint64_t oas_bits = 48;
  bool stage1 = true;
  bool stage2 = true;
  bool two_level_strtab = true;
  bool range_invalidation = true;  // IDR3.RIL
  bool coherent = true;            // IDR0.COHACC
  bool sev = true;                 // IDR0.SEV: CMD_SYNC can wake a waiting CPU
  bool ats = false;                // IDR0.ATS: Translation Requests, translated transactions, ATC_INV
  AtsPortParams ats_port;          // the ATS invalidation agent
  bool stall = false;              // IDR0.STALL_MODEL 0b00: faulting transactions can stall (CD.S)
  uint64_t max_stalls = 64;        // IDR5.STALL_MAX: transactions held stalled at once
  uint64_t cmdq_max_log2 = 19;     // IDR1.CMDQS
  uint64_t eventq_max_log2 = 19;   // IDR1.EVENTQS
  // IDR0.PRI: PCIe page requests into the PRI queue, CMD_PRI_RESP (needs ats). Off by default: Linux
  // does not use it (R3.1) and existing configs stay as they were.
  bool pri = false;
  uint64_t priq_max_log2 = 19;     // IDR1.PRIQS: the architectural maximum of 2^19 entries
  // Accepting a page request before its PRI queue entry is written. No published figure; the same
  // as the VT-d and AMD-Vi models' page request acceptance (20 ns).
  Time priq_latency = Time::ns(20);
  // The DeviceID the SMMU's own MSIs carry to the ITS (an IORT mapping on real systems; here one
  // 16-bit ID outside the platforms' PCIe RIDs).
  uint64_t msi_device_id = 0xFFFF;
  // Timing. CMD_SYNC on an empty queue measures 240-250 ns on Kunpeng 920 (timing-anchors.md);
  // the defaults below plus the memory latency of the fetch and the host's MMIO reach that.
  Time mmio_latency = Time::ns(40);  // register access, each way folded into one figure
  Time cfgi_latency = Time::ns(20);
  Time tlbi_latency = Time::ns(30);
  Time sync_latency = Time::ns(20);
  Time other_cmd_latency = Time::ns(10);
  uint64_t cmd_fetch_batch = 4;      // commands fetched per queue read (one 64 B line)
  // An emulated (virtual) SMMU: the hypervisor traps the doorbell and replays each command on the
  // host. 0 models hardware. No published per-command figure; timing-anchors.md reports ~80% loss
  // for an emulated vIOMMU in strict mode, which trap costs of a few microseconds reproduce.
  Time trap_per_command = Time::ns(0);
  Time trap_per_sync = Time::ns(0);

  void visit(ParamVisitor& v) {
    core.visit(v);
    v.group("config_cache", config_cache, "configuration cache of decoded STE + CD");
    v.count("sid_bits", sid_bits, "StreamID width (IDR1.SIDSIZE)", 0, 32);
    v.count("ssid_bits", ssid_bits, "SubstreamID width (IDR1.SSIDSIZE)", 0, 20);
    v.count("oas_bits", oas_bits, "output address size (IDR5.OAS)", 32, 48);
    v.flag("stage1", stage1, "stage-1 translation supported (IDR0.S1P)");
    v.flag("stage2", stage2, "stage-2 translation supported (IDR0.S2P)");
    v.flag("two_level_strtab", two_level_strtab, "2-level stream table supported (IDR0.ST_LEVEL)");
    v.flag("range_invalidation", range_invalidation, "TLBI by range supported (IDR3.RIL)");
    v.flag("coherent", coherent, "coherent table walks and queue accesses (IDR0.COHACC)");
    v.flag("sev", sev, "CMD_SYNC can send an event to waiting CPUs (IDR0.SEV)");
    v.flag("ats", ats, "ATS supported (IDR0.ATS)");
    v.group("ats_port", ats_port, "ATS invalidation agent (Invalidate Requests sent by CMD_ATC_INV)");
    v.flag("stall", stall, "stall model supported (IDR0.STALL_MODEL 0b00): CD.S stalls faulting transactions");
    v.count("max_stalls", max_stalls, "transactions that can be stalled at once (IDR5.STALL_MAX); no published figure", 1, 65535);
    v.count("cmdq_max_log2", cmdq_max_log2, "largest command queue, log2 entries (IDR1.CMDQS)", 1, 19);
    v.count("eventq_max_log2", eventq_max_log2, "largest event queue, log2 entries (IDR1.EVENTQS)", 1, 19);
    v.flag("pri", pri, "PRI supported (IDR0.PRI): page requests written to the PRI queue, CMD_PRI_RESP sends PRG "
                       "Responses (needs ats)");
    v.count("priq_max_log2", priq_max_log2, "largest PRI queue, log2 entries (IDR1.PRIQS)", 1, 19);
    v.time("priq_latency", priq_latency, "time to accept a page request before its PRI queue entry is written");
    v.count("msi_device_id", msi_device_id, "DeviceID of the SMMU's own MSIs (event queue interrupt) at the ITS", 0,
            0xFFFF);
    v.time("mmio_latency", mmio_latency, "latency of a register access from the CPU");
    v.time("cfgi_latency", cfgi_latency, "execution time of a CFGI_* command");
    v.time("tlbi_latency", tlbi_latency, "execution time of a TLBI_* command");
    v.time("sync_latency", sync_latency, "execution time of a CMD_SYNC once all before it completed");
    v.time("other_cmd_latency", other_cmd_latency, "execution time of any other command");
    v.count("cmd_fetch_batch", cmd_fetch_batch, "commands fetched from the queue per memory read", 1, 64);
    v.time("trap_per_command", trap_per_command, "emulated SMMU: hypervisor cost added to every command");
    v.time("trap_per_sync", trap_per_sync, "emulated SMMU: hypervisor cost added to every CMD_SYNC");
  }
};

}  // namespace iommusim::smmuv3
