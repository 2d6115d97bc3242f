// IOTLB implementation.
#include "models/iommu/core/tlb.h"

namespace iommusim {

Iotlb::Iotlb(const CacheParams& p, uint64_t seed, const char* name, StatGroup& parent)
    : arr_(p, seed, name),
      stats_(name, &parent),
      lookups_(stats_.counter("lookups", "translations looked up")),
      hits_(stats_.counter("hits", "lookups that hit")),
      misses_(stats_.counter("misses", "lookups that missed")),
      fills_(stats_.counter("fills", "entries inserted after a walk")),
      evictions_(stats_.counter("evictions", "valid entries replaced")),
      invalidated_(stats_.counter("invalidated", "entries removed by invalidation commands")) {
  stats_.derived("hit_rate", "hits / lookups", [this] {
    return lookups_.v ? static_cast<double>(hits_.v) / static_cast<double>(lookups_.v) : 0.0;
  });
}

const TlbEntry* Iotlb::insert(const TlbEntry& e) {
  if (!arr_.enabled()) return nullptr;
  memo_ = nullptr;
  ++fills_;
  shifts_present_ |= 1u << e.shift;
  bool evicted = false;
  const TlbEntry* r = arr_.insert(index(e.va, e.shift), e, [&](const TlbEntry& x) {
    return x.shift == e.shift && x.va == e.va && x.tag == e.tag;
  }, &evicted);
  if (evicted) ++evictions_;
  return r;
}

uint64_t Iotlb::invalidate_all() {
  return count_inv(arr_.invalidate_if([](const TlbEntry&) { return true; }));
}

uint64_t Iotlb::invalidate_domain(uint32_t domain) {
  return count_inv(arr_.invalidate_if([&](const TlbEntry& x) { return x.tag.domain == domain; }));
}

uint64_t Iotlb::invalidate_space(TlbTag tag) {
  return count_inv(arr_.invalidate_if([&](const TlbEntry& x) { return !x.global && !x.stage2_only && x.tag == tag; }));
}

uint64_t Iotlb::invalidate_range(TlbTag tag, uint64_t start, uint64_t end) {
  return count_inv(arr_.invalidate_if([&](const TlbEntry& x) {
    const uint64_t xend = x.va + (uint64_t{1} << x.shift);
    return !x.stage2_only && x.tag.domain == tag.domain && (x.global || x.tag.space == tag.space) && x.va < end &&
           start < xend;
  }));
}

uint64_t Iotlb::invalidate_ipa_range(uint32_t domain, uint64_t start, uint64_t end) {
  return count_inv(arr_.invalidate_if([&](const TlbEntry& x) {
    const uint64_t xend = x.va + (uint64_t{1} << x.shift);
    return x.stage2_only && x.tag.domain == domain && x.va < end && start < xend;
  }));
}

}  // namespace iommusim
