// Link implementation: generation rates, parameter checks, multi-TLP helpers and statistics.
#include "models/pcie/link.h"

#include <stdexcept>
#include <string>

#include "models/common/sim_time.h"

namespace iommusim {
namespace {
bool pow2(uint64_t v) { return v && (v & (v - 1)) == 0; }
}  // namespace

const char* LinkParams::validate() const {
  if (gen < 1 || gen > 6) return "gen must be 1..6";
  if (!pow2(width) || width > 32) return "width must be 1, 2, 4, 8, 16 or 32";
  if (!pow2(max_payload) || max_payload < 128 || max_payload > 4096)
    return "max_payload must be a power of two in 128..4096";
  if (!pow2(max_read_request) || max_read_request < 128 || max_read_request > 4096)
    return "max_read_request must be a power of two in 128..4096";
  if (read_completion_boundary != 64 && read_completion_boundary != 128)
    return "read_completion_boundary must be 64 or 128";
  if (!(dllp_overhead >= 0.0 && dllp_overhead < 1.0)) return "dllp_overhead must be in [0, 1)";
  return nullptr;
}

double Link::lane_rate(uint64_t gen) {
  switch (gen) {
    case 1: return 2.5e9;
    case 2: return 5e9;
    case 3: return 8e9;
    case 4: return 16e9;
    case 5: return 32e9;
    default: return 64e9;
  }
}

double Link::encoding(uint64_t gen) {
  if (gen <= 2) return 8.0 / 10.0;
  if (gen <= 5) return 128.0 / 130.0;
  // Gen6 FLIT mode: of each 256 B flit, 236 B TLP + 6 B DLP remain after CRC and FEC.
  return 242.0 / 256.0;
}

Link::Link(const LinkParams& p, StatGroup* parent, const char* name)
    : p_(p),
      raw_(lane_rate(p.gen) * static_cast<double>(p.width) * encoding(p.gen) / 8.0),
      ps_per_byte_(1e12 / (raw_ * (1.0 - p.dllp_overhead))),
      one_ps_(sc_core::sc_time::from_value(1)),
      latency_(to_sc(p.latency)),
      tlp_ovh_(static_cast<uint32_t>(p.tlp_overhead)),
      cpl_ovh_(static_cast<uint32_t>(p.cpl_overhead)),
      mps_(static_cast<uint32_t>(p.max_payload)),
      mrrs_(static_cast<uint32_t>(p.max_read_request)),
      rcb_(static_cast<uint32_t>(p.read_completion_boundary)),
      stats_(name, parent) {
  if (const char* why = p.validate()) throw std::invalid_argument(std::string("PCIe link: ") + why);
  static const char* const kDir[2] = {"up", "down"};
  for (int d = 0; d < 2; ++d) {
    const std::string sfx = std::string("_") + kDir[d];
    Side& s = side_[d];
    s.tlps = &stats_.counter("tlps" + sfx, std::string("TLPs sent ") + kDir[d] + "stream");
    s.payload = &stats_.counter("bytes" + sfx, std::string("data payload bytes sent ") + kDir[d] + "stream");
    s.wire = &stats_.counter("wire_bytes" + sfx, "payload plus per-TLP overhead bytes");
    stats_.derived("busy_ns" + sfx, "time the direction was serialising TLPs",
                   [&s] { return to_ns(s.occ.busy_time()); });
    stats_.derived("wait_ns" + sfx, "total time TLPs waited for the busy direction",
                   [&s] { return to_ns(s.occ.wait_time()); });
    stats_.derived("utilisation" + sfx, "busy time / simulated time", [&s] {
      const double now = to_ns(sc_core::sc_time_stamp());
      return now > 0 ? to_ns(s.occ.busy_time()) / now : 0.0;
    });
  }
}

sc_core::sc_time Link::mem_write(const sc_core::sc_time& arrival, uint64_t addr, uint64_t len, Dir d) {
  sc_core::sc_time last = send(d, arrival, write_chunk(addr, len), tlp_ovh_);
  for (uint64_t off = write_chunk(addr, len); off < len;) {
    const uint32_t n = write_chunk(addr + off, len - off);
    last = send(d, arrival, n, tlp_ovh_);
    off += n;
  }
  return last;
}

sc_core::sc_time Link::read_request(const sc_core::sc_time& arrival, uint64_t addr, uint64_t len, Dir d) {
  sc_core::sc_time last = send(d, arrival, 0, tlp_ovh_);
  for (uint64_t off = request_chunk(addr, len); off < len;) {
    last = send(d, arrival, 0, tlp_ovh_);
    off += request_chunk(addr + off, len - off);
  }
  return last;
}

sc_core::sc_time Link::read_completions(const sc_core::sc_time& ready, uint64_t addr, uint64_t len, Dir d) {
  sc_core::sc_time last = send(d, ready, completion_chunk(addr, len), cpl_ovh_);
  for (uint64_t off = completion_chunk(addr, len); off < len;) {
    const uint32_t n = completion_chunk(addr + off, len - off);
    last = send(d, ready, n, cpl_ovh_);
    off += n;
  }
  return last;
}

}  // namespace iommusim
