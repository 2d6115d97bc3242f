// Trace file parsing: tokenizes one line at a time into a TraceEvent, validating keys and units.
#include "models/host/trace_reader.h"

#include <cctype>
#include <cerrno>
#include <utility>

#include "models/common/units.h"

namespace iommusim::host {
namespace {

using Op = TraceEvent::Op;

enum Key : unsigned {
  kBuf, kSize, kDir, kPageSize, kDev, kTime, kIova, kOffset, kPasid, kCount, kStride,
  kMm, kProt, kPopulate, kWrite, kSva, kId, kIoas, kPt, kExpect, kVector, kNumKeys
};
constexpr const char* kKeyNames[kNumKeys] = {"buf",   "size",   "dir",   "page_size", "dev",      "time",
                                             "iova",  "offset", "pasid", "count",     "stride",   "mm",
                                             "prot",  "populate", "write", "sva",     "id",       "ioas",
                                             "pt",    "expect", "vector"};

struct ErrnoName {
  int err;
  const char* name;
};
constexpr ErrnoName kErrnos[] = {{EPERM, "EPERM"},   {ENOENT, "ENOENT"}, {ENOMEM, "ENOMEM"},    {EFAULT, "EFAULT"},
                                 {EBUSY, "EBUSY"},   {EEXIST, "EEXIST"}, {ENODEV, "ENODEV"},    {EINVAL, "EINVAL"},
                                 {ENOSPC, "ENOSPC"}, {EOVERFLOW, "EOVERFLOW"}, {EOPNOTSUPP, "EOPNOTSUPP"},
                                 {EADDRINUSE, "EADDRINUSE"}};
constexpr uint32_t bit(Key k) { return 1u << k; }

struct OpSpec {
  const char* name;
  Op op;
  bool host, device;  // which actors may use it
  uint32_t allowed, required;
};
constexpr uint32_t kDevKeys =
    bit(kBuf) | bit(kIova) | bit(kOffset) | bit(kSize) | bit(kPasid) | bit(kCount) | bit(kStride) | bit(kSva);
constexpr uint32_t kRange = bit(kBuf) | bit(kOffset) | bit(kSize);  // a part of a process buffer
constexpr OpSpec kOps[] = {
    {"dma_map", Op::DmaMap, true, false, bit(kBuf) | bit(kSize) | bit(kDir) | bit(kPageSize) | bit(kDev),
     bit(kBuf) | bit(kSize)},
    {"dma_unmap", Op::DmaUnmap, true, false, bit(kBuf), bit(kBuf)},
    {"mmap", Op::Mmap, true, false, bit(kMm) | bit(kBuf) | bit(kSize) | bit(kProt) | bit(kPopulate),
     bit(kMm) | bit(kBuf) | bit(kSize)},
    {"touch", Op::Touch, true, false, kRange | bit(kWrite), bit(kBuf)},
    {"munmap", Op::Munmap, true, false, kRange, bit(kBuf)},
    {"mprotect", Op::Mprotect, true, false, kRange | bit(kProt), bit(kBuf) | bit(kProt)},
    {"bind", Op::Bind, true, false, bit(kDev) | bit(kMm), bit(kDev) | bit(kMm)},
    {"unbind", Op::Unbind, true, false, bit(kDev) | bit(kMm), bit(kDev) | bit(kMm)},
    {"exit", Op::Exit, true, false, bit(kMm), bit(kMm)},
    {"wait", Op::Wait, true, true, bit(kTime), bit(kTime)},
    {"read", Op::Read, false, true, kDevKeys, bit(kSize)},
    {"write", Op::Write, false, true, kDevKeys, bit(kSize)},
    {"request_irq", Op::RequestIrq, true, false, bit(kDev) | bit(kVector), bit(kDev) | bit(kVector)},
    {"free_irq", Op::FreeIrq, true, false, bit(kDev) | bit(kVector), bit(kDev) | bit(kVector)},
    {"msi", Op::Msi, false, true, bit(kVector) | bit(kCount), bit(kVector)},
    {"ioas_alloc", Op::IoasAlloc, true, false, bit(kId), bit(kId)},
    {"ioas_allow", Op::IoasAllow, true, false, bit(kIoas) | bit(kIova) | bit(kSize),
     bit(kIoas) | bit(kIova) | bit(kSize)},
    {"ioas_map", Op::IoasMap, true, false, bit(kIoas) | bit(kSize) | bit(kIova) | bit(kBuf) | bit(kProt),
     bit(kIoas) | bit(kSize)},
    {"ioas_unmap", Op::IoasUnmap, true, false, bit(kIoas) | bit(kIova) | bit(kSize), bit(kIoas)},
    {"hwpt_alloc", Op::HwptAlloc, true, false, bit(kId) | bit(kDev) | bit(kIoas), bit(kId) | bit(kDev) | bit(kIoas)},
    {"attach", Op::Attach, true, false, bit(kDev) | bit(kPt), bit(kDev) | bit(kPt)},
    {"replace", Op::Replace, true, false, bit(kDev) | bit(kPt), bit(kDev) | bit(kPt)},
    {"detach", Op::Detach, true, false, bit(kDev), bit(kDev)},
    {"msi_iova", Op::MsiIova, true, false, bit(kDev) | bit(kBuf), bit(kDev) | bit(kBuf)},
};

std::string key_list(uint32_t mask) {
  std::string s;
  for (unsigned k = 0; k < kNumKeys; ++k)
    if (mask & (1u << k)) s += (s.empty() ? "" : ", ") + std::string(kKeyNames[k]);
  return s;
}

std::string op_list(bool host) {
  std::string s;
  for (const auto& o : kOps)
    if (host ? o.host : o.device) s += (s.empty() ? "" : ", ") + std::string(o.name);
  return s;
}

// Config-style names: a letter or '_' first, then letters, digits, '_', '-', '.'.
bool valid_name(std::string_view s) {
  if (s.empty() || !(std::isalpha(static_cast<unsigned char>(s[0])) || s[0] == '_')) return false;
  for (char c : s)
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-' || c == '.')) return false;
  return true;
}

bool is_space(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\v' || c == '\f'; }

// Next whitespace-separated token of `s`, or empty at the end or at a '#' comment.
std::string_view next_token(std::string_view& s) {
  size_t i = 0;
  while (i < s.size() && is_space(s[i])) ++i;
  size_t j = i;
  while (j < s.size() && !is_space(s[j])) ++j;
  std::string_view t = s.substr(i, j - i);
  s.remove_prefix(j);
  if (!t.empty() && t[0] == '#') {
    s = {};
    return {};
  }
  return t;
}

}  // namespace

const char* errno_name(int err) {
  for (const auto& e : kErrnos)
    if (e.err == err) return e.name;
  return nullptr;
}

std::string result_name(int err) {
  if (err == 0) return "0";
  if (const char* n = errno_name(-err)) return std::string("-") + n;
  return std::to_string(err);
}

const char* op_name(TraceEvent::Op op) {
  for (const auto& o : kOps)
    if (o.op == op) return o.name;
  return "?";
}

TraceReader::TraceReader(std::string path) : path_(std::move(path)) {
  in_.open(path_);
  if (!in_) throw TraceError(path_ + ": cannot open trace file");
}

void TraceReader::fail(const std::string& what) const { throw TraceError(where(line_) + what); }

bool TraceReader::next(TraceEvent& ev) {
  for (;;) {
    if (in_.eof()) return false;
    in_.getline(buf_.data(), static_cast<std::streamsize>(buf_.size()));
    const auto n = static_cast<size_t>(in_.gcount());
    if (in_.bad()) fail("read error");
    if (in_.fail()) {
      if (n == 0 && in_.eof()) return false;  // nothing left
      ++line_;
      fail("line longer than " + std::to_string(kMaxLine) + " characters");
    }
    ++line_;
    // gcount counts the extracted '\n' too, which getline does not store.
    size_t len = n;
    if (len > 0 && !in_.eof()) --len;
    std::string_view text(buf_.data(), len);
    std::string_view probe = text;
    if (next_token(probe).empty()) continue;  // blank or comment
    parse(text, ev);
    return true;
  }
}

void TraceReader::parse(std::string_view text, TraceEvent& ev) {
  ev = TraceEvent{};
  ev.line = line_;
  const std::string_view ttok = next_token(text);
  const std::string_view atok = next_token(text);
  const std::string_view otok = next_token(text);
  if (otok.empty()) fail("expected '<time> <actor> <op> key=value ...'");

  // Time: absolute, or "+<time>" after the previous event.
  std::string_view tt = ttok;
  if (!tt.empty() && tt[0] == '+') {
    ev.relative = true;
    tt.remove_prefix(1);
  }
  std::string why;
  const auto t = units::parse_time(tt, &why);
  if (!t) fail("bad time '" + std::string(ttok) + "': " + why);
  ev.time_ps = t->ps;
  if (ev.relative) {
    if (t->ps > UINT64_MAX - prev_ps_) fail("time '" + std::string(ttok) + "' overflows");
    ev.at_ps = prev_ps_ + t->ps;
  } else {
    if (t->ps < prev_ps_)
      fail("time " + units::format_time(*t) + " is before the previous event's " + units::format_time(Time{prev_ps_}) +
           " (events must be in time order)");
    ev.at_ps = t->ps;
  }

  if (!valid_name(atok)) fail("bad actor name '" + std::string(atok) + "'");
  ev.actor = atok;
  const bool host = ev.actor == "host";

  const OpSpec* spec = nullptr;
  for (const auto& o : kOps)
    if (otok == o.name && (host ? o.host : o.device)) spec = &o;
  if (!spec) {
    if (host) fail("unknown op '" + std::string(otok) + "' for host (host ops: " + op_list(true) + ")");
    fail("unknown op '" + std::string(otok) + "' for device '" + ev.actor + "' (device ops: " + op_list(false) + ")");
  }
  ev.op = spec->op;

  uint32_t seen = 0;
  for (std::string_view tok = next_token(text); !tok.empty(); tok = next_token(text)) {
    const size_t eq = tok.find('=');
    if (eq == std::string_view::npos || eq == 0) fail("expected key=value, got '" + std::string(tok) + "'");
    const std::string_view k = tok.substr(0, eq), v = tok.substr(eq + 1);
    unsigned key = kNumKeys;
    for (unsigned i = 0; i < kNumKeys; ++i)
      if (k == kKeyNames[i]) key = i;
    const uint32_t allowed = spec->allowed | (spec->host && spec->op != Op::Wait ? bit(kExpect) : 0);
    if (key == kNumKeys || !(allowed & (1u << key)))
      // expect= (every host op but wait) is left out of the list: see traces/README.md.
      fail("unknown key '" + std::string(k) + "' for " + spec->name + " (keys: " + key_list(spec->allowed) + ")");
    if (seen & (1u << key)) fail("key '" + std::string(k) + "' given twice");
    seen |= 1u << key;
    if (v.empty()) fail("key '" + std::string(k) + "' has no value");
    const auto bad = [&](const std::string& w) { fail(std::string(k) + "=" + std::string(v) + ": " + w); };
    const auto bytes = [&] {
      auto b = units::parse_bytes(v, &why);
      if (!b) bad(why);
      return *b;
    };
    const auto count = [&] {
      auto c = units::parse_count(v, &why);
      if (!c) bad(why);
      return *c;
    };
    const auto flag = [&] {
      if (v != "0" && v != "1") bad("expected 0 or 1");
      return v == "1";
    };
    switch (static_cast<Key>(key)) {
      case kBuf:
        if (!valid_name(v)) bad("not a valid buffer name");
        ev.buf = v;
        break;
      case kDev:
        if (!valid_name(v) || v == "host") bad("not a valid endpoint name");
        ev.dev = v;
        break;
      case kMm:
      case kSva:
        if (!valid_name(v)) bad("not a valid process name");
        ev.mm = v;
        break;
      case kProt:
        // Write implies read, as the process model maps it (mm.h); execute-only is not modelled.
        if (v == "none") ev.prot = {false, false, false};
        else if (v == "r") ev.prot = {true, false, false};
        else if (v == "rw") ev.prot = {true, true, false};
        else if (v == "rx") ev.prot = {true, false, true};
        else if (v == "rwx") ev.prot = {true, true, true};
        else bad("expected none, r, rw, rx or rwx");
        break;
      case kPopulate: ev.populate = flag(); break;
      case kWrite: ev.write_access = flag(); break;
      case kSize:
        ev.size = bytes();
        ev.has_size = true;
        if (ev.size == 0) bad("size must be at least 1 byte");
        break;
      case kId:
      case kIoas:
      case kPt:
        if (!valid_name(v)) bad("not a valid object name");
        (key == kId ? ev.id : key == kIoas ? ev.ioas : ev.pt) = v;
        break;
      case kExpect: {
        // 0, or an errno name with or without the sign: EADDRINUSE, -EINVAL.
        std::string_view n = v;
        if (n == "0") {
          ev.expect = 0;
        } else {
          if (n[0] == '-') n.remove_prefix(1);
          int found = 0;
          for (const auto& e : kErrnos)
            if (n == e.name) found = e.err;
          if (!found) {
            std::string names = "0";
            for (const auto& e : kErrnos) names += std::string(", ") + e.name;
            bad("expected 0 or an errno name (" + names + ")");
          }
          ev.expect = -found;
        }
        ev.has_expect = true;
        break;
      }
      case kOffset: ev.offset = bytes(); break;
      case kStride: ev.stride = bytes(); break;
      case kPageSize:
        ev.page_size = bytes();
        if (ev.page_size != 4096 && ev.page_size != (2ull << 20) && ev.page_size != (1ull << 30))
          bad("page_size must be 4KiB, 2MiB or 1GiB");
        break;
      case kDir:
        if (v == "bidirectional") ev.dir = TraceEvent::Dir::Bidirectional;
        else if (v == "to_device") ev.dir = TraceEvent::Dir::ToDevice;
        else if (v == "from_device") ev.dir = TraceEvent::Dir::FromDevice;
        else bad("expected to_device, from_device or bidirectional");
        break;
      case kTime: {
        auto w = units::parse_time(v, &why);
        if (!w) bad(why);
        ev.wait_ps = w->ps;
        break;
      }
      case kIova:
        if (v[0] == '@') {
          if (!valid_name(v.substr(1))) bad("expected an address or @<buffer name>");
          ev.iova_of = v.substr(1);
        } else {
          ev.iova = count();
          ev.has_iova = true;
        }
        break;
      case kPasid: {
        const uint64_t p = count();
        if (p > 0xFFFFF) bad("PASIDs are 20 bits (at most 1048575)");
        ev.pasid = static_cast<uint32_t>(p);
        ev.has_pasid = true;
        break;
      }
      case kVector: {
        const uint64_t n = count();
        if (n >= 2048) bad("an MSI-X vector is below 2048");
        ev.vector = static_cast<uint16_t>(n);
        break;
      }
      case kCount:
        ev.count = count();
        if (ev.count == 0) bad("count must be at least 1");
        break;
      case kNumKeys: break;
    }
  }
  const uint32_t missing = spec->required & ~seen;
  if (missing) fail("missing key '" + key_list(missing & (~missing + 1)) + "' for " + spec->name);
  if (ev.is_iommufd_op()) {
    if (!ev.iova_of.empty()) fail(std::string("iova=@") + ev.iova_of + ": " + spec->name + " takes an address");
    if (ev.op == Op::IoasUnmap && ev.has_iova != ev.has_size)
      fail("ioas_unmap takes iova= and size= together (neither: unmap everything)");
    // IOMMU_IOAS_MAP has no execute permission; prot=none is passed on (the kernel's -EINVAL).
    if (ev.op == Op::IoasMap && ev.prot.exec) fail("prot: ioas_map takes r, rw or none");
  }
  if (ev.is_device_op()) {
    const int targets = !ev.buf.empty() + ev.has_iova + !ev.iova_of.empty();
    if (targets == 0) fail(std::string(spec->name) + " needs buf=<name> or iova=<address>");
    if (targets > 1) fail(std::string(spec->name) + " takes one of buf= and iova=, not both");
    // With SVA the PASID is the one the device was bound with.
    if (!ev.mm.empty() && ev.has_pasid) fail(std::string(spec->name) + " takes one of sva= and pasid=, not both");
    if (!(seen & bit(kStride))) ev.stride = ev.size;
    // Guard the arithmetic the replayer does on the extent of a burst.
    constexpr uint64_t kMax = uint64_t{1} << 62;
    if (ev.offset > kMax || ev.size > kMax || ev.offset + ev.size > kMax ||
        (ev.count > 1 && ev.stride > (kMax - ev.offset - ev.size) / (ev.count - 1)))
      fail("burst extent (offset + (count-1)*stride + size) is too large");
  }
  prev_ps_ = ev.at_ps;
}

}  // namespace iommusim::host
