// RootPort implementation: per-TLP upstream forwarding, whole-transaction downstream forwarding.
#include "models/pcie/root_port.h"

#include <algorithm>

#include "models/common/sim_time.h"

namespace iommusim {

using sc_core::sc_time;

namespace {
// Narrows a payload to one TLP's slice and puts the original back on scope exit.
class Slice {
 public:
  explicit Slice(tlm::tlm_generic_payload& gp)
      : gp_(gp), addr_(gp.get_address()), data_(gp.get_data_ptr()), len_(gp.get_data_length()),
        sw_(gp.get_streaming_width()) {}
  ~Slice() {
    gp_.set_address(addr_);
    gp_.set_data_ptr(data_);
    gp_.set_data_length(len_);
    gp_.set_streaming_width(sw_);
  }
  void set(uint64_t off, uint32_t n) {
    gp_.set_address(addr_ + off);
    gp_.set_data_ptr(data_ + off);
    gp_.set_data_length(n);
    gp_.set_streaming_width(n);
  }
  uint64_t addr() const { return addr_; }
  unsigned len() const { return len_; }

 private:
  tlm::tlm_generic_payload& gp_;
  uint64_t addr_;
  unsigned char* data_;
  unsigned len_, sw_;
};

// Byte enables or a streaming width would not survive slicing: such transactions go whole.
bool splittable(const tlm::tlm_generic_payload& gp) {
  const unsigned sw = gp.get_streaming_width();
  return gp.get_byte_enable_ptr() == nullptr && (sw == 0 || sw >= gp.get_data_length());
}

sc_time rel(const sc_time& abs, const sc_time& now) { return abs > now ? abs - now : sc_core::SC_ZERO_TIME; }

// Forward one (sub)transaction arriving at absolute time t; returns its absolute completion time.
// `now` is the caller's sc_time_stamp(), refreshed after the call (saves kernel calls). Inlined:
// it runs once per TLP and the call would cost a good part of its body.
[[gnu::always_inline]] inline sc_time forward(tlm::tlm_fw_transport_if<>& out, tlm::tlm_generic_payload& gp,
                                              const sc_time& t, sc_time& now) {
  gp.set_response_status(tlm::TLM_INCOMPLETE_RESPONSE);
  sc_time d = rel(t, now);
  out.b_transport(gp, d);
  now = sim_now();  // the callee may have waited
  return now + d;
}
}  // namespace

RootPort::RootPort(sc_core::sc_module_name name, const RootPortParams& p)
    : sc_core::sc_module(name),
      from_device("from_device"),
      to_iommu("to_iommu"),
      from_host("from_host"),
      to_device("to_device"),
      p_(p),
      stats_(this->name()),
      link_(p.link, &stats_, "link"),
      rc_latency_(to_sc(p.rc_latency)),
      reads_(stats_.counter("reads", "device read transactions (before splitting into TLPs)")),
      writes_(stats_.counter("writes", "device write transactions (before splitting into TLPs)")),
      bytes_read_(stats_.counter("bytes_read", "bytes read by the device")),
      bytes_written_(stats_.counter("bytes_written", "bytes written by the device")),
      errors_(stats_.counter("errors", "transactions that returned an error response")),
      down_reads_(stats_.counter("down_reads", "host-to-device read transactions")),
      down_writes_(stats_.counter("down_writes", "host-to-device write/message transactions")),
      read_latency_(stats_.histogram("read_latency", "ns", "device read: issue to last completion")),
      write_latency_(stats_.histogram("write_latency", "ns", "device write: issue to landing at the target")) {
  from_device.register_b_transport(this, &RootPort::b_transport_up);
  from_device.register_transport_dbg(this, &RootPort::dbg_up);
  from_host.register_b_transport(this, &RootPort::b_transport_down);
  from_host.register_transport_dbg(this, &RootPort::dbg_down);
}

void RootPort::b_transport_up(tlm::tlm_generic_payload& gp, sc_time& delay) {
  sc_time now = sim_now();
  const sc_time t0 = now + delay;
  tlm::tlm_fw_transport_if<>& out = *to_iommu[0];
  const tlm::tlm_command cmd = gp.get_command();
  const uint32_t tlp = link_.tlp_overhead(), cpl = link_.cpl_overhead();
  sc_time done = t0;

  if (cmd == tlm::TLM_READ_COMMAND) {
    ++reads_;
    bytes_read_ += gp.get_data_length();
    const uint64_t a0 = gp.get_address();
    const unsigned len0 = gp.get_data_length();
    if (splittable(gp) && len0 != 0 && link_.request_chunk(a0, len0) == len0 &&
        link_.completion_chunk(a0, len0) == len0) {
      // The common small read: one request TLP, one completion; no slicing of the payload.
      const sc_time ready = forward(out, gp, link_.send(Dir::Up, t0, 0, tlp) + rc_latency_, now) + rc_latency_;
      done = link_.send(Dir::Down, ready, gp.is_response_ok() ? len0 : 0, cpl);
    } else if (splittable(gp)) {
      Slice s(gp);
      const unsigned len = s.len();
      uint64_t off = 0;
      do {
        const uint32_t n = link_.request_chunk(s.addr() + off, len - off);
        const sc_time at_rc = link_.send(Dir::Up, t0, 0, tlp) + rc_latency_;
        s.set(off, n);
        const sc_time ready = forward(out, gp, at_rc, now) + rc_latency_;
        if (!gp.is_response_ok()) {  // one completion carrying the error status
          done = std::max(done, link_.send(Dir::Down, ready, 0, cpl));
          break;
        }
        uint32_t c = 0;
        do {  // a zero-length read still gets one completion
          const uint32_t k = link_.completion_chunk(s.addr() + off + c, n - c);
          done = std::max(done, link_.send(Dir::Down, ready, k, cpl));
          c += k;
        } while (c < n);
        off += n;
      } while (off < len);
    } else {
      const uint64_t a = gp.get_address();
      const unsigned len = gp.get_data_length();
      const sc_time ready = forward(out, gp, link_.read_request(t0, a, len) + rc_latency_, now) + rc_latency_;
      done = gp.is_response_ok() ? link_.read_completions(ready, a, len) : link_.send(Dir::Down, ready, 0, cpl);
    }
    read_latency_.record((done - t0).value() / 1000);
  } else if (cmd == tlm::TLM_WRITE_COMMAND) {
    ++writes_;
    bytes_written_ += gp.get_data_length();
    if (splittable(gp)) {
      Slice s(gp);
      const unsigned len = s.len();
      uint64_t off = 0;
      do {
        const uint32_t n = link_.write_chunk(s.addr() + off, len - off);
        const sc_time at_rc = link_.send(Dir::Up, t0, n, tlp) + rc_latency_;
        s.set(off, n);
        done = std::max(done, forward(out, gp, at_rc, now));
        if (!gp.is_response_ok()) break;
        off += n;
      } while (off < len);
    } else {
      const sc_time at_rc = link_.mem_write(t0, gp.get_address(), gp.get_data_length()) + rc_latency_;
      done = forward(out, gp, at_rc, now);
    }
    write_latency_.record((done - t0).value() / 1000);
  } else {
    // TLM_IGNORE_COMMAND carries no TLP: pass it through untimed.
    done = forward(out, gp, t0, now);
  }
  if (!gp.is_response_ok()) ++errors_;
  gp.set_dmi_allowed(false);  // DMI past the port would bypass the link and the IOMMU
  delay = rel(done, now);
}

void RootPort::b_transport_down(tlm::tlm_generic_payload& gp, sc_time& delay) {
  sc_time now = sim_now();
  const sc_time t0 = now + delay;
  if (to_device.size() == 0) {
    gp.set_response_status(tlm::TLM_ADDRESS_ERROR_RESPONSE);
    ++errors_;
    return;
  }
  tlm::tlm_fw_transport_if<>& out = *to_device[0];
  const uint64_t a = gp.get_address();
  const unsigned len = gp.get_data_length();
  const sc_time at_link = t0 + rc_latency_;
  sc_time done;
  if (gp.get_command() == tlm::TLM_READ_COMMAND) {
    ++down_reads_;
    const sc_time m = forward(out, gp, link_.read_request(at_link, a, len, Dir::Down), now);
    done = (gp.is_response_ok() ? link_.read_completions(m, a, len, Dir::Up)
                                : link_.send(Dir::Up, m, 0, link_.cpl_overhead())) +
           rc_latency_;
  } else if (gp.get_command() == tlm::TLM_WRITE_COMMAND) {
    ++down_writes_;
    done = forward(out, gp, link_.mem_write(at_link, a, len, Dir::Down), now);
  } else {
    done = forward(out, gp, t0, now);
  }
  if (!gp.is_response_ok()) ++errors_;
  gp.set_dmi_allowed(false);
  delay = rel(done, now);
}

unsigned int RootPort::dbg_up(tlm::tlm_generic_payload& gp) { return to_iommu->transport_dbg(gp); }

unsigned int RootPort::dbg_down(tlm::tlm_generic_payload& gp) {
  if (to_device.size() == 0) {
    gp.set_response_status(tlm::TLM_ADDRESS_ERROR_RESPONSE);
    return 0;
  }
  return to_device->transport_dbg(gp);
}

}  // namespace iommusim
