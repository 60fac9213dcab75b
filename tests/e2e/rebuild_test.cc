// `kvstream-consumer rebuild` end to end: the real binary, broker and
// Postgres. A view rebuilt and switched in while a replica serves and
// applies a load equals the oracle afterwards, and the replica serves it
// (its cache of the old tables forgotten); records deleted from the topic
// refuse a rebuild, naming the partition.
#include <gtest/gtest.h>

#include <pqxx/pqxx>
#include <string>

#include "tests/e2e/apply_fixture.h"
#include "tests/support/http_client.h"
#include "tests/support/process.h"

namespace kvstream::testing {
namespace {

using namespace std::chrono_literals;

class RebuildTest : public ApplyFixture {
 protected:
  RunResult rebuild(const std::vector<std::string>& args) {
    std::vector<std::string> argv{bin_dir() + "/kvstream-consumer", "rebuild"};
    argv.insert(argv.end(), args.begin(), args.end());
    // run_command's output holds stdout and stderr (progress, refusals).
    return run_command(argv,
                       {{"KVSTREAM_BROKERS", brokers_},
                        {"KVSTREAM_TOPIC", topic_},
                        {"KVSTREAM_PG_URL", pg_url_},
                        {"KVSTREAM_LOG_LEVEL", "warn"}},
                       180s);
  }

