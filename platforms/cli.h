// The iommusim command line: subcommand dispatch, option parsing, error reporting.
#pragma once
#include <string>
#include <vector>

namespace iommusim::cli {

// "0.1.0-<git>"; lives in the platform library, which is where CMake defines IOMMUSIM_VERSION.
const char* version();

// This process's argv as main() received it (output directories record it to rerun).
const std::vector<std::string>& command_line();

// The whole program: never throws; bad input prints one "iommusim: error: ..." line and returns 2.
int main(int argc, char** argv);

}  // namespace iommusim::cli
