#include "cache/view_cache.h"

#include <functional>
#include <stdexcept>
#include <utility>

namespace kvstream::cache {
namespace {

size_t hash_key(const std::string& key) { return std::hash<std::string>{}(key); }

}  // namespace

ViewCache::ViewCache(ViewCacheOptions options)
    : insert_on_apply_(options.insert_on_apply),
      entries_(options.shards,
               [&] {
                 LruOptions<std::string, Entry> lru;
                 lru.max_entries = options.max_entries;
                 lru.max_bytes = options.max_bytes;
                 lru.weigher = &ViewCache::weigh;
                 return lru;
               }()),
      epochs_(options.max_partitions > 0 ? static_cast<size_t>(options.max_partitions) : 0),
      generations_(kStripes) {
  if (options.max_partitions <= 0) {
    throw std::invalid_argument("ViewCache: max_partitions must be positive");
  }
}

void ViewCache::own_partitions(const std::vector<int32_t>& partitions) {
  for (int32_t p : partitions) {
    if (p < 0 || static_cast<size_t>(p) >= epochs_.size()) continue;
    uint64_t not_owned = 0;
    epochs_[static_cast<size_t>(p)].compare_exchange_strong(not_owned, next_epoch_.fetch_add(1));
  }
}

void ViewCache::drop_partition(int32_t partition) {
  if (partition < 0 || static_cast<size_t>(partition) >= epochs_.size()) return;
  epochs_[static_cast<size_t>(partition)].store(0);
}

bool ViewCache::owns(int32_t partition) const { return epoch_of(partition) != 0; }

void ViewCache::bump(const std::string& key) {
  generations_[hash_key(key) % kStripes].fetch_add(1);
}

void ViewCache::store(const std::string& key, uint64_t epoch,
                      std::shared_ptr<const CachedRow> row) {
  const CachedRow& incoming = *row;
  entries_.add_if(key, Entry{std::move(row), epoch}, [&](const Entry* current) {
    if (current == nullptr) return insert_on_apply_;  // evicted since the check
    return !is_newer(*current, incoming);
  });
}

std::shared_ptr<const CachedRow> ViewCache::lookup(const std::string& key, int32_t partition) {
  auto entry = entries_.get_if(key, [&](const Entry& e) {
    return e.row->partition == partition && e.epoch == epoch_of(partition);
  });
  return entry ? std::move(entry->row) : nullptr;
}

ReadTicket ViewCache::begin_read(const std::string& key, int32_t partition) const {
  ReadTicket ticket;
  ticket.partition_ = partition;
  ticket.epoch_ = epoch_of(partition);
  ticket.key_hash_ = hash_key(key);
  ticket.generation_ = generations_[ticket.key_hash_ % kStripes].load();
  return ticket;
}

bool ViewCache::fill(const ReadTicket& ticket, const std::string& key, CachedRow row) {
  if (ticket.epoch_ == 0 || row.partition != ticket.partition_) return false;
  return fill(ticket, key, std::make_shared<const CachedRow>(std::move(row)));
}

bool ViewCache::fill(const ReadTicket& ticket, const std::string& key,
                     std::shared_ptr<const CachedRow> shared) {
  if (ticket.epoch_ == 0 || shared->partition != ticket.partition_ ||
      hash_key(key) != ticket.key_hash_) {
    return false;
  }
  const std::atomic<uint64_t>& stripe = generations_[ticket.key_hash_ % kStripes];
  // Decided under the key's shard lock: see the header for why that matters.
  return entries_
      .add_if(key, Entry{shared, ticket.epoch_},
              [&](const Entry* current) {
                return stripe.load() == ticket.generation_ &&
                       epoch_of(ticket.partition_) == ticket.epoch_ &&
                       (current == nullptr || !is_newer(*current, *shared));
              })
      .first;
}

CacheStats ViewCache::stats() const { return entries_.stats(); }

size_t ViewCache::weigh(const std::string& key, const Entry& entry) {
  // Beyond the strings' bytes (the key is held twice, in the map and the
  // slab): two string headers, the slab node's links and weight, the map
  // bucket, and the shared row with its control block. An estimate.
  constexpr size_t kOverhead =
      2 * sizeof(std::string) + sizeof(Entry) + 16 + 16 + sizeof(CachedRow) + 16;
  const CachedRow& row = *entry.row;
  return kOverhead + 2 * key.size() + (row.value ? row.value->size() : 0) + row.content_type.size();
}

uint64_t ViewCache::epoch_of(int32_t partition) const {
  if (partition < 0 || static_cast<size_t>(partition) >= epochs_.size()) return 0;
  return epochs_[static_cast<size_t>(partition)].load();
}

bool ViewCache::is_newer(const Entry& current, const CachedRow& incoming) const {
  const CachedRow& row = *current.row;
  return current.epoch == epoch_of(row.partition) && row.partition == incoming.partition &&
         row.offset > incoming.offset;
}

}  // namespace kvstream::cache
