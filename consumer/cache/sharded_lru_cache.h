// ShardedLruCache: a thread-safe LruCache split into shards to cut lock
// contention.
//
// Keys are spread over a power-of-two number of shards by a mix of their hash.
// Each shard is an LruCache with its own std::mutex, which guards that shard's
// LruCache and its list of evictions not yet reported; no lock is held across
// shards. The class has internal synchronization and may be safely accessed
// concurrently.
//
// The API is LruCache's. Every operation on one key is atomic (it runs under
// the key's shard lock); operations over all shards (len, keys, purge, resize,
// stats, get_oldest, remove_oldest) visit the shards one after the other and
// are not a snapshot of the whole cache.
//
// Bounds are split evenly across shards, so recency is per shard: with many
// shards the cache approximates global LRU, and an entry heavier than
// max_bytes / shards is not stored. With one shard it behaves exactly like
// LruCache.
//
// The eviction callback runs after the shard lock is released, on the thread
// whose call caused the eviction, so it may call back into the cache. Calls
// from different threads may run concurrently and in any order.
//
//   LruOptions<std::string, Row> options;
//   options.max_entries = 100000;
//   ShardedLruCache<std::string, Row> cache(16, options);
//   cache.add("a", row);  // from any thread
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <utility>
#include <vector>

#include "cache/lru_cache.h"

namespace kvstream::cache {

template <class K, class V, class Hash = std::hash<K>, class Eq = std::equal_to<K>>
class ShardedLruCache {
 public:
  using Options = LruOptions<K, V>;

  // `shards` must be a power of two and at most options.max_entries; throws
  // std::invalid_argument otherwise. The bounds in `options` are totals.
  ShardedLruCache(size_t shards, Options options)
      : shard_bits_(checked_shard_bits(shards, options.max_entries)),
        on_evict_(std::move(options.on_evict)) {
    shards_.reserve(shards);
    for (size_t i = 0; i < shards; ++i) {
      Options per_shard;
      per_shard.max_entries = split(options.max_entries, i, shards);
      per_shard.max_bytes =
          options.max_bytes == kNoByteLimit ? kNoByteLimit : split(options.max_bytes, i, shards);
      per_shard.weigher = options.weigher;
      shards_.push_back(std::make_unique<Shard>(std::move(per_shard), on_evict_ != nullptr));
    }
  }

  ShardedLruCache(const ShardedLruCache&) = delete;
  ShardedLruCache& operator=(const ShardedLruCache&) = delete;

  bool add(const K& key, V value) {
    return locked(shard_for(key), [&](Cache& c) { return c.add(key, std::move(value)); });
  }

  std::optional<V> get(const K& key) {
    return locked(shard_for(key), [&](Cache& c) { return c.get(key); });
  }

  // is_valid runs under the shard lock; it must be quick and not touch the
  // cache.
  template <class IsValid>
  std::optional<V> get_if(const K& key, IsValid&& is_valid) {
    return locked(shard_for(key), [&](Cache& c) { return c.get_if(key, is_valid); });
  }

  std::optional<V> peek(const K& key) const {
    const Shard& s = shard_for(key);
    std::lock_guard<std::mutex> lock(s.mu);
    return s.lru.peek(key);
  }

  bool contains(const K& key) const {
    const Shard& s = shard_for(key);
    std::lock_guard<std::mutex> lock(s.mu);
    return s.lru.contains(key);
  }

  bool remove(const K& key) {
    return locked(shard_for(key), [&](Cache& c) { return c.remove(key); });
  }

  void purge() {
    for (auto& s : shards_) {
      locked(*s, [](Cache& c) {
        c.purge();
        return true;
      });
    }
  }

  size_t len() const {
    size_t n = 0;
    for (const auto& s : shards_) {
      std::lock_guard<std::mutex> lock(s->mu);
      n += s->lru.len();
    }
    return n;
  }

  // The keys shard by shard, each shard's least recently used first.
  std::vector<K> keys() const {
    std::vector<K> out;
    for (const auto& s : shards_) {
      std::lock_guard<std::mutex> lock(s->mu);
      std::vector<K> part = s->lru.keys();
      out.insert(out.end(), std::make_move_iterator(part.begin()),
                 std::make_move_iterator(part.end()));
    }
    return out;
  }

  // Splits the new total entry bound across shards; returns how many entries
  // were evicted. Throws std::invalid_argument if max_entries < shards.
  size_t resize(size_t max_entries) {
    checked_shard_bits(shards_.size(), max_entries);
    size_t evicted = 0;
    for (size_t i = 0; i < shards_.size(); ++i) {
      const size_t n = split(max_entries, i, shards_.size());
      evicted += locked(*shards_[i], [&](Cache& c) { return c.resize(n); });
    }
    return evicted;
  }

