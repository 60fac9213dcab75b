// `kvstream-consumer dlq list` and `dlq replay` against the real broker and
// Postgres: records that break the contract are published to the event
// topic, a real replica dead-letters them, and the commands list them (with
// their filters), replay them dry (nothing sent), then, once the replica's
// value limit is raised, replay them for real (the rows appear in
// Postgres), each origin once even when it was dead-lettered twice, and a
// second replay sends nothing.
#include <gtest/gtest.h>

#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "common/position.h"
#include "tests/support/kafka_util.h"
#include "tests/support/kv_table.h"
#include "tests/support/load.h"
#include "tests/support/oracle.h"
#include "tests/support/process.h"
#include "tests/support/replica.h"
#include "tests/support/test_database.h"
#include "tests/support/test_env.h"
#include "tests/support/wait.h"

namespace kvstream::testing {
namespace {

using namespace std::chrono_literals;

bool starts_with(const std::string& s, const std::string& prefix) {
  return s.rfind(prefix, 0) == 0;
}

bool contains(const std::string& s, const std::string& part) {
  return s.find(part) != std::string::npos;
}

// The lines of `out` that start with `prefix`.
std::vector<std::string> lines_starting(const std::string& out, const std::string& prefix) {
  std::vector<std::string> found;
  for (const std::string& line : output_lines(out)) {
    if (starts_with(line, prefix)) found.push_back(line);
  }
  return found;
}

// The listed dead letters: lines that start with their time
// ("2026-12-07T04:31:02.123Z ", not a log line's "...+00:00").
std::vector<std::string> listed(const std::string& out) {
  std::vector<std::string> found;
  for (const std::string& line : lines_starting(out, "20")) {
    if (line.size() > 24 && line[23] == 'Z' && line[24] == ' ') found.push_back(line);
  }
  return found;
}

// Whether `topic` exists, asked without creating it.
bool topic_exists(const std::string& topic) {
  KafkaSettings kafka;
  kafka.brokers = test_brokers();
  auto rk = kafka::read_only_admin_client(kafka, "dlq-test");
  return kafka::describe_partition_count(rk.get(), topic, 10s) >= 0;
}

// The line of `lines` about `origin` ("topic/partition:offset"), or "".
std::string line_of(const std::vector<std::string>& lines, const std::string& origin) {
  for (const std::string& line : lines) {
    if (contains(line, " " + origin + " ")) return line;
  }
  return {};
}

schema::Record record(std::string key, std::string value,
                      std::vector<schema::Header> headers = {}) {
  schema::Record r;
  r.key = std::move(key);
  r.value = std::move(value);
  r.headers = std::move(headers);
  return r;
}

class DlqCommand : public ::testing::Test {
 protected:
  void SetUp() override {
    brokers_ = test_brokers();
    topic_ = unique_name("dlqcmd");
    dlq_topic_ = topic_ + ".dlq";
    create_topic(brokers_, topic_, 2);
    // Small enough that a dead letter of 8000 bytes goes without its value.
    create_topic(brokers_, dlq_topic_, 2, {{"max.message.bytes", "6000"}});
    config_.brokers = brokers_;
    config_.topic = topic_;
    config_.group = unique_name("group");
    config_.pg_url = db_.url();
    config_.env["KVSTREAM_MAX_VALUE_BYTES"] = "1000";
  }

  void TearDown() override {
    if (replica_) {
      EXPECT_EQ(replica_->terminate(30s), 0) << replica_->log_tail();
    }
  }

  void start_replica(const std::string& name) {
    replica_ = std::make_unique<Replica>(config_, name);
    ASSERT_TRUE(replica_->wait_ready(60s)) << replica_->log_tail();
  }

