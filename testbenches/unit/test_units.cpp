// Unit tests for unit-string parsing and formatting (models/common/units.cpp).
#include <gtest/gtest.h>

#include "models/common/units.h"

namespace iommusim::units {
namespace {

TEST(Units, BytesParse) {
  EXPECT_EQ(parse_bytes("64GiB"), 68719476736ull);  // 64 * 2^30
  EXPECT_EQ(parse_bytes("4KiB"), 4096u);
  EXPECT_EQ(parse_bytes("4096"), 4096u);
  EXPECT_EQ(parse_bytes("256B"), 256u);
  EXPECT_EQ(parse_bytes("0x1000"), 4096u);
  EXPECT_EQ(parse_bytes("1.5KiB"), 1536u);
  EXPECT_EQ(parse_bytes("2MiB"), 2097152u);
  EXPECT_EQ(parse_bytes("1TiB"), 1099511627776ull);
  EXPECT_EQ(parse_bytes("1kB"), 1000u);
  EXPECT_EQ(parse_bytes("3GB"), 3000000000ull);
  EXPECT_EQ(parse_bytes(" 8 KiB "), 8192u);
}

TEST(Units, BytesErrors) {
  std::string why;
  EXPECT_FALSE(parse_bytes("12 parsecs", &why));
  EXPECT_NE(why.find("unknown size unit"), std::string::npos) << why;
  EXPECT_FALSE(parse_bytes("-1KiB", &why));
  EXPECT_NE(why.find("negative"), std::string::npos) << why;
  EXPECT_FALSE(parse_bytes("1.3B", &why));  // not a whole number of bytes
  EXPECT_FALSE(parse_bytes("17179869184GiB", &why));  // 2^34 * 2^30 = 2^64 overflows
  EXPECT_FALSE(parse_bytes("", &why));
  EXPECT_FALSE(parse_bytes("KiB", &why));
}

TEST(Units, TimeParse) {
  EXPECT_EQ(parse_time("1.5us")->ps, 1500000u);
  EXPECT_EQ(parse_time("80ns")->ps, 80000u);
  EXPECT_EQ(parse_time("500ps")->ps, 500u);
  EXPECT_EQ(parse_time("10ms")->ps, 10000000000ull);
  EXPECT_EQ(parse_time("2s")->ps, 2000000000000ull);
  EXPECT_EQ(parse_time("0.25ns")->ps, 250u);
  EXPECT_EQ(parse_time("0")->ps, 0u);  // zero needs no unit
  EXPECT_EQ(parse_time("1.5 us")->ps, 1500000u);
}

TEST(Units, TimeErrors) {
  std::string why;
  EXPECT_FALSE(parse_time("12 parsecs", &why));
  EXPECT_NE(why.find("unknown time unit"), std::string::npos) << why;
  EXPECT_FALSE(parse_time("-1ns", &why));
  EXPECT_NE(why.find("negative"), std::string::npos) << why;
  EXPECT_FALSE(parse_time("1.0001ps", &why));
  EXPECT_NE(why.find("finer than 1ps"), std::string::npos) << why;
  EXPECT_FALSE(parse_time("80", &why));  // non-zero needs a unit
  EXPECT_NE(why.find("needs a unit"), std::string::npos) << why;
  EXPECT_FALSE(parse_time("abc", &why));
}

TEST(Units, RealParse) {
  // The parameter's unit is the unit the value is stored in: "16GT/s" for a GT/s parameter is 16.
  EXPECT_DOUBLE_EQ(*parse_real("16GT/s", "GT/s"), 16.0);
  // SI prefixes scale relative to the parameter's unit: 16 G(T/s) = 16e9 T/s.
  EXPECT_DOUBLE_EQ(*parse_real("16GT/s", "T/s"), 16e9);
  EXPECT_DOUBLE_EQ(*parse_real("2.5kT/s", "T/s"), 2500.0);
  EXPECT_DOUBLE_EQ(*parse_real("25.6GB/s", "GB/s"), 25.6);
  EXPECT_DOUBLE_EQ(*parse_real("2.5", "GT/s"), 2.5);
  EXPECT_DOUBLE_EQ(*parse_real("1e3", ""), 1000.0);
  EXPECT_DOUBLE_EQ(*parse_real("-0.5", ""), -0.5);
  std::string why;
  EXPECT_FALSE(parse_real("16MT/s", "GT/s", &why));
  EXPECT_NE(why.find("unknown unit"), std::string::npos) << why;
  EXPECT_FALSE(parse_real("16GT/s", "", &why));
  EXPECT_FALSE(parse_real("abc", "GB/s", &why));
  EXPECT_FALSE(parse_real("12 parsecs", "GT/s", &why));
}

TEST(Units, CountParse) {
  EXPECT_EQ(parse_count("42"), 42u);
  EXPECT_EQ(parse_count("0x2A"), 42u);
  EXPECT_EQ(parse_count("0"), 0u);
  EXPECT_EQ(parse_count("18446744073709551615"), UINT64_MAX);
  std::string why;
  EXPECT_FALSE(parse_count("-1", &why));
  EXPECT_FALSE(parse_count("1.5", &why));
  EXPECT_FALSE(parse_count("4k", &why));
  EXPECT_FALSE(parse_count("abc", &why));
  EXPECT_FALSE(parse_count("", &why));
  EXPECT_FALSE(parse_count("18446744073709551616", &why));  // 2^64
}

TEST(Units, Format) {
  EXPECT_EQ(format_bytes(4096), "4KiB");
  EXPECT_EQ(format_bytes(1536), "1536B");
  EXPECT_EQ(format_bytes(68719476736ull), "64GiB");
  EXPECT_EQ(format_bytes(0), "0B");
  EXPECT_EQ(format_time(Time{80000}), "80ns");
  EXPECT_EQ(format_time(Time{1500000}), "1500ns");
  EXPECT_EQ(format_time(Time{1}), "1ps");
  EXPECT_EQ(format_time(Time{0}), "0ns");
  EXPECT_EQ(format_time(Time{1000000000000ull}), "1s");
  EXPECT_EQ(format_real(16, "GT/s"), "16GT/s");
  EXPECT_EQ(format_real(25.6, "GB/s"), "25.6GB/s");
}

TEST(Units, RoundTrip) {
  for (uint64_t b : {0ull, 1ull, 1536ull, 4096ull, 68719476736ull, 123456789ull})
    EXPECT_EQ(parse_bytes(format_bytes(b)), b);
  for (uint64_t ps : {0ull, 1ull, 999ull, 80000ull, 1500000ull, 7000000000000ull})
    EXPECT_EQ(parse_time(format_time(Time{ps}))->ps, ps);
  EXPECT_DOUBLE_EQ(*parse_real(format_real(12.5, "GB/s"), "GB/s"), 12.5);
}

}  // namespace
}  // namespace iommusim::units
