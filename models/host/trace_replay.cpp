// Trace replay: event dispatch (open / closed loop), handle bindings, host ops and device DMA jobs.
#include "models/host/trace_replay.h"

#include <sysc/kernel/sc_spawn.h>

#include <algorithm>
#include <bit>
#include <cerrno>
#include <cstdio>
#include <utility>

#include "models/common/log.h"
#include "models/common/sim_time.h"
#include "models/common/units.h"
#include "models/host/iommufd.h"
#include "models/host/linux_host.h"

namespace iommusim::host {

namespace {
// "0", "-EINVAL", or "-<n>" for an errno without a name here.
std::string code_name(int err) { return result_name(err); }

// "ok", "einval", or "errno<n>": the counter suffix.
std::string counter_suffix(int err) {
  if (err == 0) return "ok";
  if (const char* n = errno_name(-err)) {
    std::string s = n;
    for (char& c : s) c = static_cast<char>(c - 'A' + 'a');
    return s;
  }
  return "errno" + std::to_string(-err);
}

std::string hex(uint64_t v) {
  char b[24];
  std::snprintf(b, sizeof b, "%#llx", static_cast<unsigned long long>(v));
  return b;
}
}  // namespace

// One dma_map of a handle name. Shared by the events that use it, so a DMA issued before the
// unmap still targets this mapping's IOVA even if the name has been unmapped and mapped again.
// An mmap binds a name the same way; its `iova` is then the process's virtual address.
struct TraceReplay::Binding {
  Binding(unsigned e, uint64_t sz, uint64_t line, Process* p = nullptr) : ep(e), size(sz), map_line(line), proc(p) {}
  unsigned ep;
  uint64_t size;
  uint64_t map_line;
  Process* proc;            // mmap: the process whose memory this is; null for dma_map
  uint64_t unmap_line = 0;  // 0 while live
  uint64_t pa = 0, iova = 0;
  bool mapped = false;      // the dma_map or mmap has completed
  int err = 0;              // mmap: its result (a failed mmap leaves nothing to access)
  const char* map_op() const { return proc ? "mmap" : "dma_map"; }
};

// One bind line. Device ops issued after it wait for its result: a failed bind leaves the device
// without a PASID for the process.
struct TraceReplay::BindOp {
  explicit BindOp(uint64_t l) : line(l) {}
  uint64_t line;
  bool done = false;
  int err = 0;
  uint32_t pasid = 0;
};

// A process of the trace (mm= name): its address space, created by the first mmap or bind naming it.
struct TraceReplay::Process {
  struct Bond {
    // Binds issued minus unbinds issued, in file order. A failed bind counts too (its unbind gets
    // -ENOENT from the kernel), so the device stays "bound" for the trace until its unbind.
    unsigned refs = 0;
    uint64_t unbind_line = 0;  // the unbind that dropped the last reference
    std::shared_ptr<BindOp> last;
  };
  std::string name;
  Mm* mm = nullptr;
  uint64_t exit_line = 0;          // 0 while alive
  std::map<unsigned, Bond> bonds;  // by endpoint
};

struct TraceReplay::Item {
  TraceEvent ev;
  unsigned ep = 0;                // device ops: the device; dma_map: the domain's endpoint; bind, unbind: dev=
  std::shared_ptr<Binding> b;     // buf= / iova=@ / dma_unmap, touch, munmap, mprotect target
  std::shared_ptr<BindOp> bind;   // bind: its record; device op with sva=: the bind it uses
  Process* proc = nullptr;        // mmap, bind, unbind, exit, sva=
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
      host_ops_(g.counter("host_ops", "host events (dma_map, dma_unmap, mmap, touch, munmap, mprotect, bind, unbind, "
                                      "exit, wait, the iommufd ops)")),
      device_ops_(g.counter("device_ops", "device events (read, write, wait)")),
      requests_(g.counter("requests", "DMA requests the device ops issued")),
      bytes_(g.counter("bytes", "bytes moved by successful DMA requests")),
      faults_(g.counter("faults", "DMA requests that faulted")),
      late_(g.counter("late_events", "open loop: events that started after their timestamp")),
      lateness_ps_(g.counter("lateness_ps", "open loop: total time events started after their timestamp")),
      max_lateness_ps_(g.counter("max_lateness_ps", "open loop: largest lateness of one event")),
      elapsed_ps_(g.counter("elapsed_ps", "replay start to the completion of the last event")),
      log_(log::get(host.name())),
      g_(g) {
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

TraceReplay::Process& TraceReplay::process(const TraceEvent& e, bool create) {
  if (auto it = procs_.find(e.mm); it != procs_.end()) return *it->second;
  if (!create) fail(e, "process '" + e.mm + "' does not exist (no mmap or bind before this line)");
  auto p = std::make_unique<Process>();
  p->name = e.mm;
  p->mm = &h_.create_mm();
  return *procs_.emplace(e.mm, std::move(p)).first->second;
}

// Resolves names (actor, dev=, buffer handles, processes and their binds) in file order, when the
// event is issued.
TraceReplay::Item TraceReplay::prepare(TraceEvent&& ev) {
  using Op = TraceEvent::Op;
  Item it;
  it.ev = std::move(ev);
  const TraceEvent& e = it.ev;
  const bool host = e.actor == "host";
  if (!host) it.ep = endpoint(e.actor, e, true);
  auto found = names_.find(e.buf);
  const std::shared_ptr<Binding> cur = found == names_.end() ? nullptr : found->second;
  const bool live = cur && !cur->unmap_line;
  const auto line = [](uint64_t l) { return std::to_string(l); };
  const auto not_mapped = [&](const char* map_op) -> std::string {
    if (!cur) return "buffer '" + e.buf + "' is not mapped (no " + map_op + " before this line)";
    return "buffer '" + e.buf + "' is not mapped (" + (cur->proc ? "munmap" : "dma_unmap") + " at line " +
           line(cur->unmap_line) + ")";
  };
  // A process makes no system calls once it has exited; its binds may still be released.
  const auto alive = [&](const Process& p) {
    if (p.exit_line) fail(e, "process '" + p.name + "' has exited (exit at line " + line(p.exit_line) + ")");
  };
  // touch, munmap, mprotect: a live mmap'd buffer and a range inside it.
  const auto process_range = [&] {
    if (!live) fail(e, not_mapped("mmap"));
    if (!cur->proc)
      fail(e, "buffer '" + e.buf + "' is a DMA buffer (dma_map at line " + line(cur->map_line) +
                  "), not process memory");
    alive(*cur->proc);
    if (e.offset >= cur->size)
      fail(e, "offset " + std::to_string(e.offset) + " is outside buffer '" + e.buf + "' (" +
                  units::format_bytes(cur->size) + ")");
    if (e.size > cur->size - e.offset)
      fail(e, "access up to offset " + std::to_string(e.offset + e.size) + " is outside buffer '" + e.buf + "' (" +
                  units::format_bytes(cur->size) + ")");
    it.b = cur;
    it.proc = cur->proc;
  };
  switch (e.op) {
    case Op::DmaMap:
      it.ep = e.dev.empty() ? default_ep_ : endpoint(e.dev, e, false);
      if (live)
        fail(e, "buffer '" + e.buf + "' is already mapped (" + cur->map_op() + " at line " + line(cur->map_line) + ")");
      it.b = std::make_shared<Binding>(it.ep, e.size, e.line);
      names_[e.buf] = it.b;
      break;
    case Op::DmaUnmap:
      if (!live) fail(e, not_mapped("dma_map"));
      if (cur->proc)
        fail(e, "buffer '" + e.buf + "' is memory of process '" + cur->proc->name + "' (mmap at line " +
                    line(cur->map_line) + "): use munmap");
      cur->unmap_line = e.line;
      it.b = cur;
      break;
    case Op::Mmap: {
      Process& p = process(e, true);
      alive(p);
      if (live)
        fail(e, "buffer '" + e.buf + "' is already mapped (" + cur->map_op() + " at line " + line(cur->map_line) + ")");
      it.b = std::make_shared<Binding>(default_ep_, e.size, e.line, &p);
      it.proc = &p;
      names_[e.buf] = it.b;
      break;
    }
    case Op::Touch:
    case Op::Mprotect: process_range(); break;
    case Op::Munmap:
      process_range();
      // The whole buffer: the name is released, as dma_unmap does; a part leaves a hole in it.
      if (e.offset == 0 && (e.size == 0 || e.size == cur->size)) cur->unmap_line = e.line;
      break;
    case Op::Bind: {
      it.ep = endpoint(e.dev, e, false);
      Process& p = process(e, true);
      alive(p);
      Process::Bond& bond = p.bonds[it.ep];
      ++bond.refs;
      bond.unbind_line = 0;
      bond.last = std::make_shared<BindOp>(e.line);
      it.bind = bond.last;
      it.proc = &p;
      break;
    }
    case Op::Unbind: {
      it.ep = endpoint(e.dev, e, false);
      Process& p = process(e, false);
      // An unbind without a bind is still issued: the kernel's answer (-ENOENT) is the result.
      if (auto b = p.bonds.find(it.ep); b != p.bonds.end() && b->second.refs && --b->second.refs == 0)
        b->second.unbind_line = e.line;
      it.proc = &p;
      break;
    }
    case Op::Exit: {
      Process& p = process(e, false);
      if (p.exit_line) fail(e, "process '" + p.name + "' has already exited (exit at line " + line(p.exit_line) + ")");
      p.exit_line = e.line;
      it.proc = &p;
      break;
    }
    case Op::Read:
    case Op::Write:
      if (!e.mm.empty()) {
        Process& p = process(e, false);
        const auto b = p.bonds.find(it.ep);
        if (b == p.bonds.end() || !b->second.refs)
          fail(e, e.actor + " is not bound to process '" + p.name + "' (" +
                      (b == p.bonds.end() ? std::string("no bind before this line")
                                          : "unbind at line " + line(b->second.unbind_line)) +
                      ")");
        it.bind = b->second.last;
        it.proc = &p;
      }
      if (!e.buf.empty()) {
        if (!live) fail(e, not_mapped(e.mm.empty() ? "dma_map" : "mmap"));
        if (cur->proc && e.mm.empty())
          fail(e, "buffer '" + e.buf + "' is memory of process '" + cur->proc->name + "' (mmap at line " +
                      line(cur->map_line) + "): use sva=" + cur->proc->name);
        if (cur->proc && cur->proc != it.proc)
          fail(e, "buffer '" + e.buf + "' is memory of process '" + cur->proc->name + "', not '" + e.mm + "'");
        if (!cur->proc && !e.mm.empty())
          fail(e, "buffer '" + e.buf + "' is a DMA buffer (dma_map at line " + line(cur->map_line) +
                      "), not memory of process '" + e.mm + "'");
        if (!cur->proc && cur->ep != it.ep)
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
    case Op::HwptAlloc:
    case Op::Attach:
    case Op::Replace:
    case Op::Detach:
    case Op::MsiIova:
    case Op::RequestIrq:
    case Op::FreeIrq: it.ep = endpoint(e.dev, e, false); break;
    case Op::Msi:
    case Op::Wait:
    case Op::IoasAlloc:
    case Op::IoasAllow:
    case Op::IoasMap:
    case Op::IoasUnmap: break;
  }
  return it;
}

void TraceReplay::execute(Item& it) {
  using Op = TraceEvent::Op;
  TraceEvent& e = it.ev;
  // A DMA or a process op may be issued while the map or bind it needs is still running on the
  // host: it waits for it.
  const bool maps = e.op == Op::DmaMap || e.op == Op::Mmap;
  if (it.b && !maps)
    while (!it.b->mapped) sc_core::wait(host_done_);
  if (it.bind && e.op != Op::Bind)
    while (!it.bind->done) sc_core::wait(host_done_);
  const sc_core::sc_time now = sc_core::sc_time_stamp();
  if (p_.mode == TraceMode::Open && now > it.due) {
    const uint64_t late = to_ps(now - it.due);
    ++late_;
    lateness_ps_ += late;
    max_lateness_ps_.v = std::max(max_lateness_ps_.v, late);
  }
  ++(e.actor == "host" ? host_ops_ : device_ops_);
  if (it.b && !maps && it.b->err) {
    const std::string& name = e.buf.empty() ? e.iova_of : e.buf;
    const std::string key = e.buf.empty() ? "iova=@" + name + ": " : std::string();
    fail(e, key + "buffer '" + name + "' is not mapped (mmap at line " + std::to_string(it.b->map_line) +
                " failed: " + code_name(it.b->err) + ")");
  }
  switch (e.op) {
    case Op::Wait: sc_core::wait(sc_core::sc_time::from_value(e.wait_ps)); break;
    case Op::DmaMap: {
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
      host_done_.notify(sc_core::SC_ZERO_TIME);
      const bool info = log_->should_log(spdlog::level::info);
      report(e, 0, info ? "iova " + hex(b.iova) + " for " + h_.endpoint_name(b.ep) : std::string());
      break;
    }
    case Op::DmaUnmap:
      h_.dma_unmap(it.b->ep, it.b->iova, it.b->size);
      h_.free_buffer(it.b->pa, it.b->size);
      report(e, 0, "");
      break;
    case Op::Mmap:
    case Op::Touch:
    case Op::Munmap:
    case Op::Mprotect:
    case Op::Bind:
    case Op::Unbind:
    case Op::Exit: host_op(it); break;
    case Op::IoasAlloc:
    case Op::IoasAllow:
    case Op::IoasMap:
    case Op::IoasUnmap:
    case Op::HwptAlloc:
    case Op::Attach:
    case Op::Replace:
    case Op::Detach:
    case Op::MsiIova: iommufd_op(it); break;
    case Op::RequestIrq: {
      const int err = h_.request_irq(it.ep, e.vector);
      std::string detail;
      if (auto m = h_.irq_message(it.ep, e.vector)) detail = "message " + hex(m->addr) + "/" + hex(m->data);
      report(e, err, detail);
      break;
    }
    case Op::FreeIrq: report(e, h_.free_irq(it.ep, e.vector), ""); break;
    case Op::Msi:
      // The device's event source raises the vector (the write itself is the device's).
      for (uint64_t i = 0; i < e.count; ++i)
        if (!h_.trigger_msi(it.ep, e.vector)) fail(e, "vector=" + std::to_string(e.vector) + ": the device has no such MSI-X vector");
      break;
    case Op::Read:
    case Op::Write:
      if (it.bind) {
        if (it.bind->err)
          fail(e, e.actor + " is not bound to process '" + it.proc->name + "' (bind at line " +
                      std::to_string(it.bind->line) + " failed: " + code_name(it.bind->err) + ")");
        e.pasid = it.bind->pasid;
        e.has_pasid = true;
      }
      device_op(it);
      break;
  }
}

// The process-memory and SVA ops. Their failures are results, reported and replayed on.
void TraceReplay::host_op(Item& it) {
  using Op = TraceEvent::Op;
  const TraceEvent& e = it.ev;
  Mm& mm = *it.proc->mm;
  const bool info = log_->should_log(spdlog::level::info);
  const Mm::Prot prot{e.prot.read, e.prot.write, e.prot.exec};
  const uint64_t va = it.b ? it.b->iova + e.offset : 0;
  const uint64_t len = !it.b ? 0 : e.size ? e.size : it.b->size - e.offset;
  int err = 0;
  std::string detail;  // for the log line only
  switch (e.op) {
    case Op::Mmap: {
      const Mm::MmapResult r = mm.mmap(e.size, prot, e.populate);
      it.b->err = err = r.err;
      it.b->iova = r.addr;
      it.b->mapped = true;
      host_done_.notify(sc_core::SC_ZERO_TIME);
      if (info && r.ok()) detail = "va " + hex(r.addr);
      break;
    }
    case Op::Touch: {
      const Mm::FaultResult f = mm.touch(va, len, e.write_access);
      // The CPU would take SIGSEGV (or the OOM path): the first page it could not fault in.
      if (!f.ok()) err = f.reason == Mm::FaultResult::Reason::NoMemory ? -ENOMEM : -EFAULT;
      if (info && !f.ok()) detail = "at va " + hex(f.addr);
      break;
    }
    case Op::Munmap: {
      const Mm::UnmapResult r = mm.munmap(va, len);
      err = r.err;
      if (info && !err) detail = std::to_string(r.pages) + " resident pages freed";
      break;
    }
    case Op::Mprotect: err = mm.mprotect(va, len, prot); break;
    case Op::Bind: {
      uint32_t pasid = 0;
      err = h_.sva_bind(it.ep, mm, pasid);
      it.bind->err = err;
      it.bind->pasid = pasid;
      it.bind->done = true;
      host_done_.notify(sc_core::SC_ZERO_TIME);
      if (info && !err) detail = "pasid " + std::to_string(pasid);
      break;
    }
    case Op::Unbind: err = h_.sva_unbind(it.ep, mm); break;
    case Op::Exit: {
      const uint64_t pages = mm.exit();
      if (info) detail = std::to_string(pages) + " pages freed";
      break;
    }
    default: break;
  }
  report(e, err, detail);
}

void TraceReplay::report(const TraceEvent& e, int err, const std::string& detail) {
  Counter* c = nullptr;
  for (const Result& r : results_)
    if (r.op == e.op && r.err == err) c = r.c;
  if (!c) {
    const std::string op = op_name(e.op);
    c = &g_.counter(op + "_" + counter_suffix(err), op + " calls that returned " + code_name(err));
    results_.push_back({e.op, err, c});
  }
  ++*c;
  // iommufd ops: one entry `line<N>_<op>` per op (its result code), up to kMaxResults. In the
  // workload's group, which outlives the replay.
  if (e.is_iommufd_op() && listed_ < kMaxResults) {
    ++listed_;
    g_.derived("line" + std::to_string(e.line) + "_" + op_name(e.op),
               std::string(op_name(e.op)) + " at line " + std::to_string(e.line) + " returned " + code_name(err),
               [err] { return static_cast<double>(err); });
  }
  if (log_->should_log(spdlog::level::info)) {
    std::string what = op_name(e.op);
    if (!e.id.empty()) what += " id=" + e.id;
    if (!e.dev.empty()) what += " dev=" + e.dev;
    if (!e.ioas.empty()) what += " ioas=" + e.ioas;
    if (!e.pt.empty()) what += " pt=" + e.pt;
    if (!e.mm.empty()) what += " mm=" + e.mm;
    if (!e.buf.empty()) what += " buf=" + e.buf;
    if (e.op == TraceEvent::Op::RequestIrq || e.op == TraceEvent::Op::FreeIrq) what += " vector=" + std::to_string(e.vector);
    log_->info("{}:{}: {} -> {}{}", p_.file, e.line, what, code_name(err), detail.empty() ? "" : " (" + detail + ")");
  }
  if (e.has_expect && err != e.expect)
    fail(e, std::string(op_name(e.op)) + " returned " + code_name(err) + ", expected " + code_name(e.expect) +
                (detail.empty() ? "" : " (" + detail + ")"));
}

// The iommufd ops. Object names resolve when the op runs (host ops run in file order); a name
// that does not exist, or one created twice, is bad input. Results are reported like host_op's.
void TraceReplay::iommufd_op(Item& it) {
  using Op = TraceEvent::Op;
  const TraceEvent& e = it.ev;
  Iommufd& fd = h_.iommufd();
  const auto object = [&](const std::string& name, const char* key, bool want_ioas, bool want_hwpt) -> uint32_t {
    auto o = objects_.find(name);
    if (o == objects_.end())
      fail(e, std::string(key) + "=" + name + ": no object '" + name + "' (no alloc before this line)");
    if (o->second.failed)
      fail(e, std::string(key) + "=" + name + ": its alloc at line " + std::to_string(o->second.line) + " failed");
    const bool ioas = fd.is_ioas(o->second.id);
    if ((ioas && !want_ioas) || (!ioas && !want_hwpt))
      fail(e, std::string(key) + "=" + name + ": '" + name + "' is " + (ioas ? "an IOAS" : "an HWPT") + ", not " +
                  (want_ioas ? "an IOAS" : "an HWPT"));
    return o->second.id;
  };
  const auto create = [&](uint32_t id, int err) {
    if (auto o = objects_.find(e.id); o != objects_.end())
      fail(e, "id=" + e.id + ": object '" + e.id + "' already exists (line " + std::to_string(o->second.line) + ")");
    objects_[e.id] = Object{id, e.line, err != 0};
  };
  // A named physical buffer: allocated (naturally aligned, as dma_map's) on first use.
  const auto buffer = [&](uint64_t size) -> uint64_t {
    if (e.buf.empty()) {
      const uint64_t align = std::max<uint64_t>(4096, std::min(std::bit_ceil(size), uint64_t{1} << 30));
      return h_.alloc_buffer(size, align);
    }
    auto b = bufs_.find(e.buf);
    if (b == bufs_.end()) {
      const uint64_t align = std::max<uint64_t>(4096, std::min(std::bit_ceil(size), uint64_t{1} << 30));
      b = bufs_.emplace(e.buf, Buf{h_.alloc_buffer(size, align), size, e.line}).first;
    } else if (size > b->second.size) {
      fail(e, "size " + units::format_bytes(size) + " is larger than buffer '" + e.buf + "' (" +
                  units::format_bytes(b->second.size) + ", line " + std::to_string(b->second.line) + ")");
    }
    return b->second.pa;
  };
  const bool info = log_->should_log(spdlog::level::info);
  int err = 0;
  std::string detail;
  try {
    switch (e.op) {
      case Op::IoasAlloc: {
        uint32_t id = 0;
        err = fd.ioas_alloc(id);
        create(id, err);
        if (info && !err) detail = "id " + std::to_string(id);
        break;
      }
      case Op::IoasAllow: {
        const uint32_t io = object(e.ioas, "ioas", true, false);
        err = fd.ioas_allow_iovas(io, {{e.iova, e.iova + e.size - 1}});
        break;
      }
      case Op::IoasMap: {
        const uint32_t io = object(e.ioas, "ioas", true, false);
        const uint64_t pa = buffer(e.size);
        uint64_t iova = e.iova;
        err = fd.ioas_map(io, pa, e.size, IoProt{e.prot.read, e.prot.write}, iova, e.has_iova);
        if (info && !err) detail = "iova " + hex(iova) + ", pa " + hex(pa);
        break;
      }
      case Op::IoasUnmap: {
        const uint32_t io = object(e.ioas, "ioas", true, false);
        uint64_t n = 0;
        err = e.has_iova ? fd.ioas_unmap(io, e.iova, e.size, &n) : fd.ioas_unmap(io, 0, Iommufd::kUnmapAll, &n);
        if (info && !err) detail = units::format_bytes(n) + " unmapped";
        break;
      }
      case Op::HwptAlloc: {
        const uint32_t io = object(e.ioas, "ioas", true, false);
        uint32_t id = 0;
        err = fd.hwpt_alloc(it.ep, io, id);
        create(id, err);
        if (info && !err) detail = "id " + std::to_string(id);
        break;
      }
      case Op::Attach:
      case Op::Replace: {
        const uint32_t pt = object(e.pt, "pt", true, true);
        uint32_t used = 0;
        err = e.op == Op::Attach ? fd.attach(it.ep, pt, &used) : fd.replace(it.ep, pt, &used);
        if (info && !err) detail = "hwpt " + std::to_string(used);
        break;
      }
      case Op::Detach: err = fd.detach(it.ep); break;
      case Op::MsiIova: {
        uint64_t iova = 0;
        const uint64_t pa = buffer(Iommufd::kPageSize);
        err = fd.get_msi_iova(it.ep, pa, iova);
        if (info && !err) detail = "doorbell " + hex(pa) + " at iova " + hex(iova);
        break;
      }
      default: break;
    }
  } catch (const std::runtime_error& x) {
    if (dynamic_cast<const TraceError*>(&x)) throw;
    fail(e, std::string(op_name(e.op)) + ": " + x.what());  // out of memory for a buffer
  }
  if (err && detail.empty()) detail = fd.last_error();
  report(e, err, detail);
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
