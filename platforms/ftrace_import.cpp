// Converter of the ftrace importer: iommu events in file order -> host and device ops of the trace
// format, with the attribution and DMA rules of docs/ftrace-import.md.
#include "platforms/ftrace_import.h"

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <deque>
#include <queue>
#include <sstream>
#include <unordered_set>

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
  uint64_t id = 0, iova = 0, size = 0, map_ps = 0, line = 0, dead_seq = 0;
  uint32_t dev = 0;
};

// One op of the output, kept compact (captures run to millions of events) and formatted once the
// devices have their endpoint names.
struct Out {
  enum class Op : uint8_t { Map, Unmap, Dma, Fault, Device };  // Device: a comment naming its endpoint
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
  Converter(const std::string& path, const Options& opt, std::ostream& out) : path_(path), opt_(opt), o_(out) {
    o_ << "# Converted from " << opt_.source_name << " by iommusim import-ftrace (docs/ftrace-import.md).\n# DMA rule: ";
    if (opt_.dma == Options::Dma::None) {
      o_ << "none";
    } else {
      o_ << "each buffer is " << (opt_.dma == Options::Dma::Read ? "read" : "written") << " in full by its device at map + "
         << units::format_time(Time{opt_.dma_delay_ps}) << " (at most halfway to its unmap)";
    }
    o_ << "; io_page_fault: a " << units::format_bytes(opt_.fault_size) << " access at the faulting IOVA.\n";
    if (!opt_.map.devices.empty()) r_.device_note = "named by the map file";
    else if (opt_.platform_endpoints.empty()) r_.device_note = "default names";
    else r_.device_note = "default names the platform has, else its unused endpoints in config order";
  }

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
    flush(ps);
  }

  Result finish() {
    resolve(UINT64_MAX);  // mappings never unmapped in the capture: DMA at map + delay
    flush(UINT64_MAX);
    if (!o_) throw ImportError(path_ + ": cannot write the trace");
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

  // The device acts in the output: it gets its endpoint name now, from the map file, else its
  // default name if the platform has it (or no platform is given), else the platform's next
  // unused endpoint in config order.
  void act(uint32_t dev) {
    if (acts_[dev]) return;
    acts_[dev] = true;
    const std::string& d = devs_[dev];
    const auto& eps = opt_.platform_endpoints;
    std::string names;
    for (const auto& e : eps) names += (names.empty() ? "" : ", ") + e;
    const auto on_platform = [&](const std::string& e) { return std::find(eps.begin(), eps.end(), e) != eps.end(); };
    const auto used = [&](const std::string& e) { return std::find(endpoint_.begin(), endpoint_.end(), e) != endpoint_.end(); };
    std::string ep;
    if (!opt_.map.devices.empty()) {
      const auto it = opt_.map.devices.find(d);
      if (it == opt_.map.devices.end()) fail(first_seen_[dev], "device " + d + " has no line in the map file");
      if (!eps.empty() && !on_platform(it->second))
        fail(first_seen_[dev], "device " + d + " maps to endpoint '" + it->second +
                                   "', which the platform does not have (endpoints: " + names + ")");
      ep = it->second;
    } else if (eps.empty() || (on_platform(default_endpoint_name(d)) && !used(default_endpoint_name(d)))) {
      ep = default_endpoint_name(d);
    } else {
      for (const auto& e : eps)
        if (ep.empty() && !used(e) &&
            std::none_of(devs_.begin(), devs_.end(), [&](const std::string& o) { return default_endpoint_name(o) == e; }))
          ep = e;
      if (ep.empty())
        fail(first_seen_[dev], "device " + d + " is the capture's device " + std::to_string(r_.devices.size() + 1) +
                                   " but the platform has " + std::to_string(eps.size()) + " endpoints (" + names +
                                   "); give a map file");
    }
    endpoint_.resize(devs_.size());
    endpoint_[dev] = ep;
    r_.devices.emplace_back(d, ep);
    emit(make(Out::Op::Device, now_, dev, first_seen_[dev]));
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

  Out make(Out::Op op, uint64_t ps, uint32_t dev, uint64_t line) {
    Out x;
    x.op = op;
    x.ps = ps;
    x.seq = ++seq_;
    x.dev = dev;
    x.line = line;
    return x;
  }
  void emit(const Out& x) { heap_.push(x); }

  void map(const Event& ev, uint64_t ps) {
    now_ = ps;
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
    Out x = make(Out::Op::Map, ps, dev, r_.lines);
    x.buf = b.id;
    x.size = b.size;
    x.iova = b.iova;
    emit(x);
    ++r_.maps;
    max_size_ = std::max(max_size_, b.size);
    live_.emplace(b.iova, b);
    if (opt_.dma != Options::Dma::None) pending_.push_back(b);
  }

  void dma(const Buf& b, uint64_t ps) {
    Out x = make(Out::Op::Dma, ps, b.dev, b.line);
    x.write = opt_.dma == Options::Dma::Write;
    x.buf = b.id;
    x.size = b.size;
    emit(x);
    ++r_.dmas;
  }

  // Mappings whose DMA is not written yet, in map order: once the capture is 2 x delay past a map
  // with no unmap, its DMA is at map + delay whatever comes later.
  void resolve(uint64_t t) {
    while (!pending_.empty()) {
      const Buf& b = pending_.front();
      if (!done_.erase(b.id)) {
        if (t != UINT64_MAX && (t - b.map_ps) / 2 <= opt_.dma_delay_ps) break;  // no overflow for huge delays
        dma(b, b.map_ps + opt_.dma_delay_ps);
        early_.insert(b.id);
      }
      pending_.pop_front();
    }
  }

  // Writes every op no later event can precede: those up to the capture's time `t` and before the
  // first mapping whose DMA time is still open.
  void flush(uint64_t t) {
    resolve(t);
    uint64_t bound = t;
    if (!pending_.empty()) bound = std::min(bound, pending_.front().map_ps);
    while (!heap_.empty() && heap_.top().ps <= bound) {
      write(heap_.top());
      heap_.pop();
    }
  }

  void write(const Out& x) {
    const std::string& ep = endpoint_[x.dev];
    if (x.op == Out::Op::Device) {
      o_ << "# device " << devs_[x.dev] << " = " << ep << " (first in line " << x.line << ")\n";
      return;
    }
    o_ << format_time(x.ps) << " ";
    switch (x.op) {
      case Out::Op::Map:
        o_ << "host dma_map buf=b" << x.buf << " size=" << units::format_bytes(x.size) << " dev=" << ep << "  # line "
           << x.line << ": map iova=" << hex(x.iova) << "\n";
        break;
      case Out::Op::Unmap:
        o_ << "host dma_unmap buf=b" << x.buf << "  # line " << x.line << ": unmap iova=" << hex(x.iova) << "\n";
        break;
      case Out::Op::Dma:
        o_ << ep << (x.write ? " write" : " read") << " buf=b" << x.buf << " size=" << units::format_bytes(x.size)
           << "  # DMA rule, map at line " << x.line << "\n";
        break;
      case Out::Op::Fault:
        o_ << ep << (x.write ? " write" : " read");
        if (x.raw) o_ << " iova=" << hex(x.iova);
        else o_ << " iova=@b" << x.buf;
        if (x.offset) o_ << " offset=" << units::format_bytes(x.offset);
        o_ << " size=" << units::format_bytes(x.size) << "  # line " << x.line << ": io_page_fault iova=" << hex(x.iova)
           << " flags=" << hex(x.flags) << "\n";
        break;
      case Out::Op::Device: break;
    }
  }

  // Live mappings starting below `addr` that may reach past it (none is larger than max_size_).
  template <typename Map, typename F>
  void each_below(Map& m, typename Map::key_type key, uint64_t addr, F f) {
    for (auto it = m.lower_bound(key); it != m.begin();) {
      --it;
      if (addr - it->second.iova >= max_size_) break;
      f(it);
    }
  }

  void unmap(const Event& ev, uint64_t ps) {
    now_ = ps;
    // The range the kernel actually unmapped; mappings inside it go, those it only overlaps stay.
    const uint64_t lo = ev.iova, hi = ev.iova + ev.unmapped;
    std::vector<Live::iterator> inside;
    for (auto it = live_.lower_bound(lo); lo < hi && it != live_.end() && it->first < hi; ++it) {
      if (it->second.size <= hi - it->first) inside.push_back(it);
      else ++r_.partial_unmaps;
    }
    if (lo < hi)
      each_below(live_, lo, lo, [&](Live::iterator it) {
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
      Buf b = it->second;
      if (b.dev != dev) continue;
      live_.erase(it);
      if (opt_.dma != Options::Dma::None && !early_.erase(b.id)) {
        dma(b, b.map_ps + std::min(opt_.dma_delay_ps, (ps - b.map_ps) / 2));
        done_.insert(b.id);
      }
      Out x = make(Out::Op::Unmap, ps, dev, r_.lines);
      x.buf = b.id;
      x.iova = ev.iova;
      emit(x);
      ++r_.unmaps;
      b.dead_seq = ++ndead_;
      dead_[{b.iova, b.dev}] = b;  // the latest at this IOVA in this device's domain
    }
  }

  void fault(const Event& ev, uint64_t ps) {
    now_ = ps;
    const uint32_t dev = dev_of(ev.device);
    act(dev);
    Out x = make(Out::Op::Fault, ps, dev, r_.lines);
    x.write = (ev.flags & 1) != 0;  // IOMMU_FAULT_WRITE
    x.flags = ev.flags;
    x.iova = ev.iova;
    x.size = opt_.fault_size;
    // The simulator places buffers itself: name the buffer the IOVA was in, live (the latest
    // mapped) or else the most recently unmapped.
    const auto in = [&](const Buf& b) { return b.dev == dev && ev.iova >= b.iova && ev.iova - b.iova < b.size; };
    const Buf* hit = nullptr;
    if (ev.iova != UINT64_MAX) {
      each_below(live_, ev.iova + 1, ev.iova, [&](Live::iterator it) {
        if (in(it->second) && (!hit || it->second.id > hit->id)) hit = &it->second;
      });
      if (!hit)
        each_below(dead_, Dead::key_type{ev.iova + 1, 0}, ev.iova, [&](Dead::iterator it) {
          if (in(it->second) && (!hit || it->second.dead_seq > hit->dead_seq)) hit = &it->second;
        });
    }
    if (hit) {
      x.buf = hit->id;
      x.offset = ev.iova - hit->iova;
    } else {
      x.raw = true;
    }
    emit(x);
    ++r_.faults;
  }

  struct Later {
    bool operator()(const Out& a, const Out& b) const { return a.ps != b.ps ? a.ps > b.ps : a.seq > b.seq; }
  };
  using Live = std::multimap<uint64_t, Buf>;                    // by IOVA; two domains may map the same one
  using Dead = std::map<std::pair<uint64_t, uint32_t>, Buf>;    // by (IOVA, device)

  std::string path_;
  const Options& opt_;
  std::ostream& o_;
  Result r_;
  bool started_ = false, has_current_ = false;
  uint64_t t0_ = 0, last_ = 0, now_ = 0, nbuf_ = 0, ndead_ = 0, seq_ = 0, max_size_ = 0;
  uint32_t current_ = 0;                       // the device last attached to a domain
  std::map<std::string, uint32_t> dev_index_;
  std::vector<std::string> devs_;
  std::vector<uint64_t> first_seen_;           // first line naming each device
  std::vector<bool> acts_;
  std::vector<std::string> endpoint_;
  Live live_;
  Dead dead_;
  std::deque<Buf> pending_;                    // mappings in map order whose DMA may still be open
  std::unordered_set<uint64_t> done_;          // DMA written at unmap, before its turn in pending_
  std::unordered_set<uint64_t> early_;         // DMA written by resolve(), before the unmap
  std::priority_queue<Out, std::vector<Out>, Later> heap_;
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

Result convert(std::istream& in, const std::string& path, const Options& opt, std::ostream& out) {
  Converter c(path, opt, out);
  std::string text;
  while (std::getline(in, text)) c.line(text);
  if (in.bad()) throw ImportError(path + ": read error");
  return c.finish();
}

std::string convert_to_string(std::istream& in, const std::string& path, const Options& opt, Result* result) {
  std::ostringstream o;
  Result r = convert(in, path, opt, o);
  if (result) *result = std::move(r);
  return o.str();
}

}  // namespace iommusim::ftrace
