// LruCache: a bounded map that forgets its least recently used entries.
//
// The API is hashicorp/golang-lru v2's (Add, Get, Peek, Contains, Remove,
// Purge, Len, Keys, Resize, RemoveOldest, GetOldest, ContainsOrAdd,
// PeekOrAdd, an eviction callback) in C++ form, plus two conditional
// operations, get_if() and add_if(), on which the view cache is built.
//
// The cache is bounded by entries and by bytes; whichever bound is hit first
// evicts from the least recently used end. Bytes are what a weigher says an
// entry weighs (default: sizeof(K) + sizeof(V)); an entry heavier than the
// byte bound is never stored.
//
// Layout: entries live in a slab (a std::vector) with a free list; a
// tsl::robin_map maps each key to its slot; the recency list is intrusive and
// doubly linked through 32-bit slot indices. An entry costs no heap node of its
// own (its key and value may allocate, and the key is held twice: in the map
// and in the slab). Every operation is O(1) on average except keys(), purge()
// and resize(), which are O(n).
//
// Not thread-safe: callers serialize all access, const methods included (see
// ShardedLruCache for a thread-safe cache).
//
//   LruCache<std::string, int> cache(2);
//   cache.add("a", 1);
//   cache.add("b", 2);
//   cache.get("a");              // "a" is now the most recently used
//   cache.add("c", 3);           // evicts "b", returns true
#pragma once

#include <tsl/robin_map.h>

#include <cstddef>
#include <cstdint>
#include <functional>
#include <limits>
#include <memory>
#include <optional>
#include <stdexcept>
#include <type_traits>
#include <utility>
#include <vector>

namespace kvstream::cache {

// A snapshot of a cache's counters. Counters are cumulative since
// construction; entries and bytes are current.
struct CacheStats {
  uint64_t hits = 0;       // get()/get_if() calls that returned a value
  uint64_t misses = 0;     // get()/get_if() calls that did not
  uint64_t evictions = 0;  // entries dropped to respect the bounds
  size_t entries = 0;
  size_t bytes = 0;

  CacheStats& operator+=(const CacheStats& other) {
    hits += other.hits;
    misses += other.misses;
    evictions += other.evictions;
    entries += other.entries;
    bytes += other.bytes;
    return *this;
  }
};

// No byte bound: the cache is bounded by entries only.
inline constexpr size_t kNoByteLimit = std::numeric_limits<size_t>::max();

// How a cache is bounded and what it reports.
template <class K, class V>
struct LruOptions {
  // At most this many entries; must be at least 1.
  size_t max_entries = 0;
  // At most this many bytes, as weighed by `weigher`.
  size_t max_bytes = kNoByteLimit;
  // The weight of an entry, asked once when it is stored. Empty means
  // sizeof(K) + sizeof(V).
  std::function<size_t(const K&, const V&)> weigher;
  // Called with each entry that leaves the cache through an eviction (bounds),
  // remove(), remove_oldest(), purge() or an invalid get_if(), like hashicorp's
  // onEvict; not called when add() replaces a value. It runs after the entry
  // has left the cache, must not throw, and must not call back into the same
  // LruCache. May be empty.
  std::function<void(const K&, const V&)> on_evict;
};

template <class K, class V, class Hash = std::hash<K>, class Eq = std::equal_to<K>>
class LruCache {
 public:
  using Options = LruOptions<K, V>;
  using EvictCallback = std::function<void(const K&, const V&)>;

  // The largest max_entries: slots are numbered with 32 bits.
  static constexpr size_t kMaxEntries = std::numeric_limits<uint32_t>::max() - 1;

  // A cache of at most `max_entries` entries. Throws std::invalid_argument if
  // max_entries is 0 or above kMaxEntries.
  explicit LruCache(size_t max_entries, EvictCallback on_evict = nullptr)
      : LruCache(Options{max_entries, kNoByteLimit, nullptr, std::move(on_evict)}) {}

  explicit LruCache(Options options)
      : max_entries_(checked_max_entries(options.max_entries)),
        max_bytes_(options.max_bytes),
        weigher_(std::move(options.weigher)),
        on_evict_(std::move(options.on_evict)) {}

  LruCache(const LruCache&) = delete;
  LruCache& operator=(const LruCache&) = delete;

  // Stores value under key as the most recently used entry, replacing any
  // previous value. Returns true if an entry was evicted to make room. A value
  // heavier than max_bytes is not stored, and an older value for the key is
  // evicted so that it cannot be read as current (returns true then).
  bool add(const K& key, V value) { return put(map_.find(key), key, std::move(value)).second; }

  // The value of key, now the most recently used entry; nullopt on a miss.
  std::optional<V> get(const K& key) {
    return get_if(key, [](const V&) { return true; });
  }

