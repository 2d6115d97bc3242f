// Converter of the ftrace importer: iommu events in file order -> host and device ops of the trace
// format, with the attribution and DMA rules of docs/ftrace-import.md.
#include "platforms/ftrace_import.h"

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <sstream>

#include "models/common/units.h"

namespace iommusim::ftrace {
namespace {

using Kind = Event::Kind;

// Trace names (traces/README.md): a letter or '_' first, then letters, digits, '_', '-', '.'.
bool valid_name(std::string_view s) {
  if (s.empty() || !(std::isalpha(static_cast<unsigned char>(s[0])) || s[0] == '_')) return false;
  for (char c : s)
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-' || c == '.')) return false;
  return true;
}

bool is_pci_name(std::string_view s) {  // dddd:bb:dd.f (hex digits)
  if (s.size() != 12 || s[4] != ':' || s[7] != ':' || s[10] != '.') return false;
  for (size_t i : {0, 1, 2, 3, 5, 6, 8, 9, 11})
    if (!std::isxdigit(static_cast<unsigned char>(s[i]))) return false;
  return true;
}

// "12.345us": exact for whole nanoseconds, which is all a capture resolves.
std::string format_time(uint64_t ps) {
  const uint64_t ns = ps / 1000;
  char b[48];
  if (ns % 1000 == 0) {
    std::snprintf(b, sizeof b, "%lluus", static_cast<unsigned long long>(ns / 1000));
  } else {
    std::snprintf(b, sizeof b, "%llu.%03lluus", static_cast<unsigned long long>(ns / 1000),
                  static_cast<unsigned long long>(ns % 1000));
    std::string s(b);
    while (s[s.size() - 3] == '0') s.erase(s.size() - 3, 1);  // "1.500us" -> "1.5us"
    return s;
  }
  return b;
}

std::string hex(uint64_t v) {
  char b[24];
  std::snprintf(b, sizeof b, "0x%llx", static_cast<unsigned long long>(v));
  return b;
}

// A mapping of the capture; devices are indices into Converter::devs_.
struct Buf {
  uint64_t id = 0, iova = 0, size = 0, map_ps = 0, line = 0;
  uint32_t dev = 0;
};

// One op of the output, kept compact (captures run to millions of events) and formatted once the
// devices have their endpoint names.
struct Out {
  enum class Op : uint8_t { Map, Unmap, Dma, Fault };
  Op op = Op::Map;
  bool write = false;      // Dma, Fault
  bool raw = false;        // Fault: iova= the address, not @buffer
  uint32_t dev = 0;        // the acting device, or dma_map's dev=
  uint32_t flags = 0;      // Fault: the event's flags
  uint64_t ps = 0, seq = 0, buf = 0, size = 0, offset = 0;
  uint64_t iova = 0;       // the event's IOVA (for the comment; Fault: the address)
  uint64_t line = 0;       // the capture line it comes from (Dma: the map's)
};

class Converter {
 public:
  Converter(const std::string& path, const Options& opt) : path_(path), opt_(opt) {}

  void line(std::string_view text) {
    ++r_.lines;
    Event ev;
    try {
      if (!parse_line(text, ev)) return;
    } catch (const LineError& e) {
      fail(r_.lines, e.what());
    }
    if (ev.kind == Kind::Lost) {
      r_.lost += ev.lost;
      return;
    }
    ++r_.events;
    if (ev.kind == Kind::Other) {
      ++r_.skipped[ev.name];
      return;
    }
    ++r_.converted[ev.name];
    if (!started_) {
      t0_ = ev.ts_ps;
      last_ = ev.ts_ps;
      started_ = true;
    }
    if (ev.ts_ps < last_) {
      ++r_.clamped;  // another CPU's clock lagging: keep file order
      ev.ts_ps = last_;
    }
    last_ = ev.ts_ps;
    const uint64_t ps = ev.ts_ps - t0_;
    switch (ev.kind) {
      case Kind::AddToGroup: dev_of(ev.device); break;
      case Kind::RemoveFromGroup:
      case Kind::Detach:
        if (has_current_ && current_ == dev_of(ev.device)) has_current_ = false;
        break;
      case Kind::Attach:
        current_ = dev_of(ev.device);
        has_current_ = true;
        break;
      case Kind::Map: map(ev, ps); break;
      case Kind::Unmap: unmap(ev, ps); break;
      case Kind::IoPageFault: fault(ev, ps); break;
      default: break;
    }
  }

