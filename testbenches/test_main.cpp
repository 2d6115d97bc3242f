// Test entry point: libsystemc.so defines main() (calling sc_main), which could otherwise win over
// GoogleTest's and run zero tests; we define both here.
#include <gtest/gtest.h>
#include <systemc>

int sc_main(int, char**) { return 0; }

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  return RUN_ALL_TESTS();
}
