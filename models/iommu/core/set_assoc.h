// A set-associative array with LRU / FIFO / random replacement: the storage behind every IOMMU
// cache. Entries are found by (set index, predicate); invalidation scans with a predicate.
#pragma once
#include <cstdint>
#include <stdexcept>
#include <type_traits>
#include <vector>

#include "models/common/rng.h"
#include "models/iommu/core/cache_params.h"

namespace iommusim {

template <class Entry>
class SetAssoc {
 public:
  SetAssoc(const CacheParams& p, uint64_t seed, const char* name) : rng_(seed, name) {
    entries_ = p.entries;
    ways_ = p.ways == 0 || p.ways > p.entries ? p.entries : p.ways;
    if (entries_ && entries_ % ways_ != 0)
      throw std::invalid_argument(std::string(name) + ": ways must divide entries");
    sets_ = entries_ ? entries_ / ways_ : 0;
    set_mask_ = sets_ && (sets_ & (sets_ - 1)) == 0 ? sets_ - 1 : 0;
    repl_ = p.replacement;
    slots_.resize(entries_);
    // Wide sets (fully associative caches) are searched by scanning; a direct-mapped table of
    // way hints, indexed like the set, finds the usual hit in one probe. Hints are only hints:
    // a stale one fails the match and the scan runs.
    if (ways_ > 8) {
      hint_mask_ = 1;
      while (hint_mask_ < 4 * ways_) hint_mask_ <<= 1;
      hints_.assign(hint_mask_ * (sets_ ? sets_ : 1), 0);
      --hint_mask_;
    }
  }
  bool enabled() const { return entries_ != 0; }
  uint64_t sets() const { return sets_; }
  uint64_t ways() const { return ways_; }

  // Finds a valid entry in set (index mod sets) for which match(e) holds; touches it for LRU.
  template <class Match>
  Entry* find(uint64_t index, Match&& match) {
    if (!entries_) return nullptr;
    const uint64_t set = set_of(index);
    Slot* s = &slots_[set * ways_];
    if (!hints_.empty()) {
      uint32_t& h = hints_[set * (hint_mask_ + 1) + (index & hint_mask_)];
      Slot& hs = s[h];
      if (hs.valid && match(hs.e)) return touch(hs);
      for (uint64_t w = 0; w < ways_; ++w)
        if (s[w].valid && match(s[w].e)) {
          h = static_cast<uint32_t>(w);
          return touch(s[w]);
        }
      return nullptr;
    }
    for (uint64_t w = 0; w < ways_; ++w)
      if (s[w].valid && match(s[w].e)) return touch(s[w]);
    return nullptr;
  }

  // Touches an entry returned by an earlier find() as a hit would (LRU refresh), for callers that
  // memoise their last hit and know it is still the entry find() would return.
  Entry* refresh(Entry* e) {
    static_assert(std::is_standard_layout_v<Slot>, "Slot must start with its entry");
    return touch(*reinterpret_cast<Slot*>(e));
  }

  // Inserts into the set, replacing an entry that `same(e)` says holds the same key, else an
  // invalid way, else the victim chosen by the policy. Returns the stored entry (nullptr when the
  // cache is disabled); `evicted` tells whether a valid entry was replaced.
  template <class Same>
  Entry* insert(uint64_t index, const Entry& e, Same&& same, bool* evicted_out = nullptr) {
    if (!entries_) return nullptr;
    Slot* s = &slots_[set_of(index) * ways_];
    Slot* victim = nullptr;
    for (uint64_t w = 0; w < ways_; ++w)
      if (s[w].valid && same(s[w].e)) { victim = &s[w]; break; }
    bool evicted = false;
    if (!victim) {
      for (uint64_t w = 0; w < ways_; ++w)
        if (!s[w].valid) { victim = &s[w]; break; }
    }
    if (!victim) {
      evicted = true;
      if (repl_ == Replacement::Random) {
        victim = &s[rng_.below(ways_)];
      } else {  // LRU and FIFO both evict the smallest stamp; only LRU refreshes it on hits
        victim = &s[0];
        for (uint64_t w = 1; w < ways_; ++w)
          if (s[w].stamp < victim->stamp) victim = &s[w];
      }
    }
    victim->e = e;
    victim->valid = true;
    victim->stamp = ++clock_;
    if (!hints_.empty())
      hints_[set_of(index) * (hint_mask_ + 1) + (index & hint_mask_)] = static_cast<uint32_t>(victim - s);
    if (evicted_out) *evicted_out = evicted;
    return &victim->e;
  }

  // Invalidates every valid entry for which pred(e) holds; returns how many.
  template <class Pred>
  uint64_t invalidate_if(Pred&& pred) {
    uint64_t n = 0;
    for (auto& s : slots_)
      if (s.valid && pred(s.e)) { s.valid = false; ++n; }
    return n;
  }
  uint64_t occupancy() const {
    uint64_t n = 0;
    for (const auto& s : slots_) n += s.valid;
    return n;
  }

 private:
  struct Slot {
    Entry e{};
    bool valid = false;
    uint64_t stamp = 0;
  };
  Entry* touch(Slot& s) {
    if (repl_ == Replacement::Lru) s.stamp = ++clock_;
    return &s.e;
  }
  std::vector<uint32_t> hints_;
  uint64_t hint_mask_ = 0;
  std::vector<Slot> slots_;
  // Power-of-two set counts index with a mask: a division costs more than the rest of a hit.
  uint64_t set_of(uint64_t index) const { return set_mask_ || sets_ == 1 ? index & set_mask_ : index % sets_; }
  uint64_t entries_ = 0, ways_ = 1, sets_ = 0, set_mask_ = 0, clock_ = 0;
  Replacement repl_ = Replacement::Lru;
  Rng rng_;
};

}  // namespace iommusim