  // The least recently used entry of the fullest shard (ties: the lowest
  // index); the exact LRU entry with one shard, an approximation otherwise.
  std::optional<std::pair<K, V>> remove_oldest() {
    return locked(fullest_shard(), [](Cache& c) { return c.remove_oldest(); });
  }

  std::optional<std::pair<K, V>> get_oldest() const {
    const Shard& s = fullest_shard();
    std::lock_guard<std::mutex> lock(s.mu);
    return s.lru.get_oldest();
  }

  std::pair<bool, bool> contains_or_add(const K& key, V value) {
    return locked(shard_for(key),
                  [&](Cache& c) { return c.contains_or_add(key, std::move(value)); });
  }

  std::pair<std::optional<V>, bool> peek_or_add(const K& key, V value) {
    return locked(shard_for(key), [&](Cache& c) { return c.peek_or_add(key, std::move(value)); });
  }

  // should_store runs under the shard lock; it must be quick and not touch the
  // cache.
  template <class ShouldStore>
  std::pair<bool, bool> add_if(const K& key, V value, ShouldStore&& should_store) {
    return locked(shard_for(key),
                  [&](Cache& c) { return c.add_if(key, std::move(value), should_store); });
  }

  // The shards' counters summed.
  CacheStats stats() const {
    CacheStats total;
    for (const auto& s : shards_) {
      std::lock_guard<std::mutex> lock(s->mu);
      total += s->lru.stats();
    }
    return total;
  }

  size_t shard_count() const { return shards_.size(); }

 private:
  using Cache = LruCache<K, V, Hash, Eq>;
  using Evicted = std::vector<std::pair<K, V>>;

  struct Shard {
    Shard(Options options, bool report_evictions)
        : lru(with_sink(std::move(options), report_evictions)) {}

    // Makes the shard's LruCache queue its evictions in `evicted`, to be
    // reported once the lock is released.
    Options with_sink(Options options, bool report_evictions) {
      if (report_evictions) {
        options.on_evict = [this](const K& k, const V& v) { evicted.emplace_back(k, v); };
      }
      return options;
    }

    mutable std::mutex mu;
    Evicted evicted;  // guarded by mu
    Cache lru;        // guarded by mu
  };

  static size_t checked_shard_bits(size_t shards, size_t max_entries) {
    if (shards == 0 || (shards & (shards - 1)) != 0 || shards > max_entries) {
      throw std::invalid_argument(
          "ShardedLruCache: shards must be a power of two no larger than max_entries");
    }
    size_t bits = 0;
    while ((size_t{1} << bits) < shards) ++bits;
    return bits;
  }

  // Shard i's part of `total`; the parts sum to total.
  static size_t split(size_t total, size_t i, size_t shards) {
    return total / shards + (i < total % shards ? 1 : 0);
  }

  // The top bits of the hash times a 64-bit odd constant (Fibonacci hashing),
  // so that the shard does not correlate with the low bits the shard's own
  // hash map uses.
  size_t shard_index(const K& key) const {
    if (shard_bits_ == 0) return 0;
    const uint64_t mixed = static_cast<uint64_t>(hash_(key)) * 0x9E3779B97F4A7C15ULL;
    return static_cast<size_t>(mixed >> (64 - shard_bits_));
  }

  Shard& shard_for(const K& key) { return *shards_[shard_index(key)]; }
  const Shard& shard_for(const K& key) const { return *shards_[shard_index(key)]; }

  Shard& fullest_shard() const {
    size_t best = 0;
    size_t best_len = 0;
    for (size_t i = 0; i < shards_.size(); ++i) {
      std::lock_guard<std::mutex> lock(shards_[i]->mu);
      if (shards_[i]->lru.len() > best_len) {
        best = i;
        best_len = shards_[i]->lru.len();
      }
    }
    return *shards_[best];
  }

  // Runs fn(shard's LruCache) under the shard lock, then reports the
  // evictions it caused with the lock released.
  template <class Fn>
  auto locked(Shard& s, Fn&& fn) {
    Evicted evicted;
    auto result = [&] {
      std::lock_guard<std::mutex> lock(s.mu);
      auto r = fn(s.lru);
      evicted.swap(s.evicted);
      return r;
    }();
    for (const auto& [k, v] : evicted) on_evict_(k, v);
    return result;
  }

  const size_t shard_bits_;
  const std::function<void(const K&, const V&)> on_evict_;
  const Hash hash_{};
  std::vector<std::unique_ptr<Shard>> shards_;  // fixed after construction
};

}  // namespace kvstream::cache
