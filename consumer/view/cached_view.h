// CachedView: the materialized view as the rest of the program reads and
// keeps it coherent: the ViewReader (the database) with the view cache in
// front, and the whole coherence protocol of cache/view_cache.h in one place.
//
// Read side (HTTP threads):
//
//   if (auto row = view.cached(key)) answer(*row);           // a hit
//   else view.read(key, [](std::shared_ptr<const Row> row, const Error* e) {...});
//
// read() takes the cache's read ticket before the query and fills the cache
// with the row it got (the fill is refused if anything was applied to the
// key meanwhile), before its callback runs; so a read that follows the
// answer finds the key cached. Keys live in partitions by the record
// contract's murmur2 (common/kafka_partitioner.h) among the topic's
// partitions as ReplicaStatus knows them; before the count is known, or
// without a cache, every read goes to the database.
//
// Apply side (the service: poll thread and apply workers), the caller
// contract of ViewCache:
//   own(partitions)     on assignment, before any batch of them is applied
//   applied(p, events)  after a batch's transaction commits, per partition
//                       in offset order (the apply workers' commit hook)
//   drop(partition)     on revoke, once its batches finished or were abandoned
//   fence(partition)    another writer took the partition: what is cached may
//                       be older than what it committed
//
// Thread-safe: the cache has its own synchronization, the reader is
// thread-safe, and the rest is immutable after construction.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "cache/view_cache.h"
#include "common/error.h"
#include "schema/event.h"
#include "view/replica_status.h"
#include "view/view_reader.h"

namespace kvstream::view {

// A key's row as answered: its value (nullopt: deleted or never written),
// content type and position.
using Row = cache::CachedRow;

class CachedView {
 public:
  // The row, or the error (transient) of the database; exactly one is set.
  using ReadDone = std::function<void(std::shared_ptr<const Row> row, const Error* error)>;

  // `cache` may be null: no caching.
  CachedView(ViewReader& reader, const ReplicaStatus& status,
             std::unique_ptr<cache::ViewCache> cache);

  // The cached row of key (a negative entry is a row without a value), or
  // nullptr when the cache does not hold it.
  std::shared_ptr<const Row> cached(const std::string& key);

  // Reads key from the database, fills the cache, then calls `done` on the
  // reader's thread.
  void read(std::string key, ReadDone done);

  // A page of live keys and the positions it is consistent at, from the
  // database (blocks). Throws kvstream::Error.
  Listing list(const std::string& prefix, const std::string& after, size_t limit);

  // What every replica together has applied, from the database (blocks).
  // Throws kvstream::Error.
  std::map<int32_t, int64_t> applied_positions();

  bool caching() const { return cache_ != nullptr; }
  // The cache's counters; nullopt without a cache.
  std::optional<cache::CacheStats> cache_stats() const;

  void own(const std::vector<int32_t>& partitions);
  // The events of one committed batch of `partition` (one per key).
  void applied(int32_t partition, const std::vector<schema::Event>& events);
  void drop(int32_t partition);
  void fence(int32_t partition);

 private:
  // The key's partition when the cache may hold it, else -1.
  int32_t cacheable_partition(const std::string& key) const;

  ViewReader& reader_;
  const ReplicaStatus& status_;
  const std::unique_ptr<cache::ViewCache> cache_;
};

}  // namespace kvstream::view
