// A DMA job as the host hands it to an endpoint's DMA engine (the descriptor a driver writes).
#pragma once
#include <cstdint>

namespace iommusim {

enum class DmaPattern : uint8_t { Sequential = 0, Random = 1, Strided = 2 };

struct DmaJob {
  uint64_t iova = 0;      // start of the buffer the device may touch
  uint64_t window = 0;    // bytes of the buffer the pattern walks over
  uint32_t size = 64;     // bytes per request (split so no request crosses 4 KiB)
  DmaPattern pattern = DmaPattern::Sequential;
  uint64_t stride = 4096; // Strided: distance between consecutive requests
  double read_fraction = 1.0;
  uint64_t count = 0;     // requests to issue
  uint32_t pasid = 0;
  bool pasid_valid = false;
  uint64_t tag = 0;       // echoed in completion records
  bool msi = false;       // signal completion with MSI-X vector msi_vector
  uint16_t msi_vector = 0;
};

// What the device reports for its last completed job (a read of its BAR at kJobResultOffset).
struct JobResult {
  uint64_t tag = 0;
  uint64_t requests = 0, faults = 0, bytes = 0;
  uint64_t start_ps = 0, end_ps = 0;  // first issue, last completion
  uint64_t lat_mean_ps = 0, lat_p50_ps = 0, lat_p99_ps = 0, lat_max_ps = 0;
};
inline constexpr uint64_t kJobDoorbellOffset = 0x0;
inline constexpr uint64_t kJobResultOffset = 0x100;
// The ATS Control register (2 bytes, as in the PCIe ATS capability): Enable bit 15, Smallest
// Translation Unit bits 4:0 (2^STU 4 KiB pages). Writes are ignored when the device has no ATS.
inline constexpr uint64_t kAtsControlOffset = 0x200;
inline constexpr uint16_t kAtsControlEnable = 1u << 15;
inline constexpr uint16_t kAtsControlStuMask = 0x1F;
// The PRI capability (PCIe "Page Request Interface"): Control (2 bytes: Enable bit 0, Reset bit 1),
// Status (2 bytes, read-only but for write-1-to-clear RF/UPRGI: Response Failure bit 0, Unexpected
// PRG Index bit 1, Stopped bit 8, PRG Response PASID Required bit 15), Outstanding Page Request
// Capacity (4 bytes, read-only) and Allocation (4 bytes). Absent (writes ignored, reads 0) without PRI.
inline constexpr uint64_t kPriControlOffset = 0x210;
inline constexpr uint64_t kPriStatusOffset = 0x212;
inline constexpr uint64_t kPriCapacityOffset = 0x214;
inline constexpr uint64_t kPriAllocOffset = 0x218;
inline constexpr uint16_t kPriControlEnable = 1u << 0, kPriControlReset = 1u << 1;
inline constexpr uint16_t kPriStatusRf = 1u << 0, kPriStatusUprgi = 1u << 1, kPriStatusStopped = 1u << 8,
                          kPriStatusPasidRequired = 1u << 15;
// The PASID capability: Capability (2 bytes, read-only: Execute Permission Supported bit 1,
// Privileged Mode Supported bit 2, Max PASID Width bits 12:8) and Control (2 bytes: Enable bit 0,
// Execute Permission Enable bit 1, Privileged Mode Enable bit 2). Absent without PASID support.
inline constexpr uint64_t kPasidCapOffset = 0x220;
inline constexpr uint64_t kPasidControlOffset = 0x222;
inline constexpr uint16_t kPasidControlEnable = 1u << 0;

// The MSI-X capability and its table (PCIe "MSI-X Capability and Table Structure"; the capability
// sits in configuration space on real devices, which is not modelled, so it is reached through the
// BAR here). Message Control (2 bytes): Table Size [10:0] (vectors - 1, read-only), Function Mask
// bit 14, MSI-X Enable bit 15. The table (16 bytes per vector: Message Address [31:0], Message Upper
// Address, Message Data, Vector Control with Mask bit 0, masked at reset) and the Pending Bit Array
// (read-only, one bit per vector) live in the BAR. kMsixTriggerOffset (4 bytes, write-only) stands
// for a device-internal event source: writing n raises vector n.
inline constexpr uint64_t kMsixControlOffset = 0x230;
inline constexpr uint64_t kMsixTriggerOffset = 0x234;
inline constexpr uint64_t kMsixTableOffset = 0x1000;
inline constexpr uint64_t kMsixPbaOffset = 0x1800;
inline constexpr unsigned kMsixMaxVectors = 128;  // the table fills [0x1000, 0x1800)
inline constexpr uint16_t kMsixControlEnable = 1u << 15, kMsixControlFunctionMask = 1u << 14;
inline constexpr uint32_t kMsixVectorMasked = 1u << 0;

// One completed request, for scoreboards and tests.
struct DmaRecord {
  uint64_t iova;
  uint32_t size;
  bool write;
  bool ok;
  uint64_t issue_ps, done_ps;
  uint64_t job_tag;
  bool translated = false;  // sent with AT=Translated (an address from the device's ATC)
  // When the memory request itself left the device: issue_ps plus device latency, and with ATS the
  // ATC lookup and any Translation Request (and page request) round trip before it. For a failed
  // request: when it failed (done_ps).
  uint64_t sent_ps = 0;
};

}  // namespace iommusim
