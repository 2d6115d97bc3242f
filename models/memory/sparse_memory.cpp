// SparseMemory implementation: page storage, timed/debug/DMI access and the backdoor.
#include "models/memory/sparse_memory.h"

#include <algorithm>
#include <cstring>
#include <stdexcept>
#include <string>

#include "models/common/sim_time.h"

namespace iommusim {

SparseMemory::SparseMemory(sc_core::sc_module_name name, const SparseMemoryParams& p)
    : sc_core::sc_module(name),
      socket("socket"),
      p_(p),
      ps_per_byte_(1e12 / (p.bandwidth_gbps * 1e9)),
      one_ps_(sc_core::sc_time::from_value(1)),
      latency_(to_sc(p.latency)),
      dmi_latency_per_byte_(sc_core::sc_time::from_value(static_cast<uint64_t>(ps_per_byte_ + 0.5))),
      stats_(this->name()),
      reads_(stats_.counter("reads", "timed read transactions")),
      writes_(stats_.counter("writes", "timed write transactions")),
      bytes_read_(stats_.counter("bytes_read", "bytes read by timed transactions")),
      bytes_written_(stats_.counter("bytes_written", "bytes written by timed transactions")),
      errors_(stats_.counter("errors", "transactions answered with an error response")),
      dbg_accesses_(stats_.counter("dbg_accesses", "untimed debug transactions")),
      dmi_grants_(stats_.counter("dmi_grants", "DMI pages granted")) {
  if (!(p.bandwidth_gbps > 0.0)) throw std::invalid_argument(std::string(this->name()) + ": bandwidth must be > 0");
  socket.register_b_transport(this, &SparseMemory::b_transport);
  socket.register_transport_dbg(this, &SparseMemory::transport_dbg);
  socket.register_get_direct_mem_ptr(this, &SparseMemory::get_direct_mem_ptr);
  stats_.derived("pages_touched", "4 KiB pages allocated (written at least once)",
                 [this] { return static_cast<double>(pages_.size()); });
  stats_.derived("busy_ns", "time the data channel was transferring",
                 [this] { return to_ns(channel_.busy_time()); });
  stats_.derived("wait_ns", "total time requests waited for the busy channel",
                 [this] { return to_ns(channel_.wait_time()); });
}

uint8_t* SparseMemory::find_page(uint64_t pn) {
  if (pn == cached_pn_) return cached_page_;
  auto it = pages_.find(pn);
  cached_pn_ = pn;  // misses are cached too (as nullptr): touch_page replaces them
  cached_page_ = it == pages_.end() ? nullptr : it->second.get();
  return cached_page_;
}

uint8_t* SparseMemory::touch_page(uint64_t pn) {
  if (pn == cached_pn_ && cached_page_) return cached_page_;
  auto& slot = pages_[pn];
  if (!slot) slot.reset(new uint8_t[kPageSize]());  // value-initialised: zero fill
  cached_pn_ = pn;
  cached_page_ = slot.get();
  return cached_page_;
}

void SparseMemory::copy_out(uint64_t addr, uint8_t* dst, size_t len) {
  while (len) {
    const uint64_t off = addr & (kPageSize - 1);
    const size_t n = std::min<uint64_t>(len, kPageSize - off);
    if (const uint8_t* pg = find_page(addr >> kPageShift))
      std::memcpy(dst, pg + off, n);
    else
      std::memset(dst, 0, n);
    addr += n;
    dst += n;
    len -= n;
  }
}

void SparseMemory::copy_in(uint64_t addr, const uint8_t* src, size_t len) {
  while (len) {
    const uint64_t off = addr & (kPageSize - 1);
    const size_t n = std::min<uint64_t>(len, kPageSize - off);
    std::memcpy(touch_page(addr >> kPageShift) + off, src, n);
    addr += n;
    src += n;
    len -= n;
  }
}

tlm::tlm_response_status SparseMemory::access(tlm::tlm_generic_payload& gp) {
  const tlm::tlm_command cmd = gp.get_command();
  if (cmd == tlm::TLM_IGNORE_COMMAND) return tlm::TLM_OK_RESPONSE;
  const uint64_t addr = gp.get_address();
  const unsigned len = gp.get_data_length();
  uint8_t* data = gp.get_data_ptr();
  const unsigned sw = gp.get_streaming_width();
  if (!in_range(addr, len)) return tlm::TLM_ADDRESS_ERROR_RESPONSE;
  // Streaming (FIFO-style) bursts make no sense for memory; 0 means "not set" (pooled payloads).
  if (sw != 0 && sw < len) return tlm::TLM_BURST_ERROR_RESPONSE;
  const uint8_t* be = gp.get_byte_enable_ptr();
  const unsigned be_len = gp.get_byte_enable_length();
  if (be && be_len) {
    // Rare path: byte by byte, only enabled bytes move.
    for (unsigned i = 0; i < len; ++i) {
      if (be[i % be_len] == TLM_BYTE_DISABLED) continue;
      if (cmd == tlm::TLM_READ_COMMAND)
        copy_out(addr + i, data + i, 1);
      else
        copy_in(addr + i, data + i, 1);
    }
  } else if (cmd == tlm::TLM_READ_COMMAND) {
    copy_out(addr, data, len);
  } else {
    copy_in(addr, data, len);
  }
  return tlm::TLM_OK_RESPONSE;
}

void SparseMemory::b_transport(int, tlm::tlm_generic_payload& gp, sc_core::sc_time& delay) {
  const tlm::tlm_command cmd = gp.get_command();
  const uint64_t addr = gp.get_address();
  const unsigned len = gp.get_data_length();
  const uint64_t off = addr & (kPageSize - 1);
  const unsigned sw = gp.get_streaming_width();
  if ((cmd == tlm::TLM_READ_COMMAND || cmd == tlm::TLM_WRITE_COMMAND) && len != 0 && len <= kPageSize - off &&
      (sw == 0 || sw >= len) && gp.get_byte_enable_ptr() == nullptr && in_range(addr, len)) {
    // The common DMA or table access: within one page, no byte enables. What access() would do,
    // without its general loop.
    uint8_t* data = gp.get_data_ptr();
    if (cmd == tlm::TLM_READ_COMMAND) {
      if (const uint8_t* pg = find_page(addr >> kPageShift))
        std::memcpy(data, pg + off, len);
      else
        std::memset(data, 0, len);
      ++reads_;
      bytes_read_ += len;
    } else {
      std::memcpy(touch_page(addr >> kPageShift) + off, data, len);
      ++writes_;
      bytes_written_ += len;
    }
    gp.set_response_status(tlm::TLM_OK_RESPONSE);
  } else {
    const tlm::tlm_response_status st = access(gp);
    gp.set_response_status(st);
    if (st != tlm::TLM_OK_RESPONSE) {
      ++errors_;
      return;  // rejected at decode: no channel time
    }
    if (cmd == tlm::TLM_READ_COMMAND) {
      ++reads_;
      bytes_read_ += len;
    } else if (cmd == tlm::TLM_WRITE_COMMAND) {
      ++writes_;
      bytes_written_ += len;
    }
  }
  const sc_core::sc_time now = sim_now();
  if (len != xfer_len_) {  // one-entry memo: a burst's transfer time depends only on its length
    xfer_len_ = len;
    xfer_ = one_ps_ * (static_cast<double>(len) * ps_per_byte_);  // rounds to nearest ps
  }
  const sc_core::sc_time xfer = xfer_;
  const sc_core::sc_time start = channel_.reserve(now + delay, xfer);
  delay = start + xfer + latency_ - now;
  gp.set_dmi_allowed(true);
}

unsigned int SparseMemory::transport_dbg(int, tlm::tlm_generic_payload& gp) {
  ++dbg_accesses_;
  const tlm::tlm_response_status st = access(gp);
  gp.set_response_status(st);
  return st == tlm::TLM_OK_RESPONSE && gp.get_command() != tlm::TLM_IGNORE_COMMAND ? gp.get_data_length() : 0;
}

bool SparseMemory::get_direct_mem_ptr(int, tlm::tlm_generic_payload& gp, tlm::tlm_dmi& dmi) {
  const uint64_t addr = gp.get_address();
  if (addr >= p_.size) {
    dmi.set_start_address(addr);
    dmi.set_end_address(addr);
    dmi.allow_none();
    return false;
  }
  const uint64_t base = addr & ~(kPageSize - 1);
  dmi.set_dmi_ptr(touch_page(addr >> kPageShift));
  dmi.set_start_address(base);
  dmi.set_end_address(base + kPageSize - 1);
  dmi.allow_read_write();
  dmi.set_read_latency(dmi_latency_per_byte_);
  dmi.set_write_latency(dmi_latency_per_byte_);
  ++dmi_grants_;
  return true;
}

void SparseMemory::read(uint64_t addr, void* dst, size_t len) {
  if (!in_range(addr, len)) throw std::out_of_range(std::string(name()) + ": backdoor read out of range");
  copy_out(addr, static_cast<uint8_t*>(dst), len);
}

void SparseMemory::write(uint64_t addr, const void* src, size_t len) {
  if (!in_range(addr, len)) throw std::out_of_range(std::string(name()) + ": backdoor write out of range");
  copy_in(addr, static_cast<const uint8_t*>(src), len);
}

uint64_t SparseMemory::read64(uint64_t addr) {
  uint8_t b[8];
  read(addr, b, 8);
  uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = (v << 8) | b[i];
  return v;
}

void SparseMemory::write64(uint64_t addr, uint64_t v) {
  uint8_t b[8];
  for (int i = 0; i < 8; ++i) b[i] = static_cast<uint8_t>(v >> (8 * i));
  write(addr, b, 8);
}

}  // namespace iommusim
