// Trace replay: event dispatch (open / closed loop), handle bindings, host ops and device DMA jobs.
#include "models/host/trace_replay.h"

#include <sysc/kernel/sc_spawn.h>

#include <algorithm>
#include <bit>
#include <utility>

#include "models/common/log.h"
#include "models/common/sim_time.h"
#include "models/common/units.h"
#include "models/host/linux_host.h"

namespace iommusim::host {

// One dma_map of a handle name. Shared by the events that use it, so a DMA issued before the
// unmap still targets this mapping's IOVA even if the name has been unmapped and mapped again.
struct TraceReplay::Binding {
  Binding(unsigned e, uint64_t sz, uint64_t line) : ep(e), size(sz), map_line(line) {}
  unsigned ep;
  uint64_t size;
  uint64_t map_line;
  uint64_t unmap_line = 0;  // 0 while live
  uint64_t pa = 0, iova = 0;
  bool mapped = false;      // the dma_map has completed
};

struct TraceReplay::Item {
  TraceEvent ev;
  unsigned ep = 0;                // device ops: the device; dma_map: the domain's endpoint
  std::shared_ptr<Binding> b;     // buf= / iova=@ / dma_unmap target
  sc_core::sc_time due;           // open loop: when the event should start
};

struct TraceReplay::Actor {
  std::deque<Item> q;
  sc_core::sc_event added, taken;
  bool closing = false, exited = false;
};

TraceReplay::TraceReplay(LinuxHost& host, unsigned default_ep, const TraceWorkloadParams& p, StatGroup& g)
    : h_(host),
      default_ep_(default_ep),
      p_(p),
      events_(g.counter("events", "trace events issued")),
      host_ops_(g.counter("host_ops", "host events (dma_map, dma_unmap, wait)")),
      device_ops_(g.counter("device_ops", "device events (read, write, wait)")),
      requests_(g.counter("requests", "DMA requests the device ops issued")),
      bytes_(g.counter("bytes", "bytes moved by successful DMA requests")),
      faults_(g.counter("faults", "DMA requests that faulted")),
      late_(g.counter("late_events", "open loop: events that started after their timestamp")),
      lateness_ps_(g.counter("lateness_ps", "open loop: total time events started after their timestamp")),
      max_lateness_ps_(g.counter("max_lateness_ps", "open loop: largest lateness of one event")),
      elapsed_ps_(g.counter("elapsed_ps", "replay start to the completion of the last event")) {
  if (!std::has_single_bit(p_.request_size) || p_.request_size > 4096)
    throw std::invalid_argument("trace workload: request_size must be a power of two no larger than 4KiB");
}

TraceReplay::~TraceReplay() = default;

void TraceReplay::fail(const TraceEvent& ev, const std::string& what) const {
  throw TraceError(p_.file + ":" + std::to_string(ev.line) + ": " + what);
}

void TraceReplay::stop(const std::string& msg) {
  h_.fail_run(msg);
  // The run is over; park this thread so nothing after the bad event runs in the final delta.
  for (;;) sc_core::wait(never_);
}

unsigned TraceReplay::endpoint(const std::string& name, const TraceEvent& ev, bool actor) {
  if (auto it = ep_cache_.find(name); it != ep_cache_.end()) return it->second;
  if (auto i = h_.find_endpoint(name)) return ep_cache_[name] = *i;
  std::string names = actor ? "host" : "";
  for (unsigned i = 0; i < h_.endpoint_count(); ++i) names += (names.empty() ? "" : ", ") + h_.endpoint_name(i);
  if (actor) fail(ev, "unknown actor '" + name + "' (actors: " + names + ")");
  fail(ev, "dev=" + name + ": unknown endpoint (endpoints: " + names + ")");
}

void TraceReplay::run() {
  try {
    TraceReader rd(p_.file);
    t0_ = sc_core::sc_time_stamp();
    const bool open = p_.mode == TraceMode::Open;
    TraceEvent ev;
    while (rd.next(ev)) {
      ++events_;
      if (!open) {
        Item it = prepare(std::move(ev));
        execute(it);
        continue;
      }
      const sc_core::sc_time due = t0_ + sc_core::sc_time::from_value(ev.at_ps);
      if (sc_core::sc_time_stamp() < due) sc_core::wait(due - sc_core::sc_time_stamp());
      Item it = prepare(std::move(ev));
      it.due = due;
      Actor& a = actor(it);
      while (a.q.size() >= kQueueDepth) sc_core::wait(a.taken);
      a.q.push_back(std::move(it));
      a.added.notify(sc_core::SC_ZERO_TIME);
    }
    for (auto& [k, a] : actors_) {
      a->closing = true;
      a->added.notify(sc_core::SC_ZERO_TIME);
    }
    for (;;) {
      const bool all = std::all_of(actors_.begin(), actors_.end(), [](const auto& kv) { return kv.second->exited; });
      if (all) break;
      sc_core::wait(exited_);
    }
    elapsed_ps_ += to_ps(sc_core::sc_time_stamp() - t0_);
  } catch (const TraceError& e) {
    stop(e.what());
  }
}

TraceReplay::Actor& TraceReplay::actor(const Item& it) {
  const int key = it.ev.actor == "host" ? -1 : static_cast<int>(it.ep);
  auto& slot = actors_[key];
  if (!slot) {
    slot = std::make_unique<Actor>();
    Actor* a = slot.get();
    sc_core::sc_spawn([this, a] { actor_thread(a); });
  }
  return *slot;
}

void TraceReplay::actor_thread(Actor* a) {
  try {
    for (;;) {
      while (a->q.empty() && !a->closing) sc_core::wait(a->added);
      if (a->q.empty()) break;
      Item it = std::move(a->q.front());
      a->q.pop_front();
      a->taken.notify(sc_core::SC_ZERO_TIME);
      execute(it);
    }
  } catch (const TraceError& e) {
    h_.fail_run(e.what());
    return;
  }
  a->exited = true;
  exited_.notify(sc_core::SC_ZERO_TIME);
}

// Resolves names (actor, dev=, buffer handles) in file order, when the event is issued.
TraceReplay::Item TraceReplay::prepare(TraceEvent&& ev) {
  Item it;
  it.ev = std::move(ev);
  const TraceEvent& e = it.ev;
  const bool host = e.actor == "host";
  if (!host) it.ep = endpoint(e.actor, e, true);
  auto found = names_.find(e.buf);
  const std::shared_ptr<Binding> cur = found == names_.end() ? nullptr : found->second;
  const auto not_mapped = [&]() -> std::string {
    if (!cur) return "buffer '" + e.buf + "' is not mapped (no dma_map before this line)";
    return "buffer '" + e.buf + "' is not mapped (dma_unmap at line " + std::to_string(cur->unmap_line) + ")";
  };
  switch (e.op) {
    case TraceEvent::Op::DmaMap:
      it.ep = e.dev.empty() ? default_ep_ : endpoint(e.dev, e, false);
      if (cur && !cur->unmap_line)
        fail(e, "buffer '" + e.buf + "' is already mapped (dma_map at line " + std::to_string(cur->map_line) + ")");
      it.b = std::make_shared<Binding>(it.ep, e.size, e.line);
      names_[e.buf] = it.b;
      break;
    case TraceEvent::Op::DmaUnmap:
      if (!cur || cur->unmap_line) fail(e, not_mapped());
      cur->unmap_line = e.line;
      it.b = cur;
      break;
    case TraceEvent::Op::Read:
    case TraceEvent::Op::Write:
      if (!e.buf.empty()) {
        if (!cur || cur->unmap_line) fail(e, not_mapped());
        if (cur->ep != it.ep)
          fail(e, "buffer '" + e.buf + "' is mapped for " + h_.endpoint_name(cur->ep) + ", not " + e.actor);
        const uint64_t end = e.offset + (e.count - 1) * e.stride + e.size;
        if (end > cur->size)
          fail(e, "access up to offset " + std::to_string(end) + " is outside buffer '" + e.buf + "' (" +
                      units::format_bytes(cur->size) + ")");
        it.b = cur;
      } else if (!e.iova_of.empty()) {
        auto of = names_.find(e.iova_of);
        if (of == names_.end()) fail(e, "iova=@" + e.iova_of + ": buffer '" + e.iova_of + "' was never mapped");
        it.b = of->second;
      }
      break;
    case TraceEvent::Op::Wait: break;
  }
  return it;
}

void TraceReplay::execute(Item& it) {
  const TraceEvent& e = it.ev;
  // A DMA may be issued while its buffer's dma_map is still running on the host: it waits.
  if (it.b)
    while (!it.b->mapped && e.op != TraceEvent::Op::DmaMap) sc_core::wait(mapped_);
  const sc_core::sc_time now = sc_core::sc_time_stamp();
  if (p_.mode == TraceMode::Open && now > it.due) {
    const uint64_t late = to_ps(now - it.due);
    ++late_;
    lateness_ps_ += late;
    max_lateness_ps_.v = std::max(max_lateness_ps_.v, late);
  }
  ++(e.actor == "host" ? host_ops_ : device_ops_);
  switch (e.op) {
    case TraceEvent::Op::Wait: sc_core::wait(sc_core::sc_time::from_value(e.wait_ps)); break;
    case TraceEvent::Op::DmaMap: {
      Binding& b = *it.b;
      // Physically contiguous and naturally aligned (as the page allocator gives), so large
      // pages can back the mapping when page_size allows them.
      const uint64_t limit = e.page_size ? e.page_size : uint64_t{1} << 30;
      const uint64_t align = std::max<uint64_t>(4096, std::min(std::bit_ceil(e.size), limit));
      try {
        b.pa = h_.alloc_buffer(e.size, align);
      } catch (const std::runtime_error& x) {
        fail(e, "dma_map buf=" + e.buf + ": " + x.what());
      }
      IoProt prot;
      prot.read = e.dir != TraceEvent::Dir::FromDevice;   // DMA_TO_DEVICE: the device only reads
      prot.write = e.dir != TraceEvent::Dir::ToDevice;
      b.iova = h_.dma_map(b.ep, b.pa, e.size, prot, e.page_size ? e.page_size : ~uint64_t{0});
      if (b.iova == 0) {
        h_.free_buffer(b.pa, e.size);
        fail(e, "dma_map buf=" + e.buf + ": no free IOVA space for " + units::format_bytes(e.size));
      }
      b.mapped = true;
      mapped_.notify(sc_core::SC_ZERO_TIME);
      log::get(h_.name())->debug("{}:{}: buf {} mapped for {} at iova {:#x}", p_.file, e.line, e.buf,
                                 h_.endpoint_name(b.ep), b.iova);
      break;
    }
    case TraceEvent::Op::DmaUnmap:
      h_.dma_unmap(it.b->ep, it.b->iova, it.b->size);
      h_.free_buffer(it.b->pa, it.b->size);
      break;
    case TraceEvent::Op::Read:
    case TraceEvent::Op::Write: device_op(it); break;
  }
}

// Splits a device op into DMA jobs whose requests are at most request_size and never cross 4 KiB,
// so exactly the bytes the trace names are transferred.
void TraceReplay::device_op(Item& it) {
  const TraceEvent& e = it.ev;
  const uint64_t base = (it.b ? it.b->iova : e.iova) + e.offset;
  const uint64_t r = p_.request_size;
  bool single = e.size <= r;  // every element is one request: one strided job does the burst
  for (uint64_t i = 0; single && i < e.count; ++i) {
    single = ((base + i * e.stride) & 4095) + e.size <= 4096;
    if (e.stride % 4096 == 0) break;  // every element has the same page offset
  }
  if (single) return job(it.ep, e, base, e.size, e.stride, e.count);
  for (uint64_t i = 0; i < e.count; ++i) {
    uint64_t a = base + i * e.stride, left = e.size;
    if (const uint64_t mis = a & (r - 1)) {
      const uint64_t head = std::min(left, r - mis);
      job(it.ep, e, a, head, 0, 1);
      a += head;
      left -= head;
    }
    if (const uint64_t n = left / r) {
      job(it.ep, e, a, r, r, n);
      a += n * r;
      left -= n * r;
    }
    if (left) job(it.ep, e, a, left, 0, 1);
  }
}

void TraceReplay::job(unsigned ep, const TraceEvent& e, uint64_t iova, uint64_t size, uint64_t stride,
                      uint64_t count) {
  DmaJob j;
  j.iova = iova;
  j.size = static_cast<uint32_t>(size);
  j.pattern = DmaPattern::Strided;
  j.stride = stride;
  j.window = stride * count;  // 0 (stride 0) makes the engine repeat the first address
  j.count = count;
  j.read_fraction = e.op == TraceEvent::Op::Read ? 1.0 : 0.0;
  j.pasid = e.pasid;
  j.pasid_valid = e.has_pasid;
  const JobResult res = h_.run_job(ep, j);
  requests_ += res.requests;
  bytes_ += res.bytes;
  faults_ += res.faults;
}

}  // namespace iommusim::host
