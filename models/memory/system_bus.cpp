#include "models/memory/system_bus.h"

#include <cstdio>
#include <stdexcept>

namespace iommusim {

SystemBus::SystemBus(sc_core::sc_module_name name) : sc_core::sc_module(name), in("in"), out("out") {
  in.register_b_transport(this, &SystemBus::b_transport);
  in.register_transport_dbg(this, &SystemBus::transport_dbg);
}

void SystemBus::add_window(const std::string& target, uint64_t base, uint64_t size) {
  for (const Window& w : windows_)
    if (base < w.base + w.size && w.base < base + size) {
      char b[96];
      std::snprintf(b, sizeof b, " window [%#llx, %#llx) overlaps ", static_cast<unsigned long long>(base),
                    static_cast<unsigned long long>(base + size));
      throw std::invalid_argument(target + b + w.target + "'s");
    }
  windows_.push_back({target, base, size, static_cast<unsigned>(windows_.size() + 1)});
}

void SystemBus::b_transport(int /*id*/, tlm::tlm_generic_payload& gp, sc_core::sc_time& delay) {
  out[route(gp.get_address())]->b_transport(gp, delay);
}

unsigned SystemBus::transport_dbg(int /*id*/, tlm::tlm_generic_payload& gp) {
  return out[route(gp.get_address())]->transport_dbg(gp);
}

}  // namespace iommusim