  // Publishes the poison records (and one good one) under a replica whose
  // value limit is 1000 bytes, and waits until they are all dead-lettered.
  void dead_letter_poison() {
    start_replica("r1");
    Oracle oracle;
    EventPublisher publisher(brokers_, topic_, oracle);
    big1_ = to_origin(publisher.send_raw(
        record("big:1", std::string(2000, 'a'), {{"content-type", "text/plain"}})));
    big2_ = to_origin(publisher.send_raw(record("big:2", std::string(3000, 'b'))));
    big3_ = to_origin(publisher.send_raw(record("big:3", std::string(8000, 'c'))));
    empty_ = to_origin(publisher.send_raw(record("", "x")));
    op_ = to_origin(publisher.send_raw(record("op:1", "y", {{"kv-op", "bogus"}})));
    publisher.send_raw(record("ok:1", "fine"));
    ASSERT_TRUE(eventually([&] { return dlq_size() == 5; }, 60s)) << replica_->log_tail();
    ASSERT_TRUE(eventually([&] { return read_kv_table(db_.url()).count("ok:1") == 1; }, 30s));
  }

  // The replica reads its topic again from the start (a rebuild): every
  // poison record is dead-lettered a second time.
  void dead_letter_again() {
    ASSERT_EQ(replica_->terminate(30s), 0) << replica_->log_tail();
    replica_.reset();
    {
      auto conn = db_.connect();
      pqxx::work tx(*conn);
      tx.exec_params("UPDATE kv_offsets SET next_offset = 0 WHERE topic = $1", topic_);
      tx.commit();
    }
    start_replica("r2");
    ASSERT_TRUE(eventually([&] { return dlq_size() == 10; }, 60s)) << replica_->log_tail();
  }

  size_t dlq_size() {
    try {
      return read_all(brokers_, dlq_topic_, 10s).size();
    } catch (const std::exception&) {
      return 0;
    }
  }

  std::string to_origin(const Position& p) { return topic_ + "/" + to_string(p); }

  RunResult dlq(std::vector<std::string> args, std::map<std::string, std::string> extra_env = {}) {
    std::vector<std::string> argv{bin_dir() + "/kvstream-consumer", "dlq"};
    argv.insert(argv.end(), args.begin(), args.end());
    std::map<std::string, std::string> env{{"KVSTREAM_BROKERS", brokers_},
                                           {"KVSTREAM_TOPIC", topic_}};
    for (auto& [name, value] : extra_env) env[name] = value;
    return run_command(argv, env, 120s);
  }

