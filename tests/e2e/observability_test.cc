// What a running replica shows of its own progress and housekeeping, read as
// an operator reads it: the lag gauges of /metrics over HTTP while a backlog
// builds and after it is applied, and the kv table while the replica's
// tombstone collection runs.
#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <memory>
#include <pqxx/pqxx>
#include <sstream>
#include <string>

#include "tests/e2e/apply_fixture.h"
#include "tests/support/http_client.h"
#include "tests/support/metrics_reader.h"

namespace kvstream::testing {
namespace {

using namespace std::chrono_literals;

std::map<std::string, double> series(const Replica& r, const std::string& name) {
  return metric_series(r.port(), name);
}

class ObservabilityTest : public ApplyFixture {};

// The lag gauges (docs/operations.md, "Metrics and alerts") rise while
// events wait (the kv table is locked, so nothing can be applied) and fall
// to 0 on every partition once the replica has applied them all.
TEST_F(ObservabilityTest, LagGaugesRiseWithABacklogAndFallToZeroOnceCaughtUp) {
  Replica& r = start_replica("r1");
  ASSERT_TRUE(r.wait_ready(60s)) << r.log_tail();

  // Hold the table, as a long migration or a stuck session would.
  pqxx::connection locker(pg_url_);
  auto lock = std::make_unique<pqxx::work>(locker);
  lock->exec("LOCK TABLE kv IN ACCESS EXCLUSIVE MODE");

  LoadSpec spec;
  spec.events = 600;
  spec.keys = 100;
  spec.seed = 31;
  publish_load(*publisher_, spec);
  ASSERT_TRUE(publisher_->flush(60s));
  const Offsets end = ends();

  // Every event is behind: the records gauge counts them all, and the
  // seconds gauge shows the age of the oldest one held (a second or more).
  std::map<std::string, double> records, seconds;
  EXPECT_TRUE(eventually(
      [&] {
        records = series(r, "kvstream_consumer_lag_records");
        seconds = series(r, "kvstream_consumer_lag_seconds");
        return series_sum(records) == static_cast<double>(total(end)) && series_max(seconds) >= 1.0;
      },
      60s, 200ms))
      << "records" << show_series(records) << "\nseconds" << show_series(seconds) << "\npublished "
      << show(end);
  EXPECT_EQ(records.size(), static_cast<size_t>(kPartitions)) << show_series(records);
  EXPECT_EQ(total(applied()), 0);

  lock->abort();  // the database takes writes again
  lock.reset();
  ASSERT_TRUE(wait_applied(end, 90s)) << show(applied());
  EXPECT_TRUE(eventually(
      [&] {
        records = series(r, "kvstream_consumer_lag_records");
        seconds = series(r, "kvstream_consumer_lag_seconds");
        return records.size() == static_cast<size_t>(kPartitions) && series_sum(records) == 0 &&
               seconds.size() == static_cast<size_t>(kPartitions) && series_max(seconds) == 0;
      },
      60s, 200ms))
      << "records" << show_series(records) << "\nseconds" << show_series(seconds);
  EXPECT_EQ(r.terminate(30s), 0);
}

// The running replica's tombstone collection removes deleted keys once
// they are older than KVSTREAM_TOMBSTONE_RETENTION_S, sweeping every
// KVSTREAM_TOMBSTONE_GC_INTERVAL_S; live keys stay as they are.
TEST_F(ObservabilityTest, TheReplicaCollectsTombstonesOlderThanTheRetention) {
  Replica& r = start_replica(
      "r1", {{"KVSTREAM_TOMBSTONE_RETENTION_S", "1"}, {"KVSTREAM_TOMBSTONE_GC_INTERVAL_S", "1"}});
  ASSERT_TRUE(r.wait_ready(60s)) << r.log_tail();
  for (int i = 0; i < 40; ++i) publisher_->put("key-" + std::to_string(i), "v" + std::to_string(i));
  for (int i = 0; i < 40; i += 2) publisher_->del("key-" + std::to_string(i));
  ASSERT_TRUE(publisher_->flush(60s));
  ASSERT_EQ(publisher_->failures(), 0u);
  ASSERT_TRUE(wait_applied(ends(), 60s)) << show(applied());

  KvTable table;
  auto tombstones = [&] {
    size_t n = 0;
    for (const auto& [key, row] : table) n += row.value ? 0 : 1;
    return n;
  };
  // Collection works on its own clock: wait (bounded) until the deleted
  // keys are gone from the table.
  ASSERT_TRUE(eventually(
      [&] {
        table = read_kv_table(pg_url_);
        return tombstones() == 0;
      },
      30s, 250ms))
      << tombstones() << " tombstone(s) still in the table\n"
      << r.log_tail();
  ASSERT_EQ(table.size(), 20u);
  for (int i = 1; i < 40; i += 2) {
    const std::string key = "key-" + std::to_string(i);
    ASSERT_TRUE(table.count(key)) << key;
    EXPECT_EQ(table[key].value.value_or("(tombstone)"), "v" + std::to_string(i)) << key;
  }
  // Counted: the 20 tombstones (at least; nothing else was deleted).
  EXPECT_TRUE(eventually(
      [&] { return metric_value(r.port(), "kvstream_tombstones_collected_total") >= 20; }, 10s))
      << "kvstream_tombstones_collected_total "
      << metric_value(r.port(), "kvstream_tombstones_collected_total");
  EXPECT_EQ(metric_value(r.port(), "kvstream_tombstones_collected_total"), 20);
  // A collected delete still reads as deleted.
  EXPECT_EQ(http_get(r.port(), "/v1/kv/key-0").status, 404);
  EXPECT_EQ(r.terminate(30s), 0);
}

}  // namespace
}  // namespace kvstream::testing
