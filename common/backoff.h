// Exponential backoff with full jitter, for retrying transient failures:
// the n-th delay is uniform in [initial * 2^n / 2, initial * 2^n], capped at
// `max`. Not thread-safe; one per retrying loop.
#pragma once

#include <chrono>
#include <cstdint>
#include <random>

namespace kvstream {

class Backoff {
 public:
  Backoff(std::chrono::milliseconds initial, std::chrono::milliseconds max,
          uint64_t seed = std::random_device{}())
      : initial_(initial), max_(max), rng_(seed) {}

  std::chrono::milliseconds next() {
    const int64_t cap = std::min<int64_t>(max_.count(), initial_.count() << std::min(attempt_, 20));
    ++attempt_;
    std::uniform_int_distribution<int64_t> jitter(cap / 2, cap);
    return std::chrono::milliseconds(jitter(rng_));
  }
  void reset() { attempt_ = 0; }
  int attempts() const { return attempt_; }

 private:
  std::chrono::milliseconds initial_, max_;
  int attempt_ = 0;
  std::mt19937_64 rng_;
};

}  // namespace kvstream