  Result finish() {
    for (const auto& [iova, b] : live_) dma(b, b.map_ps + opt_.dma_delay_ps);  // never unmapped in the capture
    name_devices();
    std::stable_sort(out_.begin(), out_.end(),
                     [](const Out& a, const Out& b) { return a.ps != b.ps ? a.ps < b.ps : a.seq < b.seq; });
    std::ostringstream o;
    o << "# Converted from " << opt_.source_name << " by iommusim import-ftrace (docs/ftrace-import.md).\n# Devices:";
    for (const auto& [d, e] : r_.devices) o << " " << d << "=" << e;
    o << "\n# DMA rule: ";
    if (opt_.dma == Options::Dma::None) {
      o << "none";
    } else {
      o << "each buffer is " << (opt_.dma == Options::Dma::Read ? "read" : "written") << " in full by its device at map + "
        << units::format_time(Time{opt_.dma_delay_ps}) << " (at most halfway to its unmap)";
    }
    o << "; io_page_fault: a " << units::format_bytes(opt_.fault_size) << " access at the faulting IOVA.\n";
    for (const Out& x : out_) {
      const std::string& ep = endpoint_[x.dev];
      o << format_time(x.ps) << " ";
      switch (x.op) {
        case Out::Op::Map:
          o << "host dma_map buf=b" << x.buf << " size=" << units::format_bytes(x.size) << " dev=" << ep << "  # line "
            << x.line << ": map iova=" << hex(x.iova) << "\n";
          break;
        case Out::Op::Unmap:
          o << "host dma_unmap buf=b" << x.buf << "  # line " << x.line << ": unmap iova=" << hex(x.iova) << "\n";
          break;
        case Out::Op::Dma:
          o << ep << (x.write ? " write" : " read") << " buf=b" << x.buf << " size=" << units::format_bytes(x.size)
            << "  # DMA rule, map at line " << x.line << "\n";
          break;
        case Out::Op::Fault:
          o << ep << (x.write ? " write" : " read");
          if (x.raw) o << " iova=" << hex(x.iova);
          else o << " iova=@b" << x.buf;
          if (x.offset) o << " offset=" << units::format_bytes(x.offset);
          o << " size=" << units::format_bytes(x.size) << "  # line " << x.line << ": io_page_fault iova=" << hex(x.iova)
            << " flags=" << hex(x.flags) << "\n";
          break;
      }
    }
    r_.text = o.str();
    return std::move(r_);
  }

 private:
  [[noreturn]] void fail(uint64_t line, const std::string& what) const {
    throw ImportError(path_ + ":" + std::to_string(line) + ": " + what);
  }

  // The device's index; the first line naming it is remembered for messages.
  uint32_t dev_of(const std::string& name) {
    const auto [it, added] = dev_index_.emplace(name, static_cast<uint32_t>(devs_.size()));
    if (added) {
      devs_.push_back(name);
      first_seen_.push_back(r_.lines);
      acts_.push_back(false);
    }
    return it->second;
  }

  // The device acts in the output: it needs an endpoint.
  void act(uint32_t dev) {
    if (acts_[dev]) return;
    acts_[dev] = true;
    acting_.push_back(dev);
  }

  const MapFile::TaskRule* task_rule(const std::string& comm) const {
    for (const auto& t : opt_.map.tasks)
      if (t.prefix ? comm.compare(0, t.comm.size(), t.comm) == 0 : comm == t.comm) return &t;
    return nullptr;
  }

