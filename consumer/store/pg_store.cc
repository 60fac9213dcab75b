#include "store/pg_store.h"

#include <algorithm>

#include "store/pg_binary_array.h"
#include "store/pg_errors.h"

namespace kvstream::store {

namespace {

// A batch is one statement, so one round trip: the fence and the upsert are
// data-modifying CTEs of one statement, which commit together (an implicit
// transaction) or not at all.
//
// The fence moves the position only from the one this writer expects. First
// batch of a partition (no position expected): the row must not exist yet.
// Later batches: the row must exist and hold the expected position; a missing
// row (the table emptied under a running replica) fences too, so the replica
// reloads and starts the partition again from the beginning. The upsert runs
// only when the fence moved (EXISTS over its RETURNING), and never lets an
// event overwrite a row written from a later offset of the same partition.
// The statement returns how many kv_offsets rows the fence moved: 1, or 0
// when fenced (then nothing was written). The upsert has no RETURNING: a
// data-modifying CTE runs to completion whether or not it is read, and
// RETURNING would store a row per upserted row.
//
// Parameters: $1 topic, $2 partition, $3 new position, [$4 expected
// position,] then the rows as binary arrays: keys text[], values bytea[]
// (NULL: a tombstone), content types text[], offsets int8[].
std::string apply_sql(bool first) {
  const std::string fence =
      first ? "INSERT INTO kv_offsets (topic, partition, next_offset, updated_at) "
              "VALUES ($1, $2::int4, $3::int8, now()) ON CONFLICT (topic, partition) DO NOTHING "
              "RETURNING 1"
            : "UPDATE kv_offsets SET next_offset = $3::int8, updated_at = now() "
              "WHERE topic = $1 AND partition = $2::int4 AND next_offset = $4::int8 RETURNING 1";
  const int a = first ? 4 : 5;  // the first array parameter
  auto arg = [](int n, const char* type) { return "$" + std::to_string(n) + "::" + type; };
  return "WITH fence AS (" + fence +
         "), rows AS ("
         "INSERT INTO kv AS t (key, value, content_type, src_partition, src_offset, updated_at) "
         "SELECT u.key, u.value, u.content_type, $2::int4, u.src_offset, now() "
         "FROM unnest(" +
         arg(a, "text[]") + ", " + arg(a + 1, "bytea[]") + ", " + arg(a + 2, "text[]") + ", " +
         arg(a + 3, "int8[]") +
         ") AS u(key, value, content_type, src_offset) "
         "WHERE EXISTS (SELECT 1 FROM fence) "
         "ON CONFLICT (key) DO UPDATE "
         "SET value = EXCLUDED.value, content_type = EXCLUDED.content_type, "
         "    src_partition = EXCLUDED.src_partition, src_offset = EXCLUDED.src_offset, "
         "    updated_at = EXCLUDED.updated_at "
         "WHERE t.src_partition <> EXCLUDED.src_partition OR t.src_offset < EXCLUDED.src_offset) "
         "SELECT count(*) FROM fence";
}

constexpr const char* kLoadOffsetsSql =
    "SELECT partition, next_offset FROM kv_offsets "
    "WHERE topic = $1 AND partition = ANY($2::int4[])";

// One page of the tombstone sweep: the next $2 keys after $1 (bytewise, a
// range of the primary key), and of those the tombstones older than $3
// seconds deleted. The conditions stand on the deleted row itself: when a
// PUT of the key commits while this waits on the row's lock, Postgres
// rechecks them against the new version (and skips it). Returns the page's
// last key (NULL past the end of the table) and the rows deleted.
constexpr const char* kSweepSql =
    "WITH page AS (SELECT key FROM kv WHERE key > $1 ORDER BY key LIMIT $2), "
    "gone AS (DELETE FROM kv t USING page WHERE t.key = page.key AND t.value IS NULL "
    "  AND t.updated_at < now() - make_interval(secs => $3) RETURNING 1) "
    "SELECT (SELECT max(key) FROM page), (SELECT count(*) FROM page), "
    "       (SELECT count(*) FROM gone)";

pqxx::binarystring param(std::string_view bytes) {
  return pqxx::binarystring(bytes.data(), bytes.size());
}

}  // namespace

std::string with_connect_timeout(const std::string& url, std::chrono::milliseconds timeout) {
  if (url.find("connect_timeout=") != std::string::npos) return url;
  // libpq counts whole seconds, and at least 2.
  const auto seconds = std::max<int64_t>(2, (timeout.count() + 999) / 1000);
  const std::string param = "connect_timeout=" + std::to_string(seconds);
  if (url.rfind("postgresql://", 0) == 0 || url.rfind("postgres://", 0) == 0) {
    return url + (url.find('?') == std::string::npos ? "?" : "&") + param;
  }
  return url.empty() ? param : url + " " + param;
}

std::unique_ptr<pqxx::connection> connect(const PgSettings& settings,
                                          const std::string& application_name) {
  try {
    // Opening a connection is bounded as a statement is: a server that
    // accepts the connection and then answers nothing fails it.
    auto c = std::make_unique<pqxx::connection>(
        with_connect_timeout(settings.url, settings.statement_timeout));
    SocketDeadline deadline(
        c->sock(), SocketDeadline::Clock::now() + settings.statement_timeout + kDeadlineGrace);
    pqxx::nontransaction tx(*c);
    tx.exec("SET statement_timeout = " + std::to_string(settings.statement_timeout.count()));
    // A replica frozen inside a transaction (a paused VM, a half-open
    // connection) must not hold the kv_offsets row locks of partitions that
    // moved to another replica: the server ends such a session.
    tx.exec("SET idle_in_transaction_session_timeout = " +
            std::to_string(settings.statement_timeout.count()));
    tx.exec("SET application_name = " + tx.quote(application_name));
    if (!settings.schema.empty()) {
      tx.exec("SET search_path TO " + tx.quote_name(settings.schema));
    }
    if (deadline.fired()) throw pqxx::broken_connection("no answer within the deadline");
    return c;
  } catch (...) {
    rethrow_as_error("connecting to Postgres");
  }
}

PgStore::PgStore(PgSettings settings) : settings_(std::move(settings)) {}

void PgStore::arm(std::optional<SocketDeadline>& deadline) {
  deadline.emplace(conn_ ? conn_->sock() : -1,
                   SocketDeadline::Clock::now() + settings_.statement_timeout + kDeadlineGrace);
}

void PgStore::after_failure(std::optional<SocketDeadline>& deadline, const std::string& context) {
  const bool fired = deadline && deadline->fired();
  deadline.reset();  // disarmed before the socket may close
  if (fired || (conn_ && !conn_->is_open())) conn_.reset();
  if (fired) {
    throw Error(ErrorKind::kTransient,
                context + ": no answer from Postgres within " +
                    std::to_string((settings_.statement_timeout + kDeadlineGrace).count()) +
                    " ms (the statement timeout and a grace): the connection is dropped");
  }
}

pqxx::connection& PgStore::conn() {
  if (conn_ && !conn_->is_open()) conn_.reset();
  if (!conn_) {
    conn_ = connect(settings_, "kvstream-apply");
    conn_->prepare("apply_first", apply_sql(true));
    conn_->prepare("apply", apply_sql(false));
    conn_->prepare("load_offsets", kLoadOffsetsSql);
  }
  return *conn_;
}

std::map<int32_t, int64_t> PgStore::load_next_offsets(const std::string& topic,
                                                      const std::vector<int32_t>& partitions) {
  std::map<int32_t, int64_t> out;
  std::optional<SocketDeadline> deadline;
  try {
    PgBinaryArray ids(PgBinaryArray::kInt4);
    for (int32_t p : partitions) ids.add_int4(p);
    pqxx::connection& c = conn();
    arm(deadline);
    pqxx::nontransaction tx(c);
    for (const auto& row : tx.exec_prepared("load_offsets", topic, param(ids.finish()))) {
      out[row[0].as<int32_t>()] = row[1].as<int64_t>();
    }
  } catch (...) {
    after_failure(deadline, "loading applied offsets");
    rethrow_as_error("loading applied offsets");
  }
  return out;
}

void BatchColumns::fill(const std::vector<schema::Event>& events) {
  keys.clear();
  values.clear();
  content_types.clear();
  offsets.clear();
  for (const schema::Event& e : events) {
    keys.add(e.key);
    if (e.op == schema::Op::kPut) {
      values.add(e.value);
    } else {
      values.add_null();
    }
    if (e.content_type.empty() || e.op == schema::Op::kDelete) {
      content_types.add_null();
    } else {
      content_types.add(e.content_type);
    }
    offsets.add_int8(e.position.offset);
  }
}

ApplyOutcome PgStore::apply(const PartitionBatch& batch) {
  std::optional<SocketDeadline> deadline;
  try {
    columns_.fill(batch.events);
    pqxx::connection& c = conn();
    arm(deadline);
    pqxx::nontransaction tx(c);
    const pqxx::result r =
        batch.expected_next_offset == kNoOffset
            ? tx.exec_prepared("apply_first", batch.topic, batch.partition, batch.new_next_offset,
                               param(columns_.keys.finish()), param(columns_.values.finish()),
                               param(columns_.content_types.finish()),
                               param(columns_.offsets.finish()))
            : tx.exec_prepared("apply", batch.topic, batch.partition, batch.new_next_offset,
                               batch.expected_next_offset, param(columns_.keys.finish()),
                               param(columns_.values.finish()),
                               param(columns_.content_types.finish()),
                               param(columns_.offsets.finish()));
    return r[0][0].as<int64_t>() == 1 ? ApplyOutcome::kApplied : ApplyOutcome::kFenced;
  } catch (...) {
    const std::string context = "applying partition " + std::to_string(batch.partition);
    after_failure(deadline, context);
    rethrow_as_error(context);
  }
}

SweepStep PgStore::collect_tombstones(std::chrono::seconds retention, size_t page,
                                      std::string& cursor) {
  std::optional<SocketDeadline> deadline;
  try {
    pqxx::connection& c = conn();
    arm(deadline);
    pqxx::work tx(c);
    // Key: "kvstomb" in ASCII; one collector at a time across replicas.
    if (!tx.exec("SELECT pg_try_advisory_xact_lock(30248060754816354)")[0][0].as<bool>()) {
      return {};
    }
    auto r = tx.exec_params(kSweepSql, cursor, static_cast<int64_t>(page),
                            static_cast<double>(retention.count()));
    tx.commit();
    SweepStep step;
    step.ran = true;
    step.scanned = r[0][1].as<size_t>();
    step.deleted = r[0][2].as<size_t>();
    if (r[0][0].is_null() || step.scanned < page) {
      cursor.clear();  // the end of the table: the next page starts from the beginning
      step.wrapped = true;
    } else {
      cursor = r[0][0].as<std::string>();
    }
    return step;
  } catch (...) {
    after_failure(deadline, "collecting tombstones");
    rethrow_as_error("collecting tombstones");
  }
}

void PgStore::ping() {
  std::optional<SocketDeadline> deadline;
  try {
    pqxx::connection& c = conn();
    arm(deadline);
    pqxx::nontransaction(c).exec("SELECT 1");
  } catch (...) {
    after_failure(deadline, "checking Postgres");
    rethrow_as_error("checking Postgres");
  }
}

}  // namespace kvstream::store
