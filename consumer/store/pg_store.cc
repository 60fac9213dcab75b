#include "store/pg_store.h"

#include "store/pg_array.h"
#include "store/pg_errors.h"

namespace kvstream::store {

namespace {

// The fence: the position moves only from the one this writer expects.
// First batch of a partition (no position expected): the row must not exist
// yet. Later batches: the row must exist and hold the expected position; a
// missing row (the table emptied under a running replica) fences too, so
// the replica reloads and starts the partition again from the beginning.
constexpr const char* kFenceFirstSql =
    "INSERT INTO kv_offsets (topic, partition, next_offset, updated_at) "
    "VALUES ($1, $2, $3, now()) ON CONFLICT (topic, partition) DO NOTHING";
constexpr const char* kFenceSql =
    "UPDATE kv_offsets SET next_offset = $3, updated_at = now() "
    "WHERE topic = $1 AND partition = $2 AND next_offset = $4";

constexpr const char* kUpsertSql =
    "INSERT INTO kv AS t (key, value, content_type, src_partition, src_offset, updated_at) "
    "SELECT u.key, u.value, u.content_type, $5, u.src_offset, now() "
    "FROM unnest($1::text[], $2::bytea[], $3::text[], $4::bigint[]) "
    "  AS u(key, value, content_type, src_offset) "
    "ON CONFLICT (key) DO UPDATE "
    "SET value = EXCLUDED.value, content_type = EXCLUDED.content_type, "
    "    src_partition = EXCLUDED.src_partition, src_offset = EXCLUDED.src_offset, "
    "    updated_at = EXCLUDED.updated_at "
    "WHERE t.src_partition <> EXCLUDED.src_partition OR t.src_offset < EXCLUDED.src_offset";

constexpr const char* kLoadOffsetsSql =
    "SELECT partition, next_offset FROM kv_offsets "
    "WHERE topic = $1 AND partition = ANY($2::int[])";

}  // namespace

std::unique_ptr<pqxx::connection> connect(const PgSettings& settings,
                                          const std::string& application_name) {
  try {
    auto c = std::make_unique<pqxx::connection>(settings.url);
    pqxx::nontransaction tx(*c);
    tx.exec("SET statement_timeout = " + std::to_string(settings.statement_timeout.count()));
    // A replica frozen inside a transaction (a paused VM, a half-open
    // connection) must not hold the kv_offsets row locks of partitions that
    // moved to another replica: the server ends such a session.
    tx.exec("SET idle_in_transaction_session_timeout = " +
            std::to_string(settings.statement_timeout.count()));
    tx.exec("SET application_name = " + tx.quote(application_name));
    return c;
  } catch (...) {
    rethrow_as_error("connecting to Postgres");
  }
}

PgStore::PgStore(PgSettings settings) : settings_(std::move(settings)) {}

pqxx::connection& PgStore::conn() {
  if (conn_ && !conn_->is_open()) conn_.reset();
  if (!conn_) {
    conn_ = connect(settings_, "kvstream-apply");
    conn_->prepare("fence_first", kFenceFirstSql);
    conn_->prepare("fence", kFenceSql);
    conn_->prepare("upsert", kUpsertSql);
    conn_->prepare("load_offsets", kLoadOffsetsSql);
  }
  return *conn_;
}

std::map<int32_t, int64_t> PgStore::load_next_offsets(const std::string& topic,
                                                      const std::vector<int32_t>& partitions) {
  std::map<int32_t, int64_t> out;
  try {
    PgArrayBuilder ids;
    for (int32_t p : partitions) ids.add_int(p);
    pqxx::nontransaction tx(conn());
    for (const auto& row : tx.exec_prepared("load_offsets", topic, ids.finish())) {
      out[row[0].as<int32_t>()] = row[1].as<int64_t>();
    }
  } catch (...) {
    if (conn_ && !conn_->is_open()) conn_.reset();
    rethrow_as_error("loading applied offsets");
  }
  return out;
}

ApplyOutcome PgStore::apply(const PartitionBatch& batch) {
  try {
    pqxx::work tx(conn());
    auto fenced =
        batch.expected_next_offset == kNoOffset
            ? tx.exec_prepared("fence_first", batch.topic, batch.partition, batch.new_next_offset)
            : tx.exec_prepared("fence", batch.topic, batch.partition, batch.new_next_offset,
                               batch.expected_next_offset);
    if (fenced.affected_rows() != 1) {
      tx.abort();
      return ApplyOutcome::kFenced;
    }
    if (!batch.events.empty()) {
      PgArrayBuilder keys, values, content_types, offsets;
      for (const schema::Event& e : batch.events) {
        keys.add_text(e.key);
        if (e.op == schema::Op::kPut) {
          values.add_bytea(e.value);
        } else {
          values.add_null();
        }
        if (e.content_type.empty() || e.op == schema::Op::kDelete) {
          content_types.add_null();
        } else {
          content_types.add_text(e.content_type);
        }
        offsets.add_int(e.position.offset);
      }
      tx.exec_prepared("upsert", keys.finish(), values.finish(), content_types.finish(),
                       offsets.finish(), batch.partition);
    }
    tx.commit();
    return ApplyOutcome::kApplied;
  } catch (...) {
    if (conn_ && !conn_->is_open()) conn_.reset();
    rethrow_as_error("applying partition " + std::to_string(batch.partition));
  }
}

size_t PgStore::collect_tombstones(std::chrono::seconds retention, size_t limit) {
  try {
    pqxx::work tx(conn());
    // Key: "kvstomb" in ASCII; one collector at a time across replicas.
    if (!tx.exec("SELECT pg_try_advisory_xact_lock(30248060754816354)")[0][0].as<bool>()) {
      return 0;
    }
    // The conditions stand on the deleted row itself, not only in the
    // subquery: when a PUT of the key commits while this waits on the row's
    // lock, Postgres rechecks the row's own conditions against the new
    // version (and skips it), but never the subquery's.
    auto r = tx.exec_params(
        "DELETE FROM kv WHERE key IN (SELECT key FROM kv WHERE value IS NULL "
        "AND updated_at < now() - make_interval(secs => $1) LIMIT $2) "
        "AND value IS NULL AND updated_at < now() - make_interval(secs => $1)",
        static_cast<double>(retention.count()), static_cast<int64_t>(limit));
    tx.commit();
    return r.affected_rows();
  } catch (...) {
    if (conn_ && !conn_->is_open()) conn_.reset();
    rethrow_as_error("collecting tombstones");
  }
}

void PgStore::ping() {
  try {
    pqxx::nontransaction(conn()).exec("SELECT 1");
  } catch (...) {
    if (conn_ && !conn_->is_open()) conn_.reset();
    rethrow_as_error("checking Postgres");
  }
}

}  // namespace kvstream::store
