// The MMIO access pattern of 32-bit register files (SMMUv3, ITS): 4- or 8-byte aligned accesses in
// [0, space), an 8-byte access being two 32-bit registers (low first); anything else is an address
// error. `read(off)` returns one 32-bit register; `write(off, v, len, delay)` takes the whole access.
#pragma once
#include <tlm>

#include <cstdint>
#include <cstring>

namespace iommusim {

template <class Read, class Write>
void reg32_transport(tlm::tlm_generic_payload& gp, sc_core::sc_time& delay, const sc_core::sc_time& latency,
                     uint64_t space, Read&& read, Write&& write) {
  const uint64_t addr = gp.get_address();
  const unsigned len = gp.get_data_length();
  delay += latency;
  if ((len != 4 && len != 8) || addr % len != 0 || addr >= space) {
    gp.set_response_status(tlm::TLM_ADDRESS_ERROR_RESPONSE);
    return;
  }
  const uint32_t off = static_cast<uint32_t>(addr);
  if (gp.is_read()) {
    uint64_t v = read(off);
    if (len == 8) v |= uint64_t{read(off + 4)} << 32;
    std::memcpy(gp.get_data_ptr(), &v, len);
  } else {
    uint64_t v = 0;
    std::memcpy(&v, gp.get_data_ptr(), len);
    write(off, v, len, delay);
  }
  gp.set_response_status(tlm::TLM_OK_RESPONSE);
}

}  // namespace iommusim
