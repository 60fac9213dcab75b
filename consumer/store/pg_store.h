// The Store on PostgreSQL (libpqxx): one connection, prepared statements,
// one transaction per partition batch.
//
//   1. fence:  advance kv_offsets(topic, partition) to the batch's new
//              position only if it still holds the expected one (a missing
//              row counts as kNoOffset); no row touched -> kFenced, rollback.
//   2. upsert: all rows of the batch in one INSERT ... SELECT FROM unnest(...)
//              ON CONFLICT DO UPDATE, guarded so that a row written from a
//              later offset of the same partition is never overwritten.
//              Deletes are tombstone rows (value NULL).
//   3. commit.
//
// Not thread-safe: one PgStore per applying thread. The connection is opened
// lazily and reopened after it breaks.
#pragma once

#include <chrono>
#include <memory>
#include <pqxx/pqxx>
#include <string>

#include "store/store.h"

namespace kvstream::store {

struct PgSettings {
  std::string url;  // libpq connection URI
  std::chrono::milliseconds statement_timeout{10000};
};

class PgStore : public Store {
 public:
  explicit PgStore(PgSettings settings);

  std::map<int32_t, int64_t> load_next_offsets(const std::string& topic,
                                               const std::vector<int32_t>& partitions) override;
  ApplyOutcome apply(const PartitionBatch& batch) override;

  // Runs a trivial query; throws kvstream::Error when the database is down.
  void ping();

  // Deletes up to `limit` tombstones older than `retention`, unless another
  // replica is collecting right now (a transaction-scoped advisory lock).
  // Returns how many rows it deleted. Throws kvstream::Error.
  size_t collect_tombstones(std::chrono::seconds retention, size_t limit);

 private:
  pqxx::connection& conn();

  PgSettings settings_;
  std::unique_ptr<pqxx::connection> conn_;
};

// Opens a connection with kvstream's session settings (statement timeout,
// application name). Throws kvstream::Error.
std::unique_ptr<pqxx::connection> connect(const PgSettings& settings,
                                          const std::string& application_name);

}  // namespace kvstream::store