  std::optional<std::string> row_value(const std::string& key) const {
    auto conn = db_.connect();
    pqxx::nontransaction tx(*conn);
    const pqxx::result r = tx.exec_params("SELECT value FROM kv WHERE key = $1", key);
    if (r.empty() || r[0][0].is_null()) return std::nullopt;
    return pqxx::binarystring(r[0][0]).str();
  }
};

TEST_F(RebuildTest, AViewSwitchedInIsServedAndTheOldOneKeptAside) {
  Replica& a = start_replica("a");
  ASSERT_TRUE(a.wait_ready(60s)) << a.log_tail();
  publish_load(*publisher_, load_spec(20000, 2000, 5005));
  ASSERT_TRUE(publisher_->flush(60s));
  const Offsets end = ends();
  ASSERT_TRUE(wait_applied(end, 120s)) << show(applied());

  // The served view goes wrong for one key (a row changed behind kvstream's
  // back), and the replica caches the wrong value.
  std::string key;
  {
    auto conn = db_.connect();
    pqxx::work tx(*conn);
    key = tx.exec1(
                "UPDATE kv SET value = 'stale' WHERE key = (SELECT min(key) FROM kv WHERE value "
                "IS NOT NULL) RETURNING key")[0]
              .as<std::string>();
    tx.commit();
  }
  const std::string path = "/v1/kv/" + key;  // load keys need no escaping
  ASSERT_EQ(http_request(a.port(), "GET", path, "", {}, 10s).body, "stale");

  RunResult r = rebuild({"--switch"});
  EXPECT_EQ(r.exit_code, 1) << r.out;
  EXPECT_NE(r.out.find("offsets to apply"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find(", 1 differ"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("key '" + key + "': served a value"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("not switched: the rebuilt view differs"), std::string::npos) << r.out;
  EXPECT_EQ(http_request(a.port(), "GET", path, "", {}, 10s).body, "stale");

  // Resumed: nothing left to apply; switched.
  r = rebuild({"--switch", "--accept-differences"});
  EXPECT_EQ(r.exit_code, 0) << r.out;
  EXPECT_NE(r.out.find(": 0 offsets to apply"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("switched: schema public serves the rebuilt view"), std::string::npos)
      << r.out;
  expect_table_matches_oracle();
  const std::optional<std::string> right = row_value(key);
  ASSERT_TRUE(right.has_value());
  EXPECT_NE(*right, "stale");
  // The rebuild stopped where the replica was: nothing fences the replica,
  // and only the switch's notification makes it forget the cached row.
  std::string served;
  EXPECT_TRUE(eventually(
      [&] {
        served = http_request(a.port(), "GET", path, "", {}, 10s).body;
        return served == *right;
      },
      10s, 100ms))
      << served;
  EXPECT_NE(a.log_tail(1 << 20).find("the view was switched"), std::string::npos) << a.log_tail();
  EXPECT_EQ(a.log_tail(1 << 20).find("fenced"), std::string::npos) << a.log_tail();

  // The replaced tables are kept, in a schema of their own.
  auto conn = db_.connect();
  pqxx::nontransaction tx(*conn);
  const std::string replaced =
      tx.exec1("SELECT nspname FROM pg_namespace WHERE nspname LIKE 'kvstream_replaced_%'")[0]
          .as<std::string>();
  const pqxx::row old =
      tx.exec_params1("SELECT value FROM " + tx.quote_name(replaced) + ".kv WHERE key = $1", key);
  EXPECT_EQ(pqxx::binarystring(old[0]).str(), "stale");
  EXPECT_TRUE(tx.exec1("SELECT to_regnamespace('kvstream_rebuild') IS NULL")[0].as<bool>());
  EXPECT_EQ(a.terminate(30s), 0) << a.log_tail();
}

TEST_F(RebuildTest, AViewRebuiltAndSwitchedInUnderALoadMatchesTheOracle) {
  Replica& a = start_replica("a");
  ASSERT_TRUE(a.wait_ready(60s)) << a.log_tail();
  publish_load(*publisher_, load_spec(20000, 2000, 5006));
  ASSERT_TRUE(publisher_->flush(60s));

  // A load runs through the rebuild and the switch.
  LoadSpec more = load_spec(30000, 2000, 5007);
  more.rate = 3000;  // about 10 s
  BackgroundLoad load(*publisher_, more);
  const RunResult r = rebuild({"--switch"});
  EXPECT_EQ(r.exit_code, 0) << r.out;
  EXPECT_NE(r.out.find(", 0 differ"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("switched: "), std::string::npos) << r.out;
  EXPECT_FALSE(load.done()) << "the load ended before the switch: make it longer";

  ASSERT_TRUE(load.wait(120s));
  ASSERT_EQ(load.error(), "");
  ASSERT_TRUE(publisher_->flush(60s));
  ASSERT_EQ(publisher_->failures(), 0u) << publisher_->first_failure();
  const Offsets end = ends();
  ASSERT_EQ(total(end), 50000);
  // The replica went on applying, into the switched-in tables.
  ASSERT_TRUE(wait_applied(end, 120s)) << show(applied()) << " vs " << show(end);
  expect_table_matches_oracle();
  EXPECT_EQ(a.terminate(30s), 0) << a.log_tail();
}

// The topic was deleted and created again: the served positions are past
// its ends (a replica refuses to start). The rebuild does not wait for
// them, and after the switch a replica starts on the rebuilt view.
TEST_F(RebuildTest, ServedPositionsOfARecreatedTopicAreNotWaitedFor) {
  publish_load(*publisher_, load_spec(3000, 300, 5008));
  ASSERT_TRUE(publisher_->flush(60s));
  {
    auto conn = db_.connect();
    pqxx::work tx(*conn);
    tx.exec_params(
        "INSERT INTO kv_offsets (topic, partition, next_offset) VALUES ($1, 1, 900000), "
        "($1, 9, 12)",
        topic_);
    tx.commit();
  }
  const RunResult r = rebuild({"--switch", "--accept-differences"});
  EXPECT_EQ(r.exit_code, 0) << r.out;
  EXPECT_NE(r.out.find("the served position 900000 of partition 1 is past the partition's end"),
            std::string::npos)
      << r.out;
  EXPECT_NE(r.out.find("the served position 12 of partition 9 is of a partition the topic does "
                       "not have"),
            std::string::npos)
      << r.out;
  EXPECT_NE(r.out.find("switched: "), std::string::npos) << r.out;
  EXPECT_EQ(applied(), ends());
  expect_table_matches_oracle();
  Replica& a = start_replica("a");
  EXPECT_TRUE(a.wait_ready(60s)) << a.log_tail();
  EXPECT_EQ(a.terminate(30s), 0) << a.log_tail();
}

TEST_F(RebuildTest, RecordsDeletedFromTheTopicRefuseItNamingThePartition) {
  LoadSpec spec = load_spec(3000, 300, 5007);
  publish_load(*publisher_, spec);
  ASSERT_TRUE(publisher_->flush(60s));
  const Offsets end = ends();
  ASSERT_GT(end.at(2), 10);
  delete_records(brokers_, topic_, 2, 10);

  const RunResult r = rebuild({});
  EXPECT_EQ(r.exit_code, 1) << r.out;
  EXPECT_NE(r.out.find("refused: records the rebuild has not applied were deleted from " + topic_ +
                       ": partition 2 (offsets 0 to 9)"),
            std::string::npos)
      << r.out;
  // Nothing was built.
  auto conn = db_.connect();
  pqxx::nontransaction tx(*conn);
  EXPECT_EQ(tx.exec1("SELECT count(*) FROM kvstream_rebuild.kv")[0].as<int64_t>(), 0);
}

}  // namespace
}  // namespace kvstream::testing
