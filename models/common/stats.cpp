// Statistics tree implementation and JSON dump.
#include "models/common/stats.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <bit>

namespace iommusim {

uint64_t Histogram::bucket_low(unsigned i) {
  if (i < (1u << kSub)) return i;
  const unsigned shift = (i >> kSub) - 1;
  const uint64_t sub = i & ((1u << kSub) - 1);
  return ((uint64_t{1} << kSub) | sub) << shift;
}

uint64_t Histogram::percentile(double q) const {
  if (count_ == 0) return 0;
  const double target = q * static_cast<double>(count_);
  uint64_t seen = 0;
  for (unsigned i = 0; i < kBuckets; ++i) {
    seen += buckets_[i];
    if (buckets_[i] && static_cast<double>(seen) >= target) {
      const uint64_t lo = bucket_low(i);
      const uint64_t hi = i + 1 < kBuckets ? bucket_low(i + 1) : lo;
      const uint64_t mid = lo + (hi - lo) / 2;
      return std::clamp(mid, min(), max_);
    }
  }
  return max_;
}

StatGroup::StatGroup(std::string name, StatGroup* parent) : name_(std::move(name)), parent_(parent) {
  if (parent_) parent_->children_.push_back(this);
}

StatGroup::~StatGroup() {
  if (parent_) {
    auto& c = parent_->children_;
    c.erase(std::remove(c.begin(), c.end(), this), c.end());
  }
  for (auto* ch : children_) ch->parent_ = nullptr;
}

Counter& StatGroup::counter(const std::string& name, const std::string& desc) {
  counters_.push_back({name, desc, {}});
  return counters_.back().c;
}

Histogram& StatGroup::histogram(const std::string& name, const std::string& unit, const std::string& desc) {
  hists_.push_back({name, unit, desc, {}});
  return hists_.back().h;
}

void StatGroup::derived(const std::string& name, const std::string& desc, std::function<double()> f) {
  derived_.push_back({name, desc, std::move(f)});
}

void StatGroup::to_json(nlohmann::json& out) const {
  for (const auto& c : counters_) out[c.name] = c.c.v;
  for (const auto& d : derived_) out[d.name] = d.f();
  for (const auto& h : hists_) {
    auto& j = out[h.name];
    j["unit"] = h.unit;
    j["count"] = h.h.count();
    j["mean"] = h.h.mean();
    j["min"] = h.h.min();
    j["max"] = h.h.max();
    j["p50"] = h.h.percentile(0.50);
    j["p90"] = h.h.percentile(0.90);
    j["p99"] = h.h.percentile(0.99);
    j["p999"] = h.h.percentile(0.999);
    // The non-empty buckets as [low, high, count]: values v with low <= v < high (CDFs, scripts/plot).
    auto& b = j["buckets"] = nlohmann::json::array();
    for (unsigned i = 0; i < Histogram::kBuckets; ++i)
      if (h.h.bucket(i))
        b.push_back({Histogram::bucket_low(i),
                     i + 1 < Histogram::kBuckets ? Histogram::bucket_low(i + 1) : h.h.max() + 1, h.h.bucket(i)});
  }
  for (const auto* ch : children_) ch->to_json(out[ch->name_]);
}

bool StatGroup::find(const std::string& path, double& out) const {
  const auto dot = path.find('.');
  if (dot != std::string::npos) {
    const std::string head = path.substr(0, dot);
    for (const auto* ch : children_)
      if (ch->name_ == head) return ch->find(path.substr(dot + 1), out);
    return false;
  }
  for (const auto& c : counters_)
    if (c.name == path) { out = static_cast<double>(c.c.v); return true; }
  for (const auto& d : derived_)
    if (d.name == path) { out = d.f(); return true; }
  return false;
}

}  // namespace iommusim
