// SystemBus: the physical address map behind the IOMMUs. Their output (translated DMA, table walks,
// queue traffic, remapped interrupts) goes to DRAM unless the address falls in a mapped window of
// another target: the x86 interrupt window of the CPU interrupt model, an ITS's translation frame.
//
// What it models: address decoding only, at no cost (the targets charge their own time); addresses
// reach the targets unchanged (absolute). Windows must not overlap (checked when added).
// What it does NOT model: interconnect latency or bandwidth (DRAM's channel is the memory model's),
// ordering between targets, DMI (nothing downstream of an IOMMU grants it).
#pragma once
#include <systemc>
#include <tlm>
#include <tlm_utils/multi_passthrough_initiator_socket.h>
#include <tlm_utils/multi_passthrough_target_socket.h>

#include <cstdint>
#include <string>
#include <vector>

namespace iommusim {

class SystemBus : public sc_core::sc_module {
 public:
  tlm_utils::multi_passthrough_target_socket<SystemBus> in;
  // out[0] is DRAM (everything not in a window); out[i] for the i-th window added, in bind order.
  tlm_utils::multi_passthrough_initiator_socket<SystemBus> out;

  explicit SystemBus(sc_core::sc_module_name name);
  // Routes [base, base + size) to the next binding of `out` (the caller binds it right after).
  // Throws std::invalid_argument naming both windows when it overlaps another.
  void add_window(const std::string& target, uint64_t base, uint64_t size);

 private:
  struct Window {
    std::string target;
    uint64_t base, size;
    unsigned port;
  };
  unsigned route(uint64_t a) const {
    for (const Window& w : windows_)
      if (a - w.base < w.size) return w.port;
    return 0;
  }
  void b_transport(int id, tlm::tlm_generic_payload& gp, sc_core::sc_time& delay);
  unsigned transport_dbg(int id, tlm::tlm_generic_payload& gp);

  std::vector<Window> windows_;
};

}  // namespace iommusim
