// Line parser of the ftrace importer: the tracefs `trace` and `trace-cmd report` line layouts and
// the TP_printk texts of include/trace/events/iommu.h (docs/ftrace-import.md).
#include <cctype>
#include <charconv>

#include "platforms/ftrace_import.h"

namespace iommusim::ftrace {
namespace {

using Kind = Event::Kind;

bool is_space(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\v' || c == '\f'; }
bool is_digit(char c) { return c >= '0' && c <= '9'; }

std::string_view trim(std::string_view s) {
  while (!s.empty() && is_space(s.front())) s.remove_prefix(1);
  while (!s.empty() && is_space(s.back())) s.remove_suffix(1);
  return s;
}

bool starts_with(std::string_view s, std::string_view p) { return s.substr(0, p.size()) == p; }

bool all_digits(std::string_view s) {
  if (s.empty()) return false;
  for (char c : s)
    if (!is_digit(c)) return false;
  return true;
}

template <typename T>
bool to_uint(std::string_view s, T& v, int base = 10) {
  if (s.empty()) return false;
  const auto r = std::from_chars(s.data(), s.data() + s.size(), v, base);
  return r.ec == std::errc{} && r.ptr == s.data() + s.size();
}

// Seconds with a decimal fraction ("1234.567890", up to 12 decimals) in picoseconds.
bool parse_seconds(std::string_view s, uint64_t& ps) {
  const size_t dot = s.find('.');
  const std::string_view whole = s.substr(0, dot);
  const std::string_view frac = dot == std::string_view::npos ? std::string_view{} : s.substr(dot + 1);
  uint64_t sec = 0;
  if (!all_digits(whole) || !to_uint(whole, sec) || sec > 18'000'000) return false;
  if (dot != std::string_view::npos && (!all_digits(frac) || frac.size() > 12)) return false;
  uint64_t f = 0;
  for (size_t i = 0; i < 12; ++i) f = f * 10 + (i < frac.size() ? static_cast<uint64_t>(frac[i] - '0') : 0);
  ps = sec * 1'000'000'000'000ull + f;
  return true;
}

// A cursor over an event's printk text, matching the kernel's format piece by piece.
class Text {
 public:
  Text(std::string_view s, std::string_view event) : s_(s), event_(event) {}
  void literal(std::string_view lit) {
    if (!starts_with(s_, lit)) fail("'" + std::string(lit) + "'");
    s_.remove_prefix(lit.size());
  }
  bool maybe(std::string_view lit) {
    if (!starts_with(s_, lit)) return false;
    s_.remove_prefix(lit.size());
    return true;
  }
  // The rest up to the next space (or the end).
  std::string_view word() {
    const size_t n = std::min(s_.find(' '), s_.size());
    std::string_view w = s_.substr(0, n);
    s_.remove_prefix(n);
    return w;
  }
  uint64_t hex(const char* what) {
    literal("0x");
    const std::string_view w = number_chars(true);
    uint64_t v = 0;
    if (!to_uint(w, v, 16)) fail(std::string("a hexadecimal ") + what);
    return v;
  }
  uint64_t dec(const char* what) {
    const std::string_view w = number_chars(false);
    uint64_t v = 0;
    if (!to_uint(w, v)) fail(std::string("a decimal ") + what);
    return v;
  }
  int64_t sdec(const char* what) {
    const bool neg = maybe("-");
    const uint64_t v = dec(what);
    return neg ? -static_cast<int64_t>(v) : static_cast<int64_t>(v);
  }
  void end() {
    if (!trim(s_).empty()) fail("the end of the line");
  }
  [[noreturn]] void fail(const std::string& expected) const {
    const std::string got = s_.empty() ? "end of line" : "'" + std::string(s_.substr(0, 24)) + "'";
    throw LineError(std::string(event_) + ": expected " + expected + " at " + got + " (format: " + format() + ")");
  }

 private:
  std::string_view number_chars(bool hex) {
    size_t n = 0;
    while (n < s_.size() && (hex ? std::isxdigit(static_cast<unsigned char>(s_[n])) != 0 : is_digit(s_[n]))) ++n;
    std::string_view w = s_.substr(0, n);
    s_.remove_prefix(n);
    return w;
  }
  std::string format() const {
    if (event_ == "map") return "IOMMU: iova=0x%016llx - 0x%016llx paddr=0x%016llx size=%zu";
    if (event_ == "unmap") return "IOMMU: iova=0x%016llx - 0x%016llx size=%zu unmapped_size=%zu";
    if (event_ == "io_page_fault") return "IOMMU:%s %s iova=0x%016llx flags=0x%04x";
    if (event_ == "add_device_to_group" || event_ == "remove_device_from_group") return "IOMMU: groupID=%d device=%s";
    return "IOMMU: device=%s";
  }
  std::string_view s_;
  std::string_view event_;
};

Kind kind_of(std::string_view name) {
  if (name == "add_device_to_group") return Kind::AddToGroup;
  if (name == "remove_device_from_group") return Kind::RemoveFromGroup;
  if (name == "attach_device_to_domain") return Kind::Attach;
  if (name == "detach_device_from_domain") return Kind::Detach;  // removed from the kernel in 6.3
  if (name == "map") return Kind::Map;
  if (name == "unmap") return Kind::Unmap;
  if (name == "io_page_fault") return Kind::IoPageFault;
  return Kind::Other;
}

// Decodes the TP_printk text of an iommu event. Kernels before 5.15 print map and unmap without
// the " - <end>" range; both forms are accepted and the end is checked against iova + size.
void parse_iommu_text(std::string_view text, Event& ev) {
  Text t(text, ev.name);
  switch (ev.kind) {
    case Kind::AddToGroup:
    case Kind::RemoveFromGroup: {
      t.literal("IOMMU: groupID=");
      const int64_t g = t.sdec("group ID");
      ev.group = static_cast<int>(g);
      t.literal(" device=");
      ev.device = t.word();
      if (ev.device.empty()) t.fail("a device name");
      break;
    }
    case Kind::Attach:
    case Kind::Detach:
      t.literal("IOMMU: device=");
      ev.device = t.word();
      if (ev.device.empty()) t.fail("a device name");
      break;
    case Kind::Map:
    case Kind::Unmap: {
      t.literal("IOMMU: iova=");
      ev.iova = t.hex("IOVA");
      bool has_end = false;
      uint64_t end = 0;
      if (t.maybe(" - ")) {
        end = t.hex("end IOVA");
        has_end = true;
      }
      if (ev.kind == Kind::Map) {
        t.literal(" paddr=");
        ev.paddr = t.hex("physical address");
      }
      t.literal(" size=");
      ev.size = t.dec("size");
      if (ev.kind == Kind::Unmap) {
        t.literal(" unmapped_size=");
        ev.unmapped = t.dec("unmapped size");
      }
      if (ev.size > UINT64_MAX - ev.iova || ev.unmapped > UINT64_MAX - ev.iova)
        throw LineError(ev.name + ": iova + size is beyond 2^64");
      if (has_end && end != ev.iova + ev.size)
        throw LineError(ev.name + ": end IOVA is not iova + size");
      break;
    }
    case Kind::IoPageFault: {
      t.literal("IOMMU:");
      ev.driver = t.word();  // dev_driver_string(): empty for a device without a driver
      t.literal(" ");
      ev.device = t.word();
      if (ev.device.empty()) t.fail("a device name");
      t.literal(" iova=");
      ev.iova = t.hex("IOVA");
      t.literal(" flags=");
      ev.flags = static_cast<uint32_t>(t.hex("flags"));
      break;
    }
    default: return;
  }
  t.end();
}

}  // namespace

bool parse_line(std::string_view line, Event& ev) {
  const std::string_view s = trim(line);
  if (s.empty() || s[0] == '#') return false;
  // trace-cmd report's preamble.
  if (starts_with(s, "cpus=") || starts_with(s, "version =") ||
      (starts_with(s, "CPU ") && s.size() > 9 && s.substr(s.size() - 9) == " is empty"))
    return false;
  ev = Event{};
  // tracefs: "CPU:%d [LOST %lu EVENTS]" where the ring buffer overflowed.
  if (starts_with(s, "CPU:")) {
    const size_t a = s.find("[LOST "), b = s.find(" EVENTS]");
    if (a == std::string_view::npos || b == std::string_view::npos || b < a + 6 ||
        !to_uint(s.substr(a + 6, b - a - 6), ev.lost))
      throw LineError("expected 'CPU:<n> [LOST <m> EVENTS]'");
    ev.kind = Kind::Lost;
    return true;
  }
  constexpr const char* kLayout =
      "expected an event line '<task>-<pid> [<cpu>] [<flags>] <seconds>.<fraction>: <event>: <text>' "
      "(tracefs trace or trace-cmd report)";
  // The CPU field "[ddd]" follows "<task>-<pid>" and whitespace; the task name itself may hold
  // spaces, dashes and brackets, so take the first "[digits]" that follows "-<digits><space>".
  size_t cpu_at = std::string_view::npos;
  for (size_t p = s.find('['); p != std::string_view::npos; p = s.find('[', p + 1)) {
    const size_t q = s.find(']', p);
    if (q == std::string_view::npos) break;
    if (!all_digits(s.substr(p + 1, q - p - 1))) continue;
    size_t e = p;
    while (e > 0 && is_space(s[e - 1])) --e;
    if (e == p) continue;
    size_t d = e;
    while (d > 0 && is_digit(s[d - 1])) --d;
    if (d == e || d == 0 || s[d - 1] != '-') continue;
    cpu_at = p;
    break;
  }
  if (cpu_at == std::string_view::npos) throw LineError(kLayout);
  std::string_view head = trim(s.substr(0, cpu_at));
  const size_t dash = head.rfind('-');
  ev.task = std::string(head.substr(0, dash));
  if (!to_uint(head.substr(dash + 1), ev.pid)) throw LineError(kLayout);
  const size_t close = s.find(']', cpu_at);
  if (!to_uint(s.substr(cpu_at + 1, close - cpu_at - 1), ev.cpu)) throw LineError(kLayout);

  // Then an optional flags column (tracefs, trace-cmd -l) and "<seconds>:".
  std::string_view rest = trim(s.substr(close + 1));
  auto token = [&rest] {
    const size_t n = std::min(rest.find_first_of(" \t"), rest.size());
    std::string_view t = rest.substr(0, n);
    rest = trim(rest.substr(n));
    return t;
  };
  std::string_view ts = token();
  if (ts.empty() || ts.back() != ':') ts = token();  // that was the flags
  if (ts.empty() || ts.back() != ':' || !parse_seconds(ts.substr(0, ts.size() - 1), ev.ts_ps))
    throw LineError("expected a timestamp '<seconds>.<fraction>:' after the CPU and flags");

  // "<event>: <text>"; trace-cmd pads the name with spaces.
  const size_t colon = rest.find(':');
  if (colon == std::string_view::npos || colon == 0) throw LineError("expected '<event>: ' after the timestamp");
  ev.name = std::string(rest.substr(0, colon));
  for (char c : ev.name)
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '_'))
      throw LineError("expected an event name (letters, digits, '_') after the timestamp, got '" + ev.name + "'");
  ev.kind = kind_of(ev.name);
  parse_iommu_text(trim(rest.substr(colon + 1)), ev);
  return true;
}

}  // namespace iommusim::ftrace
