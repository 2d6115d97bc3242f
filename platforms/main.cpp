// The iommusim executable: forwards to the CLI in platforms/cli.cpp.
#include <cstdio>

#include "platforms/cli.h"

// libsystemc.so's own main() calls sc_main (C linkage), so the linker needs one even though our
// main() wins and run_simulation drives sc_start directly.
extern "C" int sc_main(int, char**) { return 0; }

int main(int argc, char** argv) {
  try {
    return iommusim::cli::main(argc, argv);
  } catch (...) {  // cli::main catches everything already; this is the last line of defence
    std::fputs("iommusim: error: internal error\n", stderr);
    return 1;
  }
}