  // Rule 1: a task rule of the map file; rule 2: the device last attached to a domain.
  bool attribute(const Event& ev, uint32_t& dev) {
    if (const auto* t = task_rule(ev.task)) {
      dev = dev_of(t->device);
      return true;
    }
    dev = current_;
    return has_current_;
  }

  Out& push(Out::Op op, uint64_t ps, uint32_t dev, uint64_t line) {
    Out& x = out_.emplace_back();
    x.op = op;
    x.ps = ps;
    x.seq = out_.size();
    x.dev = dev;
    x.line = line;
    return x;
  }

  void map(const Event& ev, uint64_t ps) {
    uint32_t dev = 0;
    if (!attribute(ev, dev))
      fail(r_.lines, "map cannot be attributed to a device: no attach_device_to_domain before it and no 'task' rule of "
                     "the map file matches task '" + ev.task + "'");
    if (ev.size == 0) fail(r_.lines, "map of size 0");
    act(dev);
    Buf b;
    b.id = ++nbuf_;
    b.dev = dev;
    b.iova = ev.iova;
    b.size = ev.size;
    b.map_ps = ps;
    b.line = r_.lines;
    Out& x = push(Out::Op::Map, ps, dev, r_.lines);
    x.buf = b.id;
    x.size = b.size;
    x.iova = b.iova;
    ++r_.maps;
    max_size_ = std::max(max_size_, b.size);
    live_.emplace(b.iova, b);
  }

  void dma(const Buf& b, uint64_t ps) {
    if (opt_.dma == Options::Dma::None) return;
    Out& x = push(Out::Op::Dma, ps, b.dev, b.line);
    x.write = opt_.dma == Options::Dma::Write;
    x.buf = b.id;
    x.size = b.size;
    ++r_.dmas;
  }

  // Live mappings starting below `addr` that may reach past it (none is larger than max_size_).
  template <typename F>
  void each_below(uint64_t addr, F f) {
    for (auto it = live_.lower_bound(addr); it != live_.begin();) {
      --it;
      if (addr - it->first >= max_size_) break;
      f(it);
    }
  }

  void unmap(const Event& ev, uint64_t ps) {
    // The range the kernel actually unmapped; mappings inside it go, those it only overlaps stay.
    const uint64_t lo = ev.iova, hi = ev.iova + ev.unmapped;
    std::vector<Live::iterator> inside;
    for (auto it = live_.lower_bound(lo); lo < hi && it != live_.end() && it->first < hi; ++it) {
      if (it->second.size <= hi - it->first) inside.push_back(it);
      else ++r_.partial_unmaps;
    }
    if (lo < hi)
      each_below(lo, [&](Live::iterator it) {
        if (it->first + it->second.size > lo) ++r_.partial_unmaps;
      });
    if (inside.empty()) {
      ++r_.unmatched_unmaps;
      return;
    }
    // Domains are not in the event: when mappings of several devices lie in the range, take the
    // device of the one mapping that is exactly the range, else the attributed device if it has
    // any, else the device that mapped last.
    std::sort(inside.begin(), inside.end(), [](Live::iterator a, Live::iterator b) { return a->second.id < b->second.id; });
    uint32_t dev = 0;
    int exact = 0;
    for (auto it : inside)
      if (it->first == lo && it->second.size == ev.unmapped && (exact == 0 || it->second.dev != dev)) {
        dev = it->second.dev;
        ++exact;
      }
    if (exact != 1) {
      const bool has = attribute(ev, dev);
      if (!has || std::none_of(inside.begin(), inside.end(), [&](Live::iterator it) { return it->second.dev == dev; }))
        dev = inside.back()->second.dev;
    }
    for (auto it : inside) {
      const Buf b = it->second;
      if (b.dev != dev) continue;
      live_.erase(it);
      dma(b, b.map_ps + std::min(opt_.dma_delay_ps, (ps - b.map_ps) / 2));
      Out& x = push(Out::Op::Unmap, ps, dev, r_.lines);
      x.buf = b.id;
      x.iova = ev.iova;
      ++r_.unmaps;
      dead_.push_back(b);
    }
  }

