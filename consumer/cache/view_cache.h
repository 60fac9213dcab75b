// ViewCache: the coherent cache of the materialized view (key -> row).
//
// The HTTP read path looks keys up and fills misses from the database; the
// apply path refreshes every key it commits that the cache holds (deletes as
// negative entries). So the cache holds what is read, not everything written:
// a replica catching up on a large topic keeps no cache of keys nobody reads,
// and the apply path pays only a lookup for them. (With insert_on_apply the
// apply path caches every key it commits, as a write-through cache.) The
// cache knows nothing of Kafka or Postgres: a row carries its position
// (partition, offset), and the caller says which partitions this replica owns.
//
// Guarantees, given the caller contract below:
//   1. Never older than applied: once apply(key, row@o) has returned, lookup(key)
//      returns a miss or a row at position >= o, until the partition is
//      dropped.
//   2. Newer is never replaced by older: apply() and fill() never overwrite a
//      valid entry of the same partition with a higher offset.
//   3. Only owned partitions: lookup() returns rows of owned partitions only,
//      stored during the current ownership.
//
// Read-through protocol (the HTTP path):
//
//   if (auto row = cache.lookup(key, p)) return *row;   // hit
//   ReadTicket ticket = cache.begin_read(key, p);       // BEFORE the query
//   CachedRow row = /* SELECT ... from the database, or an absent row */;
//   cache.fill(ticket, key, row);                       // may be refused
//
// Why fill() is safe. The danger is a reader that queries an old row, while
// the apply path commits and caches a newer one (which may be evicted again),
// and then inserts its old row late. Every key hashes to one of a fixed set of
// stripes, each with an apply generation; apply(key) bumps the key's stripe
// generation first, then stores the row under the key's shard lock.
// begin_read() records the generation; fill() stores only if, under the key's
// shard lock, the generation is unchanged (and the entry is not newer, and the
// partition is still owned in the same epoch). Take any apply(key, row@o):
//   - If it bumped the generation before begin_read() read it, the row was
//     committed before the query began, so the query saw row@o or newer.
//   - Otherwise, if its locked store comes before fill's in lock order, fill
//     sees the bumped generation (the bump precedes that lock) and refuses.
//   - Otherwise fill stores first, and apply's store then replaces it, unless
//     fill's row is newer still, which is then right.
// So a fill never leaves a row older than one applied before it. A refused
// fill costs one later miss. Stripes are per key hash, not per partition, so
// a busy partition does not refuse fills of its quiet keys.
//
// Ownership: each owned partition has an epoch, fresh on every own and never
// reused; entries record the epoch they were stored in. drop_partition() only
// clears the partition's epoch, in O(1): its entries become misses, are
// removed when looked up, and age out of the LRU otherwise. An in-flight
// fill() of a dropped partition is refused (its ticket carries the old epoch).
//
// Caller contract (the apply path):
//   - apply(key, row) is called after row's transaction has committed, for
//     each partition in offset order, and it returns before the next
//     transaction of that partition commits.
//   - apply() for a partition is not called after drop_partition() for rows
//     committed before the drop (finish or abandon the batch, then drop).
//
// Thread-safe: the entries live in a ShardedLruCache (one mutex per shard);
// the epochs and generations are atomics. Any thread may call anything.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "cache/lru_cache.h"
#include "cache/sharded_lru_cache.h"

namespace kvstream::cache {

// A row of the view as cached.
struct CachedRow {
  // The value; nullopt for a deleted or absent key (a negative entry).
  std::optional<std::string> value;
  std::string content_type;
  // The position of the event the row reflects. A key absent from the
  // database is filled with offset kAbsentOffset and the key's partition.
  int32_t partition = -1;
  int64_t offset = -1;
};

// The offset of a row for a key the database has never seen: older than any
// applied event.
inline constexpr int64_t kAbsentOffset = -1;

struct ViewCacheOptions {
  size_t max_entries = size_t{1} << 20;
  // Bytes of keys, values, content types and a per-entry overhead estimate.
  size_t max_bytes = size_t{256} << 20;
  size_t shards = 16;  // a power of two
  // Partitions 0 .. max_partitions-1 can be cached; others are served
  // uncached.
  int32_t max_partitions = 4096;
  // Whether apply() caches keys the cache does not hold (write-through);
  // by default it only refreshes held ones.
  bool insert_on_apply = false;
};

// What a reader saw before querying the database; pass it to fill(). Opaque.
class ReadTicket {
 private:
  friend class ViewCache;
  int32_t partition_ = -1;
  uint64_t epoch_ = 0;  // 0: the partition was not owned
  size_t key_hash_ = 0;
  uint64_t generation_ = 0;
};

class ViewCache {
 public:
  // Throws std::invalid_argument on bad options (see ShardedLruCache).
  explicit ViewCache(ViewCacheOptions options = {});

