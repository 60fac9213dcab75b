#include "common/position.h"

#include <gtest/gtest.h>

namespace kvstream {
namespace {

TEST(Position, RoundTripsThroughText) {
  Position p{3, 1042};
  EXPECT_EQ(to_string(p), "3:1042");
  auto parsed = parse_position("3:1042");
  ASSERT_TRUE(parsed.has_value());
  EXPECT_EQ(*parsed, p);
}

TEST(Position, RejectsMalformedText) {
  for (const char* bad : {"", ":", "3:", ":5", "-1:5", "3:-5", "a:1", "1:b", "1:2:3", " 1:2",
                          "1:2 ", "99999999999:1", "1:99999999999999999999", "+1:2"}) {
    EXPECT_FALSE(parse_position(bad).has_value()) << bad;
  }
}

TEST(Position, AcceptsLargestValues) {
  auto p = parse_position("2147483647:9223372036854775807");
  ASSERT_TRUE(p.has_value());
  EXPECT_EQ(p->partition, 2147483647);
  EXPECT_EQ(p->offset, INT64_MAX);
}

}  // namespace
}  // namespace kvstream
