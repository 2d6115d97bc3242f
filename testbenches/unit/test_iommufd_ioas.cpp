// IOAS bookkeeping (models/host/iommufd_ioas.h) with hand-chosen ranges: the R6.5 checks of a fixed
// IOVA, first-fit allocation, reservations with owners, allowed ranges and alignment checks.
#include <gtest/gtest.h>

#include <cerrno>

#include "models/host/iommufd_ioas.h"

namespace iommusim::host {
namespace {

constexpr uint64_t K4 = 0x1000;

IoasTable table_4k() {
  IoasTable t;
  t.alignment = K4;
  t.insert({0x100000, 0x4000, 0x80000000, {}});                 // [0x100000, 0x103fff]
  std::string why;
  EXPECT_EQ(t.reserve({0x8000000, 0x80fffff}, IoasTable::device_owner(0), why), 0) << why;  // SW MSI window
  return t;
}

TEST(IoasTable, FixedIovaChecksFollowR65InLinuxOrder) {
  IoasTable t = table_4k();
  std::string why;
  EXPECT_EQ(t.check_fixed(0x200000, K4, why), 0);
  EXPECT_EQ(t.check_fixed(0x200800, K4, why), -EINVAL) << "misaligned";
  EXPECT_EQ(t.check_fixed(0xFFFFFFFFFFFFF000ull, 2 * K4, why), -EOVERFLOW);
  EXPECT_EQ(t.check_fixed(0x80ff000, K4, why), -EINVAL) << "last page of the reserved window";
  EXPECT_EQ(t.check_fixed(0x7fff000, 2 * K4, why), -EINVAL) << "straddles the window's start";
  EXPECT_EQ(t.check_fixed(0x8100000, K4, why), 0) << "first page after the window";
  EXPECT_EQ(t.check_fixed(0x103000, K4, why), -EEXIST) << "last page of the mapping";
  EXPECT_EQ(t.check_fixed(0xff000, 2 * K4, why), -EEXIST) << "straddles the mapping's start";
  EXPECT_EQ(t.check_fixed(0x104000, K4, why), 0);
  // Misalignment wins over everything else, a reserved range over a mapping.
  EXPECT_EQ(t.check_fixed(0x100800, K4, why), -EINVAL);
}

TEST(IoasTable, AllocIsFirstFitAroundAreasAndReservedRanges) {
  IoasTable t = table_4k();
  std::string why;
  uint64_t iova = 1;
  // PA alignment 4 KiB: the first free page is IOVA 0.
  ASSERT_EQ(t.alloc(K4, 0x90001000, iova, why), 0);
  EXPECT_EQ(iova, 0u);
  // 2 MiB from a 2 MiB-aligned PA: aligned to 2 MiB, first hole at 0x200000 ([0, 0x1fffff] holds the area).
  ASSERT_EQ(t.alloc(0x200000, 0x90200000, iova, why), 0);
  EXPECT_EQ(iova, 0x200000u);
  // 256 MiB aligned: 0 overlaps the area, 0x10000000 is free (the window is below it).
  ASSERT_EQ(t.alloc(0x10000000, 0xA0000000, iova, why), 0);
  EXPECT_EQ(iova, 0x10000000u);
}

TEST(IoasTable, AllocStaysInsideAllowedRanges) {
  IoasTable t = table_4k();
  std::string why;
  ASSERT_EQ(t.set_allowed({{0x40000000, 0x40003fff}}, why), 0) << why;
  uint64_t iova = 0;
  ASSERT_EQ(t.alloc(2 * K4, 0x90001000, iova, why), 0);
  EXPECT_EQ(iova, 0x40000000u);
  t.insert({0x40000000, 2 * K4, 0x90001000, {}});
  ASSERT_EQ(t.alloc(2 * K4, 0x90001000, iova, why), 0);
  EXPECT_EQ(iova, 0x40002000u);
  t.insert({0x40002000, 2 * K4, 0x90001000, {}});
  EXPECT_EQ(t.alloc(K4, 0x90001000, iova, why), -ENOSPC) << "the allowed range is full";
}

TEST(IoasTable, ReservationsConflictWithAreasAndAllowedRanges) {
  IoasTable t = table_4k();
  std::string why;
  EXPECT_EQ(t.reserve({0x103000, 0x103fff}, IoasTable::device_owner(1), why), -EADDRINUSE);
  EXPECT_EQ(t.set_allowed({{0x8080000, 0x8090fff}}, why), -EADDRINUSE) << "over the reserved window";
  EXPECT_TRUE(t.allowed().empty()) << "a refused list changes nothing";
  ASSERT_EQ(t.set_allowed({{0x20000000, 0x2fffffff}}, why), 0);
  EXPECT_EQ(t.reserve({0x2ffff000, 0x30000fff}, IoasTable::device_owner(1), why), -EADDRINUSE);
  // Owners: two devices reserve the same window; one leaving keeps the other's.
  ASSERT_EQ(t.reserve({0x8000000, 0x80fffff}, IoasTable::device_owner(1), why), 0);
  t.unreserve(IoasTable::device_owner(0));
  ASSERT_EQ(t.reserved().size(), 1u);
  EXPECT_EQ(t.reserved()[0].owner, IoasTable::device_owner(1));
  t.unreserve(IoasTable::device_owner(1));
  EXPECT_EQ(t.check_fixed(0x8000000, K4, why), 0);
}

TEST(IoasTable, AlignmentCheckCoversIovaLengthAndPa) {
  IoasTable t;
  std::string why;
  t.insert({0x10000, 0x1000, 0x80000000, {}});
  EXPECT_EQ(t.check_alignment(K4, why), 0);
  EXPECT_EQ(t.check_alignment(0x10000, why), -EADDRINUSE) << "length 4 KiB for 64 KiB pages";
  t.insert({0x20000800, 0x800, 0x80000800, {}});
  EXPECT_EQ(t.check_alignment(K4, why), -EADDRINUSE);
  t.erase(0x20000800);
  t.insert({0x30000000, 0x1000, 0x80000800, {}});
  EXPECT_EQ(t.check_alignment(K4, why), -EADDRINUSE) << "PA not page aligned";
}

}  // namespace
}  // namespace iommusim::host
