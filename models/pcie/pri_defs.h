// PCIe Page Request Interface (PCIe Base spec, "PRI"): the message formats between a device and
// the IOMMU's page request queue.
//
// On the TLM side both messages are 8-byte writes with PcieExt::msg set: a Page Request goes
// upstream (rid = the requester, pasid prefix), a PRG Response goes downstream (rid = the
// destination device, itag_or_prg = the group index, resp_code = the response code).
#pragma once
#include <cstdint>

namespace iommusim::pri {

inline constexpr unsigned kPrgIndexBits = 9;  // 512 page request groups per function

// PRG Response codes.
enum class Response : uint8_t { Success = 0x0, InvalidRequest = 0x1, ResponseFailure = 0xF };

// Page Request message body (bytes 8-15 of the TLP): Page Address [63:12], PRG Index [11:3],
// Last [2], Write Access Requested [1], Read Access Requested [0]. A Stop Marker is a request with
// Last set and neither R nor W.
struct PageRequest {
  uint64_t addr = 0;      // page address
  uint16_t prg_index = 0;
  bool last = false, write = false, read = false;
  bool stop_marker() const { return last && !read && !write; }
};

inline uint64_t encode(const PageRequest& r) {
  return (r.addr & ~uint64_t{0xFFF}) | (uint64_t{r.prg_index & 0x1FFu} << 3) | (r.last ? 4u : 0u) |
         (r.write ? 2u : 0u) | (r.read ? 1u : 0u);
}

inline PageRequest decode_page_request(uint64_t v) {
  PageRequest r;
  r.addr = v & ~uint64_t{0xFFF};
  r.prg_index = static_cast<uint16_t>((v >> 3) & 0x1FF);
  r.last = v & 4;
  r.write = v & 2;
  r.read = v & 1;
  return r;
}

}  // namespace iommusim::pri
