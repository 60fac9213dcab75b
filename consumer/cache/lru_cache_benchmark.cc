// Benchmarks of the LRU caches: a hit, an add that evicts, and a get on the
// sharded cache from several threads.
#include <benchmark/benchmark.h>

#include <algorithm>
#include <cstdint>
#include <random>
#include <vector>

#include "cache/lru_cache.h"
#include "cache/sharded_lru_cache.h"

namespace kvstream::cache {
namespace {

constexpr int kEntries = 1 << 16;

// Keys in a random order, so that lookups do not walk memory in sequence.
std::vector<uint64_t> shuffled_keys(int n, unsigned seed) {
  std::vector<uint64_t> keys(static_cast<size_t>(n));
  for (size_t i = 0; i < keys.size(); ++i) keys[i] = i;
  std::shuffle(keys.begin(), keys.end(), std::mt19937(seed));
  return keys;
}

void BM_LruGetHit(benchmark::State& state) {
  LruCache<uint64_t, uint64_t> cache(kEntries);
  for (uint64_t k = 0; k < kEntries; ++k) cache.add(k, k);
  const std::vector<uint64_t> keys = shuffled_keys(kEntries, 1);
  size_t i = 0;
  for ([[maybe_unused]] auto _ : state) {
    benchmark::DoNotOptimize(cache.get(keys[i]));
    i = (i + 1) % keys.size();
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_LruGetHit);

void BM_LruAddWithEviction(benchmark::State& state) {
  LruCache<uint64_t, uint64_t> cache(static_cast<size_t>(state.range(0)));
  uint64_t k = 0;
  for (; k < static_cast<uint64_t>(state.range(0)); ++k) cache.add(k, k);
  for ([[maybe_unused]] auto _ : state) {
    benchmark::DoNotOptimize(cache.add(k, k));  // a new key: evicts the oldest
    ++k;
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_LruAddWithEviction)->Arg(1024)->Arg(kEntries);

// One cache per shard count, shared by the benchmark's threads.
ShardedLruCache<uint64_t, uint64_t>& shared_cache(int shards) {
  auto make = [](int n) {
    LruOptions<uint64_t, uint64_t> o;
    o.max_entries = kEntries;
    auto* cache = new ShardedLruCache<uint64_t, uint64_t>(static_cast<size_t>(n), o);
    for (uint64_t k = 0; k < kEntries / 2; ++k) cache->add(k, k);
    return cache;
  };
  static auto* one = make(1);
  static auto* sixteen = make(16);
  return shards == 1 ? *one : *sixteen;
}

void BM_ShardedGetContended(benchmark::State& state) {
  ShardedLruCache<uint64_t, uint64_t>& cache = shared_cache(static_cast<int>(state.range(0)));
  const std::vector<uint64_t> keys =
      shuffled_keys(kEntries / 2, static_cast<unsigned>(state.thread_index()));
  size_t i = 0;
  for ([[maybe_unused]] auto _ : state) {
    benchmark::DoNotOptimize(cache.get(keys[i]));
    i = (i + 1) % keys.size();
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_ShardedGetContended)->Arg(1)->Arg(16)->ThreadRange(1, 8)->UseRealTime();

}  // namespace
}  // namespace kvstream::cache

BENCHMARK_MAIN();
