// Walk cache implementation.
#include "models/iommu/core/walk_cache.h"

#include <algorithm>
#include <string>

namespace iommusim {

WalkCache::WalkCache(const CacheParams& p, uint64_t seed, const char* name, StatGroup& parent)
    : stats_(name, &parent),
      lookups_(stats_.counter("lookups", "walks that consulted the walk cache")),
      hits_(stats_.counter("hits", "walks that skipped levels")),
      invalidated_(stats_.counter("invalidated", "entries removed by invalidation")) {
  for (unsigned l = 0; l < kLevels; ++l) {
    const std::string n = std::string(name) + ".l" + std::to_string(l);
    lv_[l] = std::make_unique<SetAssoc<WalkCacheEntry>>(p, seed, n.c_str());
  }
}

const WalkCacheEntry* WalkCache::find(TlbTag tag, bool stage2, uint64_t va, unsigned start, unsigned last,
                                      const unsigned* level_shift) {
  if (!lv_[0]->enabled()) return nullptr;
  ++lookups_;
  for (unsigned l = std::min(last, kLevels); l-- > start;) {
    const uint64_t prefix = va >> level_shift[l];
    const auto* e = lv_[l]->find(prefix, [&](const WalkCacheEntry& x) {
      return x.prefix == prefix && x.level == l && x.stage2 == stage2 && x.tag == tag;
    });
    // An entry that skipped levels only serves VAs whose skipped index bits are zero; any other
    // VA must walk, and fault, from the level above.
    if (e && !(va & e->va_zero_mask)) {
      ++hits_;
      return e;
    }
  }
  return nullptr;
}

bool WalkCache::lookup(TlbTag tag, bool stage2, uint64_t va, unsigned start, unsigned last,
                       const unsigned* level_shift, unsigned& level, uint64_t& next_table) {
  const WalkCacheEntry* e = find(tag, stage2, va, start, last, level_shift);
  if (!e) return false;
  level = e->level;
  next_table = e->next_table;
  return true;
}

void WalkCache::insert(TlbTag tag, bool stage2, unsigned level, uint64_t prefix, uint64_t next_table) {
  WalkCacheEntry e{tag, stage2, static_cast<uint8_t>(level), prefix, next_table,
                   static_cast<uint8_t>(level + 1), Perm{true, true, true, true}, 0};
  insert(e);
}

void WalkCache::insert(const WalkCacheEntry& e) {
  if (e.level >= kLevels) return;
  lv_[e.level]->insert(e.prefix, e, [&](const WalkCacheEntry& x) {
    return x.prefix == e.prefix && x.stage2 == e.stage2 && x.tag == e.tag;
  });
}

uint64_t WalkCache::invalidate_all() {
  uint64_t n = 0;
  for (auto& c : lv_) n += c->invalidate_if([](const WalkCacheEntry&) { return true; });
  invalidated_ += n;
  return n;
}

uint64_t WalkCache::invalidate_domain(uint32_t domain) {
  uint64_t n = 0;
  for (auto& c : lv_) n += c->invalidate_if([&](const WalkCacheEntry& x) { return x.tag.domain == domain; });
  invalidated_ += n;
  return n;
}

uint64_t WalkCache::invalidate_space(TlbTag tag) {
  uint64_t n = 0;
  for (auto& c : lv_) n += c->invalidate_if([&](const WalkCacheEntry& x) { return !x.stage2 && x.tag == tag; });
  invalidated_ += n;
  return n;
}

uint64_t WalkCache::invalidate_range(TlbTag tag, bool stage2, uint64_t start, uint64_t end,
                                     const unsigned* level_shift) {
  uint64_t n = 0;
  for (unsigned l = 0; l < kLevels; ++l) {
    const unsigned s = level_shift[l];
    n += lv_[l]->invalidate_if([&](const WalkCacheEntry& x) {
      if (x.stage2 != stage2 || x.tag.domain != tag.domain || (!stage2 && x.tag.space != tag.space)) return false;
      const uint64_t lo = x.prefix << s, hi = lo + (uint64_t{1} << s);
      return lo < end && start < hi;
    });
  }
  invalidated_ += n;
  return n;
}

}  // namespace iommusim
