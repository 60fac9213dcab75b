// Point reads of the materialized view for the HTTP layer: a bounded pool of
// Postgres connections, each read with the statement deadline of PgSettings.
//
// Thread-safe: `mu_` guards the idle connections and the count of open ones;
// a connection is used by one thread at a time.
#pragma once

#include <chrono>
#include <condition_variable>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <pqxx/pqxx>
#include <string>
#include <vector>

#include "common/position.h"
#include "store/pg_store.h"
#include "view/view_reader.h"

namespace kvstream::store {

// The rows of the view's reader seam (view/view_reader.h).
using StoredRow = view::StoredRow;
using ListedRow = view::ListedRow;

class PgReadPool {
 public:
  PgReadPool(PgSettings settings, size_t max_connections,
             std::chrono::milliseconds acquire_timeout);

  // The row of `key`, or nullopt if the key was never written. Throws
  // kvstream::Error (transient: database down, pool exhausted past the
  // acquire timeout).
  std::optional<StoredRow> get(const std::string& key);

  // Up to `limit` live keys (tombstones skipped) that start with `prefix`
  // and sort after `after` (bytewise), in bytewise order, and the next
  // offsets of `topic`, in one snapshot (a read-only repeatable-read
  // transaction). Throws like get().
  view::Listing list(const std::string& topic, const std::string& prefix, const std::string& after,
                     size_t limit);

  // The next offset to apply of every partition of `topic` that has one:
  // what every replica together has applied. Throws like get().
  std::map<int32_t, int64_t> next_offsets(const std::string& topic);

 private:
  struct Lease;
  std::unique_ptr<pqxx::connection> acquire();
  void release(std::unique_ptr<pqxx::connection> conn);

  const PgSettings settings_;
  const size_t max_connections_;
  const std::chrono::milliseconds acquire_timeout_;

  std::mutex mu_;
  std::condition_variable available_;
  std::vector<std::unique_ptr<pqxx::connection>> idle_;  // guarded by mu_
  size_t open_ = 0;                                      // guarded by mu_
};

}  // namespace kvstream::store
