// PCIe ATS encodings against values worked out by hand from the spec's S-bit rule: S=0 is one 4 KiB
// page; S=1 and bits 12..n-1 set with bit n clear is a 2^(n+1)-byte range.
#include <gtest/gtest.h>

#include "models/pcie/ats_defs.h"

namespace iommusim {
namespace {

TEST(AtsDefs, RangeEncodingByHand) {
  EXPECT_EQ(ats::encode_range(0x12345000, 4096), 0x12345000u);
  EXPECT_EQ(ats::encode_range(0x12344000, 8192), 0x12344800u);            // bit 12 clear, S
  EXPECT_EQ(ats::encode_range(0x40000000, 2u << 20), 0x400FF800u);        // bits 12..19 set
  EXPECT_EQ(ats::encode_range(0x40000000, 1u << 30), 0x5FFFF800u);      // bits 12..28 set
}

TEST(AtsDefs, RangeDecodeRoundTrip) {
  for (unsigned log2 = 12; log2 < 48; ++log2) {
    const uint64_t size = uint64_t{1} << log2;
    const uint64_t base = (0x123456789000ull >> log2) << log2;
    const ats::Range r = ats::decode_range(ats::encode_range(base, size));
    EXPECT_EQ(r.base, base) << log2;
    EXPECT_EQ(r.size, size) << log2;
  }
  const ats::Range all = ats::decode_range(ats::encode_range(0, ats::kAllRange));
  EXPECT_EQ(all.size, ats::kAllRange);
  EXPECT_TRUE(all.contains(~uint64_t{0}));
}

TEST(AtsDefs, CompletionEntryBits) {
  ats::Translation t;
  t.addr = 0x80000000;
  t.size = 2u << 20;
  t.r = true;
  t.w = false;
  t.u = true;
  t.global = true;
  // R bit 0, U bit 2, Global bit 5, S bit 11, bits 12..19 set for 2 MiB.
  EXPECT_EQ(ats::encode_completion(t), 0x800FF800u | 0x1u | 0x4u | 0x20u);
  const ats::Translation d = ats::decode_completion(0x800FF800u | 0x1u | 0x4u | 0x20u);
  EXPECT_EQ(d.addr, 0x80000000u);
  EXPECT_EQ(d.size, 2u << 20);
  EXPECT_TRUE(d.r && d.u && d.global);
  EXPECT_FALSE(d.w || d.exe || d.priv || d.n);
}

TEST(AtsDefs, InvalidateRequestGlobalBit) {
  bool g = false;
  const ats::Range r = ats::decode_inv_request(ats::encode_inv_request(0x7000, 4096, true), g);
  EXPECT_TRUE(g);
  EXPECT_EQ(r.base, 0x7000u);
  EXPECT_EQ(r.size, 4096u);
}

}  // namespace
}  // namespace iommusim
