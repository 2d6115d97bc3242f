// Statistics: counters and latency histograms grouped in a tree, dumped as JSON at the end of a run.
#pragma once
#include <nlohmann/json_fwd.hpp>

#include <array>
#include <cstdint>
#include <deque>
#include <functional>
#include <string>
#include <vector>

namespace iommusim {

struct Counter {
  uint64_t v = 0;
  Counter& operator++() { ++v; return *this; }
  Counter& operator+=(uint64_t d) { v += d; return *this; }
};

// Log-linear histogram: 2^kSub sub-buckets per power of two, so any percentile is within
// 1/2^kSub (3%) of the true value; recording is a few integer ops, no allocation.
class Histogram {
 public:
  static constexpr unsigned kSub = 5;
  static constexpr unsigned kBuckets = (64 - kSub + 1) << kSub;
  void record(uint64_t v) {
    ++count_;
    sum_ += v;
    if (v < min_) min_ = v;
    if (v > max_) max_ = v;
    ++buckets_[index(v)];
  }
  uint64_t count() const { return count_; }
  uint64_t min() const { return count_ ? min_ : 0; }
  uint64_t max() const { return max_; }
  double mean() const { return count_ ? static_cast<double>(sum_) / static_cast<double>(count_) : 0.0; }
  // Value v such that a fraction q of the samples are <= v (bucket midpoint, clamped to min/max).
  uint64_t percentile(double q) const;
  void reset() { *this = Histogram{}; }
  void merge(const Histogram& o) {
    count_ += o.count_;
    sum_ += o.sum_;
    if (o.count_ && o.min_ < min_) min_ = o.min_;
    if (o.max_ > max_) max_ = o.max_;
    for (unsigned i = 0; i < kBuckets; ++i) buckets_[i] += o.buckets_[i];
  }
  static unsigned index(uint64_t v) {
    if (v < (1u << kSub)) return static_cast<unsigned>(v);
    const unsigned msb = 63 - static_cast<unsigned>(__builtin_clzll(v));
    const unsigned shift = msb - kSub;
    return ((shift + 1) << kSub) + static_cast<unsigned>((v >> shift) & ((1u << kSub) - 1));
  }
  static uint64_t bucket_low(unsigned i);
  uint32_t bucket(unsigned i) const { return buckets_[i]; }

 private:
  uint64_t count_ = 0, sum_ = 0, min_ = UINT64_MAX, max_ = 0;
  std::array<uint32_t, kBuckets> buckets_{};
};

// One node of the statistics tree. A model owns a group (usually its module's) and registers its
// counters once at construction; the hot path only increments plain integers.
class StatGroup {
 public:
  explicit StatGroup(std::string name, StatGroup* parent = nullptr);
  StatGroup(const StatGroup&) = delete;
  StatGroup& operator=(const StatGroup&) = delete;
  ~StatGroup();

  Counter& counter(const std::string& name, const std::string& desc);
  // Histogram of values in `unit` (e.g. "ns"); values are recorded in that unit's integer.
  Histogram& histogram(const std::string& name, const std::string& unit, const std::string& desc);
  // A value computed at dump time (ratios, throughputs).
  void derived(const std::string& name, const std::string& desc, std::function<double()> f);

  const std::string& name() const { return name_; }
  void to_json(nlohmann::json& out) const;
  // Look up a counter value by dotted path relative to this group ("iotlb.hits"); false if absent.
  bool find(const std::string& path, double& out) const;
  const std::vector<StatGroup*>& children() const { return children_; }

 private:
  struct CounterEntry { std::string name, desc; Counter c; };
  struct HistEntry { std::string name, unit, desc; Histogram h; };
  struct DerivedEntry { std::string name, desc; std::function<double()> f; };
  std::string name_;
  StatGroup* parent_;
  std::vector<StatGroup*> children_;
  std::deque<CounterEntry> counters_;  // deque: references stay valid as entries are added
  std::deque<HistEntry> hists_;
  std::deque<DerivedEntry> derived_;
};

// Implemented by modules that own statistics; the run walks the module tree for these.
class HasStats {
 public:
  virtual ~HasStats() = default;
  virtual StatGroup& stats() = 0;
};

}  // namespace iommusim
