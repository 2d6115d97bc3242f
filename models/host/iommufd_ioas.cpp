// IOAS bookkeeping: overlap queries, fixed-IOVA checks, first-fit allocation, reservations.
#include "models/host/iommufd_ioas.h"

#include <algorithm>
#include <bit>
#include <cerrno>
#include <cstdio>

namespace iommusim::host {

namespace {
bool overlaps(uint64_t a0, uint64_t a1, uint64_t b0, uint64_t b1) { return a0 <= b1 && b0 <= a1; }
}  // namespace

std::string range_str(uint64_t start, uint64_t last) {
  char b[48];
  std::snprintf(b, sizeof b, "[%#llx, %#llx]", static_cast<unsigned long long>(start),
                static_cast<unsigned long long>(last));
  return b;
}

const IoasArea* IoasTable::area_in(uint64_t start, uint64_t last) const {
  auto it = areas_.upper_bound(start);
  if (it != areas_.begin()) {
    auto prev = std::prev(it);
    if (prev->second.last() >= start) return &prev->second;
  }
  if (it != areas_.end() && it->second.iova <= last) return &it->second;
  return nullptr;
}

const IoasTable::Reserved* IoasTable::reserved_in(uint64_t start, uint64_t last) const {
  for (const Reserved& r : reserved_)
    if (overlaps(r.r.start, r.r.last, start, last)) return &r;
  return nullptr;
}

int IoasTable::check_fixed(uint64_t iova, uint64_t length, std::string& why) const {
  // Order of iopt_check_iova: alignment, overflow, reserved, existing mapping.
  if (iova & (alignment - 1))
    return why = "IOVA not aligned to the IOAS alignment " + std::to_string(alignment), -EINVAL;
  if (length - 1 > UINT64_MAX - iova) return why = "IOVA + length overflows", -EOVERFLOW;
  const uint64_t last = iova + length - 1;
  if (const Reserved* r = reserved_in(iova, last))
    return why = "overlaps reserved range " + range_str(r->r.start, r->r.last), -EINVAL;
  if (const IoasArea* a = area_in(iova, last))
    return why = "overlaps the mapping at " + range_str(a->iova, a->last()), -EEXIST;
  return 0;
}

int IoasTable::alloc(uint64_t length, uint64_t pa, uint64_t& iova, std::string& why) const {
  const uint64_t pa_align = pa ? (pa & (~pa + 1)) : (uint64_t{1} << 63);
  const uint64_t align = std::max(alignment, std::min(std::bit_ceil(length), pa_align));
  std::vector<IovaRange> spans = allowed_;
  if (spans.empty()) spans.push_back({0, UINT64_MAX});
  for (const IovaRange& s : spans) {
    uint64_t cur = s.start;
    for (;;) {
      if (cur & (align - 1)) {
        const uint64_t up = (cur | (align - 1));
        if (up == UINT64_MAX) break;
        cur = up + 1;
      }
      if (cur > s.last || length - 1 > s.last - cur) break;
      const uint64_t last = cur + length - 1;
      uint64_t block = 0;
      bool blocked = false;
      if (const IoasArea* a = area_in(cur, last)) blocked = true, block = a->last();
      for (const Reserved& r : reserved_)
        if (overlaps(r.r.start, r.r.last, cur, last)) {
          block = blocked ? std::max(block, r.r.last) : r.r.last;
          blocked = true;
        }
      if (!blocked) {
        iova = cur;
        return 0;
      }
      if (block >= s.last) break;
      cur = block + 1;
    }
  }
  why = "no free IOVA hole of " + std::to_string(length) + " bytes";
  if (!allowed_.empty()) why += " in the allowed ranges";
  return -ENOSPC;
}

int IoasTable::reserve(IovaRange r, uint64_t owner, std::string& why) {
  if (const IoasArea* a = area_in(r.start, r.last))
    return why = "reserved range " + range_str(r.start, r.last) + " overlaps the mapping at " +
                 range_str(a->iova, a->last()),
           -EADDRINUSE;
  for (const IovaRange& al : allowed_)
    if (overlaps(al.start, al.last, r.start, r.last))
      return why = "reserved range " + range_str(r.start, r.last) + " overlaps the allowed range " +
                   range_str(al.start, al.last),
             -EADDRINUSE;
  reserved_.push_back({r, owner});
  return 0;
}

void IoasTable::unreserve(uint64_t owner) {
  const auto mine = [&](const Reserved& x) { return x.owner == owner; };
  reserved_.erase(std::remove_if(reserved_.begin(), reserved_.end(), mine), reserved_.end());
}

int IoasTable::set_allowed(const std::vector<IovaRange>& ranges, std::string& why) {
  for (const IovaRange& al : ranges) {
    if (al.last < al.start) return why = "allowed range ends before it starts", -EINVAL;
    if (const Reserved* r = reserved_in(al.start, al.last))
      return why = "allowed range " + range_str(al.start, al.last) + " overlaps reserved range " +
                   range_str(r->r.start, r->r.last),
             -EADDRINUSE;
  }
  allowed_ = ranges;
  std::sort(allowed_.begin(), allowed_.end(), [](const IovaRange& a, const IovaRange& b) { return a.start < b.start; });
  return 0;
}

int IoasTable::check_alignment(uint64_t align, std::string& why) const {
  for (const auto& [iova, a] : areas_)
    if ((a.iova | a.length | a.pa) & (align - 1))
      return why = "the mapping at " + range_str(a.iova, a.last()) + " is not aligned to " + std::to_string(align) +
                   " bytes",
             -EADDRINUSE;
  return 0;
}

}  // namespace iommusim::host