  // Like get(), but an entry for which is_valid(const V&) is false is removed
  // (as by remove()) and the call is a miss. is_valid must not touch the cache.
  template <class IsValid>
  std::optional<V> get_if(const K& key, IsValid&& is_valid) {
    auto it = map_.find(key);
    if (it == map_.end()) {
      ++misses_;
      return std::nullopt;
    }
    const uint32_t slot = it->second;
    if (!is_valid(std::as_const(slab_[slot].item->value))) {
      ++misses_;
      drop(slot, /*eviction=*/false);
      return std::nullopt;
    }
    ++hits_;
    move_to_newest(slot);
    return slab_[slot].item->value;
  }

  // The value of key without touching its recency or the hit counters.
  std::optional<V> peek(const K& key) const {
    auto it = map_.find(key);
    if (it == map_.end()) return std::nullopt;
    return slab_[it->second].item->value;
  }

  // Whether key is cached, without touching its recency.
  bool contains(const K& key) const { return map_.find(key) != map_.end(); }

  // Removes key; returns whether it was cached. Calls the eviction callback.
  bool remove(const K& key) {
    auto it = map_.find(key);
    if (it == map_.end()) return false;
    drop(it->second, /*eviction=*/false);
    return true;
  }

  // Removes every entry, calling the eviction callback for each, oldest first.
  void purge() {
    std::vector<Item> items;
    if (on_evict_) {
      items.reserve(map_.size());
      for (uint32_t i = oldest_; i != kNil; i = slab_[i].newer) {
        items.push_back(std::move(*slab_[i].item));
      }
    }
    map_.clear();
    slab_.clear();
    free_ = oldest_ = newest_ = kNil;
    bytes_ = 0;
    for (const Item& item : items) on_evict_(item.key, item.value);
  }

  size_t len() const { return map_.size(); }

  // The cached keys, least recently used first.
  std::vector<K> keys() const {
    std::vector<K> out;
    out.reserve(map_.size());
    for (uint32_t i = oldest_; i != kNil; i = slab_[i].newer) out.push_back(slab_[i].item->key);
    return out;
  }

  // Changes the entry bound, evicting the oldest entries beyond it; returns
  // how many were evicted. Throws std::invalid_argument like the constructor.
  size_t resize(size_t max_entries) {
    max_entries_ = checked_max_entries(max_entries);
    return evict_to_bounds();
  }

  // Removes and returns the least recently used entry. Calls the callback.
  std::optional<std::pair<K, V>> remove_oldest() {
    if (oldest_ == kNil) return std::nullopt;
    Item item = take(oldest_);
    if (on_evict_) on_evict_(item.key, item.value);
    return std::make_pair(std::move(item.key), std::move(item.value));
  }

  // The least recently used entry, without touching its recency.
  std::optional<std::pair<K, V>> get_oldest() const {
    if (oldest_ == kNil) return std::nullopt;
    const Item& item = *slab_[oldest_].item;
    return std::make_pair(item.key, item.value);
  }

  // If key is cached, leaves it untouched (recency included) and returns
  // {true, false}; otherwise adds it and returns {false, add()'s result}.
  std::pair<bool, bool> contains_or_add(const K& key, V value) {
    auto it = map_.find(key);
    if (it != map_.end()) return {true, false};
    return {false, put(it, key, std::move(value)).second};
  }

  // If key is cached, returns {its value, false} without touching its
  // recency; otherwise adds it and returns {nullopt, add()'s result}.
  std::pair<std::optional<V>, bool> peek_or_add(const K& key, V value) {
    auto it = map_.find(key);
    if (it != map_.end()) return {slab_[it->second].item->value, false};
    return {std::nullopt, put(it, key, std::move(value)).second};
  }

  // Like add(), but only if should_store(const V* current) returns true, where
  // current is the cached value of key or nullptr. The decision and the store
  // are one step. Returns {stored, evicted}. should_store must not touch the
  // cache.
  template <class ShouldStore>
  std::pair<bool, bool> add_if(const K& key, V value, ShouldStore&& should_store) {
    auto it = map_.find(key);
    const V* current = it == map_.end() ? nullptr : &slab_[it->second].item->value;
    if (!should_store(current)) return {false, false};
    return put(it, key, std::move(value));
  }

  CacheStats stats() const { return CacheStats{hits_, misses_, evictions_, map_.size(), bytes_}; }

  size_t max_entries() const { return max_entries_; }
  size_t max_bytes() const { return max_bytes_; }

 private:
  static constexpr uint32_t kNil = std::numeric_limits<uint32_t>::max();

  struct Item {
    K key;
    V value;
  };

  // A slab slot. A free slot has no item and links the free list via `newer`.
  struct Node {
    std::optional<Item> item;
    size_t weight = 0;
    uint32_t older = kNil;
    uint32_t newer = kNil;
  };

