// Conversions between parameter times (integer ps) and SystemC time, and small time helpers.
#pragma once
#include <systemc>

#include "models/common/params.h"

namespace iommusim {

// The kernel's resolution is left at its 1 ps default; ps values map 1:1.
inline sc_core::sc_time to_sc(Time t) { return sc_core::sc_time::from_value(t.ps); }
inline uint64_t to_ps(const sc_core::sc_time& t) { return t.value(); }
inline double to_ns(const sc_core::sc_time& t) { return static_cast<double>(t.value()) / 1000.0; }

}  // namespace iommusim
