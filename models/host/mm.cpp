// Process address space: VMAs, CPU page tables through io-pgtable with user-page codecs, demand
// faults, munmap/mprotect/exit with mmu-notifier calls.
#include "models/host/mm.h"

#include <algorithm>
#include <cerrno>
#include <stdexcept>
#include <string>

#include "models/common/sim_time.h"
#include "models/host/io_pgtable_arm.h"
#include "models/host/io_pgtable_x86.h"

namespace iommusim::host {

namespace {

// x86-64 user pages as Linux writes them (PAGE_SHARED/PAGE_READONLY plus A, and D when writable).
class UserX86Codec : public X86Codec {
 public:
  explicit UserX86Codec(unsigned levels) : X86Codec(levels, Stage::First) {}
  uint64_t encode_table(uint64_t pa, unsigned /*level*/) const {
    pgtable::x86::FsTableAttrs a;  // _PAGE_TABLE; its D bit is ignored in non-leaf entries
    a.write = true;
    a.user = true;
    a.accessed = true;
    return pgtable::x86::encode_table(pa, a);
  }
  uint64_t encode_leaf(uint64_t pa, unsigned l, IoProt prot) const {
    pgtable::x86::FsLeafAttrs a;
    a.write = prot.write;
    a.user = true;
    a.xd = !prot.exec;
    a.accessed = true;
    a.dirty = prot.write;  // preset: the IOMMU models never set A/D
    return pgtable::x86::encode_leaf(pa, l, geometry(), a);
  }
  // Rights of a walk are the AND of every level (XD an OR).
  void restrict(uint64_t raw, unsigned l, Mm::Translation& t) const {
    const auto d = pgtable::x86::decode_fs(raw, l, geometry());
    t.write = t.write && d.write;
    t.user = t.user && d.user;
    t.exec = t.exec && d.exec;
  }
};

// VMSAv8-64 stage-1 user pages as arm64 Linux writes them.
class UserArmCodec : public ArmCodec {
 public:
  UserArmCodec() : ArmCodec(pgtable::Granule::K4, 48, false) {}
  uint64_t encode_leaf(uint64_t pa, unsigned l, IoProt prot) const {
    pgtable::S1Attrs a;
    a.ro = !prot.write;  // writable pages mapped dirty, see mm.h
    a.user = true;
    a.af = true;
    a.ng = true;
    a.attr_index = 0;  // MT_NORMAL
    a.sh = 3;
    a.pxn = true;
    a.uxn = !prot.exec;
    a.dbm = prot.write;  // PTE_WRITE
    return pgtable::encode_s1_leaf(pa, l, geometry(), a);
  }
  void restrict(uint64_t raw, unsigned l, Mm::Translation& t) const {
    const pgtable::Decoded d = pgtable::decode(raw, l, geometry(), false);
    if (d.kind == pgtable::Kind::Table) {
      if (d.table_attrs & pgtable::tbl::AP_RO) t.write = false;
      if (d.table_attrs & pgtable::tbl::AP_NO_EL0) t.user = false;
      if (d.table_attrs & pgtable::tbl::XN) t.exec = false;
      return;
    }
    t.write = t.write && !d.s1.ro;
    t.user = t.user && d.s1.user;
    t.exec = t.exec && !d.s1.uxn;
  }
};

}  // namespace

// The format-specific table editor behind Mm.
struct Mm::Tables {
  virtual ~Tables() = default;
  virtual uint64_t root() const = 0;
  virtual unsigned levels() const = 0;
  virtual PgWork map(uint64_t va, uint64_t pa, const Prot& p) = 0;
  virtual void unmap(uint64_t va) = 0;
  virtual std::optional<Translation> walk(uint64_t va) = 0;
  // Clears the root's entries and returns every table below the root (deepest first).
  virtual std::vector<uint64_t> detach_all() = 0;
};

namespace {

template <class Codec>
class TablesImpl final : public Mm::Tables {
 public:
  TablesImpl(PhysMem& mem, PhysAlloc& alloc, const Codec& c) : mem_(mem), pt_(mem, alloc, c) {}
  uint64_t root() const override { return pt_.root(); }
  unsigned levels() const override { return c().last_level() - c().start_level() + 1; }
  PgWork map(uint64_t va, uint64_t pa, const Mm::Prot& p) override {
    IoProt prot;
    prot.read = true;
    prot.write = p.write;
    prot.exec = p.exec;
    return pt_.map(va, pa, Mm::kPage, prot, Mm::kPage);
  }
  void unmap(uint64_t va) override {
    uint64_t leaf = 0;
    pt_.unmap(va, Mm::kPage, leaf);
  }
  std::optional<Mm::Translation> walk(uint64_t va) override {
    Mm::Translation t{0, true, true, true};
    uint64_t table = pt_.root();
    for (unsigned l = c().start_level(); l <= c().last_level(); ++l) {
      const uint64_t raw = mem_.read64(table + uint64_t{c().index(va, l)} * 8);
      const PgEntry e = c().decode(raw, l);
      if (e.kind == PgEntry::Kind::Invalid) return std::nullopt;
      c().restrict(raw, l, t);
      if (e.kind == PgEntry::Kind::Table) {
        table = e.addr;
        continue;
      }
      t.pa = e.addr | (va & (c().entry_span(l) - 1));
      return t;
    }
    return std::nullopt;
  }
  std::vector<uint64_t> detach_all() override {
    std::vector<uint64_t> tables;
    const unsigned l0 = c().start_level();
    for (unsigned i = 0; i < c().entries(l0); ++i) {
      const uint64_t slot = pt_.root() + uint64_t{i} * 8;
      const PgEntry e = c().decode(mem_.read64(slot), l0);
      if (e.kind == PgEntry::Kind::Invalid) continue;
      mem_.write64(slot, 0);
      if (e.kind == PgEntry::Kind::Table) collect(e.addr, l0 + 1, tables);
    }
    return tables;
  }

