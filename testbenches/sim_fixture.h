// GoogleTest fixture giving each test a fresh SystemC simulation context, so tests can also run
// one after another in a single process (ctest runs each in its own process anyway).
#pragma once
#include <gtest/gtest.h>
#include <systemc>

namespace iommusim::test {

// SystemC keeps one global context; replacing it is the only way to re-elaborate in-process.
// The old context is leaked on purpose: modules of a finished run may still refer to it.
inline void fresh_context() {
  sc_core::sc_curr_simcontext = new sc_core::sc_simcontext();
  sc_core::sc_default_global_context = sc_core::sc_curr_simcontext;
}

class SimTest : public ::testing::Test {
 protected:
  void SetUp() override { fresh_context(); }
};

}  // namespace iommusim::test
