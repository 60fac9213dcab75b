#include "http/guards.h"

#include <gtest/gtest.h>

namespace kvstream::http {
namespace {

using std::chrono::milliseconds;

TEST(TokenBucket, AllowsTheBurstThenRefillsAtTheRate) {
  const auto t0 = Clock::time_point{} + std::chrono::hours(1);
  TokenBucket bucket(10, 3, t0);
  EXPECT_FALSE(bucket.take(t0));
  EXPECT_FALSE(bucket.take(t0));
  EXPECT_FALSE(bucket.take(t0));
  auto wait = bucket.take(t0);
  ASSERT_TRUE(wait);
  EXPECT_NEAR(std::chrono::duration<double>(*wait).count(), 0.1, 1e-6);
  EXPECT_TRUE(bucket.take(t0 + milliseconds(50)));
  EXPECT_FALSE(bucket.take(t0 + milliseconds(100)));
  EXPECT_FALSE(bucket.full(t0 + milliseconds(100)));
  EXPECT_TRUE(bucket.full(t0 + milliseconds(400)));
}

TEST(RateLimiter, OffByDefault) {
  RateLimiter limiter({});
  EXPECT_FALSE(limiter.enabled());
  for (int i = 0; i < 1000; ++i) EXPECT_FALSE(limiter.admit("a", Clock::now()));
}

TEST(RateLimiter, LimitsEachClientOnItsOwn) {
  RateLimits limits;
  limits.per_client_per_second = 2;
  RateLimiter limiter(limits);
  const auto t0 = Clock::now();
  EXPECT_FALSE(limiter.admit("a", t0));
  EXPECT_FALSE(limiter.admit("a", t0));
  auto wait = limiter.admit("a", t0);
  ASSERT_TRUE(wait);
  EXPECT_GT(*wait, Clock::duration::zero());
  EXPECT_FALSE(limiter.admit("b", t0)) << "another client has its own bucket";
  EXPECT_FALSE(limiter.admit("a", t0 + milliseconds(500)));
}

TEST(RateLimiter, GlobalLimitCoversEveryClient) {
  RateLimits limits;
  limits.global_per_second = 1;
  RateLimiter limiter(limits);
  const auto t0 = Clock::now();
  EXPECT_FALSE(limiter.admit("a", t0));
  EXPECT_TRUE(limiter.admit("b", t0));
  EXPECT_FALSE(limiter.admit("b", t0 + milliseconds(1000)));
}

TEST(RateLimiter, ForgetsFullBucketsWhenTheTableIsFull) {
  RateLimits limits;
  limits.per_client_per_second = 1;
  RateLimiter limiter(limits, 2);
  const auto t0 = Clock::now();
  EXPECT_FALSE(limiter.admit("a", t0));
  EXPECT_FALSE(limiter.admit("b", t0));
  EXPECT_TRUE(limiter.admit("b", t0));
  EXPECT_EQ(limiter.clients(), 2u);
  // "a" and "b" are empty now: a third client is still admitted (the table
  // may exceed its bound rather than forget a client that is being limited).
  EXPECT_FALSE(limiter.admit("c", t0));
  EXPECT_EQ(limiter.clients(), 3u);
  // Later all are full again, and forgotten when the next client arrives.
  EXPECT_FALSE(limiter.admit("d", t0 + std::chrono::seconds(5)));
  EXPECT_EQ(limiter.clients(), 1u);
}

TEST(CircuitBreaker, OpensAfterConsecutiveFailuresAndClosesOnASuccessfulTrial) {
  CircuitBreaker breaker(3, milliseconds(1000));
  const auto t0 = Clock::now();
  breaker.failure(t0);
  breaker.success();  // resets the count
  breaker.failure(t0);
  breaker.failure(t0);
  EXPECT_TRUE(breaker.allow(t0));
  breaker.failure(t0);
  EXPECT_TRUE(breaker.open(t0));
  EXPECT_FALSE(breaker.allow(t0 + milliseconds(999)));
  // Half-open: one trial at a time.
  EXPECT_TRUE(breaker.allow(t0 + milliseconds(1000)));
  EXPECT_FALSE(breaker.allow(t0 + milliseconds(1001)));
  breaker.failure(t0 + milliseconds(1002));
  EXPECT_FALSE(breaker.allow(t0 + milliseconds(1500)));
  EXPECT_TRUE(breaker.allow(t0 + milliseconds(2002)));
  breaker.success();
  EXPECT_FALSE(breaker.open(t0 + milliseconds(2003)));
  EXPECT_TRUE(breaker.allow(t0 + milliseconds(2003)));
  EXPECT_TRUE(breaker.allow(t0 + milliseconds(2003)));
}

TEST(CircuitBreaker, StateIsClosedOpenThenHalfOpenOnceTheCoolDownEnds) {
  using State = CircuitBreaker::State;
  CircuitBreaker breaker(2, milliseconds(500));
  const auto t0 = Clock::now();
  EXPECT_EQ(breaker.state(t0), State::kClosed);
  breaker.failure(t0);
  EXPECT_EQ(breaker.state(t0), State::kClosed);
  breaker.failure(t0);
  EXPECT_EQ(breaker.state(t0), State::kOpen);
  EXPECT_EQ(breaker.state(t0 + milliseconds(499)), State::kOpen);
  EXPECT_EQ(breaker.state(t0 + milliseconds(500)), State::kHalfOpen);
  EXPECT_TRUE(breaker.allow(t0 + milliseconds(500)));  // the trial
  EXPECT_EQ(breaker.state(t0 + milliseconds(501)), State::kHalfOpen);
  breaker.failure(t0 + milliseconds(501));
  EXPECT_EQ(breaker.state(t0 + milliseconds(502)), State::kOpen);
  breaker.success();
  EXPECT_EQ(breaker.state(t0 + milliseconds(502)), State::kClosed);
}

TEST(Secrets, EqualOnlyWhenIdentical) {
  EXPECT_TRUE(secrets_equal("s3cret", "s3cret"));
  EXPECT_FALSE(secrets_equal("s3cre", "s3cret"));
  EXPECT_FALSE(secrets_equal("s3cret ", "s3cret"));
  EXPECT_FALSE(secrets_equal("", "s3cret"));
  EXPECT_FALSE(secrets_equal("S3cret", "s3cret"));
}

}  // namespace
}  // namespace kvstream::http
