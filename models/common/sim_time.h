// Conversions between parameter times (integer ps) and SystemC time, and small time helpers.
#pragma once
#include <systemc>

#include "models/common/params.h"

namespace iommusim {

// The kernel's resolution is left at its 1 ps default; ps values map 1:1.
inline sc_core::sc_time to_sc(Time t) { return sc_core::sc_time::from_value(t.ps); }
inline uint64_t to_ps(const sc_core::sc_time& t) { return t.value(); }
inline double to_ns(const sc_core::sc_time& t) { return static_cast<double>(t.value()) / 1000.0; }

// The kernel's current time, inlined: sc_time_stamp() is an out-of-line library call, and the
// DMA hot path asks for the time in every module it crosses.
inline const sc_core::sc_time& sim_now() { return sc_core::sc_get_curr_simcontext()->time_stamp(); }

}  // namespace iommusim
