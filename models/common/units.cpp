// Unit string parsing and formatting.
#include "models/common/units.h"

#include <cctype>
#include <charconv>
#include <cmath>
#include <cstdio>

namespace iommusim::units {
namespace {

std::string_view trim(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
  return s;
}

// Splits "12.5ns" into 12.5 and "ns"; accepts hex integers ("0x1000") with no suffix.
bool split_number(std::string_view s, double& num, std::string_view& suffix, bool& is_int, uint64_t& ival) {
  s = trim(s);
  if (s.empty()) return false;
  if (s.size() > 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
    auto r = std::from_chars(s.data() + 2, s.data() + s.size(), ival, 16);
    if (r.ec != std::errc{} || r.ptr == s.data() + 2) return false;
    suffix = trim(std::string_view(r.ptr, static_cast<size_t>(s.data() + s.size() - r.ptr)));
    is_int = true;
    num = static_cast<double>(ival);
    return true;
  }
  auto r = std::from_chars(s.data(), s.data() + s.size(), num);
  if (r.ec != std::errc{}) return false;
  std::string_view numtext(s.data(), static_cast<size_t>(r.ptr - s.data()));
  is_int = numtext.find_first_of(".eE") == std::string_view::npos && numtext[0] != '-';
  if (is_int) {
    auto ri = std::from_chars(numtext.data(), numtext.data() + numtext.size(), ival);
    if (ri.ec != std::errc{}) return false;
  }
  suffix = trim(std::string_view(r.ptr, static_cast<size_t>(s.data() + s.size() - r.ptr)));
  return true;
}

void set(std::string* why, const char* msg) {
  if (why) *why = msg;
}

}  // namespace

std::optional<uint64_t> parse_bytes(std::string_view s, std::string* why) {
  double num;
  std::string_view suf;
  bool is_int;
  uint64_t ival = 0;
  if (!split_number(s, num, suf, is_int, ival)) return set(why, "expected a size such as 4096, 4KiB or 64GiB"), std::nullopt;
  if (num < 0) return set(why, "a size cannot be negative"), std::nullopt;
  static const struct { const char* n; uint64_t m; } mult[] = {
      {"", 1}, {"B", 1}, {"KiB", 1ull << 10}, {"MiB", 1ull << 20}, {"GiB", 1ull << 30}, {"TiB", 1ull << 40},
      {"PiB", 1ull << 50}, {"kB", 1000}, {"KB", 1000}, {"MB", 1000000}, {"GB", 1000000000ull}, {"TB", 1000000000000ull}};
  for (const auto& m : mult) {
    if (suf != m.n) continue;
    const double v = num * static_cast<double>(m.m);
    if (v >= 18446744073709551615.0) return set(why, "size too large"), std::nullopt;
    if (is_int) {
      if (m.m != 1 && ival > UINT64_MAX / m.m) return set(why, "size too large"), std::nullopt;
      return ival * m.m;
    }
    if (v != std::floor(v)) return set(why, "size is not a whole number of bytes"), std::nullopt;
    return static_cast<uint64_t>(v);
  }
  return set(why, "unknown size unit (use B, KiB, MiB, GiB, TiB, kB, MB, GB)"), std::nullopt;
}

std::optional<Time> parse_time(std::string_view s, std::string* why) {
  double num;
  std::string_view suf;
  bool is_int;
  uint64_t ival = 0;
  if (!split_number(s, num, suf, is_int, ival)) return set(why, "expected a time such as 80ns, 1.5us or 10ms"), std::nullopt;
  if (num < 0) return set(why, "a time cannot be negative"), std::nullopt;
  static const struct { const char* n; double ps; } mult[] = {
      {"ps", 1}, {"ns", 1e3}, {"us", 1e6}, {"ms", 1e9}, {"s", 1e12}};
  if (suf.empty()) {
    if (num == 0) return Time{0};
    return set(why, "a time needs a unit (ps, ns, us, ms, s)"), std::nullopt;
  }
  for (const auto& m : mult) {
    if (suf != m.n) continue;
    const double v = num * m.ps;
    if (v >= 1.8e19) return set(why, "time too large"), std::nullopt;
    const double r = std::round(v);
    if (std::fabs(r - v) > 1e-6 * std::max(1.0, v)) return set(why, "time finer than 1ps"), std::nullopt;
    return Time{static_cast<uint64_t>(r)};
  }
  return set(why, "unknown time unit (use ps, ns, us, ms, s)"), std::nullopt;
}

std::optional<double> parse_real(std::string_view s, std::string_view unit, std::string* why) {
  double num;
  std::string_view suf;
  bool is_int;
  uint64_t ival = 0;
  if (!split_number(s, num, suf, is_int, ival) || !std::isfinite(num))
    return set(why, "expected a number"), std::nullopt;
  if (suf.empty() || suf == unit) return num;
  if (!unit.empty() && suf.size() == unit.size() + 1 && suf.substr(1) == unit) {
    switch (suf[0]) {
      case 'k': case 'K': return num * 1e3;
      case 'M': return num * 1e6;
      case 'G': return num * 1e9;
      case 'T': return num * 1e12;
      default: break;
    }
  }
  if (why) *why = unit.empty() ? std::string("expected a plain number") : "unknown unit (expected " + std::string(unit) + ")";
  return std::nullopt;
}

std::optional<uint64_t> parse_count(std::string_view s, std::string* why) {
  double num;
  std::string_view suf;
  bool is_int;
  uint64_t ival = 0;
  if (!split_number(s, num, suf, is_int, ival) || !is_int || !suf.empty())
    return set(why, "expected a non-negative integer"), std::nullopt;
  return ival;
}

std::string format_bytes(uint64_t v) {
  static const char* names[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB"};
  int i = 0;
  while (i < 5 && v != 0 && v % 1024 == 0) { v /= 1024; ++i; }
  return std::to_string(v) + names[i];
}

std::string format_time(Time t) {
  static const struct { const char* n; uint64_t ps; } u[] = {{"s", 1000000000000ull}, {"ms", 1000000000ull}, {"us", 1000000ull}, {"ns", 1000ull}};
  if (t.ps == 0) return "0ns";
  for (const auto& m : u)
    if (t.ps % m.ps == 0) return std::to_string(t.ps / m.ps) + m.n;
  return std::to_string(t.ps) + "ps";
}

std::string format_real(double v, std::string_view unit) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.12g", v);
  return std::string(buf) + std::string(unit);
}

}  // namespace iommusim::units
