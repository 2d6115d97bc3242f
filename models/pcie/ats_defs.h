// PCIe Address Translation Services (PCIe Base spec, "ATS"): the bit formats exchanged between a
// device's ATC and the translation agent (the IOMMU), and the range encoding both use.
//
// On the TLM side a Translation Request is a read whose PcieExt has at = TranslationRequest; its
// data buffer receives one 8-byte Translation Completion data entry. Invalidate Request and
// Invalidate Completion are writes with PcieExt::msg set; the 8-byte data is the message body.
#pragma once
#include <bit>
#include <cstdint>

namespace iommusim::ats {

inline constexpr unsigned kItags = 32;           // ITag is 5 bits: 32 invalidations in flight per device
inline constexpr uint64_t kMinRange = 4096;      // every ATS range is a multiple of 4 KiB
inline constexpr uint64_t kAllRange = 0;         // size 0 in a decoded range means "the whole address space"

// Encodes [base, base+size) (size a power of two >= 4 KiB, base aligned to it) as the address field
// with the S bit (bit 11): S=0 is one 4 KiB page; S=1 means the lowest clear bit at or above bit 12
// gives the size (bit n clear, bits 12..n-1 set => 2^(n+1) bytes). size 0 = entire space.
inline uint64_t encode_range(uint64_t base, uint64_t size) {
  if (size == kAllRange) return ((~uint64_t{0} >> 1) & ~uint64_t{0xFFF}) | (uint64_t{1} << 11);
  if (size <= kMinRange) return base & ~uint64_t{0xFFF};
  const uint64_t ones = (size >> 1) - 1;  // bits 12..log2(size)-1 set
  return ((base & ~(size - 1)) | (ones & ~uint64_t{0xFFF})) | (uint64_t{1} << 11);
}

struct Range {
  uint64_t base = 0;
  uint64_t size = kMinRange;  // kAllRange (0) = entire 64-bit space
  bool contains(uint64_t a) const { return size == kAllRange || (a - base) < size; }
  bool overlaps(uint64_t b, uint64_t s) const {
    return size == kAllRange || s == kAllRange || (b < base + size && base < b + s);
  }
};

inline Range decode_range(uint64_t field) {
  const uint64_t a = field & ~uint64_t{0xFFF};
  if (!(field & (uint64_t{1} << 11))) return {a, kMinRange};
  const uint64_t low_clear = std::countr_one(a >> 12);  // bits 12..12+n-1 set, bit 12+n clear
  if (low_clear >= 51) return {0, kAllRange};
  const uint64_t size = uint64_t{1} << (low_clear + 13);
  return {a & ~(size - 1), size};
}

// Translation Completion data entry: Translated Address[63:12], S 11, N 10, Global 5, Priv 4,
// Exe 3, U 2, W 1, R 0.
namespace cpl {
inline constexpr uint64_t R = 1u << 0, W = 1u << 1, U = 1u << 2, EXE = 1u << 3, PRIV = 1u << 4, GLOBAL = 1u << 5,
                          N = 1u << 10, S = 1u << 11;
}

struct Translation {
  uint64_t addr = 0;        // translated base, aligned to size
  uint64_t size = kMinRange;
  bool r = false, w = false, u = false, exe = false, priv = false, global = false, n = false;
};

inline uint64_t encode_completion(const Translation& t) {
  uint64_t v = encode_range(t.addr, t.size);
  v |= (t.r ? cpl::R : 0) | (t.w ? cpl::W : 0) | (t.u ? cpl::U : 0) | (t.exe ? cpl::EXE : 0) |
       (t.priv ? cpl::PRIV : 0) | (t.global ? cpl::GLOBAL : 0) | (t.n ? cpl::N : 0);
  return v;
}

inline Translation decode_completion(uint64_t v) {
  const Range r = decode_range(v);
  Translation t;
  t.addr = r.base;
  t.size = r.size;
  t.r = v & cpl::R;
  t.w = v & cpl::W;
  t.u = v & cpl::U;
  t.exe = v & cpl::EXE;
  t.priv = v & cpl::PRIV;
  t.global = v & cpl::GLOBAL;
  t.n = v & cpl::N;
  return t;
}

// Invalidate Request message body: Untranslated Address[63:12] with S (bit 11), Global Invalidate
// (bit 0). The ITag and the PASID prefix travel in the header (PcieExt::itag, pasid).
inline uint64_t encode_inv_request(uint64_t base, uint64_t size, bool global) {
  return encode_range(base, size) | (global ? 1u : 0u);
}
inline Range decode_inv_request(uint64_t body, bool& global) {
  global = body & 1;
  return decode_range(body & ~uint64_t{1});
}

// Invalidate Completion: ITag vector (bit i = ITag i done) and Completion Count (the device may
// split one invalidation's completion into several messages; 0 means 8).
struct InvCompletion {
  uint32_t itag_vector = 0;
  uint8_t cc = 1;
};

}  // namespace iommusim::ats
