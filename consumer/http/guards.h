// Protections of the HTTP API against bad clients and a failing database:
// request rate limits (token buckets), a circuit breaker for database reads,
// and a constant-time comparison for bearer tokens.
//
// Thread-safe: each class guards its state with its own mutex. Time is passed
// in, so tests drive it.
#pragma once

#include <chrono>
#include <cstddef>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>

namespace kvstream::http {

using Clock = std::chrono::steady_clock;

// A token bucket: `rate` tokens per second, holding at most `burst`.
class TokenBucket {
 public:
  TokenBucket(double rate, double burst, Clock::time_point now)
      : rate_(rate), burst_(burst), tokens_(burst), last_(now) {}

  // Takes one token if there is one. Otherwise returns how long until there
  // is one.
  std::optional<Clock::duration> take(Clock::time_point now);

  // True if the bucket is full at `now` (it can be forgotten).
  bool full(Clock::time_point now) const;

 private:
  void refill(Clock::time_point now);

  double rate_;
  double burst_;
  double tokens_;
  Clock::time_point last_;
};

struct RateLimits {
  double global_per_second = 0;      // 0: no global limit
  double per_client_per_second = 0;  // 0: no per-client limit
  // Bursts allowed above the rate: one second's worth, at least 1.
};

// A global bucket and one per client address. Client buckets that are full
// again are forgotten when the table grows past `max_clients`, so the table
// stays bounded under address churn.
class RateLimiter {
 public:
  explicit RateLimiter(RateLimits limits, size_t max_clients = 100000);

  bool enabled() const {
    return limits_.global_per_second > 0 || limits_.per_client_per_second > 0;
  }

  // nullopt: admitted. Otherwise the wait before a retry can succeed.
  std::optional<Clock::duration> admit(const std::string& client, Clock::time_point now);

  // Client buckets held now.
  size_t clients() const;

 private:
  const RateLimits limits_;
  const size_t max_clients_;
  mutable std::mutex mu_;
  std::optional<TokenBucket> global_;                     // guarded by mu_
  std::unordered_map<std::string, TokenBucket> clients_;  // guarded by mu_
};

// Fails fast after repeated failures instead of piling requests up on a
// database that does not answer. Closed: calls pass. After `threshold`
// consecutive failures it opens for `open_for`: calls are refused. Then one
// trial call passes (half-open); its success closes the breaker, its failure
// opens it again.
class CircuitBreaker {
 public:
  CircuitBreaker(size_t threshold, Clock::duration open_for)
      : threshold_(threshold), open_for_(open_for) {}

  // Whether a call may go ahead now. In the half-open state only one caller
  // gets true until it reports.
  bool allow(Clock::time_point now);
  void success();
  void failure(Clock::time_point now);
  bool open(Clock::time_point now) const;
  // Closed: calls pass. Open: refused until the cool-down ends. Half-open:
  // the cool-down ended; the next call (or the one under way) is the trial.
  enum class State { kClosed, kOpen, kHalfOpen };
  State state(Clock::time_point now) const;

 private:
  const size_t threshold_;
  const Clock::duration open_for_;
  mutable std::mutex mu_;
  size_t failures_ = 0;           // consecutive; guarded by mu_
  Clock::time_point open_until_;  // guarded by mu_
  bool trial_in_flight_ = false;  // guarded by mu_
};

// Compares a presented secret with the expected one in time independent of
// where they differ (OpenSSL's CRYPTO_memcmp over equal-length digests).
bool secrets_equal(std::string_view presented, std::string_view expected);

}  // namespace kvstream::http
