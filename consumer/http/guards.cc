#include "http/guards.h"

#include <openssl/crypto.h>
#include <openssl/sha.h>

#include <algorithm>

namespace kvstream::http {

void TokenBucket::refill(Clock::time_point now) {
  if (now <= last_) return;
  const double seconds = std::chrono::duration<double>(now - last_).count();
  tokens_ = std::min(burst_, tokens_ + seconds * rate_);
  last_ = now;
}

std::optional<Clock::duration> TokenBucket::take(Clock::time_point now) {
  refill(now);
  if (tokens_ >= 1.0) {
    tokens_ -= 1.0;
    return std::nullopt;
  }
  const double seconds = (1.0 - tokens_) / rate_;
  return std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(seconds));
}

bool TokenBucket::full(Clock::time_point now) const {
  const double seconds = now > last_ ? std::chrono::duration<double>(now - last_).count() : 0.0;
  return tokens_ + seconds * rate_ >= burst_;
}

RateLimiter::RateLimiter(RateLimits limits, size_t max_clients)
    : limits_(limits), max_clients_(max_clients) {}

std::optional<Clock::duration> RateLimiter::admit(const std::string& client,
                                                  Clock::time_point now) {
  if (!enabled()) return std::nullopt;
  std::lock_guard<std::mutex> lock(mu_);
  if (limits_.per_client_per_second > 0) {
    auto it = clients_.find(client);
    if (it == clients_.end()) {
      if (clients_.size() >= max_clients_) {
        for (auto c = clients_.begin(); c != clients_.end();) {
          c = c->second.full(now) ? clients_.erase(c) : std::next(c);
        }
      }
      const double rate = limits_.per_client_per_second;
      it = clients_.emplace(client, TokenBucket(rate, std::max(1.0, rate), now)).first;
    }
    if (auto wait = it->second.take(now)) return wait;
  }
  if (limits_.global_per_second > 0) {
    if (!global_) {
      const double rate = limits_.global_per_second;
      global_.emplace(rate, std::max(1.0, rate), now);
    }
    if (auto wait = global_->take(now)) return wait;
  }
  return std::nullopt;
}

size_t RateLimiter::clients() const {
  std::lock_guard<std::mutex> lock(mu_);
  return clients_.size();
}

bool CircuitBreaker::allow(Clock::time_point now) {
  std::lock_guard<std::mutex> lock(mu_);
  if (failures_ < threshold_) return true;
  if (now < open_until_ || trial_in_flight_) return false;
  trial_in_flight_ = true;  // half-open: this caller is the trial
  return true;
}

void CircuitBreaker::success() {
  std::lock_guard<std::mutex> lock(mu_);
  failures_ = 0;
  trial_in_flight_ = false;
}

void CircuitBreaker::failure(Clock::time_point now) {
  std::lock_guard<std::mutex> lock(mu_);
  trial_in_flight_ = false;
  if (++failures_ >= threshold_) open_until_ = now + open_for_;
}

bool CircuitBreaker::open(Clock::time_point now) const {
  std::lock_guard<std::mutex> lock(mu_);
  return failures_ >= threshold_ && now < open_until_;
}

CircuitBreaker::State CircuitBreaker::state(Clock::time_point now) const {
  std::lock_guard<std::mutex> lock(mu_);
  if (failures_ < threshold_) return State::kClosed;
  return now < open_until_ ? State::kOpen : State::kHalfOpen;
}

bool secrets_equal(std::string_view presented, std::string_view expected) {
  // Digests have equal lengths, so neither the comparison's time nor an early
  // length check tells anything about the expected secret.
  unsigned char a[SHA256_DIGEST_LENGTH];
  unsigned char b[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(presented.data()), presented.size(), a);
  SHA256(reinterpret_cast<const unsigned char*>(expected.data()), expected.size(), b);
  return CRYPTO_memcmp(a, b, sizeof a) == 0;
}

}  // namespace kvstream::http
