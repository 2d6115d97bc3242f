// The device-side Address Translation Cache (ATC) of a PCIe function using ATS.
//
// Entries hold one Translation Completion each: the untranslated range (its size is the one the
// translation agent returned, a power of two >= 4 KiB, so one entry covers a whole 2 MiB
// translation), the translated base and the permission bits. Entries are tagged by PASID (or "no
// PASID"); a Global entry fetched under one PASID serves every PASID, as the Global bit allows.
//
// Indexing: an entry is placed by its own page number at its own size, mixed with the size, so a
// lookup probes once per size present in the cache (usually one or two sizes), smallest first. The
// last hit is memoised (the hot streaming case costs one compare).
//
// Each entry also carries `ready`, the time its Translation Completion arrives. The device inserts
// the entry as soon as the loosely-timed Translation Request returns, usually ahead of that time;
// a lookup before ready waits until ready. This is how accesses to one page issued while its
// Translation Request is outstanding share that one request (miss merging).
//
// Invalidation (PCIe ATS Invalidate Request): without a PASID prefix, every entry overlapping the
// range, whatever its PASID; with a PASID, that PASID's entries, plus, when Global Invalidate is
// set, the Global entries of every PASID. Size 0 = the whole address space.
#pragma once
#include <systemc>

#include <cstdint>

#include "models/common/stats.h"
#include "models/iommu/core/set_assoc.h"
#include "models/pcie/ats_defs.h"

namespace iommusim {

struct AtcEntry {
  uint64_t va = 0;  // untranslated base, aligned to 1 << shift
  uint64_t pa = 0;  // translated base
  uint32_t pasid = 0;
  uint8_t shift = 12;
  bool pasid_valid = false;
  bool r = false, w = false, u = false, exe = false, priv = false, global = false;
  sc_core::sc_time ready;  // when the Translation Completion arrives (usable from then on)

  uint64_t size() const { return uint64_t{1} << shift; }
  uint64_t last() const { return va + (size() - 1); }
  // The address an access to untranslated address a uses.
  uint64_t translate(uint64_t a) const { return pa + (a - va); }
};

class Atc {
 public:
  Atc(const CacheParams& p, uint64_t seed, const char* name, StatGroup& parent);

  bool enabled() const { return arr_.enabled(); }

  // Hot path: no allocation. Returns the entry covering va for this PASID (or a Global one).
  const AtcEntry* lookup(bool pasid_valid, uint32_t pasid, uint64_t va) {
    ++lookups_;
    if (memo_ && (va - memo_->va) < memo_->size() && memo_pv_ == pasid_valid &&
        (!pasid_valid || memo_pasid_ == pasid)) {
      ++hits_;
      return arr_.refresh(memo_);
    }
    for (uint64_t m = shifts_present_; m; m &= m - 1) {
      const unsigned shift = static_cast<unsigned>(__builtin_ctzll(m));
      const uint64_t base = va >> shift << shift;
      AtcEntry* e = arr_.find(index(base, shift), [&](const AtcEntry& x) {
        return x.shift == shift && x.va == base && x.pasid_valid == pasid_valid &&
               (!pasid_valid || x.pasid == pasid || x.global);
      });
      if (e) {
        ++hits_;
        memo_ = e;
        memo_pv_ = pasid_valid;
        memo_pasid_ = pasid;
        return e;
      }
    }
    ++misses_;
    return nullptr;
  }

  // Stores e, replacing an entry with the same (PASID, base, size). Returns the stored entry, or
  // nullptr when the ATC has no entries.
  const AtcEntry* insert(const AtcEntry& e);
  // Removes one entry returned by lookup() or insert() (a device re-requesting a translation).
  void erase(const AtcEntry* e);

  // Invalidate Request semantics (see the header comment); returns the entries removed.
  uint64_t invalidate(const ats::Range& range, bool pasid_valid, uint32_t pasid, bool global);
  // Everything (ATS disabled).
  uint64_t invalidate_all();

  // Changes on every invalidation processed (even one that removed nothing): a Translation
  // Request in flight across a change may carry a stale translation.
  uint64_t epoch() const { return epoch_; }
  uint64_t occupancy() const { return arr_.occupancy(); }
  StatGroup& stats() { return stats_; }

 private:
  static uint64_t index(uint64_t base, unsigned shift) { return (base >> shift) ^ (shift * 0x9e37u); }
  uint64_t removed(uint64_t n) {
    memo_ = nullptr;
    ++epoch_;
    invalidated_ += n;
    return n;
  }

  SetAssoc<AtcEntry> arr_;
  uint64_t shifts_present_ = 0;  // bit s set: entries of size 2^s may exist
  AtcEntry* memo_ = nullptr;     // last hit, valid for (memo_pv_, memo_pasid_) within its range
  bool memo_pv_ = false;
  uint32_t memo_pasid_ = 0;
  uint64_t epoch_ = 0;
  StatGroup stats_;
  Counter& lookups_;
  Counter& hits_;
  Counter& misses_;
  Counter& fills_;
  Counter& evictions_;
  Counter& invalidations_;
  Counter& invalidated_;
};

}  // namespace iommusim
