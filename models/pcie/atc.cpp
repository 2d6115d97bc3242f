// Device ATC implementation.
#include "models/pcie/atc.h"

namespace iommusim {

Atc::Atc(const CacheParams& p, uint64_t seed, const char* name, StatGroup& parent)
    : arr_(p, seed, name),
      stats_("atc", &parent),
      lookups_(stats_.counter("lookups", "ATC lookups (one per access while ATS is enabled, more on re-tries)")),
      hits_(stats_.counter("hits", "lookups that found an entry (including ones still waiting for their completion)")),
      misses_(stats_.counter("misses", "lookups that found no entry")),
      fills_(stats_.counter("fills", "entries inserted from Translation Completions")),
      evictions_(stats_.counter("evictions", "valid entries replaced by a fill")),
      invalidations_(stats_.counter("invalidations", "Invalidate Requests applied (and flushes)")),
      invalidated_(stats_.counter("invalidated", "entries removed by invalidations, flushes and re-requests")) {
  stats_.derived("hit_rate", "hits / lookups", [this] {
    return lookups_.v ? static_cast<double>(hits_.v) / static_cast<double>(lookups_.v) : 0.0;
  });
}

const AtcEntry* Atc::insert(const AtcEntry& e) {
  if (!arr_.enabled()) return nullptr;
  memo_ = nullptr;
  ++fills_;
  shifts_present_ |= uint64_t{1} << e.shift;
  bool evicted = false;
  const AtcEntry* r = arr_.insert(index(e.va, e.shift), e, [&](const AtcEntry& x) {
    return x.shift == e.shift && x.va == e.va && x.pasid_valid == e.pasid_valid && x.pasid == e.pasid;
  }, &evicted);
  if (evicted) ++evictions_;
  return r;
}

void Atc::erase(const AtcEntry* e) {
  if (!e) return;
  memo_ = nullptr;
  invalidated_ += arr_.invalidate_if([&](const AtcEntry& x) { return &x == e; });
}

uint64_t Atc::invalidate(const ats::Range& range, bool pasid_valid, uint32_t pasid, bool global) {
  ++invalidations_;
  const bool all = range.size == ats::kAllRange;
  const uint64_t first = range.base, last = range.base + (range.size - 1);
  return removed(arr_.invalidate_if([&](const AtcEntry& x) {
    if (!all && (x.last() < first || x.va > last)) return false;
    if (!pasid_valid) return true;  // no PASID prefix: every PASID and the non-PASID entries
    return x.pasid_valid && (x.pasid == pasid || (global && x.global));
  }));
}

uint64_t Atc::invalidate_all() {
  ++invalidations_;
  return removed(arr_.invalidate_if([](const AtcEntry&) { return true; }));
}

}  // namespace iommusim