  void fault(const Event& ev, uint64_t ps) {
    const uint32_t dev = dev_of(ev.device);
    act(dev);
    Out& x = push(Out::Op::Fault, ps, dev, r_.lines);
    x.write = (ev.flags & 1) != 0;  // IOMMU_FAULT_WRITE
    x.flags = ev.flags;
    x.iova = ev.iova;
    x.size = opt_.fault_size;
    // The simulator places buffers itself: name the buffer the IOVA was in, live (the latest
    // mapped) or else the most recently unmapped.
    const auto in = [&](const Buf& b) { return b.dev == dev && ev.iova >= b.iova && ev.iova - b.iova < b.size; };
    const Buf* hit = nullptr;
    each_below(ev.iova + 1, [&](Live::iterator it) {
      if (in(it->second) && (!hit || it->second.id > hit->id)) hit = &it->second;
    });
    for (auto it = dead_.rbegin(); !hit && it != dead_.rend(); ++it)
      if (in(*it)) hit = &*it;
    if (hit) {
      x.buf = hit->id;
      x.offset = ev.iova - hit->iova;
    } else {
      x.raw = true;
    }
    ++r_.faults;
  }

  void name_devices() {
    const auto& eps = opt_.platform_endpoints;
    const auto on_platform = [&](const std::string& e) { return std::find(eps.begin(), eps.end(), e) != eps.end(); };
    std::string names;
    for (const auto& e : eps) names += (names.empty() ? "" : ", ") + e;
    endpoint_.assign(devs_.size(), "");
    if (!opt_.map.devices.empty()) {
      for (uint32_t d : acting_) {
        const auto it = opt_.map.devices.find(devs_[d]);
        if (it == opt_.map.devices.end()) fail(first_seen_[d], "device " + devs_[d] + " has no line in the map file");
        if (!eps.empty() && !on_platform(it->second))
          fail(first_seen_[d], "device " + devs_[d] + " maps to endpoint '" + it->second +
                                   "', which the platform does not have (endpoints: " + names + ")");
        endpoint_[d] = it->second;
      }
      r_.device_note = "named by the map file";
    } else {
      bool all = true;
      for (uint32_t d : acting_) all = all && on_platform(default_endpoint_name(devs_[d]));
      if (eps.empty() || all) {
        for (uint32_t d : acting_) endpoint_[d] = default_endpoint_name(devs_[d]);
        r_.device_note = eps.empty() ? "default names" : "default names, all on the platform";
      } else {
        if (acting_.size() > eps.size()) {
          const uint32_t d = acting_[eps.size()];
          fail(first_seen_[d], "device " + devs_[d] + " is the capture's device " + std::to_string(eps.size() + 1) +
                                   " but the platform has " + std::to_string(eps.size()) + " endpoints (" + names +
                                   "); give a map file");
        }
        for (size_t i = 0; i < acting_.size(); ++i) endpoint_[acting_[i]] = eps[i];
        r_.device_note = "assigned to the platform's endpoints in order of first appearance";
      }
    }
    for (uint32_t d : acting_) r_.devices.emplace_back(devs_[d], endpoint_[d]);
  }

  using Live = std::multimap<uint64_t, Buf>;  // by IOVA; two domains may map the same one

