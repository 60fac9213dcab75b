#include "http/request.h"

#include <gtest/gtest.h>

namespace kvstream::http {
namespace {

TEST(MatchRoute, KnowsEveryRouteAndNothingElse) {
  EXPECT_EQ(match_route("/v1/kv/a")->path, "/v1/kv/{key}");
  EXPECT_EQ(match_route("/v1/kv/")->path, "/v1/kv/{key}") << "an empty key is the key route's 400";
  EXPECT_EQ(match_route("/v1/kv")->path, "/v1/kv");
  EXPECT_EQ(match_route("/v1/status")->path, "/v1/status");
  EXPECT_EQ(match_route("/metrics")->path, "/metrics");
  for (const char* none : {"", "/", "/v1", "/v1/kvx", "/v1/KV/a", "/healthz/", "/v2/kv/a"}) {
    EXPECT_EQ(match_route(none), nullptr) << none;
  }
}

TEST(ParseCount, AcceptsOnlyPlainNonNegativeIntegers) {
  EXPECT_EQ(parse_count("0"), 0u);
  EXPECT_EQ(parse_count("18446744073709551615"), UINT64_MAX);
  for (const char* bad : {"", "-1", "+1", " 1", "1 ", "1e3", "0x10", "18446744073709551616"}) {
    EXPECT_FALSE(parse_count(bad)) << bad;
  }
}

TEST(ParsePositions, ParsesListsAndRejectsAnythingMalformed) {
  auto one = parse_positions("3:1042");
  ASSERT_TRUE(one);
  ASSERT_EQ(one->size(), 1u);
  EXPECT_EQ((*one)[0], (Position{3, 1042}));
  auto two = parse_positions("0:0,5:9");
  ASSERT_TRUE(two);
  EXPECT_EQ(two->size(), 2u);
  for (const char* bad : {"", ",", "1:2,", ",1:2", "1:2,,3:4", "1", "1:", ":1", "a:1", "1:-1"}) {
    EXPECT_FALSE(parse_positions(bad)) << bad;
  }
}

TEST(EtagMatches, ComparesListsWeaklyAndTakesTheStar) {
  EXPECT_TRUE(etag_matches("\"1:2\"", "\"1:2\""));
  EXPECT_TRUE(etag_matches("\"0:0\", \"1:2\"", "\"1:2\""));
  EXPECT_TRUE(etag_matches("W/\"1:2\"", "\"1:2\""));
  EXPECT_TRUE(etag_matches("*", "\"1:2\""));
  EXPECT_FALSE(etag_matches("\"1:3\"", "\"1:2\""));
  EXPECT_FALSE(etag_matches("1:2", "\"1:2\""));
  EXPECT_FALSE(etag_matches(", ,", "\"1:2\""));
}

TEST(SaneRequestId, TakesPrintableIdsUpTo128Characters) {
  EXPECT_TRUE(sane_request_id("abc-123_X.y"));
  EXPECT_TRUE(sane_request_id(std::string(128, 'a')));
  EXPECT_FALSE(sane_request_id(std::string(129, 'a')));
  EXPECT_FALSE(sane_request_id(""));
  EXPECT_FALSE(sane_request_id("a b"));
  EXPECT_FALSE(sane_request_id("a\r\nX-Injected: 1"));
  EXPECT_FALSE(sane_request_id("caf\xc3\xa9"));
}

}  // namespace
}  // namespace kvstream::http
