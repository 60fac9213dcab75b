// Tombstone garbage collection against a real Postgres: a sweep of the keys
// in pages; only tombstones older than the retention go; live rows never do.
#include <gtest/gtest.h>

#include <future>
#include <thread>

#include "schema/migrations.h"
#include "store/pg_store.h"
#include "tests/support/test_database.h"

namespace kvstream::testing {
namespace {

TEST(TombstoneGc, RemovesOnlyTombstonesOlderThanTheRetentionInBatches) {
  TestDatabase db;
  auto conn = db.connect();
  schema::migrate(*conn, schema::load_migrations(schema::embedded_migrations()));
  {
    pqxx::work tx(*conn);
    tx.exec(
        "INSERT INTO kv (key, value, src_partition, src_offset, updated_at) "
        "SELECT 'old-tomb-' || g, NULL, 0, g, now() - interval '2 days' "
        "FROM generate_series(1, 25) g");
    tx.exec(
        "INSERT INTO kv (key, value, src_partition, src_offset, updated_at) "
        "VALUES ('recent-tomb', NULL, 0, 100, now() - interval '1 hour'), "
        "       ('old-live', 'v'::bytea, 0, 101, now() - interval '30 days')");
    tx.commit();
  }
  store::PgStore store({db.url()});
  const auto retention = std::chrono::hours(24);
  // 27 keys in bytewise order: old-live, old-tomb-1, old-tomb-10 .. 19,
  // old-tomb-2, old-tomb-20 .. 25, old-tomb-3 .. 9, recent-tomb.
  std::string cursor;
  store::SweepStep step = store.collect_tombstones(retention, 10, cursor);
  EXPECT_TRUE(step.ran);
  EXPECT_EQ(step.scanned, 10u);
  EXPECT_EQ(step.deleted, 9u);  // the page holds old-live
  EXPECT_FALSE(step.wrapped);
  EXPECT_EQ(cursor, "old-tomb-17");
  step = store.collect_tombstones(retention, 10, cursor);
  EXPECT_EQ(step.deleted, 10u);  // old-tomb-18 .. old-tomb-3
  EXPECT_FALSE(step.wrapped);
  EXPECT_EQ(cursor, "old-tomb-3");
  step = store.collect_tombstones(retention, 10, cursor);
  EXPECT_EQ(step.scanned, 7u);
  EXPECT_EQ(step.deleted, 6u);  // the page holds recent-tomb
  EXPECT_TRUE(step.wrapped);
  EXPECT_EQ(cursor, "");
  step = store.collect_tombstones(retention, 10, cursor);
  EXPECT_EQ(step.scanned, 2u);  // what is left: old-live and recent-tomb
  EXPECT_EQ(step.deleted, 0u);
  EXPECT_TRUE(step.wrapped);

  pqxx::nontransaction tx(*conn);
  EXPECT_EQ(tx.exec("SELECT count(*) FROM kv WHERE key LIKE 'old-tomb-%'")[0][0].as<int>(), 0);
  EXPECT_EQ(tx.exec("SELECT count(*) FROM kv WHERE key = 'recent-tomb'")[0][0].as<int>(), 1);
  EXPECT_EQ(tx.exec("SELECT count(*) FROM kv WHERE key = 'old-live'")[0][0].as<int>(), 1);
}

TEST(TombstoneGc, OneCollectorAtATime) {
  TestDatabase db;
  auto conn = db.connect();
  schema::migrate(*conn, schema::load_migrations(schema::embedded_migrations()));
  pqxx::nontransaction(*conn).exec(
      "INSERT INTO kv (key, value, src_partition, src_offset, updated_at) "
      "VALUES ('t', NULL, 0, 1, now() - interval '2 days')");
  // Another replica holds the collector lock in an open transaction.
  auto other = db.connect();
  pqxx::work holder(*other);
  holder.exec("SELECT pg_advisory_xact_lock(30248060754816354)");
  store::PgStore store({db.url()});
  std::string cursor;
  store::SweepStep step = store.collect_tombstones(std::chrono::hours(24), 10, cursor);
  EXPECT_FALSE(step.ran);
  EXPECT_EQ(step.deleted, 0u);
  holder.abort();
  EXPECT_EQ(store.collect_tombstones(std::chrono::hours(24), 10, cursor).deleted, 1u);
}

TEST(TombstoneGc, APutCommittedWhileTheCollectorWaitsOnItsRowSurvives) {
  TestDatabase db;
  auto conn = db.connect();
  schema::migrate(*conn, schema::load_migrations(schema::embedded_migrations()));
  pqxx::nontransaction(*conn).exec(
      "INSERT INTO kv (key, value, src_partition, src_offset, updated_at) "
      "VALUES ('k', NULL, 0, 1, now() - interval '2 days')");
  // A replica applies a PUT of the old tombstone's key and has not
  // committed yet: the collector, which chose that row, waits on its lock.
  auto writer = db.connect();
  pqxx::work put(*writer);
  put.exec(
      "UPDATE kv SET value = 'back'::bytea, src_offset = 2, updated_at = now() WHERE key = 'k'");
  store::PgStore store({db.url()});
  std::string cursor;
  auto collected = std::async(std::launch::async, [&] {
    return store.collect_tombstones(std::chrono::hours(24), 10, cursor).deleted;
  });
  // The collector is blocked on the row (bounded wait for it to get there).
  for (int i = 0; i < 100; ++i) {
    auto r = pqxx::nontransaction(*conn).exec(
        "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND "
        "query LIKE '%DELETE FROM kv%'");
    if (r[0][0].as<int>() > 0) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  put.commit();
  EXPECT_EQ(collected.get(), 0u);
  auto r = pqxx::nontransaction(*conn).exec("SELECT value FROM kv WHERE key = 'k'");
  ASSERT_EQ(r.size(), 1u) << "the collector deleted a live row";
  EXPECT_EQ(pqxx::binarystring(r[0][0]).str(), "back");
}

}  // namespace
}  // namespace kvstream::testing
