// Translation engine: walk loop and walker-pool occupancy.
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
      walk_ns_(stats_.histogram("latency", "ns", "walk duration from walker start to leaf")),
      walker_wait_ns_(stats_.histogram("walker_wait", "ns", "time a miss waited for a free walker")) {}

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

WalkResult TranslationCore::walk(TlbTag tag, bool stage2, const TableFormat& f, uint64_t root, uint64_t va,
                                 sc_core::sc_time& t) {
  ++walks_;
  const sc_core::sc_time t0 = t;
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
  }
  for (;;) {
    uint64_t desc = 0;
    t += walk_read_latency_;
    ++r.reads;
    ++walk_reads_;
    if (!mem_.read64(table + f.entry_offset(va, level), desc, t)) {
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
      limit = Perm{limit.r && s.limit.r, limit.w && s.limit.w, limit.x && s.limit.x, limit.user && s.limit.user};
      wc_.insert(WalkCacheEntry{tag, stage2, static_cast<uint8_t>(level), va >> shifts[level], s.addr,
                                static_cast<uint8_t>(next), limit, s.va_zero_mask});
      table = s.addr;
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
    r.entry.perm = Perm{s.perm.r && limit.r, s.perm.w && limit.w, s.perm.x && limit.x, s.perm.user && limit.user};
    break;
  }
  r.level = level;
  if (r.fault != WalkFault::None) ++faults_;
  walk_ns_.record(static_cast<uint64_t>(to_ns(t - t0)));
  return r;
}

}  // namespace iommusim
