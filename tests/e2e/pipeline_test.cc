// The walking skeleton end to end: the real binaries against the real broker
// and Postgres. Events are published with kvstream-producer and with kcat (a
// client we did not write); the test checks what a user sees: rows in
// Postgres, HTTP answers, and the group's committed offsets.
#include <gtest/gtest.h>
#include <signal.h>

#include <thread>

#include "common/position.h"
#include "tests/support/http_client.h"
#include "tests/support/kafka_util.h"
#include "tests/support/process.h"
#include "tests/support/test_database.h"
#include "tests/support/test_env.h"

namespace kvstream::testing {
namespace {

using namespace std::chrono_literals;

template <class Pred>
bool eventually(Pred pred, std::chrono::milliseconds timeout = 30s) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (pred()) return true;
    std::this_thread::sleep_for(100ms);
  }
  return pred();
}

uint16_t free_port() {
  // The consumer binds the port itself; pick one the kernel considers free.
  auto r = run_command({"/usr/bin/python3", "-c",
                        "import socket;s=socket.socket();s.bind(('127.0.0.1',0));"
                        "print(s.getsockname()[1])"});
  return static_cast<uint16_t>(std::stoi(r.out));
}

class PipelineTest : public ::testing::Test {
 protected:
  void SetUp() override {
    brokers_ = test_brokers();
    topic_ = unique_name("events");
    group_ = unique_name("group");
    create_topic(brokers_, topic_, 6);
    port_ = free_port();
    consumer_ = std::make_unique<ChildProcess>(
        std::vector<std::string>{bin_dir() + "/kvstream-consumer"},
        std::map<std::string, std::string>{
            {"KVSTREAM_BROKERS", brokers_},
            {"KVSTREAM_TOPIC", topic_},
            {"KVSTREAM_GROUP", group_},
            {"KVSTREAM_PG_URL", db_.url()},
            {"KVSTREAM_HTTP_ADDR", "127.0.0.1:" + std::to_string(port_)}},
        "/tmp/" + topic_ + "-consumer.log");
    ASSERT_TRUE(eventually([&] {
      try {
        return http_get(port_, "/readyz").status == 200;
      } catch (const std::exception&) {
        return false;
      }
    })) << consumer_->log();
  }

  void TearDown() override {
    if (consumer_ && consumer_->running()) {
      consumer_->signal(SIGTERM);
      EXPECT_EQ(consumer_->wait(30s), 0) << consumer_->log();
    }
  }

  std::string produce(const std::vector<std::string>& args) {
    std::vector<std::string> argv{bin_dir() + "/kvstream-producer"};
    argv.insert(argv.end(), args.begin(), args.end());
    auto r = run_command(argv, {{"KVSTREAM_BROKERS", brokers_}, {"KVSTREAM_TOPIC", topic_}});
    EXPECT_EQ(r.exit_code, 0) << r.out;
    return r.out;
  }

  // kcat with the Java client's partitioner, as the contract asks of every
  // producer. `-Z` sends an empty value as NULL (a DELETE).
  void kcat_produce(const std::string& line, bool null_for_empty) {
    std::vector<std::string> argv{
        "/usr/bin/kcat", "-P", "-b", brokers_, "-t",
        topic_,          "-K", "\t", "-X",     "partitioner=murmur2_random"};
    if (null_for_empty) argv.push_back("-Z");
    auto r = run_command(argv, {}, 60s, line + "\n");
    ASSERT_EQ(r.exit_code, 0) << r.out;
  }

  // The row as Postgres holds it: nullopt if absent; "<tombstone>" if deleted.
  std::optional<std::string> row(const std::string& key) {
    auto conn = db_.connect();
    pqxx::nontransaction tx(*conn);
    auto r = tx.exec_params("SELECT value FROM kv WHERE key = $1", key);
    if (r.empty()) return std::nullopt;
    if (r[0][0].is_null()) return std::string("<tombstone>");
    return pqxx::binarystring(r[0][0]).str();
  }

  std::map<int32_t, int64_t> applied_offsets() {
    auto conn = db_.connect();
    pqxx::nontransaction tx(*conn);
    std::map<int32_t, int64_t> out;
    for (const auto& r :
         tx.exec_params("SELECT partition, next_offset FROM kv_offsets WHERE topic = $1", topic_)) {
      out[r[0].as<int32_t>()] = r[1].as<int64_t>();
    }
    return out;
  }

  TestDatabase db_;
  std::string brokers_, topic_, group_;
  uint16_t port_ = 0;
  std::unique_ptr<ChildProcess> consumer_;
};

