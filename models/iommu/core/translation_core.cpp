// Translation engine: walk loop (single-stage and nested) and walker-pool occupancy.
#include "models/iommu/core/translation_core.h"

#include "models/common/sim_time.h"

namespace iommusim {

TranslationCore::TranslationCore(const TranslationCoreParams& p, MemReader& mem, uint64_t seed, StatGroup& parent)
    : mem_(mem),
      stats_("walk", &parent),
      iotlb_(p.iotlb, seed, "iotlb", parent),
      wc_(p.walk_cache, seed, "walk_cache", parent),
      walkers_(p.walkers),
      tlb_latency_(to_sc(p.tlb_latency)),
      walk_read_latency_(to_sc(p.walk_read_latency)),
      walks_(stats_.counter("walks", "page-table walks started")),
      walk_reads_(stats_.counter("reads", "table entries read from memory")),
      faults_(stats_.counter("faults", "walks that ended in a fault")),
      nested_walks_(stats_.counter("nested", "nested (two-stage) walks, also counted in walks; their stage-2 "
                                             "reads are in reads")),
      walk_ns_(stats_.histogram("latency", "ns", "walk duration from walker start to leaf")),
      walker_wait_ns_(stats_.histogram("walker_wait", "ns", "time a miss waited for a free walker")),
      tl_(timeline::track(timeline::Kind::Iommu, parent.name() + ".walker")) {}

const TlbEntry* TranslationCore::miss(TlbTag tag, bool stage2, const TableFormat& f, uint64_t root, uint64_t va,
                                      sc_core::sc_time& t, WalkResult& fault) {
  sc_core::sc_time start;
  const size_t w = walkers_.pick(t, start);
  walker_wait_ns_.record(static_cast<uint64_t>(to_ns(start - t)));
  sc_core::sc_time now = start;
  WalkResult r = walk(tag, stage2, f, root, va, now);
  walkers_.occupy_until(w, now);
  t = now;
  if (r.fault != WalkFault::None) {
    fault = r;
    return nullptr;
  }
  if (const TlbEntry* e = iotlb_.insert(r.entry)) return e;
  last_ = r.entry;  // IOTLB disabled: hand out a copy that lives until the next miss
  return &last_;
}

namespace {

// Table addresses of a single-stage walk are physical already.
struct PhysicalTables {
  WalkFault operator()(uint64_t table, unsigned /*level*/, sc_core::sc_time& /*t*/, uint64_t& pa) const {
    pa = table;
    return WalkFault::None;
  }
};

Perm both(const Perm& a, const Perm& b) { return Perm{a.r && b.r, a.w && b.w, a.x && b.x, a.user && b.user}; }
uint64_t low_bits(uint64_t a, unsigned shift) { return a & ((uint64_t{1} << shift) - 1); }

}  // namespace

template <class TableXlate>
WalkResult TranslationCore::walk_steps(TlbTag tag, bool stage2, const TableFormat& f, uint64_t root, uint64_t va,
                                       sc_core::sc_time& t, uint64_t& entry_pa, TableXlate&& xlate) {
  WalkResult r;
  unsigned shifts[WalkCache::kLevels] = {};
  const unsigned first = f.start_level(), last = f.last_level();
  for (unsigned l = first; l <= last && l < WalkCache::kLevels; ++l) shifts[l] = f.level_shift(l);

  unsigned level = first;
  uint64_t table = root;
  Perm limit{true, true, true, true};
  if (const WalkCacheEntry* c = wc_.find(tag, stage2, va, first, last, shifts)) {
    level = c->next_level;
    table = c->next_table;
    limit = c->limit;
  } else if ((r.fault = xlate(root, level, t, table)) != WalkFault::None) {
    r.level = level;
    return r;
  }
  for (;;) {
    uint64_t desc = 0;
    t += walk_read_latency_;
    ++r.reads;
    ++walk_reads_;
    entry_pa = table + f.entry_offset(va, level);
    if (!mem_.read64(entry_pa, desc, t)) {
      r.fault = WalkFault::ExternalAbort;
      break;
    }
    const WalkStep s = f.decode(desc, level);
    if (s.kind == WalkStep::Kind::Invalid) {
      r.fault = WalkFault::Translation;
      break;
    }
    if (s.kind == WalkStep::Kind::Table) {
      const unsigned next = s.next_level == WalkStep::kNextLevel ? level + 1 : s.next_level;
      // A table at the last level, a non-descending next level or non-zero skipped VA bits are
      // malformed tables: reported as translation faults.
      if (level >= last || next <= level || next > last || (va & s.va_zero_mask)) {
        r.fault = WalkFault::Translation;
        break;
      }
      // Nested walks cache the translated table address, so a walk-cache hit skips both stages.
      uint64_t next_table = 0;
      if ((r.fault = xlate(s.addr, next, t, next_table)) != WalkFault::None) {
        level = next;
        break;
      }
      limit = both(limit, s.limit);
      wc_.insert(WalkCacheEntry{tag, stage2, static_cast<uint8_t>(level), va >> shifts[level], next_table,
                                static_cast<uint8_t>(next), limit, s.va_zero_mask});
      table = next_table;
      level = next;
      continue;
    }
    if (!s.access_flag) {
      r.fault = WalkFault::AccessFlag;
      break;
    }
    r.entry.tag = tag;
    r.entry.shift = s.shift;
    r.entry.va = va >> s.shift << s.shift;
    r.entry.pa = s.addr;
    r.entry.global = s.global;
    r.entry.stage2_only = stage2;
    r.entry.perm = both(s.perm, limit);
    break;
  }
  r.level = level;
  return r;
}

WalkResult TranslationCore::walk(TlbTag tag, bool stage2, const TableFormat& f, uint64_t root, uint64_t va,
                                 sc_core::sc_time& t) {
  ++walks_;
  const sc_core::sc_time t0 = t;
  uint64_t entry_pa = 0;
  WalkResult r = walk_steps(tag, stage2, f, root, va, t, entry_pa, PhysicalTables{});
  if (r.fault != WalkFault::None) ++faults_;
  walk_ns_.record(static_cast<uint64_t>(to_ns(t - t0)));
  timeline::span(tl_, timeline::Cat::Walk, "walk", t0, t, va, r.reads, static_cast<uint64_t>(r.fault));
  return r;
}

const TlbEntry* TranslationCore::miss_nested(TlbTag tag, const TableFormat& s1, uint64_t s1_root, TlbTag s2_tag,
                                             const TableFormat& s2, uint64_t s2_root, uint64_t va,
                                             sc_core::sc_time& t, NestedWalkResult& fault) {
  // One walker does the whole two-dimensional walk.
  sc_core::sc_time start;
  const size_t w = walkers_.pick(t, start);
  walker_wait_ns_.record(static_cast<uint64_t>(to_ns(start - t)));
  sc_core::sc_time now = start;
  const NestedWalkResult r = walk_nested(tag, s1, s1_root, s2_tag, s2, s2_root, va, now);
  walkers_.occupy_until(w, now);
  t = now;
  if (r.fault != WalkFault::None) {
    fault = r;
    return nullptr;
  }
  if (const TlbEntry* e = iotlb_.insert(r.entry)) return e;
  last_ = r.entry;
  return &last_;
}

NestedWalkResult TranslationCore::walk_nested(TlbTag tag, const TableFormat& s1, uint64_t s1_root, TlbTag s2_tag,
                                              const TableFormat& s2, uint64_t s2_root, uint64_t va,
                                              sc_core::sc_time& t) {
  ++walks_;
  ++nested_walks_;
  const sc_core::sc_time t0 = t;
  NestedWalkResult n;
  // Stage 2 of one intermediate address: the leaf in w, or the fault noted in n (false).
  auto stage2 = [&](uint64_t ipa, NestedStage stage, unsigned s1_level, sc_core::sc_time& tt, WalkResult& w) {
    if (s2.input_bits() < 64 && (ipa >> s2.input_bits())) {  // AMD v1 mode 6 takes all 64 bits
      w.fault = WalkFault::AddressSize;
      w.level = s2.start_level();
      n.entry_pa = 0;
    } else {
      uint64_t entry_pa = 0;
      w = walk_steps(s2_tag, true, s2, s2_root, ipa, tt, entry_pa, PhysicalTables{});
      n.reads += w.reads;
      n.entry_pa = entry_pa;
      // A stage-1 table is read: its stage-2 mapping must allow reads.
      if (w.fault == WalkFault::None && stage == NestedStage::Stage2Table && !w.entry.perm.r)
        w.fault = WalkFault::Permission;
    }
    if (w.fault == WalkFault::None) return true;
    n.stage = stage;
    n.level = w.level;
    n.s1_level = s1_level;
    n.gpa = ipa;
    return false;
  };
  auto table_xlate = [&](uint64_t gpa, unsigned level, sc_core::sc_time& tt, uint64_t& pa) {
    WalkResult w;
    if (!stage2(gpa, NestedStage::Stage2Table, level, tt, w)) return w.fault;
    pa = w.entry.pa | low_bits(gpa, w.entry.shift);
    return WalkFault::None;
  };
  uint64_t s1_entry_pa = 0;
  const WalkResult r1 = walk_steps(tag, false, s1, s1_root, va, t, s1_entry_pa, table_xlate);
  n.reads += r1.reads;
  if (r1.fault != WalkFault::None) {
    n.fault = r1.fault;
    if (n.stage == NestedStage::None) {  // not a stage-2 fault inside a table fetch
      n.stage = NestedStage::Stage1;
      n.level = n.s1_level = r1.level;
      n.entry_pa = s1_entry_pa;
    }
  } else {
    const uint64_t gpa = r1.entry.pa | low_bits(va, r1.entry.shift);
    WalkResult r2;
    if (!stage2(gpa, NestedStage::Stage2Output, r1.level, t, r2)) {
      n.fault = r2.fault;
    } else {
      // Both mappings are linear over the smaller leaf: it is the IOTLB entry's page.
      const unsigned shift = r1.entry.shift < r2.entry.shift ? r1.entry.shift : r2.entry.shift;
      const uint64_t hpa = r2.entry.pa | low_bits(gpa, r2.entry.shift);
      TlbEntry& e = n.entry;
      e.tag = tag;
      e.shift = static_cast<uint8_t>(shift);
      e.va = va >> shift << shift;
      e.pa = hpa >> shift << shift;
      e.global = r1.entry.global;
      e.stage2_only = false;
      e.perm = both(r1.entry.perm, r2.entry.perm);
      n.level = r2.level;
      n.s1_level = r1.level;
    }
  }
  if (n.fault != WalkFault::None) ++faults_;
  walk_ns_.record(static_cast<uint64_t>(to_ns(t - t0)));
  timeline::span(tl_, timeline::Cat::Walk, "nested walk", t0, t, va, n.reads, static_cast<uint64_t>(n.fault));
  return n;
}

}  // namespace iommusim