  TestDatabase db_;
  std::string brokers_, topic_, dlq_topic_;
  ReplicaConfig config_;
  std::unique_ptr<Replica> replica_;
  std::string big1_, big2_, big3_, empty_, op_;  // origins, "topic/partition:offset"
};

TEST_F(DlqCommand, ListsTheDeadLettersWithTheirReasonsAndOrigins) {
  dead_letter_poison();
  const RunResult all = dlq({"list"});
  ASSERT_EQ(all.exit_code, 0) << all.out;
  const auto lines = listed(all.out);
  ASSERT_EQ(lines.size(), 5u) << all.out;
  EXPECT_TRUE(contains(line_of(lines, big1_), " value_too_large key=\"big:1\" value_bytes=2000 "))
      << all.out;
  EXPECT_TRUE(contains(line_of(lines, big3_), " value_too_large key=\"big:3\" value_omitted=8000 "))
      << all.out;
  EXPECT_TRUE(contains(line_of(lines, empty_), " empty_key key=\"\" value_bytes=1 ")) << all.out;
  EXPECT_TRUE(contains(line_of(lines, op_), " unknown_op key=\"op:1\" ")) << all.out;
  EXPECT_TRUE(contains(line_of(lines, big2_), "message=\"")) << all.out;
  EXPECT_TRUE(contains(all.out,
                       "dlq list: 5 dead letter(s) selected (0 replayed), 0 unreadable; "
                       "5 record(s) read from " +
                           dlq_topic_))
      << all.out;

  // By reason: one, or several.
  const RunResult by_reason = dlq({"list", "--reason", "empty_key,unknown_op"});
  ASSERT_EQ(by_reason.exit_code, 0) << by_reason.out;
  const auto reason_lines = listed(by_reason.out);
  ASSERT_EQ(reason_lines.size(), 2u) << by_reason.out;
  EXPECT_FALSE(line_of(reason_lines, empty_).empty());
  EXPECT_FALSE(line_of(reason_lines, op_).empty());

  // By original partition: exactly those whose origin is there.
  for (int32_t p : {0, 1}) {
    const RunResult by_partition = dlq({"list", "--partition", std::to_string(p)});
    ASSERT_EQ(by_partition.exit_code, 0) << by_partition.out;
    size_t expected = 0;
    for (const std::string* origin : {&big1_, &big2_, &big3_, &empty_, &op_}) {
      const bool there = contains(*origin, "/" + std::to_string(p) + ":");
      expected += there;
      EXPECT_EQ(line_of(listed(by_partition.out), *origin).empty(), !there) << by_partition.out;
    }
    EXPECT_EQ(listed(by_partition.out).size(), expected) << by_partition.out;
  }

  // By time: all were dead-lettered within the last hour, none in the future.
  EXPECT_EQ(listed(dlq({"list", "--since", "1h"}).out).size(), 5u);
  EXPECT_EQ(listed(dlq({"list", "--until", "1h"}).out).size(), 0u);
  EXPECT_EQ(listed(dlq({"list", "--since", "2999-01-01T00:00:00Z"}).out).size(), 0u);

  // JSON lines: the whole key (as text and base64), sizes, the original headers.
  const RunResult json = dlq({"list", "--json", "--reason", "value_too_large"});
  ASSERT_EQ(json.exit_code, 0) << json.out;
  std::map<std::string, nlohmann::json> by_key;
  for (const std::string& line : lines_starting(json.out, "{")) {
    const auto j = nlohmann::json::parse(line);
    by_key[j.at("key").get<std::string>()] = j;
  }
  ASSERT_EQ(by_key.size(), 3u) << json.out;
  const nlohmann::json& j1 = by_key.at("big:1");
  EXPECT_EQ(j1.at("reason"), "value_too_large");
  EXPECT_EQ(j1.at("topic"), topic_);
  EXPECT_EQ(topic_ + "/" + std::to_string(j1.at("partition").get<int>()) + ":" +
                std::to_string(j1.at("offset").get<int64_t>()),
            big1_);
  EXPECT_EQ(j1.at("key_base64"), "YmlnOjE=");
  EXPECT_EQ(j1.at("value_bytes"), 2000);
  EXPECT_EQ(j1.at("value_omitted"), false);
  ASSERT_EQ(j1.at("headers").size(), 1u);
  EXPECT_EQ(j1.at("headers")[0].at("name"), "content-type");
  EXPECT_EQ(j1.at("headers")[0].at("value"), "text/plain");
  EXPECT_TRUE(j1.at("replayed_to").is_null());
  EXPECT_EQ(by_key.at("big:3").at("value_omitted"), true);
  EXPECT_EQ(by_key.at("big:3").at("value_bytes"), 8000);

  // Listing changed nothing: no record written, no group committed.
  EXPECT_EQ(dlq_size(), 5u);
}

TEST_F(DlqCommand, ReplaysOnceAfterTheFixAndNeverTwice) {
  dead_letter_poison();
  dead_letter_again();  // each dead letter twice now
  const auto topic_ends = end_offsets(brokers_, topic_);
  const auto dlq_ends = end_offsets(brokers_, dlq_topic_);

  // Before the fix, under the same limit as the replica: nothing would go.
  const RunResult unfixed = dlq({"replay", "--reason", "value_too_large", "--dry-run"},
                                {{"KVSTREAM_MAX_VALUE_BYTES", "1000"}});
  EXPECT_EQ(unfixed.exit_code, 3) << unfixed.out;
  EXPECT_TRUE(contains(unfixed.out,
                       "refused " + big1_ + " key=\"big:1\": still_invalid: value_too_large: "))
      << unfixed.out;
  EXPECT_TRUE(contains(unfixed.out,
                       "dlq replay (dry run): 6 selected, 0 would be sent, 3 "
                       "duplicate(s) skipped, 0 already replayed, 3 refused"))
      << unfixed.out;

  // With the limit raised: a dry run says what it would send, and sends nothing.
  const std::map<std::string, std::string> raised{{"KVSTREAM_MAX_VALUE_BYTES", "4000"}};
  const RunResult dry = dlq({"replay", "--reason", "value_too_large", "--dry-run"}, raised);
  EXPECT_EQ(dry.exit_code, 3) << dry.out;  // big:3 lost its value
  EXPECT_EQ(lines_starting(dry.out, "would send ").size(), 2u) << dry.out;
  EXPECT_TRUE(contains(dry.out, "would send " + big1_ +
                                    " value_too_large key=\"big:1\" value_bytes=2000 to " + topic_))
      << dry.out;
  EXPECT_TRUE(contains(dry.out, "would send " + big2_)) << dry.out;
  EXPECT_TRUE(contains(dry.out, "refused " + big3_ + " key=\"big:3\": value_omitted: ")) << dry.out;
  EXPECT_EQ(lines_starting(dry.out, "duplicate ").size(), 3u) << dry.out;
  EXPECT_TRUE(contains(dry.out,
                       "dlq replay (dry run): 6 selected, 2 would be sent, 3 "
                       "duplicate(s) skipped, 0 already replayed, 1 refused"))
      << dry.out;
  EXPECT_EQ(end_offsets(brokers_, topic_), topic_ends);
  EXPECT_EQ(end_offsets(brokers_, dlq_topic_), dlq_ends);

  // The fix: the replica takes values up to 4000 bytes now. Then the replay.
  ASSERT_EQ(replica_->terminate(30s), 0) << replica_->log_tail();
  config_.env["KVSTREAM_MAX_VALUE_BYTES"] = "4000";
  start_replica("r3");
  const RunResult replay = dlq({"replay", "--reason", "value_too_large"}, raised);
  EXPECT_EQ(replay.exit_code, 3) << replay.out;
  EXPECT_EQ(lines_starting(replay.out, "sent ").size(), 2u) << replay.out;
  EXPECT_TRUE(contains(replay.out, "sent " + big1_ + " to ")) << replay.out;
  EXPECT_TRUE(contains(replay.out,
                       "dlq replay: 6 selected, 2 sent, 3 duplicate(s) skipped, 0 "
                       "already replayed, 1 refused"))
      << replay.out;
  KvTable rows;
  ASSERT_TRUE(eventually(
      [&] {
        rows = read_kv_table(db_.url());
        return rows.count("big:1") == 1 && rows.count("big:2") == 1;
      },
      60s))
      << replica_->log_tail();
  EXPECT_EQ(rows.at("big:1").value, std::string(2000, 'a'));
  EXPECT_EQ(rows.at("big:1").content_type, "text/plain");  // the original header came along
  EXPECT_EQ(rows.at("big:2").value, std::string(3000, 'b'));
  EXPECT_EQ(rows.count("big:3"), 0u);
  // Exactly two records more in the topic, each saying where it came from.
  size_t added = 0;
  for (const auto& [p, end] : end_offsets(brokers_, topic_)) added += end - topic_ends.at(p);
  EXPECT_EQ(added, 2u);
  std::map<std::string, std::string> replayed_from;
  for (const schema::Record& r : read_all(brokers_, topic_)) {
    if (const schema::Header* h = r.last_header("kv-dlq-replayed-from")) {
      replayed_from[*r.key] = h->value.value_or("");
    }
  }
  EXPECT_EQ(replayed_from,
            (std::map<std::string, std::string>{{"big:1", big1_}, {"big:2", big2_}}));

  // A second replay sends nothing: the marks say what the first one sent.
  const auto after_first = end_offsets(brokers_, topic_);
  const RunResult twice = dlq({"replay", "--reason", "value_too_large"}, raised);
  EXPECT_EQ(twice.exit_code, 3) << twice.out;
  EXPECT_TRUE(contains(twice.out, "already replayed " + big1_ + " to ")) << twice.out;
  EXPECT_TRUE(contains(twice.out,
                       "dlq replay: 6 selected, 0 sent, 3 duplicate(s) skipped, 2 "
                       "already replayed, 1 refused"))
      << twice.out;
  EXPECT_EQ(end_offsets(brokers_, topic_), after_first);

  // The list says where each went.
  const auto lines = listed(dlq({"list", "--reason", "value_too_large"}).out);
  EXPECT_TRUE(contains(line_of(lines, big1_), " replayed_to=")) << line_of(lines, big1_);
  EXPECT_FALSE(contains(line_of(lines, big3_), " replayed_to=")) << line_of(lines, big3_);
}

TEST_F(DlqCommand, AMissingDeadLetterTopicOrBrokerIsOneLineAndExit1) {
  const std::string absent = unique_name("absent");
  const RunResult missing =
      dlq({"list", "--timeout-ms", "10000"}, {{"KVSTREAM_DLQ_TOPIC", absent}});
  EXPECT_EQ(missing.exit_code, 1) << missing.out;
  ASSERT_EQ(output_lines(missing.out).size(), 1u) << missing.out;
  EXPECT_TRUE(starts_with(missing.out, "kvstream-consumer dlq list: the dead-letter topic "))
      << missing.out;
  EXPECT_TRUE(contains(missing.out, "does not exist")) << missing.out;
  EXPECT_FALSE(topic_exists(absent));  // asking did not create it (the test broker would)

  std::vector<std::string> args{bin_dir() + "/kvstream-consumer", "dlq", "replay", "--timeout-ms",
                                "2000"};
  const RunResult unreachable =
      run_command(args, {{"KVSTREAM_BROKERS", "127.0.0.1:1"}, {"KVSTREAM_TOPIC", topic_}}, 60s);
  EXPECT_EQ(unreachable.exit_code, 1) << unreachable.out;
  ASSERT_EQ(output_lines(unreachable.out).size(), 1u) << unreachable.out;
  EXPECT_TRUE(starts_with(unreachable.out,
                          "kvstream-consumer dlq replay: cannot reach the brokers at 127.0.0.1:1"))
      << unreachable.out;
}

TEST_F(DlqCommand, BadOptionsAreOneLineAndExit2) {
  const RunResult reason = dlq({"list", "--reason", "too_big"});
  EXPECT_EQ(reason.exit_code, 2) << reason.out;
  ASSERT_EQ(output_lines(reason.out).size(), 1u) << reason.out;
  EXPECT_TRUE(starts_with(reason.out,
                          "kvstream-consumer dlq list: unknown reason code 'too_big'; "
                          "the reason codes are missing_key, empty_key,"))
      << reason.out;

  const RunResult time = dlq({"replay", "--since", "yesterday"});
  EXPECT_EQ(time.exit_code, 2) << time.out;
  EXPECT_TRUE(contains(time.out, "'yesterday' is not a time")) << time.out;

  const RunResult flag = dlq({"list", "--partition", "one"});
  EXPECT_EQ(flag.exit_code, 2) << flag.out;
  EXPECT_TRUE(starts_with(flag.out, "kvstream-consumer: ")) << flag.out;

  const RunResult none = dlq({});
  EXPECT_EQ(none.exit_code, 2) << none.out;
}

TEST(DlqCommandHelp, SaysWhatTheCommandsDoAndTheirExitCodes) {
  const RunResult list =
      run_command({bin_dir() + "/kvstream-consumer", "dlq", "list", "--help"}, {}, 30s);
  EXPECT_EQ(list.exit_code, 0) << list.out;
  EXPECT_TRUE(contains(list.out, "--reason")) << list.out;
  EXPECT_TRUE(contains(list.out, "--json")) << list.out;
  const RunResult replay =
      run_command({bin_dir() + "/kvstream-consumer", "dlq", "replay", "--help"}, {}, 30s);
  EXPECT_EQ(replay.exit_code, 0) << replay.out;
  EXPECT_TRUE(contains(replay.out, "--dry-run")) << replay.out;
  EXPECT_TRUE(contains(replay.out, "3 when some were refused")) << replay.out;
}

}  // namespace
}  // namespace kvstream::testing
