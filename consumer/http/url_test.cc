#include "http/url.h"

#include <gtest/gtest.h>

namespace kvstream::http {
namespace {

TEST(PercentDecode, DecodesEscapes) {
  EXPECT_EQ(percent_decode("a%2Fb%20c"), "a/b c");
  EXPECT_EQ(percent_decode("%e2%82%AC"), "\xe2\x82\xac");
  EXPECT_EQ(percent_decode("a+b"), "a+b");
  EXPECT_EQ(percent_decode("%00"), std::string(1, '\0'));
  EXPECT_EQ(percent_decode(""), "");
}

TEST(PercentDecode, RejectsMalformedEscapes) {
  for (const char* bad : {"%", "%2", "%zz", "abc%", "%%41", "%4g"}) {
    EXPECT_FALSE(percent_decode(bad).has_value()) << bad;
  }
}

TEST(ParseTarget, SplitsPathAndQuery) {
  auto t = parse_target("/v1/kv?prefix=a%2F&limit=10&flag&limit=20");
  ASSERT_TRUE(t.has_value());
  EXPECT_EQ(t->path, "/v1/kv");
  EXPECT_EQ(t->query.at("prefix"), "a/");
  EXPECT_EQ(t->query.at("limit"), "20");
  EXPECT_EQ(t->query.at("flag"), "");
  EXPECT_FALSE(parse_target("/x?a=%zz").has_value());
  EXPECT_EQ(parse_target("/v1/kv/a%2Fb")->path, "/v1/kv/a%2Fb");
}

}  // namespace
}  // namespace kvstream::http