 private:
  const Codec& c() const { return pt_.codec(); }
  void collect(uint64_t table, unsigned level, std::vector<uint64_t>& out) {
    if (level < c().last_level()) {
      for (unsigned i = 0; i < c().entries(level); ++i) {
        const PgEntry e = c().decode(mem_.read64(table + uint64_t{i} * 8), level);
        if (e.kind == PgEntry::Kind::Table) collect(e.addr, level + 1, out);
      }
    }
    out.push_back(table);
  }
  PhysMem& mem_;
  IoPgtable<Codec> pt_;
};

}  // namespace

Mm::Mm(PhysMem& mem, PhysAlloc& alloc, Format f, uint64_t id, Cpu* cpu, const CpuCosts& cost, const MmOptions& opt,
       StatGroup* stats_parent)
    : mem_(mem),
      alloc_(alloc),
      format_(f),
      id_(id),
      cpu_(cpu),
      cost_(cost),
      opt_(opt),
      stats_("mm" + std::to_string(id), stats_parent),
      faults_(stats_.counter("faults", "page faults handled (CPU and I/O)")),
      faults_mapped_(stats_.counter("faults_mapped", "faults that mapped a new page")),
      faults_spurious_(stats_.counter("faults_spurious", "faults on a page already mapped with enough rights")),
      faults_invalid_(stats_.counter("faults_invalid", "faults refused: no VMA, access not allowed, mm gone, no memory")),
      pages_freed_(stats_.counter("pages_freed", "pages unmapped and freed (munmap, exit)")),
      notifier_calls_(stats_.counter("notifier_calls", "mmu-notifier invalidate and release calls")) {
  // x86's TASK_SIZE_MAX leaves the last page below the canonical hole unmapped.
  task_size_ = f == Format::X86_4 ? (uint64_t{1} << 47) - kPage
               : f == Format::X86_5 ? (uint64_t{1} << 56) - kPage
                                    : uint64_t{1} << 48;
  if (opt_.mmap_base > task_size_ || opt_.mmap_base % kPage || opt_.mmap_min_addr >= opt_.mmap_base)
    throw std::invalid_argument("mm: mmap base outside the user address range");
  if (f == Format::ArmV8_48)
    pt_ = std::make_unique<TablesImpl<UserArmCodec>>(mem, alloc, UserArmCodec());
  else
    pt_ = std::make_unique<TablesImpl<UserX86Codec>>(mem, alloc, UserX86Codec(f == Format::X86_5 ? 5 : 4));
  pgd_ = pt_->root();
  stats_.derived("resident_pages", "pages mapped now", [this] { return static_cast<double>(pages_.size()); });
}

Mm::~Mm() = default;

unsigned Mm::levels() const { return pt_->levels(); }

void Mm::spend(const sc_core::sc_time& t) {
  if (cpu_) cpu_->spend(t, Cpu::Cat::Other);
}

// ---- VMAs ----------------------------------------------------------------------------------------

bool Mm::range_free(uint64_t start, uint64_t end) const {
  auto it = vmas_.lower_bound(end);  // first VMA starting at or after end
  if (it == vmas_.begin()) return true;
  --it;
  return it->second.end <= start;
}

std::optional<uint64_t> Mm::find_gap(uint64_t len) const {
  // Top-down below mmap_base (Linux's unmapped_area_topdown)...
  uint64_t hi = opt_.mmap_base;
  for (auto it = vmas_.lower_bound(hi); it != vmas_.begin();) {
    --it;
    const Vma& v = it->second;
    if (v.end <= hi && hi - v.end >= len) return hi - len;
    hi = std::min(hi, v.start);
  }
  if (hi >= opt_.mmap_min_addr && hi - opt_.mmap_min_addr >= len) return hi - len;
  // ...then, as Linux falls back to, bottom-up above it.
  uint64_t lo = opt_.mmap_base;
  for (auto it = vmas_.upper_bound(lo); it != vmas_.end(); ++it) {
    if (it != vmas_.begin()) lo = std::max(lo, std::prev(it)->second.end);
    if (it->first >= lo && it->first - lo >= len) return lo;
  }
  if (!vmas_.empty()) lo = std::max(lo, std::prev(vmas_.end())->second.end);
  if (lo <= task_size_ && task_size_ - lo >= len) return lo;
  return std::nullopt;
}

void Mm::split_at(uint64_t addr) {
  auto it = vmas_.upper_bound(addr);
  if (it == vmas_.begin()) return;
  --it;
  Vma& v = it->second;
  if (v.start >= addr || v.end <= addr) return;
  const Vma tail{addr, v.end, v.prot};
  v.end = addr;
  vmas_.emplace(addr, tail);
}

void Mm::merge_range(uint64_t lo, uint64_t hi) {
  // Adjacent anonymous VMAs with the same flags merge (Linux's vma_merge).
  auto it = vmas_.lower_bound(lo);
  if (it != vmas_.begin()) --it;
  while (it != vmas_.end() && it->first <= hi) {
    auto next = std::next(it);
    if (next != vmas_.end() && next->first == it->second.end && next->second.prot == it->second.prot) {
      it->second.end = next->second.end;
      vmas_.erase(next);
    } else {
      it = next;
    }
  }
}

std::optional<Mm::Vma> Mm::find_vma(uint64_t addr) const {
  auto it = vmas_.upper_bound(addr);
  if (it == vmas_.begin()) return std::nullopt;
  --it;
  if (addr >= it->second.end) return std::nullopt;
  return it->second;
}

std::vector<Mm::Vma> Mm::vmas() const {
  std::vector<Vma> v;
  v.reserve(vmas_.size());
  for (const auto& [s, vma] : vmas_) v.push_back(vma);
  return v;
}

Mm::MmapResult Mm::mmap(uint64_t len, Prot prot, bool populate, std::optional<uint64_t> addr) {
  MmapResult r;
  if (dead_ || len == 0) {
    r.err = -EINVAL;
    return r;
  }
  if (len > task_size_) {
    r.err = -ENOMEM;
    return r;
  }
  len = (len + kPage - 1) & ~(kPage - 1);
  if (addr) {
    if (*addr % kPage) r.err = -EINVAL;
    else if (*addr > task_size_ - len) r.err = -ENOMEM;
    else if (*addr < opt_.mmap_min_addr) r.err = -EPERM;
    else if (!range_free(*addr, *addr + len)) r.err = -EEXIST;
    if (r.err) return r;
    r.addr = *addr;
  } else {
    const auto gap = find_gap(len);
    if (!gap) {
      r.err = -ENOMEM;
      return r;
    }
    r.addr = *gap;
  }
  vmas_.emplace(r.addr, Vma{r.addr, r.addr + len, prot});
  merge_range(r.addr, r.addr + len);
  spend(to_sc(cost_.mm.syscall));
  // MAP_POPULATE: failures leave pages to later faults, mmap still succeeds.
  if (populate && accessible(prot)) {
    for (uint64_t va = r.addr; va < r.addr + len; va += kPage) fault(va, prot.write, false, false);
  }
  return r;
}

// ---- munmap, mprotect, exit ----------------------------------------------------------------------

void Mm::notify(uint64_t start, uint64_t end) {
  if (format_ == Format::ArmV8_48 && opt_.arm_flush_mm_pages && (end - start) / kPage >= opt_.arm_flush_mm_pages) {
    start = 0;
    end = kWholeMm;
  }
  invalidate_all(start, end);
}

void Mm::invalidate_all(uint64_t start, uint64_t end) {
  // A callback may remove notifiers (and may wait): walk a snapshot of the handles.
  std::vector<NotifierHandle> hs;
  for (const auto& [h, n] : notifiers_) hs.push_back(h);
  for (NotifierHandle h : hs) {
    auto it = notifiers_.find(h);
    if (it == notifiers_.end() || !it->second.invalidate) continue;
    ++notifier_calls_;
    const auto fn = it->second.invalidate;
    fn(start, end);
  }
}

Mm::UnmapResult Mm::munmap(uint64_t addr, uint64_t len) {
  UnmapResult r;
  if (dead_ || addr % kPage || len == 0 || addr > task_size_ || len > task_size_ - addr) {
    r.err = -EINVAL;
    return r;
  }
  const uint64_t end = std::min(task_size_, (addr + len + kPage - 1) & ~(kPage - 1));
  split_at(addr);
  split_at(end);
  for (auto it = vmas_.lower_bound(addr); it != vmas_.end() && it->first < end;) it = vmas_.erase(it);

  // Zap: clear the PTEs (PROT_NONE pages have none), keep the pages until the notifiers ran.
  std::vector<std::pair<uint64_t, uint64_t>> zapped;
  for (auto it = pages_.lower_bound(addr); it != pages_.end() && it->first < end;) {
    if (pt_->walk(it->first)) pt_->unmap(it->first);
    zapped.emplace_back(it->first, it->second);
    it = pages_.erase(it);
  }
  spend(to_sc(cost_.mm.syscall) + to_sc(cost_.mm.zap_page) * zapped.size());
  if (!zapped.empty()) notify(zapped.front().first, zapped.back().first + kPage);
  for (const auto& [va, pa] : zapped) {
    alloc_.free(pa, kPage);
    r.freed.push_back(pa);
  }
  r.pages = zapped.size();
  pages_freed_ += r.pages;
  return r;
}

int Mm::mprotect(uint64_t addr, uint64_t len, Prot prot) {
  if (dead_ || addr % kPage || addr > task_size_ || len > task_size_ - addr) return -EINVAL;
  if (len == 0) return 0;
  const uint64_t end = std::min(task_size_, (addr + len + kPage - 1) & ~(kPage - 1));
  // The whole range must be mapped (Linux stops at the first hole with ENOMEM; here nothing changes).
  for (uint64_t a = addr; a < end;) {
    const auto v = find_vma(a);
    if (!v) return -ENOMEM;
    a = v->end;
  }
  split_at(addr);
  split_at(end);
  for (auto it = vmas_.lower_bound(addr); it != vmas_.end() && it->first < end; ++it) it->second.prot = prot;

  // Rewrite the entries of resident pages; notify over those whose rights shrank.
  uint64_t lo = kWholeMm, hi = 0, writes = 0;
  for (auto it = pages_.lower_bound(addr); it != pages_.end() && it->first < end; ++it) {
    const uint64_t va = it->first;
    const auto old = pt_->walk(va);
    if (old) pt_->unmap(va);
    if (accessible(prot)) pt_->map(va, it->second, prot);
    ++writes;
    const bool shrank = old && (!accessible(prot) || (old->write && !prot.write) || (old->exec && !prot.exec));
    if (shrank) {
      lo = std::min(lo, va);
      hi = std::max(hi, va + kPage);
    }
  }
  merge_range(addr, end);
  spend(to_sc(cost_.mm.syscall) + to_sc(cost_.pte_write) * writes);
  if (lo < hi) notify(lo, hi);
  return 0;
}

uint64_t Mm::exit() {
  if (dead_) return 0;
  dead_ = true;  // mmget_not_zero fails from here: I/O page faults are refused
  // mmu_notifier_release comes first in exit_mmap and unhooks the notifier.
  std::vector<NotifierHandle> hs;
  for (const auto& [h, n] : notifiers_) hs.push_back(h);
  for (NotifierHandle h : hs) {
    auto it = notifiers_.find(h);
    if (it == notifiers_.end() || !it->second.release) continue;
    auto fn = it->second.release;
    notifiers_.erase(it);
    ++notifier_calls_;
    fn();
  }
  const std::vector<uint64_t> tables = pt_->detach_all();
  std::vector<uint64_t> pages;
  pages.reserve(pages_.size());
  for (const auto& [va, pa] : pages_) pages.push_back(pa);
  pages_.clear();
  vmas_.clear();
  spend(to_sc(cost_.mm.syscall) + to_sc(cost_.mm.zap_page) * pages.size());
  // The remaining notifiers see one whole-mm invalidation (fullmm flush) before anything is freed.
  invalidate_all(0, kWholeMm);
  notifiers_.clear();
  for (uint64_t pa : pages) alloc_.free(pa, kPage);
  for (uint64_t t : tables) alloc_.free(t, kPage);
  pages_freed_ += pages.size();
  return pages.size();
}

void Mm::free_pgd() {
  if (!dead_ || !pgd_) return;
  alloc_.free(pgd_, kPage);
  pgd_ = 0;
}

Mm::NotifierHandle Mm::add_notifier(std::function<void(uint64_t, uint64_t)> invalidate_range,
                                    std::function<void()> release) {
  const NotifierHandle h = next_handle_++;
  notifiers_.emplace(h, Notifier{std::move(invalidate_range), std::move(release)});
  return h;
}

bool Mm::remove_notifier(NotifierHandle h) { return notifiers_.erase(h) != 0; }

// ---- faults --------------------------------------------------------------------------------------

Mm::FaultResult Mm::fault(uint64_t addr, bool write, bool exec, bool read) {
  using S = FaultResult::Status;
  using R = FaultResult::Reason;
  FaultResult r;
  r.addr = addr & ~(kPage - 1);
  ++faults_;
  auto refuse = [&](R why) {
    ++faults_invalid_;
    r.status = S::Invalid;
    r.reason = why;
    spend(to_sc(cost_.mm.fault_nop));
    return r;
  };
  if (dead_) return refuse(R::MmGone);
  const auto vma = find_vma(addr);
  if (!vma) return refuse(R::NoVma);
  if ((read && !vma->prot.read) || (write && !vma->prot.write) || (exec && !vma->prot.exec)) return refuse(R::Access);
  if (!accessible(vma->prot)) return refuse(R::Access);  // PROT_NONE: no entry to install

  if (pages_.count(r.addr)) {
    // Entries always carry the VMA's rights, so a resident page needs nothing.
    ++faults_spurious_;
    r.status = S::Ok;
    r.reason = R::Spurious;
    spend(to_sc(cost_.mm.fault_nop));
    return r;
  }
  uint64_t pa = 0;
  PgWork w;
  try {
    pa = alloc_.alloc(kPage, kPage);
  } catch (const std::runtime_error&) {
    return refuse(R::NoMemory);  // VM_FAULT_OOM
  }
  mem_.zero(pa, kPage);
  try {
    w = pt_->map(r.addr, pa, vma->prot);
  } catch (const std::runtime_error&) {
    alloc_.free(pa, kPage);
    return refuse(R::NoMemory);
  }
  pages_.emplace(r.addr, pa);
  ++faults_mapped_;
  r.status = S::Ok;
  r.reason = R::Mapped;
  spend(to_sc(cost_.mm.fault) + to_sc(cost_.table_alloc) * w.tables);
  return r;
}

Mm::FaultResult Mm::touch(uint64_t addr, uint64_t len, bool write) {
  FaultResult ok;
  ok.status = FaultResult::Status::Ok;
  ok.reason = FaultResult::Reason::Spurious;
  ok.addr = addr & ~(kPage - 1);
  if (len == 0) return ok;
  const uint64_t last = (addr + len - 1) & ~(kPage - 1);
  for (uint64_t va = addr & ~(kPage - 1);; va += kPage) {
    // The CPU faults only when the entry is missing or lacks the right.
    std::optional<Translation> t;
    if (!dead_) t = pt_->walk(va);
    if (!t || (write && !t->write)) {
      const FaultResult f = fault(va, write);
      if (!f.ok()) return f;
    }
    if (va == last) break;
  }
  return ok;
}

std::optional<Mm::Translation> Mm::translate(uint64_t addr) const {
  if (!pgd_) return std::nullopt;
  return pt_->walk(addr);
}

}  // namespace iommusim::host
