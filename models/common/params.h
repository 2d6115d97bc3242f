// Parameter description: models declare their parameters once; platforms/ fills them from config.
#pragma once
#include <cstdint>
#include <initializer_list>
#include <string>

namespace iommusim {

// Time values are stored as integer picoseconds so Params can be built before SystemC's
// time resolution is fixed (a non-zero sc_time at static-init time would freeze it).
struct Time {
  uint64_t ps = 0;
  static constexpr Time ns(double v) { return Time{static_cast<uint64_t>(v * 1000.0 + 0.5)}; }
  static constexpr Time us(double v) { return Time{static_cast<uint64_t>(v * 1e6 + 0.5)}; }
  static constexpr Time ms(double v) { return Time{static_cast<uint64_t>(v * 1e9 + 0.5)}; }
  constexpr double as_ns() const { return static_cast<double>(ps) / 1000.0; }
  friend constexpr bool operator==(Time a, Time b) { return a.ps == b.ps; }
};

// A visitor sees every parameter of a Params struct: the YAML reader fills them, `iommusim list`
// prints them, the resolved-config writer dumps them. Models only call it, never implement it.
class ParamVisitor {
 public:
  virtual ~ParamVisitor() = default;
  // Unitless integer (entries, ways, counts) within [min, max].
  virtual void count(const char* key, uint64_t& v, const char* desc, uint64_t min = 0,
                     uint64_t max = UINT64_MAX) = 0;
  // Sizes in bytes; config accepts "4KiB", "64GiB", "256B" or a plain integer.
  virtual void bytes(const char* key, uint64_t& v, const char* desc, uint64_t min = 0,
                     uint64_t max = UINT64_MAX) = 0;
  // Durations; config accepts "80ns", "1.5us", "10ms", "500ps".
  virtual void time(const char* key, Time& v, const char* desc, Time min = {}, Time max = Time{UINT64_MAX}) = 0;
  // Real numbers with a unit name used only for documentation ("GT/s", "GB/s", "").
  // Config accepts the unit suffix ("16GT/s", "25.6GB/s") or a plain number.
  virtual void real(const char* key, double& v, const char* unit, const char* desc, double min, double max) = 0;
  virtual void flag(const char* key, bool& v, const char* desc) = 0;
  virtual void text(const char* key, std::string& v, const char* desc) = 0;
  // One of a fixed set of names; idx indexes `names`.
  virtual void choice(const char* key, int& idx, std::initializer_list<const char*> names, const char* desc) = 0;
  // A nested parameter struct (e.g. the IOTLB of an IOMMU); P has visit(ParamVisitor&).
  template <class P>
  void group(const char* key, P& p, const char* desc) {
    if (enter(key, desc)) {
      p.visit(*this);
      leave();
    }
  }
  template <class E>
  void choice_enum(const char* key, E& e, std::initializer_list<const char*> names, const char* desc) {
    int i = static_cast<int>(e);
    choice(key, i, names, desc);
    e = static_cast<E>(i);
  }

 protected:
  virtual bool enter(const char* key, const char* desc) = 0;
  virtual void leave() = 0;
};

}  // namespace iommusim