  ViewCache(const ViewCache&) = delete;
  ViewCache& operator=(const ViewCache&) = delete;

  // Starts caching these partitions (an incremental assignment); partitions
  // already owned keep their entries. Partitions outside [0, max_partitions)
  // are ignored.
  void own_partitions(const std::vector<int32_t>& partitions);

  // Stops caching the partition: its entries are misses from now on, and
  // fills begun before are refused. O(1). No-op if not owned.
  void drop_partition(int32_t partition);

  bool owns(int32_t partition) const;

  // A committed row (see the caller contract): refuses the fills begun
  // before, then replaces key's entry with the row if the cache holds the key
  // (or stores it, with insert_on_apply), unless the entry is a newer
  // position of the same partition. Ignored if `partition` is not owned.
  // make_row() builds the row of `partition`; it is called only when the
  // row is stored, so a key the cache does not hold costs no copy.
  template <class MakeRow>
  void apply_with(const std::string& key, int32_t partition, MakeRow&& make_row) {
    // Bump before storing: the order is what makes fill() safe (see above).
    bump(key);
    const uint64_t epoch = epoch_of(partition);
    if (epoch == 0) return;
    if (!insert_on_apply_ && !entries_.contains(key)) return;
    store(key, epoch, std::make_shared<const CachedRow>(make_row()));
  }
  void apply(const std::string& key, CachedRow row) {
    const int32_t partition = row.partition;
    apply_with(key, partition, [&] { return std::move(row); });
  }

  // The cached row of key if it is valid: of `partition` (the key's
  // partition) and stored during its current ownership; a hit may be a
  // negative entry (value nullopt). nullptr on a miss; an invalid entry is
  // dropped. The row is shared and immutable; holding it holds no lock.
  std::shared_ptr<const CachedRow> lookup(const std::string& key, int32_t partition);

  // Call before querying the database for key, which lives in `partition`.
  ReadTicket begin_read(const std::string& key, int32_t partition) const;

  // Caches the row the reader got from the database for key, unless something
  // was applied to key's stripe since begin_read(), the partition was dropped
  // or re-owned, the cache holds a newer row, or row.partition or key differ
  // from the ticket's. Returns whether the row was stored.
  bool fill(const ReadTicket& ticket, const std::string& key, CachedRow row);
  // The same with a row the caller shares (and may go on reading).
  bool fill(const ReadTicket& ticket, const std::string& key, std::shared_ptr<const CachedRow> row);

  // The entries' counters: hits and misses of lookup(), evictions by bounds.
  CacheStats stats() const;

 private:
  struct Entry {
    std::shared_ptr<const CachedRow> row;
    uint64_t epoch = 0;  // the owning epoch of row->partition when stored
  };

  static constexpr size_t kStripes = 4096;

  // The weight of an entry for the byte bound.
  static size_t weigh(const std::string& key, const Entry& entry);

  uint64_t epoch_of(int32_t partition) const;
  void bump(const std::string& key);
  void store(const std::string& key, uint64_t epoch, std::shared_ptr<const CachedRow> row);
  // Whether `current` is valid and holds a newer position than `incoming`.
  bool is_newer(const Entry& current, const CachedRow& incoming) const;

  const bool insert_on_apply_;
  ShardedLruCache<std::string, Entry> entries_;
  // Per partition: the epoch of its current ownership, 0 if not owned.
  std::vector<std::atomic<uint64_t>> epochs_;
  std::atomic<uint64_t> next_epoch_{1};
  // Per key stripe: bumped by every apply() of a key in the stripe.
  std::vector<std::atomic<uint64_t>> generations_;
};

}  // namespace kvstream::cache
