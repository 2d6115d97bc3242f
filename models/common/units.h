// Unit strings for sizes, times and rates ("64GiB", "80ns", "16GT/s", "25.6GB/s") and back.
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "models/common/params.h"

namespace iommusim::units {

// Each parser returns nullopt on a malformed or out-of-range string; `why` says what was wrong.
std::optional<uint64_t> parse_bytes(std::string_view s, std::string* why = nullptr);
std::optional<Time> parse_time(std::string_view s, std::string* why = nullptr);
// A real number optionally followed by `unit` (with SI prefixes k/M/G for "B/s"-style units).
std::optional<double> parse_real(std::string_view s, std::string_view unit, std::string* why = nullptr);
std::optional<uint64_t> parse_count(std::string_view s, std::string* why = nullptr);

std::string format_bytes(uint64_t v);  // exact: "4KiB", "1536B"
std::string format_time(Time t);       // exact: "80ns", "1500ps"
std::string format_real(double v, std::string_view unit);

}  // namespace iommusim::units