TEST_F(PipelineTest, ProducerPutOverwriteAndDeleteReachPostgresAndHttp) {
  const std::string first = produce({"put", "user:1", "v1"});
  EXPECT_TRUE(parse_position(first.substr(0, first.find('\n'))).has_value()) << first;
  ASSERT_TRUE(eventually([&] { return row("user:1") == "v1"; }));
  auto get = http_get(port_, "/v1/kv/user:1");
  EXPECT_EQ(get.status, 200);
  EXPECT_EQ(get.body, "v1");

  const std::string second = produce({"--content-type", "text/plain", "put", "user:1", "v2"});
  ASSERT_TRUE(eventually([&] { return row("user:1") == "v2"; }));
  get = http_get(port_, "/v1/kv/user:1");
  EXPECT_EQ(get.status, 200);
  EXPECT_EQ(get.body, "v2");
  EXPECT_EQ(get.header("content-type"), "text/plain");
  EXPECT_EQ(get.header("x-kv-position") + "\n", second);

  produce({"put", "empty", ""});
  ASSERT_TRUE(eventually([&] { return row("empty") == ""; }));
  EXPECT_EQ(http_get(port_, "/v1/kv/empty").status, 200);

  produce({"delete", "user:1"});
  ASSERT_TRUE(eventually([&] { return row("user:1") == "<tombstone>"; }));
  get = http_get(port_, "/v1/kv/user:1");
  EXPECT_EQ(get.status, 404);
  EXPECT_NE(get.body.find("\"not_found\""), std::string::npos);
  EXPECT_EQ(http_get(port_, "/v1/kv/never-written").status, 404);
}

TEST_F(PipelineTest, KcatPutOverwriteAndDeleteReachPostgresAndHttp) {
  kcat_produce("order:7\tfirst", false);
  ASSERT_TRUE(eventually([&] { return row("order:7") == "first"; }));
  kcat_produce("order:7\tsecond", false);
  ASSERT_TRUE(eventually([&] { return row("order:7") == "second"; }));
  EXPECT_EQ(http_get(port_, "/v1/kv/order:7").body, "second");
  kcat_produce("order:7\t", true);  // -Z: empty value sent as NULL
  ASSERT_TRUE(eventually([&] { return row("order:7") == "<tombstone>"; }));
  EXPECT_EQ(http_get(port_, "/v1/kv/order:7").status, 404);
}

TEST_F(PipelineTest, CommittedOffsetsEqualAppliedPositions) {
  for (int i = 0; i < 20; ++i) {
    kcat_produce("k" + std::to_string(i) + "\tv" + std::to_string(i), false);
  }
  produce({"delete", "k3"});
  const auto ends = end_offsets(brokers_, topic_);
  std::map<int32_t, int64_t> expected;
  for (const auto& [p, end] : ends) {
    if (end > 0) expected[p] = end;
  }
  ASSERT_TRUE(eventually([&] { return applied_offsets() == expected; }))
      << "applied positions never reached the end offsets";
  EXPECT_TRUE(eventually([&] { return committed_offsets(brokers_, group_, topic_) == expected; }))
      << "the group's committed offsets differ from the applied positions";
  EXPECT_EQ(row("k3"), "<tombstone>");
  EXPECT_EQ(row("k19"), "v19");
}

TEST_F(PipelineTest, InvalidRecordGoesToTheDeadLetterTopic) {
  const std::string key(1025, 'x');  // longer than the contract allows
  kcat_produce(key + "\tpayload", false);
  kcat_produce("after\tok", false);
  ASSERT_TRUE(eventually([&] { return row("after") == "ok"; }));
  std::vector<schema::Record> dlq;
  ASSERT_TRUE(eventually([&] {
    try {
      dlq = read_all(brokers_, topic_ + ".dlq", 10s);
    } catch (const std::exception&) {
      return false;
    }
    return dlq.size() == 1;
  }));
  EXPECT_EQ(dlq[0].key, key);
  EXPECT_EQ(dlq[0].value, "payload");
  ASSERT_NE(dlq[0].last_header("kv-dlq-reason"), nullptr);
  EXPECT_EQ(dlq[0].last_header("kv-dlq-reason")->value, "key_too_long");
  EXPECT_EQ(row(key), std::nullopt);
}

TEST_F(PipelineTest, ARecordTooLargeForTheDeadLetterTopicDoesNotBlockItsPartition) {
  // 2 MiB: over the contract's 1 MiB, and over what the dead-letter producer
  // accepts, so it is dead-lettered without its value.
  const std::string big(2 * 1024 * 1024, 'v');
  auto r = run_command({"/usr/bin/kcat", "-P", "-b", brokers_, "-t", topic_, "-K", "\t", "-X",
                        "partitioner=murmur2_random", "-X", "message.max.bytes=4000000"},
                       {}, 60s, "huge\t" + big + "\n");
  ASSERT_EQ(r.exit_code, 0) << r.out;
  kcat_produce("huge\tsmall", false);  // same key, same partition, after it
  ASSERT_TRUE(eventually([&] { return row("huge") == "small"; })) << consumer_->log();
  std::vector<schema::Record> dlq;
  ASSERT_TRUE(eventually([&] {
    try {
      dlq = read_all(brokers_, topic_ + ".dlq", 10s);
    } catch (const std::exception&) {
      return false;
    }
    return dlq.size() == 1;
  }));
  EXPECT_EQ(dlq[0].last_header("kv-dlq-reason")->value, "value_too_large");
  ASSERT_NE(dlq[0].last_header("kv-dlq-value-omitted"), nullptr);
  EXPECT_EQ(dlq[0].last_header("kv-dlq-value-omitted")->value, std::to_string(big.size()));
  EXPECT_FALSE(dlq[0].value.has_value());
}

TEST_F(PipelineTest, SigtermStopsCleanly) {
  produce({"put", "a", "1"});
  ASSERT_TRUE(eventually([&] { return row("a") == "1"; }));
  consumer_->signal(SIGTERM);
  EXPECT_EQ(consumer_->wait(30s), 0) << consumer_->log();
}

}  // namespace
}  // namespace kvstream::testing