  std::string path_;
  const Options& opt_;
  Result r_;
  bool started_ = false, has_current_ = false;
  uint64_t t0_ = 0, last_ = 0, nbuf_ = 0, max_size_ = 0;
  uint32_t current_ = 0;                       // the device last attached to a domain
  std::map<std::string, uint32_t> dev_index_;
  std::vector<std::string> devs_;
  std::vector<uint64_t> first_seen_;           // first line naming each device
  std::vector<bool> acts_;
  std::vector<uint32_t> acting_;               // in order of first action
  std::vector<std::string> endpoint_;
  Live live_;
  std::vector<Buf> dead_;
  std::vector<Out> out_;
};

}  // namespace

std::string default_endpoint_name(std::string_view device) {
  std::string s;
  if (is_pci_name(device)) {
    s = "pci-" + std::string(device);
    std::replace(s.begin(), s.end(), ':', '-');
    return s;
  }
  for (char c : device) s += std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '.' ? c : '_';
  if (s.empty() || !std::isalpha(static_cast<unsigned char>(s[0]))) s = "dev_" + s;
  return s;
}

MapFile parse_map_file(std::istream& in, const std::string& path) {
  MapFile m;
  std::string text;
  uint64_t n = 0;
  while (std::getline(in, text)) {
    ++n;
    const size_t hash = text.find('#');
    std::istringstream ss(text.substr(0, hash));
    std::vector<std::string> w;
    for (std::string t; ss >> t;) w.push_back(t);
    if (w.empty()) continue;
    const auto fail = [&](const std::string& what) { throw ImportError(path + ":" + std::to_string(n) + ": " + what); };
    if (w[0] == "task") {
      if (w.size() != 3) fail("expected 'task <comm>[*] <device>'");
      MapFile::TaskRule t;
      t.comm = w[1];
      t.prefix = !t.comm.empty() && t.comm.back() == '*';
      if (t.prefix) t.comm.pop_back();
      t.device = w[2];
      t.line = n;
      m.tasks.push_back(std::move(t));
      continue;
    }
    if (w.size() != 2) fail("expected '<device> <endpoint>' or 'task <comm>[*] <device>'");
    if (!valid_name(w[1]) || w[1] == "host")
      fail("'" + w[1] + "' is not a valid endpoint name (a letter or '_', then letters, digits, '_', '-', '.')");
    if (!m.devices.emplace(w[0], w[1]).second) fail("device " + w[0] + " is mapped twice");
  }
  return m;
}

std::string Result::summary() const {
  std::ostringstream o;
  const auto list = [&](const std::map<std::string, uint64_t>& m) {
    std::string s;
    for (const auto& [k, v] : m) s += (s.empty() ? "" : ", ") + std::to_string(v) + " " + k;
    return s.empty() ? std::string("none") : s;
  };
  uint64_t skip = 0;
  for (const auto& [k, v] : skipped) skip += v;
  o << lines << " lines, " << events << " events; converted: " << list(converted) << "\n";
  o << "skipped " << skip << " other events: " << list(skipped) << "\n";
  o << "wrote " << maps << " dma_map, " << unmaps << " dma_unmap, " << dmas << " DMA by rule, " << faults
    << " io_page_fault accesses\n";
  o << "devices (" << device_note << "):";
  for (const auto& [d, e] : devices) o << " " << d << "=" << e;
  o << "\n";
  if (lost) o << "warning: the kernel lost " << lost << " events (ring buffer overflow): the capture is incomplete\n";
  if (clamped) o << "warning: " << clamped << " events went back in time (another CPU's clock); kept in file order\n";
  if (unmatched_unmaps)
    o << "warning: " << unmatched_unmaps << " unmaps matched no mapping of the capture (mapped before it began?); skipped\n";
  if (partial_unmaps) o << "warning: " << partial_unmaps << " mappings were only partly unmapped; left mapped\n";
  return o.str();
}

Result convert(std::istream& in, const std::string& path, const Options& opt) {
  Converter c(path, opt);
  std::string text;
  while (std::getline(in, text)) c.line(text);
  if (in.bad()) throw ImportError(path + ": read error");
  return c.finish();
}

}  // namespace iommusim::ftrace
