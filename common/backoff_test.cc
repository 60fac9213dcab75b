#include "common/backoff.h"

#include <gtest/gtest.h>

namespace kvstream {
namespace {

using std::chrono::milliseconds;

TEST(Backoff, GrowsExponentiallyWithJitterUpToTheCap) {
  Backoff b(milliseconds(100), milliseconds(1000), /*seed=*/42);
  const int64_t caps[] = {100, 200, 400, 800, 1000, 1000, 1000};
  for (int64_t cap : caps) {
    const auto d = b.next().count();
    EXPECT_GE(d, cap / 2);
    EXPECT_LE(d, cap);
  }
  EXPECT_EQ(b.attempts(), 7);
}

TEST(Backoff, ResetStartsOver) {
  Backoff b(milliseconds(100), milliseconds(10000), 7);
  for (int i = 0; i < 5; ++i) b.next();
  b.reset();
  EXPECT_LE(b.next().count(), 100);
}

TEST(Backoff, NeverOverflowsAfterManyAttempts) {
  Backoff b(milliseconds(100), milliseconds(5000), 1);
  for (int i = 0; i < 200; ++i) {
    const auto d = b.next().count();
    EXPECT_GE(d, 0);
    EXPECT_LE(d, 5000);
  }
}

}  // namespace
}  // namespace kvstream
