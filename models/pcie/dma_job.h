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
  // ATC lookup and any Translation Request round trip before it.
  uint64_t sent_ps = 0;
};

}  // namespace iommusim
