// The Store on PostgreSQL (libpqxx): one connection, prepared statements,
// one statement (so one round trip and one transaction) per partition batch:
//
//   fence:  advance kv_offsets(topic, partition) to the batch's new position
//           only if it still holds the expected one (a missing row counts as
//           kNoOffset); no row moved -> kFenced, nothing written.
//   upsert: all rows of the batch in one INSERT ... SELECT FROM unnest(...)
//           ON CONFLICT DO UPDATE, guarded so that a row written from a later
//           offset of the same partition is never overwritten. Deletes are
//           tombstone rows (value NULL).
//
// The rows travel as binary arrays (pg_binary_array.h): values are sent as
// their bytes, not hex text, and the buffers are reused batch after batch.
//
// Not thread-safe: one PgStore per applying thread. The connection is opened
// lazily and reopened after it breaks. Every statement has a client-side
// deadline too (its statement timeout and kDeadlineGrace,
// socket_deadline.h): a half-open link fails it instead of stalling it.
#pragma once

#include <chrono>
#include <memory>
#include <optional>
#include <pqxx/pqxx>
#include <string>
#include <vector>

#include "schema/event.h"
#include "store/pg_binary_array.h"
#include "store/socket_deadline.h"
#include "store/store.h"
#include "store/tombstone_collector.h"

namespace kvstream::store {

// How long past its statement timeout a statement may go unanswered
// before the client drops the connection (Postgres's own timeout, which
// answers, comes first when the statement reached it).
inline constexpr std::chrono::milliseconds kDeadlineGrace{5000};

// The libpq connection string `url` with connect_timeout set (to `timeout`,
// in whole seconds, at least 2) unless it sets one: opening a connection to
// a server that accepts it and answers nothing is bounded.
std::string with_connect_timeout(const std::string& url, std::chrono::milliseconds timeout);

struct PgSettings {
  std::string url;  // libpq connection URI
  std::chrono::milliseconds statement_timeout{10000};
  // The schema kvstream's tables are in, when not the connection's default
  // (its search_path): every connection then uses this one alone. Used by
  // `kvstream-consumer rebuild` to build a view beside the one served.
  std::string schema = {};
};

// A batch's events as the four columns of kvstream's batch statements,
// binary arrays: key (text), value (bytea; NULL for a delete), content type
// (text; NULL when none, and for a delete) and source offset (int8). Reused
// batch after batch: fill() keeps the arrays' buffers.
struct BatchColumns {
  PgBinaryArray keys{PgBinaryArray::kText};
  PgBinaryArray values{PgBinaryArray::kBytea};
  PgBinaryArray content_types{PgBinaryArray::kText};
  PgBinaryArray offsets{PgBinaryArray::kInt8};

  // Replaces the columns with the events'.
  void fill(const std::vector<schema::Event>& events);
};

class PgStore : public Store {
 public:
  explicit PgStore(PgSettings settings);

  std::map<int32_t, int64_t> load_next_offsets(const std::string& topic,
                                               const std::vector<int32_t>& partitions) override;
  ApplyOutcome apply(const PartitionBatch& batch) override;

  // Runs a trivial query; throws kvstream::Error when the database is down.
  void ping();

  // One step of the tombstone sweep: of the next `page` keys after `cursor`
  // (bytewise, a range scan of the primary key; "" starts at the
  // beginning), deletes the tombstones older than `retention`, and moves
  // `cursor` to the page's last key, or back to "" at the end of the table.
  // Nothing runs (ran false) while another replica is collecting (a
  // transaction-scoped advisory lock). The sweep needs no index on the
  // tombstones, so updates of `kv` stay HOT (schema/README.md). Throws
  // kvstream::Error.
  SweepStep collect_tombstones(std::chrono::seconds retention, size_t page, std::string& cursor);

 private:
  pqxx::connection& conn();
  // Arms the client-side deadline of a statement on the connection.
  void arm(std::optional<SocketDeadline>& deadline);
  // After a failure: disarms, drops the connection if it broke (or the
  // deadline cut it), and throws the deadline's own error if it fired.
  void after_failure(std::optional<SocketDeadline>& deadline, const std::string& context);

  PgSettings settings_;
  std::unique_ptr<pqxx::connection> conn_;
  BatchColumns columns_;  // of the batch being applied
};

// Opens a connection with kvstream's session settings (statement timeout,
// application name). Throws kvstream::Error.
std::unique_ptr<pqxx::connection> connect(const PgSettings& settings,
                                          const std::string& application_name);

}  // namespace kvstream::store
