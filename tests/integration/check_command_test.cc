// `kvstream-consumer check` against the real broker and Postgres: one line
// per check, exit 0 with warnings, 1 when a check refuses, 2 when a server
// cannot be asked; and it changes nothing (no topic created, no row
// written).
#include <gtest/gtest.h>

#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "common/kafka_admin.h"
#include "tests/support/kafka_util.h"
#include "tests/support/process.h"
#include "tests/support/test_database.h"
#include "tests/support/test_env.h"

namespace kvstream::testing {
namespace {

using namespace std::chrono_literals;

// The line of `lines` about `check` ("<severity> <check>: ..."), or "".
std::string line_about(const std::vector<std::string>& lines, const std::string& check) {
  for (const std::string& line : lines) {
    if (line.size() > 5 && line.compare(5, check.size() + 2, check + ": ") == 0) return line;
  }
  return {};
}

bool starts_with(const std::string& s, const std::string& prefix) {
  return s.rfind(prefix, 0) == 0;
}

// Whether `topic` exists, asked without creating it.
bool topic_exists(const std::string& topic) {
  KafkaSettings kafka;
  kafka.brokers = test_brokers();
  auto rk = kafka::read_only_admin_client(kafka, "check-test");
  return kafka::describe_partition_count(rk.get(), topic, 10s) >= 0;
}

const std::map<std::string, std::string> kGoodConfig{{"cleanup.policy", "compact"},
                                                     {"delete.retention.ms", "86400000"},
                                                     {"max.message.bytes", "2097152"}};

class CheckCommand : public ::testing::Test {
 protected:
  void SetUp() override {
    topic_ = unique_name("check");
    env_ = {{"KVSTREAM_BROKERS", test_brokers()},
            {"KVSTREAM_TOPIC", topic_},
            {"KVSTREAM_PG_URL", db_.url()}};
    auto migrated = run_command({bin_dir() + "/kvstream-consumer", "migrate"}, env_, 60s);
    ASSERT_EQ(migrated.exit_code, 0) << migrated.out;
  }

  RunResult check() { return run_command({bin_dir() + "/kvstream-consumer", "check"}, env_, 60s); }