  // Storing the hash speeds up probing and rehashing for keys that are costly
  // to compare, such as strings.
  using Map = tsl::robin_map<K, uint32_t, Hash, Eq, std::allocator<std::pair<K, uint32_t>>,
                             /*StoreHash=*/!std::is_arithmetic_v<K>>;

  static size_t checked_max_entries(size_t n) {
    if (n == 0 || n > kMaxEntries) {
      throw std::invalid_argument("LruCache: max_entries must be in [1, 2^32 - 2]");
    }
    return n;
  }

  size_t weigh(const K& key, const V& value) const {
    return weigher_ ? weigher_(key, value) : sizeof(K) + sizeof(V);
  }

  // Stores value at key, `it` being map_.find(key). Returns {stored, evicted}.
  std::pair<bool, bool> put(typename Map::iterator it, const K& key, V&& value) {
    const size_t weight = weigh(key, value);
    if (weight > max_bytes_) {
      if (it == map_.end()) return {false, false};
      drop(it->second, /*eviction=*/true);
      return {false, true};
    }
    if (it != map_.end()) {
      Node& node = slab_[it->second];
      node.item->value = std::move(value);
      bytes_ = bytes_ - node.weight + weight;
      node.weight = weight;
      move_to_newest(it->second);
    } else {
      const uint32_t slot = allocate(key, std::move(value), weight);
      try {
        map_.emplace(key, slot);
      } catch (...) {
        release(slot);
        throw;
      }
      link_newest(slot);
      bytes_ += weight;
    }
    return {true, evict_to_bounds() > 0};
  }

  // Evicts from the oldest end until both bounds hold. The newest entry is
  // never evicted: it alone fits both bounds.
  size_t evict_to_bounds() {
    size_t evicted = 0;
    while (map_.size() > max_entries_ || bytes_ > max_bytes_) {
      drop(oldest_, /*eviction=*/true);
      ++evicted;
    }
    return evicted;
  }

  // Removes the entry in `slot` and reports it to the callback.
  void drop(uint32_t slot, bool eviction) {
    Item item = take(slot);
    if (eviction) ++evictions_;
    if (on_evict_) on_evict_(item.key, item.value);
  }

  // Unlinks the entry in `slot`, frees the slot and returns the entry.
  Item take(uint32_t slot) {
    Node& node = slab_[slot];
    unlink(slot);
    map_.erase(node.item->key);
    bytes_ -= node.weight;
    Item item = std::move(*node.item);
    release(slot);
    return item;
  }

  // A slot holding {key, value}, not yet linked. Leaves the cache unchanged if
  // it throws.
  uint32_t allocate(const K& key, V&& value, size_t weight) {
    uint32_t slot;
    if (free_ != kNil) {
      slot = free_;
      slab_[slot].item.emplace(Item{key, std::move(value)});
      free_ = slab_[slot].newer;
    } else {
      Node node;
      node.item.emplace(Item{key, std::move(value)});
      slab_.push_back(std::move(node));
      slot = static_cast<uint32_t>(slab_.size() - 1);
    }
    slab_[slot].weight = weight;
    return slot;
  }

  void release(uint32_t slot) {
    Node& node = slab_[slot];
    node.item.reset();
    node.weight = 0;
    node.older = kNil;
    node.newer = free_;
    free_ = slot;
  }

  void link_newest(uint32_t slot) {
    Node& node = slab_[slot];
    node.older = newest_;
    node.newer = kNil;
    if (newest_ != kNil) {
      slab_[newest_].newer = slot;
    } else {
      oldest_ = slot;
    }
    newest_ = slot;
  }

  void unlink(uint32_t slot) {
    Node& node = slab_[slot];
    if (node.older != kNil) {
      slab_[node.older].newer = node.newer;
    } else {
      oldest_ = node.newer;
    }
    if (node.newer != kNil) {
      slab_[node.newer].older = node.older;
    } else {
      newest_ = node.older;
    }
    node.older = node.newer = kNil;
  }

  void move_to_newest(uint32_t slot) {
    if (slot == newest_) return;
    unlink(slot);
    link_newest(slot);
  }

  size_t max_entries_;
  const size_t max_bytes_;
  const std::function<size_t(const K&, const V&)> weigher_;
  const EvictCallback on_evict_;

  Map map_;                 // key -> slot in slab_
  std::vector<Node> slab_;  // entries and free slots
  uint32_t free_ = kNil;    // head of the free list
  uint32_t oldest_ = kNil;  // least recently used entry
  uint32_t newest_ = kNil;  // most recently used entry
  size_t bytes_ = 0;        // sum of the entries' weights
  uint64_t hits_ = 0;
  uint64_t misses_ = 0;
  uint64_t evictions_ = 0;
};

}  // namespace kvstream::cache
