#include "view/cached_view.h"

#include <utility>

#include "common/kafka_partitioner.h"

namespace kvstream::view {

CachedView::CachedView(ViewReader& reader, const ReplicaStatus& status,
                       std::unique_ptr<cache::ViewCache> cache)
    : reader_(reader), status_(status), cache_(std::move(cache)) {}

int32_t CachedView::cacheable_partition(const std::string& key) const {
  if (!cache_) return -1;
  return partition_for_key(key, status_.partition_count());
}

std::shared_ptr<const Row> CachedView::cached(const std::string& key) {
  const int32_t partition = cacheable_partition(key);
  if (partition < 0) return nullptr;
  return cache_->lookup(key, partition);
}

void CachedView::read(std::string key, ReadDone done) {
  const int32_t partition = cacheable_partition(key);
  std::optional<cache::ReadTicket> ticket;
  // Before the query: see the read-through protocol of cache/view_cache.h.
  if (partition >= 0) ticket = cache_->begin_read(key, partition);
  std::string query_key = key;
  reader_.get(std::move(query_key),
              [this, partition, ticket, key = std::move(key), done = std::move(done)](
                  std::optional<StoredRow> stored, const Error* error) {
                if (error != nullptr) return done(nullptr, error);
                auto row = std::make_shared<Row>();
                if (stored) {
                  row->value = std::move(stored->value);
                  row->content_type = std::move(stored->content_type);
                  row->partition = stored->position.partition;
                  row->offset = stored->position.offset;
                } else {
                  row->partition = partition;
                  row->offset = cache::kAbsentOffset;
                }
                std::shared_ptr<const Row> shared = std::move(row);
                if (ticket && shared->partition == partition) cache_->fill(*ticket, key, shared);
                done(std::move(shared), nullptr);
              });
}

Listing CachedView::list(const std::string& prefix, const std::string& after, size_t limit) {
  return reader_.list(prefix, after, limit);
}

std::map<int32_t, int64_t> CachedView::applied_positions() { return reader_.applied_positions(); }

std::optional<cache::CacheStats> CachedView::cache_stats() const {
  if (!cache_) return std::nullopt;
  return cache_->stats();
}

void CachedView::own(const std::vector<int32_t>& partitions) {
  if (cache_) cache_->own_partitions(partitions);
}

void CachedView::applied(int32_t partition, const std::vector<schema::Event>& events) {
  if (!cache_) return;
  for (const schema::Event& e : events) {
    cache_->apply_with(e.key, partition, [&] {
      Row row;
      if (e.op == schema::Op::kPut) {
        row.value = e.value;
        row.content_type = e.content_type;
      }
      row.partition = partition;
      row.offset = e.position.offset;
      return row;
    });
  }
}

void CachedView::drop(int32_t partition) {
  if (cache_) cache_->drop_partition(partition);
}

void CachedView::fence(int32_t partition) {
  if (!cache_) return;
  cache_->drop_partition(partition);
  cache_->own_partitions({partition});
}

}  // namespace kvstream::view