  TestDatabase db_;
  std::string topic_;
  std::map<std::string, std::string> env_;
};

TEST_F(CheckCommand, AWellConfiguredDeploymentIsAllOk) {
  create_topic(test_brokers(), topic_, 3, kGoodConfig);
  create_topic(test_brokers(), topic_ + ".dlq", 1);
  {
    auto conn = db_.connect();
    pqxx::work tx(*conn);
    tx.exec_params("INSERT INTO kv_offsets (topic, partition, next_offset) VALUES ($1, 0, 0)",
                   topic_);
    tx.commit();
  }
  const RunResult r = check();
  EXPECT_EQ(r.exit_code, 0) << r.out;
  const auto lines = output_lines(r.out);
  ASSERT_EQ(lines.size(), 7u) << r.out;
  for (const std::string& line : lines) EXPECT_TRUE(starts_with(line, "ok   ")) << line;
  EXPECT_NE(line_about(lines, "partitions").find("has 3 partition(s), 1 with an applied position"),
            std::string::npos)
      << r.out;
  for (const char* check : {"positions", "cleanup.policy", "delete.retention.ms",
                            "max.message.bytes", "dead-letter topic", "schema"}) {
    EXPECT_FALSE(line_about(lines, check).empty()) << check << "\n" << r.out;
  }
}

TEST_F(CheckCommand, AMisconfiguredTopicWarnsAndChangesNothing) {
  create_topic(test_brokers(), topic_, 2,
               {{"cleanup.policy", "delete"},
                {"delete.retention.ms", "60000"},
                {"max.message.bytes", "100000"}});
  const RunResult r = check();
  EXPECT_EQ(r.exit_code, 0) << r.out;  // warnings only
  const auto lines = output_lines(r.out);
  EXPECT_TRUE(starts_with(line_about(lines, "cleanup.policy"),
                          "warn cleanup.policy: "
                          "cleanup.policy=delete: records "
                          "older than retention.ms="))
      << r.out;
  EXPECT_TRUE(starts_with(line_about(lines, "delete.retention.ms"),
                          "warn delete.retention.ms: delete.retention.ms=60000 ms (1 min) is "
                          "shorter than the tombstone retention"))
      << r.out;
  EXPECT_TRUE(starts_with(line_about(lines, "max.message.bytes"),
                          "warn max.message.bytes: max.message.bytes=100000 is below the "
                          "contract's largest record"))
      << r.out;
  EXPECT_EQ(line_about(lines, "dead-letter topic"),
            "warn dead-letter topic: dead-letter topic " + topic_ +
                ".dlq does not exist: a record that breaks the contract holds its partition "
                "until it can be delivered there (unless the broker creates topics on first "
                "use). Create it (docs/operations.md, \"Partitions\")")
      << r.out;
  EXPECT_TRUE(starts_with(line_about(lines, "partitions"), "ok   ")) << r.out;
  EXPECT_TRUE(starts_with(line_about(lines, "schema"), "ok   ")) << r.out;
  // Asking about the dead-letter topic did not create it (the test broker
  // creates topics on first use).
  EXPECT_FALSE(topic_exists(topic_ + ".dlq"));
}

TEST_F(CheckCommand, PositionsOfPartitionsTheTopicLacksFail) {
  create_topic(test_brokers(), topic_, 2, kGoodConfig);
  create_topic(test_brokers(), topic_ + ".dlq", 1);
  {
    auto conn = db_.connect();
    pqxx::work tx(*conn);
    tx.exec_params(
        "INSERT INTO kv_offsets (topic, partition, next_offset) VALUES ($1, 0, 0), ($1, 3, 10)",
        topic_);
    tx.commit();
  }
  const RunResult r = check();
  EXPECT_EQ(r.exit_code, 1) << r.out;
  const auto lines = output_lines(r.out);
  EXPECT_TRUE(starts_with(line_about(lines, "partitions"),
                          "FAIL partitions: kv_offsets holds applied positions of partition(s) 3 "
                          "of " +
                              topic_ + ", which has 2 partition(s)"))
      << r.out;
  // Nothing else fails, and kv_offsets is as it was.
  for (const std::string& line : lines) {
    if (!starts_with(line, "FAIL partitions")) {
      EXPECT_TRUE(starts_with(line, "ok   ")) << line;
    }
  }
  auto conn = db_.connect();
  pqxx::nontransaction tx(*conn);
  EXPECT_EQ(tx.exec1("SELECT count(*) FROM kv_offsets")[0].as<int>(), 2);
}

TEST_F(CheckCommand, AnUnreachableBrokerExits2WithOneLine) {
  env_["KVSTREAM_BROKERS"] = "127.0.0.1:1";
  const RunResult r = check();
  EXPECT_EQ(r.exit_code, 2) << r.out;
  const auto lines = output_lines(r.out);
  size_t errors = 0;
  for (const std::string& line : lines) {
    if (starts_with(line, "kvstream-consumer check: cannot describe the topics: ")) ++errors;
  }
  EXPECT_EQ(errors, 1u) << r.out;
  // What the database alone tells is still said.
  EXPECT_TRUE(starts_with(line_about(lines, "schema"), "ok   ")) << r.out;
}

TEST(CheckCommandHelp, SaysWhatItChecksAndItsExitCodes) {
  const RunResult r = run_command({bin_dir() + "/kvstream-consumer", "check", "--help"}, {}, 30s);
  EXPECT_EQ(r.exit_code, 0) << r.out;
  EXPECT_NE(r.out.find("cleanup.policy=compact"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("Exit 0 when nothing fails"), std::string::npos) << r.out;
}

}  // namespace
}  // namespace kvstream::testing
