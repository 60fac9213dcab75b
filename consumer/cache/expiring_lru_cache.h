// ExpiringLruCache: an LruCache whose entries also expire a fixed time after
// they were added.
//
// An entry added at time t is fresh while now < t + ttl; reading it refreshes
// its recency, not its age (add() again to renew it), like hashicorp's
// expirable LRU. An expired entry is a miss; get() removes it when it sees it
// (calling the eviction callback), and the LRU bounds push out expired entries
// nobody reads. There is no background sweeper, so len() and stats().entries
// count expired entries not yet seen.
//
// Time comes from an injected clock so tests control it.
//
// Not thread-safe: callers serialize all access, const methods included.
//
//   ExpiringLruCache<std::string, int> cache(std::chrono::seconds(30), options);
//   cache.add("a", 1);
//   cache.get("a");  // 1 within 30 s, nullopt afterwards
#pragma once

#include <chrono>
#include <cstddef>
#include <functional>
#include <optional>
#include <stdexcept>
#include <utility>
#include <vector>

#include "cache/lru_cache.h"

namespace kvstream::cache {

template <class K, class V, class Hash = std::hash<K>, class Eq = std::equal_to<K>>
class ExpiringLruCache {
 public:
  using Options = LruOptions<K, V>;
  using TimePoint = std::chrono::steady_clock::time_point;
  using Duration = std::chrono::steady_clock::duration;
  // Returns the current time; must be monotonic.
  using Clock = std::function<TimePoint()>;

  // Entries expire `ttl` after they were added; ttl must be positive (throws
  // std::invalid_argument). The weigher and the eviction callback in `options`
  // see the caller's values.
  ExpiringLruCache(Duration ttl, Options options, Clock clock = &std::chrono::steady_clock::now)
      : ttl_(checked_ttl(ttl)), clock_(std::move(clock)), lru_(wrap(std::move(options))) {}

  // Stores value under key, fresh for ttl from now. Returns true if an entry
  // was evicted to make room.
  bool add(const K& key, V value) { return lru_.add(key, Stamped{std::move(value), deadline()}); }

  // The value of key if cached and fresh, now the most recently used entry.
  std::optional<V> get(const K& key) {
    const TimePoint now = clock_();
    auto stamped = lru_.get_if(key, [now](const Stamped& s) { return now < s.expires_at; });
    if (!stamped) return std::nullopt;
    return std::move(stamped->value);
  }

  // The value of key if cached and fresh, without touching recency; an expired
  // entry is left in place.
  std::optional<V> peek(const K& key) const {
    auto stamped = lru_.peek(key);
    if (!stamped || !fresh(*stamped)) return std::nullopt;
    return std::move(stamped->value);
  }

  // Whether key is cached and fresh, without touching recency.
  bool contains(const K& key) const { return peek(key).has_value(); }

  bool remove(const K& key) { return lru_.remove(key); }
  void purge() { lru_.purge(); }

  // The number of entries, expired ones not yet seen included.
  size_t len() const { return lru_.len(); }

  // The fresh keys, least recently used first. O(n).
  std::vector<K> keys() const {
    std::vector<K> out;
    for (K& key : lru_.keys()) {
      if (contains(key)) out.push_back(std::move(key));
    }
    return out;
  }

  size_t resize(size_t max_entries) { return lru_.resize(max_entries); }

  // Hits and misses count get() calls; an expired entry is a miss.
  CacheStats stats() const { return lru_.stats(); }

 private:
  struct Stamped {
    V value;
    TimePoint expires_at;
  };

  static Duration checked_ttl(Duration ttl) {
    if (ttl <= Duration::zero()) throw std::invalid_argument("ExpiringLruCache: ttl must be > 0");
    return ttl;
  }

  // Options for the inner cache that show callers their own values.
  static LruOptions<K, Stamped> wrap(Options options) {
    LruOptions<K, Stamped> inner;
    inner.max_entries = options.max_entries;
    inner.max_bytes = options.max_bytes;
    inner.weigher = [weigher = std::move(options.weigher)](const K& k, const Stamped& s) {
      return weigher ? weigher(k, s.value) : sizeof(K) + sizeof(V);
    };
    if (options.on_evict) {
      inner.on_evict = [on_evict = std::move(options.on_evict)](const K& k, const Stamped& s) {
        on_evict(k, s.value);
      };
    }
    return inner;
  }

  TimePoint deadline() const { return clock_() + ttl_; }
  bool fresh(const Stamped& s) const { return clock_() < s.expires_at; }

  const Duration ttl_;
  const Clock clock_;
  LruCache<K, Stamped, Hash, Eq> lru_;
};

}  // namespace kvstream::cache
