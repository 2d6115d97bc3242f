// Deterministic per-model random numbers: one xoshiro256** stream per model, seeded from the run
// seed and the model's hierarchical name, so adding a model never perturbs the others.
#pragma once
#include <cstdint>
#include <string_view>

namespace iommusim {

class Rng {
  __extension__ typedef unsigned __int128 u128;  // GCC/Clang extension; -Wpedantic knows it is deliberate

 public:
  Rng(uint64_t seed, std::string_view name) {
    uint64_t h = 1469598103934665603ull;  // FNV-1a of the name
    for (char c : name) h = (h ^ static_cast<uint8_t>(c)) * 1099511628211ull;
    uint64_t x = seed ^ h;
    for (auto& s : s_) s = splitmix(x);
  }
  uint64_t next() {
    const uint64_t r = rotl(s_[1] * 5, 7) * 9;
    const uint64_t t = s_[1] << 17;
    s_[2] ^= s_[0]; s_[3] ^= s_[1]; s_[1] ^= s_[2]; s_[0] ^= s_[3];
    s_[2] ^= t; s_[3] = rotl(s_[3], 45);
    return r;
  }
  // Uniform in [0, n) without modulo bias worth caring about at 64 bits (Lemire's multiply).
  uint64_t below(uint64_t n) { return static_cast<uint64_t>((static_cast<u128>(next()) * n) >> 64); }
  double unit() { return static_cast<double>(next() >> 11) * 0x1.0p-53; }

 private:
  static uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }
  static uint64_t splitmix(uint64_t& x) {
    uint64_t z = (x += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
  }
  uint64_t s_[4];
};

}  // namespace iommusim
