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
// DMA hot path asks for the time in every module it crosses. The context exists once any module
// does; sc_get_curr_simcontext() (which creates it) stays as the cold fallback, because GCC
// declines to inline it and a call per query costs more than the query.
inline const sc_core::sc_time& sim_now() {
  sc_core::sc_simcontext* c = sc_core::sc_curr_simcontext;
  if (__builtin_expect(c == nullptr, 0)) c = sc_core::sc_get_curr_simcontext();
  return c->time_stamp();
}

}  // namespace iommusim
