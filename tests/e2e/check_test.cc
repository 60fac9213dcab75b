// The deployment checks at a replica's start (consumer/check/at_start.h),
// with the real binary, broker and Postgres: a misconfigured topic is
// logged once per warning and the replica still applies; positions of
// partitions the topic lacks stop the start (exit 2, one line); a broker
// that does not answer skips them.
#include <gtest/gtest.h>

#include <pqxx/pqxx>
#include <string>

#include "tests/support/http_client.h"
#include "tests/support/kafka_util.h"
#include "tests/support/replica.h"
#include "tests/support/test_database.h"
#include "tests/support/test_env.h"
#include "tests/support/wait.h"

namespace kvstream::testing {
namespace {

using namespace std::chrono_literals;

size_t count(const std::string& text, const std::string& what) {
  size_t n = 0;
  for (size_t at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) ++n;
  return n;
}

TEST(StartChecks, AMisconfiguredTopicIsLoggedAndTheReplicaStillApplies) {
  TestDatabase db;
  ReplicaConfig config{
      test_brokers(), unique_name("startcheck"), unique_name("startcheck-group"), db.url(), {}};
  create_topic(config.brokers, config.topic, 2,
               {{"cleanup.policy", "delete"},
                {"delete.retention.ms", "60000"},
                {"max.message.bytes", "100000"}});
  // No dead-letter topic.
  Replica replica(config, "r1");
  ASSERT_TRUE(replica.wait_ready(60s)) << replica.log_tail();

  const HttpResult put =
      http_request(replica.port(), "PUT", "/v1/kv/checked?wait=applied", "v1", {}, 30s);
  EXPECT_EQ(put.status, 201) << put.body << replica.log_tail();
  const HttpResult get = http_request(replica.port(), "GET", "/v1/kv/checked", "", {}, 30s);
  EXPECT_EQ(get.status, 200) << get.body;
  EXPECT_EQ(get.body, "v1");

  const std::string log = replica.log_tail(1 << 20);
  for (const char* warning :
       {"warning check cleanup.policy: cleanup.policy=delete",
        "warning check delete.retention.ms: ", "warning check max.message.bytes: ",
        "warning check dead-letter topic: "}) {
    EXPECT_EQ(count(log, warning), 1u) << warning << "\n" << log;
  }
  EXPECT_NE(log.find("deployment checks: 1 ok, 4 warning(s)"), std::string::npos) << log;
  EXPECT_EQ(replica.terminate(30s), 0);
}

TEST(StartChecks, PositionsOfPartitionsTheTopicLacksStopTheStart) {
  TestDatabase db;
  ReplicaConfig config{
      test_brokers(), unique_name("startcheck"), unique_name("startcheck-group"), db.url(), {}};
  create_topic(config.brokers, config.topic, 2, {{"cleanup.policy", "compact"}});
  create_topic(config.brokers, config.topic + ".dlq", 1);
  run_migrations(config);
  {
    auto conn = db.connect();
    pqxx::work tx(*conn);
    tx.exec_params("INSERT INTO kv_offsets (topic, partition, next_offset) VALUES ($1, 5, 10)",
                   config.topic);
    tx.commit();
  }
  Replica replica(config, "r1");
  const std::optional<int> code = replica.wait(60s);
  ASSERT_TRUE(code.has_value()) << "the replica runs with kv_offsets of a lost partition\n"
                                << replica.log_tail();
  EXPECT_EQ(*code, 2) << replica.log_tail();
  const std::string log = replica.log_tail(1 << 20);
  EXPECT_EQ(count(log,
                  "critical cannot start: kv_offsets holds applied positions of "
                  "partition(s) 5 of " +
                      config.topic + ", which has 2 partition(s)"),
            1u)
      << log;
  // Nothing was applied or moved.
  auto conn = db.connect();
  pqxx::nontransaction tx(*conn);
  EXPECT_EQ(tx.exec1("SELECT count(*) FROM kv_offsets")[0].as<int>(), 1);
  EXPECT_EQ(tx.exec1("SELECT count(*) FROM kv")[0].as<int>(), 0);
}

TEST(StartChecks, ABrokerThatDoesNotAnswerSkipsThemAndTheReplicaStarts) {
  TestDatabase db;
  // A port nothing listens on.
  ReplicaConfig config{
      "127.0.0.1:1", unique_name("startcheck"), unique_name("startcheck-group"), db.url(), {}};
  Replica replica(config, "r1");
  // Its HTTP server answers (/readyz: 503, not joined) as it did without
  // the checks, once they gave up.
  ASSERT_TRUE(eventually([&] { return replica.readyz() != 0; }, 30s)) << replica.log_tail();
  const std::string log = replica.log_tail(1 << 20);
  EXPECT_EQ(count(log, "warning topic checks skipped: asking Kafka: "), 1u) << log;
  EXPECT_EQ(replica.terminate(30s), 0);
}

}  // namespace
}  // namespace kvstream::testing
