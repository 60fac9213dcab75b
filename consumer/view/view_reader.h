// ViewReader: the seam between the program and the stored view (the kv and
// kv_offsets tables): a key's row, a page of live keys, and the positions
// every replica together has applied. store::PgViewReader implements it on
// the Postgres read connections; tests use tests/fakes/fake_view_reader.h.
//
//   reader.get("user:1", [](std::optional<StoredRow> row, const Error* error) { ... });
//   Listing page = reader.list("user:", "", 100);   // blocks
//
// Thread-safe: any thread may call anything. get() does not block: its
// callback runs exactly once, on a thread of the implementation (the HTTP
// I/O threads for Postgres, possibly the caller's own). list() and
// applied_positions() block; call them off the I/O threads.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "common/error.h"
#include "common/position.h"

namespace kvstream::view {

// A key's row as stored.
struct StoredRow {
  std::optional<std::string> value;  // nullopt: a tombstone (deleted key)
  std::string content_type;          // empty if none was given
  Position position;
};

// A live row of a page of the view (GET /v1/kv?prefix=...).
struct ListedRow {
  std::string key;
  std::string value;
  std::string content_type;  // empty if none was given
  Position position;
  std::string updated_at;  // ISO 8601, UTC
};

// A page of live rows and the positions at which it is consistent: the rows
// are the view exactly as it was when every partition's next offset to
// apply was `next_offsets` (read in the same snapshot; a partition with
// nothing applied is absent).
struct Listing {
  std::vector<ListedRow> rows;
  std::map<int32_t, int64_t> next_offsets;
};

class ViewReader {
 public:
  // Exactly once per get(): the row (nullopt: the key was never written),
  // or an error (transient: the database is down or slow). `error` lives
  // only during the call.
  using GetDone = std::function<void(std::optional<StoredRow> row, const Error* error)>;

  virtual ~ViewReader() = default;

  virtual void get(std::string key, GetDone done) = 0;

  // Up to `limit` live keys (tombstones skipped) that start with `prefix`
  // and sort after `after` (bytewise), in bytewise order, with the
  // positions they are consistent at. Throws kvstream::Error.
  virtual Listing list(const std::string& prefix, const std::string& after, size_t limit) = 0;

  // The next offset to apply of every partition of the topic that has one:
  // what every replica together has applied. Throws kvstream::Error.
  virtual std::map<int32_t, int64_t> applied_positions() = 0;
};

}  // namespace kvstream::view
