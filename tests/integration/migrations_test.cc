// The Postgres migrations (schema/migrations.h, schema/sql/) against a real
// server: a fresh database, re-runs, failures, concurrent runners, who
// applied each migration, the refusal of a schema newer than the binary, and
// the `kvstream-consumer migrate` admin command and a replica's start.
#include "schema/migrations.h"

#include <gtest/gtest.h>

#include <atomic>
#include <functional>
#include <future>
#include <map>
#include <set>
#include <sstream>
#include <thread>

#include "common/error.h"
#include "tests/support/process.h"
#include "tests/support/test_database.h"
#include "tests/support/test_env.h"

namespace kvstream::testing {
namespace {

using namespace std::chrono_literals;

std::vector<schema::Migration> embedded() {
  return schema::load_migrations(schema::embedded_migrations());
}

int count(pqxx::connection& conn, const std::string& sql) {
  return pqxx::nontransaction(conn).exec(sql)[0][0].as<int>();
}

// The consumer binary as it records itself in kvstream_migrations.
const std::string kConsumer = std::string("kvstream-consumer ") + KVSTREAM_VERSION;

// version -> applied_by ("(null)" for NULL) of the rows of kvstream_migrations.
std::map<int, std::string> applied_by(pqxx::connection& conn) {
  std::map<int, std::string> out;
  for (const auto& row : pqxx::nontransaction(conn).exec(
           "SELECT version, coalesce(applied_by, '(null)') FROM kvstream_migrations")) {
    out[row[0].as<int>()] = row[1].as<std::string>();
  }
  return out;
}

// The bookkeeping table as a binary before version 3 created it, with
// migrations 1 and 2 applied and recorded by that binary.
void migrate_as_an_older_binary(pqxx::connection& conn) {
  pqxx::nontransaction(conn).exec(
      "CREATE TABLE kvstream_migrations ("
      " version integer PRIMARY KEY,"
      " name text NOT NULL,"
      " checksum text NOT NULL,"
      " applied_at timestamptz NOT NULL DEFAULT now())");
  auto all = embedded();
  all.resize(2);
  schema::migrate(conn, all);
}

// name -> "type nullable" of the columns of `table`, as Postgres reports them.
std::map<std::string, std::string> columns(pqxx::connection& conn, const std::string& table) {
  pqxx::nontransaction tx(conn);
  std::map<std::string, std::string> out;
  for (const auto& row :
       tx.exec_params("SELECT column_name, data_type, is_nullable FROM information_schema.columns "
                      "WHERE table_name = $1",
                      table)) {
    out[row[0].as<std::string>()] =
        row[1].as<std::string>() + (row[2].as<std::string>() == "YES" ? " null" : "");
  }
  return out;
}

// Runs `migrations` from `runners` connections of `db` at once, runner i
// recording `applied_by(i)`; returns each runner's result, in order
// (rethrowing a runner's error).
std::vector<schema::MigrateResult> migrate_at_once(
    TestDatabase& db, const std::vector<schema::Migration>& migrations, int runners,
    const std::function<std::string(int)>& applied_by) {
  std::vector<std::unique_ptr<pqxx::connection>> conns;
  for (int i = 0; i < runners; ++i) conns.push_back(db.connect());
  std::promise<void> go;
  std::shared_future<void> start = go.get_future().share();
  std::vector<std::future<schema::MigrateResult>> runs;
  for (int i = 0; i < runners; ++i) {
    runs.push_back(std::async(std::launch::async, [&, i] {
      start.wait();
      return schema::migrate(*conns[i], migrations, applied_by(i));
    }));
  }
  go.set_value();
  std::vector<schema::MigrateResult> results;
  for (auto& run : runs) results.push_back(run.get());
  return results;
}

TEST(Migrations, FreshDatabaseThenRerunIsANoOp) {
  TestDatabase db;
  auto conn = db.connect();
  auto migrations = embedded();
  auto first = schema::migrate(*conn, migrations, "kvstream-consumer 1.2.3");
  EXPECT_EQ(first.applied.size(), migrations.size());
  EXPECT_EQ(first.current_version, migrations.back().version);
  auto second = schema::migrate(*conn, migrations, "kvstream-consumer 1.2.4");
  EXPECT_TRUE(second.applied.empty());
  EXPECT_EQ(second.current_version, migrations.back().version);
  EXPECT_EQ(count(*conn, "SELECT count(*) FROM kv"), 0);
  // Every migration of a fresh database records the binary that applied it,
  // and a re-run does not rewrite that.
  std::map<int, std::string> expected;
  for (const auto& m : migrations) expected[m.version] = "kvstream-consumer 1.2.3";
  EXPECT_EQ(applied_by(*conn), expected);
  EXPECT_EQ(count(*conn, "SELECT count(*) FROM kvstream_migrations WHERE applied_at IS NULL"), 0);
}

TEST(Migrations, AnUpgradeRecordsTheNewBinaryAndLeavesOlderRowsUnknown) {
  // A database migrated by a binary before version 3: its rows keep NULL
  // (unknown), and adding the column does not rewrite the table.
  TestDatabase db;
  auto conn = db.connect();
  migrate_as_an_older_binary(*conn);
  const auto filenode = [&] {
    return pqxx::nontransaction(*conn)
        .exec("SELECT pg_relation_filenode('kvstream_migrations')")[0][0]
        .as<long long>();
  };
  const long long before = filenode();
  const auto result = schema::migrate(*conn, embedded(), "kvstream-consumer 2.0.0");
  EXPECT_EQ(result.applied, std::vector<int>{3});
  EXPECT_EQ(applied_by(*conn), (std::map<int, std::string>{
                                   {1, "(null)"}, {2, "(null)"}, {3, "kvstream-consumer 2.0.0"}}));
  EXPECT_EQ(filenode(), before);
}

TEST(Migrations, CreatesTheDocumentedTables) {
  TestDatabase db;
  auto conn = db.connect();
  schema::migrate(*conn, embedded());
  EXPECT_EQ(columns(*conn, "kv"),
            (std::map<std::string, std::string>{{"key", "text"},
                                                {"value", "bytea null"},
                                                {"content_type", "text null"},
                                                {"src_partition", "integer"},
                                                {"src_offset", "bigint"},
                                                {"updated_at", "timestamp with time zone"}}));
  EXPECT_EQ(columns(*conn, "kv_offsets"),
            (std::map<std::string, std::string>{{"topic", "text"},
                                                {"partition", "integer"},
                                                {"next_offset", "bigint"},
                                                {"updated_at", "timestamp with time zone"}}));
  EXPECT_EQ(columns(*conn, "kvstream_migrations"),
            (std::map<std::string, std::string>{{"version", "integer"},
                                                {"name", "text"},
                                                {"checksum", "text"},
                                                {"applied_at", "timestamp with time zone"},
                                                {"applied_by", "text null"}}));
  // Keys sort bytewise whatever the database's collation, so a prefix scan
  // is a range scan of the primary key.
  pqxx::nontransaction tx(*conn);
  EXPECT_EQ(tx.exec("SELECT collation_name FROM information_schema.columns "
                    "WHERE table_name = 'kv' AND column_name = 'key'")[0][0]
                .as<std::string>(),
            "C");
  tx.exec("SET enable_seqscan = off");
  std::string plan;
  for (const auto& row : tx.exec("EXPLAIN SELECT key FROM kv WHERE key LIKE 'user:%'")) {
    plan += row[0].as<std::string>() + "\n";
  }
  EXPECT_NE(plan.find("Index Cond: ((key >= 'user:'::text) AND (key < 'user;'::text))"),
            std::string::npos)
      << plan;
}

// The indexes of kv, by name.
std::set<std::string> indexes_of_kv(pqxx::connection& conn) {
  std::set<std::string> out;
  for (const auto& row :
       pqxx::nontransaction(conn).exec("SELECT indexname FROM pg_indexes WHERE tablename = 'kv'")) {
    out.insert(row[0].as<std::string>());
  }
  return out;
}

TEST(Migrations, UpdatesOfKvCanStayHot) {
  // Only the primary key is indexed (no index on a column an update
  // changes), and new pages keep room for updated rows.
  TestDatabase db;
  auto conn = db.connect();
  schema::migrate(*conn, embedded());
  EXPECT_EQ(indexes_of_kv(*conn), (std::set<std::string>{"kv_pkey"}));
  EXPECT_EQ(count(*conn,
                  "SELECT count(*) FROM pg_class WHERE relname = 'kv' AND "
                  "'fillfactor=80' = ANY(reloptions)"),
            1);
  // An update of a row is heap-only.
  {
    // A session of its own: its statistics are sent when it ends.
    auto writer = db.connect();
    pqxx::nontransaction tx(*writer);
    tx.exec("INSERT INTO kv (key, value, src_partition, src_offset) VALUES ('k', 'a', 0, 0)");
    tx.exec("UPDATE kv SET value = 'b', src_offset = 1, updated_at = now() WHERE key = 'k'");
  }
  const std::string hot = "SELECT n_tup_hot_upd FROM pg_stat_user_tables WHERE relname = 'kv'";
  auto reader = db.connect();
  for (int i = 0; i < 100 && count(*reader, hot) == 0; ++i) {
    std::this_thread::sleep_for(100ms);  // the statistics arrive asynchronously
  }
  EXPECT_EQ(count(*reader, hot), 1);
}

TEST(Migrations, HotUpdatesMigrationWaitsForABusyTableAndIsRetried) {
  // A database at version 1 with a transaction holding a lock on kv (a
  // replica's apply statement). The migration may not queue every later
  // writer behind its lock request: it gives up after its lock timeout and
  // tries again, and applies once the table is free.
  TestDatabase db;
  auto conn = db.connect();
  const auto all = embedded();
  schema::migrate(*conn, {all.front()});
  auto writer = db.connect();
  pqxx::work busy(*writer);
  busy.exec("INSERT INTO kv (key, src_partition, src_offset) VALUES ('k', 0, 0)");
  auto migrated = std::async(std::launch::async, [&] {
    auto c = db.connect();
    return schema::migrate(*c, all);
  });
  // The migration waits on kv's lock (bounded wait to see it there), while
  // another writer still gets through between its attempts.
  bool waiting = false;
  for (int i = 0; i < 100 && !waiting; ++i) {
    waiting = count(*conn,
                    "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
                    "AND query LIKE '%DROP INDEX%'") > 0;
    if (!waiting) std::this_thread::sleep_for(50ms);
  }
  EXPECT_TRUE(waiting);
  ASSERT_EQ(migrated.wait_for(1500ms), std::future_status::timeout);  // retried, not failed
  auto other = db.connect();
  pqxx::nontransaction(*other).exec(
      "INSERT INTO kv (key, src_partition, src_offset) VALUES ('other', 1, 0)");
  busy.commit();
  const schema::MigrateResult result = migrated.get();
  EXPECT_EQ(result.applied, (std::vector<int>{2, 3}));
  EXPECT_EQ(indexes_of_kv(*conn), (std::set<std::string>{"kv_pkey"}));
}

TEST(Migrations, AFailingMigrationRollsBackAndLeavesTheDatabaseUsable) {
  TestDatabase db;
  auto conn = db.connect();
  std::vector<schema::EmbeddedMigration> files = schema::embedded_migrations();
  files.push_back(
      {"9001_broken.sql", "CREATE TABLE half_done (x int); SELECT no_such_function();"});
  EXPECT_THROW(schema::migrate(*conn, schema::load_migrations(files)), Error);
  EXPECT_EQ(schema::applied_versions(*conn), (std::vector<int>{1, 2, 3}));
  pqxx::nontransaction tx(*conn);
  EXPECT_TRUE(tx.exec("SELECT to_regclass('half_done') IS NULL")[0][0].as<bool>());
  tx.exec("INSERT INTO kv (key, src_partition, src_offset) VALUES ('k', 0, 0)");
}

TEST(Migrations, AnEditedMigrationIsRefused) {
  TestDatabase db;
  auto conn = db.connect();
  schema::migrate(*conn, embedded());
  std::vector<schema::EmbeddedMigration> edited = schema::embedded_migrations();
  edited.front().sql = "SELECT 1;";
  try {
    schema::migrate(*conn, schema::load_migrations(edited));
    ADD_FAILURE() << "an edited migration was accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("was applied with different text"), std::string::npos)
        << e.what();
  }
}

TEST(Migrations, ConcurrentRunnersApplyEachMigrationExactlyOnce) {
  TestDatabase db;
  // A slow migration widens the window in which the runners overlap; it
  // fails if it runs twice (the table exists).
  std::vector<schema::EmbeddedMigration> files = schema::embedded_migrations();
  files.push_back({"9001_slow.sql", "SELECT pg_sleep(0.5); CREATE TABLE slow_done (x int);"});
  const auto migrations = schema::load_migrations(files);

  constexpr int kRunners = 8;
  std::vector<schema::MigrateResult> results = migrate_at_once(
      db, migrations, kRunners, [](int i) { return "runner " + std::to_string(i); });
  std::multiset<int> applied;
  std::map<int, std::string> expected_by;
  for (int i = 0; i < kRunners; ++i) {
    const schema::MigrateResult& result = results[i];
    applied.insert(result.applied.begin(), result.applied.end());
    for (int v : result.applied) expected_by[v] = "runner " + std::to_string(i);
    EXPECT_EQ(result.current_version, 9001);
  }
  EXPECT_EQ(applied, (std::multiset<int>{1, 2, 3, 9001}));
  auto conn = db.connect();
  EXPECT_EQ(schema::applied_versions(*conn), (std::vector<int>{1, 2, 3, 9001}));
  // Each row names the runner that applied it.
  EXPECT_EQ(applied_by(*conn), expected_by);
}

TEST(Migrations, ConcurrentRunnersUpgradeATableOfAnOlderBinaryOnce) {
  // Replicas of a new binary start together on a database of an older one:
  // one adds the column (migration 3), the others find it done.
  TestDatabase db;
  {
    auto conn = db.connect();
    migrate_as_an_older_binary(*conn);
  }
  const auto migrations = embedded();
  std::multiset<int> applied;
  for (const schema::MigrateResult& result :
       migrate_at_once(db, migrations, 6, [](int) { return "kvstream-consumer 2.0.0"; })) {
    applied.insert(result.applied.begin(), result.applied.end());
    EXPECT_EQ(result.current_version, 3);
  }
  EXPECT_EQ(applied, (std::multiset<int>{3}));
  auto conn = db.connect();
  EXPECT_EQ(applied_by(*conn), (std::map<int, std::string>{
                                   {1, "(null)"}, {2, "(null)"}, {3, "kvstream-consumer 2.0.0"}}));
}

// A database migrated by a newer binary: the embedded migrations plus 9001.
void migrate_as_a_newer_binary(TestDatabase& db) {
  std::vector<schema::EmbeddedMigration> files = schema::embedded_migrations();
  files.push_back({"9001_future.sql", "CREATE TABLE future_thing (x int);"});
  auto conn = db.connect();
  schema::migrate(*conn, schema::load_migrations(files), "kvstream-consumer 9.0.0");
}

TEST(Migrations, ANewerSchemaIsRefusedAndLeftAsItIs) {
  TestDatabase db;
  migrate_as_a_newer_binary(db);
  auto conn = db.connect();
  const auto before = applied_by(*conn);
  try {
    schema::migrate(*conn, embedded(), "kvstream-consumer 1.0.0");
    ADD_FAILURE() << "a newer schema was accepted";
  } catch (const schema::SchemaTooNew& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kFatal);
    EXPECT_EQ(std::string(e.what()),
              schema::newer_schema_refusal(9001, schema::newest_version(embedded()),
                                           "kvstream-consumer 1.0.0"));
  }
  EXPECT_EQ(applied_by(*conn), before);
  EXPECT_THROW(schema::check_schema_version(*conn, embedded(), "kvstream-consumer 1.0.0"),
               schema::SchemaTooNew);
}

TEST(Migrations, TheCheckAcceptsTheSameOrAnOlderSchema) {
  TestDatabase db;
  auto conn = db.connect();
  const auto all = embedded();
  EXPECT_EQ(schema::check_schema_version(*conn, all, kConsumer), 0);  // never migrated
  schema::migrate(*conn, {all.front()});
  EXPECT_EQ(schema::check_schema_version(*conn, all, kConsumer), 1);
  schema::migrate(*conn, all);
  EXPECT_EQ(schema::check_schema_version(*conn, all, kConsumer), all.back().version);
}

TEST(Migrations, AnOlderRunnerWaitingForTheLockIsRefusedOnceANewerOneMigrated) {
  // An older and a newer binary start together on the same database: the
  // older one, waiting for the lock while the newer one migrates, finds the
  // newer schema under the lock and applies nothing.
  TestDatabase db;
  std::vector<schema::EmbeddedMigration> files = schema::embedded_migrations();
  files.push_back({"9001_slow.sql", "SELECT pg_sleep(1); CREATE TABLE slow_done (x int);"});
  const auto newer = schema::load_migrations(files);
  auto newer_conn = db.connect();
  auto newer_run = std::async(std::launch::async, [&] {
    return schema::migrate(*newer_conn, newer, "kvstream-consumer 9.0.0");
  });
  // Bounded wait until the newer runner holds the advisory lock.
  auto conn = db.connect();
  bool locked = false;
  for (int i = 0; i < 200 && !locked; ++i) {
    locked =
        count(*conn,
              "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted AND "
              "database = (SELECT oid FROM pg_database WHERE datname = current_database())") > 0;
    if (!locked) std::this_thread::sleep_for(10ms);
  }
  ASSERT_TRUE(locked);
  auto older_conn = db.connect();
  EXPECT_THROW(schema::migrate(*older_conn, embedded(), "kvstream-consumer 1.0.0"),
               schema::SchemaTooNew);
  EXPECT_EQ(newer_run.get().current_version, 9001);
}

TEST(Migrations, AWaitingRunnerOutlastsItsStatementTimeout) {
  // Replicas connect with a statement timeout; one that starts while another
  // runs a long migration waits for it instead of failing, and a migration
  // longer than the timeout still completes.
  TestDatabase db;
  std::vector<schema::EmbeddedMigration> files = schema::embedded_migrations();
  files.push_back({"9001_slow.sql", "SELECT pg_sleep(1.5); CREATE TABLE slow_done (x int);"});
  const auto migrations = schema::load_migrations(files);
  auto first = db.connect();
  auto second = db.connect();
  pqxx::nontransaction(*first).exec("SET statement_timeout = 300");
  pqxx::nontransaction(*second).exec("SET statement_timeout = 300");

  auto slow = std::async(std::launch::async, [&] { return schema::migrate(*first, migrations); });
  std::this_thread::sleep_for(300ms);  // the first runner holds the lock
  const schema::MigrateResult waited = schema::migrate(*second, migrations);
  const schema::MigrateResult ran = slow.get();
  EXPECT_EQ(ran.applied.size() + waited.applied.size(), 4u);
  EXPECT_EQ(waited.current_version, 9001);
  EXPECT_EQ(schema::applied_versions(*second), (std::vector<int>{1, 2, 3, 9001}));
}

TEST(MigrateCommand, AppliesTheMigrationsThenIsANoOp) {
  TestDatabase db;
  const std::map<std::string, std::string> env{{"KVSTREAM_PG_URL", db.url()},
                                               {"KVSTREAM_BROKERS", "127.0.0.1:1"}};
  auto first = run_command({bin_dir() + "/kvstream-consumer", "migrate"}, env);
  EXPECT_EQ(first.exit_code, 0) << first.out;
  EXPECT_NE(first.out.find("database schema at version 3; applied 3 migration(s)"),
            std::string::npos)
      << first.out;
  auto conn = db.connect();
  EXPECT_EQ(count(*conn,
                  "SELECT count(*) FROM information_schema.tables WHERE table_name IN "
                  "('kv', 'kv_offsets', 'kvstream_migrations')"),
            3);
  EXPECT_EQ(schema::applied_versions(*conn), (std::vector<int>{1, 2, 3}));
  // Each row says which binary applied it.
  EXPECT_EQ(applied_by(*conn),
            (std::map<int, std::string>{{1, kConsumer}, {2, kConsumer}, {3, kConsumer}}));

  auto second = run_command({bin_dir() + "/kvstream-consumer", "migrate"}, env);
  EXPECT_EQ(second.exit_code, 0) << second.out;
  EXPECT_NE(second.out.find("applied 0 migration(s)"), std::string::npos) << second.out;
}

TEST(MigrateCommand, ANewerSchemaIsRefusedWithOneLineAndExitCode2) {
  TestDatabase db;
  migrate_as_a_newer_binary(db);
  auto r = run_command({bin_dir() + "/kvstream-consumer", "migrate"},
                       {{"KVSTREAM_PG_URL", db.url()}, {"KVSTREAM_BROKERS", "127.0.0.1:1"}});
  EXPECT_EQ(r.exit_code, 2) << r.out;
  const std::string refusal =
      schema::newer_schema_refusal(9001, schema::newest_version(embedded()), kConsumer);
  EXPECT_EQ(output_lines(r.out), std::vector<std::string>{"kvstream-consumer migrate: " + refusal});
}

// A replica's start against a newer schema, migrating or not: one critical
// line naming both versions, exit code 2, nothing changed in the database.
void expect_the_replica_refuses(const std::map<std::string, std::string>& extra_env) {
  TestDatabase db;
  migrate_as_a_newer_binary(db);
  auto conn = db.connect();
  const auto before = applied_by(*conn);
  std::map<std::string, std::string> env{{"KVSTREAM_PG_URL", db.url()},
                                         {"KVSTREAM_BROKERS", "127.0.0.1:1"},
                                         {"KVSTREAM_HTTP_ADDR", "127.0.0.1:0"}};
  env.insert(extra_env.begin(), extra_env.end());
  auto r = run_command({bin_dir() + "/kvstream-consumer"}, env, 60s);
  EXPECT_EQ(r.exit_code, 2) << r.out;
  const auto lines = output_lines(r.out);
  ASSERT_EQ(lines.size(), 1u) << r.out;
  const std::string refusal =
      schema::newer_schema_refusal(9001, schema::newest_version(embedded()), kConsumer);
  EXPECT_NE(lines[0].find(" critical cannot start: " + refusal), std::string::npos) << lines[0];
  EXPECT_EQ(applied_by(*conn), before);
}

TEST(ReplicaStart, ANewerSchemaIsRefusedWithOneLineAndExitCode2) { expect_the_replica_refuses({}); }

TEST(ReplicaStart, ANewerSchemaIsRefusedWithoutMigratingToo) {
  expect_the_replica_refuses({{"KVSTREAM_NO_MIGRATE", "true"}});
}

TEST(MigrateCommand, AnUnreachableDatabaseFailsWithOneClearLine) {
  // A port nothing listens on: bind one, then close it.
  auto port = run_command({"/usr/bin/python3", "-c",
                           "import socket;s=socket.socket();s.bind(('127.0.0.1',0));"
                           "print(s.getsockname()[1])"});
  const std::string url =
      "postgresql://postgres@127.0.0.1:" + std::to_string(std::stoi(port.out)) + "/nowhere";
  auto r = run_command({bin_dir() + "/kvstream-consumer", "migrate"},
                       {{"KVSTREAM_PG_URL", url}, {"KVSTREAM_BROKERS", "127.0.0.1:1"}}, 30s);
  EXPECT_EQ(r.exit_code, 1) << r.out;
  EXPECT_NE(r.out.find("kvstream-consumer migrate: connecting to Postgres"), std::string::npos)
      << r.out;
}

}  // namespace
}  // namespace kvstream::testing
