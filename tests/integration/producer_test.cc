// The producer library and the kvstream-producer CLI against the real
// broker: what a user sees is what lands in the topic (positions, partition
// placement, counts), what close() reports, and the CLI's output and exit
// codes.
#include "producer/producer.h"

#include <gtest/gtest.h>

#include <fstream>
#include <mutex>
#include <numeric>
#include <set>
#include <sstream>

#include "producer/cli.h"
#include "producer/import.h"
#include "tests/support/kafka_util.h"
#include "tests/support/process.h"
#include "tests/support/test_env.h"

namespace kvstream::testing {
namespace {

using namespace std::chrono_literals;
using producer::CloseReport;
using producer::Delivery;
using producer::Producer;
using producer::ProducerSettings;
using producer::WhenFull;

ProducerSettings settings_for(const std::string& brokers, const std::string& topic) {
  ProducerSettings s;
  s.kafka.brokers = brokers;
  s.kafka.topic = topic;
  return s;
}

int64_t total(const std::map<int32_t, int64_t>& offsets) {
  return std::accumulate(offsets.begin(), offsets.end(), int64_t{0},
                         [](int64_t sum, const auto& p) { return sum + p.second; });
}

std::map<std::string, int32_t> partition_of_each_key(const std::vector<schema::Record>& records) {
  std::map<std::string, int32_t> out;
  for (const auto& r : records) out[*r.key] = r.partition;
  return out;
}

// Collects the outcome of async sends; callbacks run on the delivery thread.
class Outcomes {
 public:
  producer::DeliveryCallback track(std::string key) {
    return [this, key = std::move(key)](const Delivery& d) {
      std::lock_guard<std::mutex> lock(mu_);
      if (d.ok()) {
        positions_[key] = d.position;
      } else {
        ++failures_;
      }
    };
  }
  std::map<std::string, Position> positions() {
    std::lock_guard<std::mutex> lock(mu_);
    return positions_;
  }
  size_t failures() {
    std::lock_guard<std::mutex> lock(mu_);
    return failures_;
  }

 private:
  std::mutex mu_;
  std::map<std::string, Position> positions_;
  size_t failures_ = 0;
};

// "" when both place every key alike; else how many keys differ, with one.
std::string placement_diff(const std::map<std::string, int32_t>& ours,
                           const std::map<std::string, int32_t>& theirs) {
  size_t differ = 0;
  std::string example;
  for (const auto& [key, p] : ours) {
    auto it = theirs.find(key);
    const std::string there = it == theirs.end() ? "absent" : std::to_string(it->second);
    if (there == std::to_string(p)) continue;
    if (differ++ == 0) example = key + " on " + std::to_string(p) + " vs " + there;
  }
  if (differ == 0 && ours.size() == theirs.size()) return "";
  return std::to_string(differ) + " of " + std::to_string(ours.size()) + " keys differ (" +
         example + "); " + std::to_string(theirs.size()) + " keys there";
}

double seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

class ProducerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    brokers_ = test_brokers();
    topic_ = unique_name("producer");
  }

  // kvstream-producer with the broker and topic in its environment.
  RunResult cli(const std::vector<std::string>& args, const std::string& stdin_data = "",
                std::map<std::string, std::string> env = {}) {
    std::vector<std::string> argv{bin_dir() + "/kvstream-producer"};
    argv.insert(argv.end(), args.begin(), args.end());
    env.emplace("KVSTREAM_BROKERS", brokers_);
    env.emplace("KVSTREAM_TOPIC", topic_);
    return run_command(argv, env, 180s, stdin_data);
  }

  std::string write_file(const std::string& name, const std::string& content) {
    const std::string path = "/tmp/" + topic_ + "-" + name;
    std::ofstream(path, std::ios::binary) << content;
    files_.push_back(path);
    return path;
  }

  void TearDown() override {
    for (const auto& f : files_) std::remove(f.c_str());
  }

  std::string brokers_, topic_;
  std::vector<std::string> files_;
};

TEST_F(ProducerTest, PositionsAreWhereAConsumerFindsTheRecords) {
  create_topic(brokers_, topic_, 4);
  Outcomes outcomes;
  Position deleted;
  {
    Producer producer(settings_for(brokers_, topic_));
    schema::EncodeOptions options;
    options.content_type = "text/plain";
    for (int i = 0; i < 2000; ++i) {
      const std::string key = "user:" + std::to_string(i);
      ASSERT_FALSE(producer.put(key, "v" + std::to_string(i), options, outcomes.track(key)));
    }
    deleted = producer.del_sync("user:7");
    const CloseReport report = producer.close();
    EXPECT_EQ(report.delivered, 2001u);
    EXPECT_EQ(report.undelivered, 0u);
  }
  const auto sent = outcomes.positions();
  ASSERT_EQ(sent.size(), 2000u);
  const auto records = read_all(brokers_, topic_);
  ASSERT_EQ(records.size(), 2001u);
  std::set<int32_t> partitions;
  for (const auto& r : records) {
    const Position at{r.partition, r.offset};
    partitions.insert(r.partition);
    if (!r.value) {
      EXPECT_EQ(*r.key, "user:7");
      EXPECT_EQ(at, deleted);
      continue;
    }
    ASSERT_EQ(sent.count(*r.key), 1u) << *r.key;
    EXPECT_EQ(sent.at(*r.key), at) << *r.key;
    EXPECT_EQ(*r.value, "v" + r.key->substr(5));
    ASSERT_NE(r.last_header("content-type"), nullptr);
    EXPECT_EQ(r.last_header("content-type")->value, "text/plain");
  }
  EXPECT_EQ(partitions.size(), 4u);
}

TEST_F(ProducerTest, PartitionPlacementEqualsJavaProducerAndKcat) {
  constexpr int kPartitions = 7;
  const std::string java_topic = topic_ + "_java", kcat_topic = topic_ + "_kcat";
  for (const auto& t : {topic_, java_topic, kcat_topic}) create_topic(brokers_, t, kPartitions);

  std::vector<std::string> keys;
  std::string lines;
  for (int i = 0; i < 10000; ++i) {
    keys.push_back(i % 10 == 0 ? "ключ-" + std::to_string(i) : "key-" + std::to_string(i * 7919));
    lines += keys.back() + "\tvalue\n";
  }

  Outcomes ours;
  {
    Producer producer(settings_for(brokers_, topic_));
    for (const auto& key : keys) ASSERT_FALSE(producer.put(key, "value", {}, ours.track(key)));
    ASSERT_TRUE(producer.close().ok());
  }
  std::map<std::string, int32_t> our_placement;
  for (const auto& [key, position] : ours.positions()) our_placement[key] = position.partition;
  ASSERT_EQ(our_placement.size(), keys.size());
  std::set<int32_t> used;
  for (const auto& [key, p] : our_placement) used.insert(p);
  EXPECT_EQ(used.size(), static_cast<size_t>(kPartitions));

  const auto java =
      run_command({source_dir() + "/tests/env/kafka-env", "java",
                   "org.apache.kafka.tools.ConsoleProducer", "--bootstrap-server", brokers_,
                   "--topic", java_topic, "--reader-property", "parse.key=true"},
                  {}, 180s, lines);
  ASSERT_EQ(java.exit_code, 0) << java.out;
  const auto kcat = run_command({"/usr/bin/kcat", "-P", "-b", brokers_, "-t", kcat_topic, "-K",
                                 "\t", "-X", "partitioner=murmur2_random"},
                                {}, 120s, lines);
  ASSERT_EQ(kcat.exit_code, 0) << kcat.out;

  EXPECT_EQ(placement_diff(our_placement, partition_of_each_key(read_all(brokers_, java_topic))),
            "")
      << "Java producer";
  EXPECT_EQ(placement_diff(our_placement, partition_of_each_key(read_all(brokers_, kcat_topic))),
            "")
      << "kcat";
}

TEST_F(ProducerTest, CloseWithAHundredThousandEventsInFlightDeliversAll) {
  create_topic(brokers_, topic_, 3);
  auto settings = settings_for(brokers_, topic_);
  settings.linger = 200ms;  // the last batches are surely still lingering at close()
  std::atomic<size_t> ok{0}, failed{0};
  CloseReport report;
  {
    Producer producer(settings);
    for (int i = 0; i < 100000; ++i) {
      ASSERT_FALSE(producer.put("k" + std::to_string(i % 5000), std::string(100, 'x'), {},
                                [&](const Delivery& d) { (d.ok() ? ok : failed).fetch_add(1); }));
    }
    EXPECT_GT(producer.in_flight(), 0u);
    report = producer.close();
    EXPECT_EQ(producer.in_flight(), 0u);
  }
  EXPECT_EQ(report.delivered, 100000u);
  EXPECT_EQ(report.undelivered, 0u);
  EXPECT_EQ(ok.load(), 100000u);
  EXPECT_EQ(failed.load(), 0u);
  EXPECT_EQ(total(end_offsets(brokers_, topic_)), 100000);
}

TEST_F(ProducerTest, CloseReturnsWithinItsBoundWhenTheBrokerIsUnreachable) {
  auto settings = settings_for("127.0.0.1:1", topic_);
  settings.delivery_timeout = 120s;
  settings.close_timeout = 1500ms;
  Outcomes outcomes;
  Producer producer(settings);
  for (int i = 0; i < 1000; ++i) {
    ASSERT_FALSE(producer.put("k" + std::to_string(i), "v", {}, outcomes.track("k")));
  }
  const auto start = std::chrono::steady_clock::now();
  const CloseReport report = producer.close();
  const double took = seconds_since(start);
  EXPECT_GE(took, 1.4);
  EXPECT_LE(took, 1.5 + 2 + 1);  // close_timeout + the purge grace + slack
  EXPECT_EQ(report.delivered, 0u);
  EXPECT_EQ(report.undelivered, 1000u);
  EXPECT_EQ(report.abandoned, 1000u);
  EXPECT_EQ(outcomes.failures(), 1000u);  // every callback heard of it

  const auto again = std::chrono::steady_clock::now();
  EXPECT_EQ(producer.close().undelivered, 1000u);  // idempotent, and at once
  EXPECT_LT(seconds_since(again), 0.1);
  EXPECT_THROW(producer.put("late", "v", {}, nullptr), Error);
}

TEST_F(ProducerTest, AFullQueueRefusesAtOnceWhenAskedNotToWait) {
  auto settings = settings_for("127.0.0.1:1", topic_);
  settings.kafka.properties["queue.buffering.max.messages"] = "2";
  settings.delivery_timeout = 120s;  // waiting for room would take this long
  settings.close_timeout = 500ms;
  Outcomes outcomes;
  Producer producer(settings);
  ASSERT_FALSE(producer.put("a", "v", {}, outcomes.track("a"), WhenFull::kRefuse));
  ASSERT_FALSE(producer.del("b", {}, outcomes.track("b"), WhenFull::kRefuse));
  bool heard = false;
  try {
    producer.put(
        "c", "v", {}, [&](const Delivery&) { heard = true; }, WhenFull::kRefuse);
    ADD_FAILURE() << "a put into a full queue was taken";
  } catch (const Error& e) {
    EXPECT_TRUE(e.retryable()) << e.what();
  }
  EXPECT_THROW(producer.del("d", {}, nullptr, WhenFull::kRefuse), Error);
  EXPECT_EQ(producer.in_flight(), 2u);
  const CloseReport report = producer.close();
  EXPECT_EQ(report.undelivered, 2u);  // the refused ones were never in flight
  EXPECT_EQ(outcomes.failures(), 2u);
  EXPECT_FALSE(heard);
}

TEST_F(ProducerTest, FlushSendsLingeringEventsAtOnce) {
  create_topic(brokers_, topic_, 1);
  auto settings = settings_for(brokers_, topic_);
  settings.linger = 20s;
  Producer producer(settings);
  for (int i = 0; i < 10; ++i) ASSERT_FALSE(producer.put("k", "v", {}, nullptr));
  const auto start = std::chrono::steady_clock::now();
  EXPECT_EQ(producer.flush(15s), 0u);
  EXPECT_LT(seconds_since(start), 10);  // well before the linger ends
  EXPECT_EQ(total(end_offsets(brokers_, topic_)), 10);
}

TEST_F(ProducerTest, ACallbackThatThrowsStillCountsAsHeard) {
  create_topic(brokers_, topic_, 1);
  Producer producer(settings_for(brokers_, topic_));
  for (int i = 0; i < 5; ++i) {
    ASSERT_FALSE(producer.put("k", "v", {},
                              [](const Delivery&) { throw std::runtime_error("callback bug"); }));
  }
  EXPECT_EQ(producer.flush(30s), 0u);
  EXPECT_EQ(producer.close().delivered, 5u);
}

TEST_F(ProducerTest, ContractViolationsAreRejectedBeforeSending) {
  create_topic(brokers_, topic_, 1);
  Producer producer(settings_for(brokers_, topic_));
  auto invalid = producer.put(std::string(1025, 'k'), "v", {}, nullptr);
  ASSERT_TRUE(invalid);
  EXPECT_STREQ(schema::reason_code(invalid->reason), "key_too_long");
  invalid = producer.del(std::string("a\0b", 3), {}, nullptr);
  ASSERT_TRUE(invalid);
  EXPECT_STREQ(schema::reason_code(invalid->reason), "key_contains_nul");
  EXPECT_THROW(producer.put_sync("k", std::string(1024 * 1024 + 1, 'v')), Error);
  EXPECT_TRUE(producer.close().ok());
  EXPECT_EQ(total(end_offsets(brokers_, topic_)), 0);
}

// --- the CLI ---

TEST_F(ProducerTest, CliPutAndDeletePrintWhereTheRecordIs) {
  create_topic(brokers_, topic_, 3);
  const std::string binary("\x00\x01\xff value", 9);
  const auto a = cli({"put", "a", "plain"});
  const auto b = cli({"put", "b", "-"}, "from stdin\n");
  const auto c = cli({"put", "c", "--file", write_file("value.bin", binary)});
  const auto d = cli({"delete", "a"});
  std::set<std::pair<int32_t, int64_t>> printed;
  for (const auto* r : {&a, &b, &c, &d}) {
    ASSERT_EQ(r->exit_code, 0) << r->out;
    ASSERT_EQ(r->out.back(), '\n') << r->out;
    auto p = parse_position(r->out.substr(0, r->out.size() - 1));
    ASSERT_TRUE(p) << r->out;
    printed.emplace(p->partition, p->offset);
  }
  const auto records = read_all(brokers_, topic_);
  ASSERT_EQ(records.size(), 4u);
  std::map<std::string, std::vector<std::optional<std::string>>> by_key;
  for (const auto& r : records) {
    EXPECT_EQ(printed.count({r.partition, r.offset}), 1u);
    by_key[*r.key].push_back(r.value);
  }
  EXPECT_EQ(by_key["a"], (std::vector<std::optional<std::string>>{"plain", std::nullopt}));
  EXPECT_EQ(by_key["b"], (std::vector<std::optional<std::string>>{"from stdin\n"}));
  EXPECT_EQ(by_key["c"], (std::vector<std::optional<std::string>>{binary}));
}

TEST_F(ProducerTest, CliExitCodes) {
  create_topic(brokers_, topic_, 1);
  EXPECT_EQ(cli({"--help"}).exit_code, producer::kExitDelivered);
  EXPECT_EQ(cli({"put", std::string(1025, 'k'), "v"}).exit_code, producer::kExitInvalid);
  EXPECT_EQ(cli({"--max-value-bytes", "4", "put", "k", "12345"}).exit_code, producer::kExitInvalid);
  EXPECT_EQ(cli({"--max-value-bytes", "4", "put", "k", "-"}, "12345").exit_code,
            producer::kExitInvalid);
  EXPECT_EQ(cli({"put", "k"}).exit_code, producer::kExitUsage);
  EXPECT_EQ(cli({"put", "k", "v", "--file", "/etc/hostname"}).exit_code, producer::kExitUsage);
  EXPECT_EQ(cli({"frobnicate"}).exit_code, producer::kExitUsage);
  EXPECT_EQ(cli({"import", "no-such-file.ndjson"}).exit_code, producer::kExitUsage);
  EXPECT_EQ(cli({"import", "-"}).exit_code, producer::kExitUsage);  // format unknown
  EXPECT_EQ(cli({"load", "--delete-ratio", "2"}).exit_code, producer::kExitUsage);
  EXPECT_EQ(
      run_command({bin_dir() + "/kvstream-producer", "put", "k", "v"}, {{"KVSTREAM_BROKERS", ""}})
          .exit_code,
      producer::kExitUsage);
  EXPECT_EQ(cli({"put", "k", "v"}, "", {{"KVSTREAM_KAFKA_NO_SUCH_PROPERTY", "1"}}).exit_code,
            producer::kExitUsage);
  const auto unreachable = cli({"--brokers", "127.0.0.1:1", "--delivery-timeout-ms", "1500",
                                "--close-timeout-ms", "500", "put", "k", "v"});
  EXPECT_EQ(unreachable.exit_code, producer::kExitUndelivered) << unreachable.out;
  EXPECT_EQ(total(end_offsets(brokers_, topic_)), 0);
}

TEST_F(ProducerTest, CliImportOfAHundredThousandLinesDeliversTheGoodOnesAndNamesTheBad) {
  create_topic(brokers_, topic_, 4);
  std::ostringstream file;
  std::vector<int> bad_lines;
  std::map<std::string, std::optional<std::string>> expected;  // key -> last value
  const char* kBad[] = {
      R"({"op":"put","key":"broken","value":"v")",      // not JSON
      R"({"op":"put","value":"no key"})",               // missing key
      R"({"op":"put","key":"b64","value_b64":"***"})",  // bad base64
      R"({"op":"replace","key":"k","value":"v"})",      // unknown op
      R"({"op":"put","key":"","value":"empty key"})",   // breaks the contract
  };
  for (int line = 1; line <= 100000; ++line) {
    if (line % 997 == 0) {
      file << kBad[bad_lines.size() % 5] << "\n";
      bad_lines.push_back(line);
      continue;
    }
    const std::string key = "k" + std::to_string(line % 20000);
    if (line % 50 == 0) {
      file << R"({"op":"delete","key":")" << key << "\"}\n";
      expected[key] = std::nullopt;
    } else if (line % 7 == 0) {
      file << R"({"op":"put","key":")" << key << R"(","value_b64":"AP8K"})"
           << "\n";
      expected[key] = std::string("\x00\xff\n", 3);
    } else {
      file << R"({"op":"put","key":")" << key << R"(","value":"v)" << line << "\"}\n";
      expected[key] = "v" + std::to_string(line);
    }
  }
  const auto r = cli({"import", write_file("events.ndjson", file.str())});
  EXPECT_EQ(r.exit_code, producer::kExitDelivered) << r.out.substr(0, 2000);
  for (int line : bad_lines) {
    EXPECT_NE(r.out.find("line " + std::to_string(line) + ": "), std::string::npos) << line;
  }
  const int64_t good = 100000 - static_cast<int64_t>(bad_lines.size());
  EXPECT_NE(r.out.find("import: " + std::to_string(good) + " events delivered"), std::string::npos)
      << r.out.substr(r.out.size() > 500 ? r.out.size() - 500 : 0);
  EXPECT_NE(r.out.find(std::to_string(bad_lines.size()) + " bad line(s) skipped"),
            std::string::npos);

  EXPECT_EQ(total(end_offsets(brokers_, topic_)), good);
  std::map<std::string, std::optional<std::string>> last;
  for (const auto& rec : read_all(brokers_, topic_, 120s)) last[*rec.key] = rec.value;
  EXPECT_EQ(last, expected);
}

TEST_F(ProducerTest, CliImportsTheTabSeparatedTransactionLog) {
  create_topic(brokers_, topic_, 1);
  const std::string log =
      "1\tPUT\tmulti\\tpart\tline1\\nline2\\\\\n"
      "2\tput\tplain\tvalue\n"
      "3\tDELETE\tplain\n"
      "4\tPUT\tempty\t\n";
  const auto r = cli({"import", write_file("tx.log", log)});
  ASSERT_EQ(r.exit_code, producer::kExitDelivered) << r.out;
  const auto records = read_all(brokers_, topic_);
  ASSERT_EQ(records.size(), 4u);
  EXPECT_EQ(records[0].key, "multi\tpart");
  EXPECT_EQ(records[0].value, "line1\nline2\\");
  EXPECT_EQ(records[1].value, "value");
  EXPECT_EQ(records[2].key, "plain");
  EXPECT_EQ(records[2].value, std::nullopt);
  EXPECT_EQ(records[3].value, "");
}

TEST_F(ProducerTest, CliStrictImportStopsAtTheFirstBadLine) {
  create_topic(brokers_, topic_, 1);
  const std::string events =
      "1\tPUT\ta\t1\n"
      "2\tPUT\tb\t2\n"
      "3\tUPSERT\tc\t3\n"
      "4\tPUT\td\t4\n";
  const auto r = cli({"import", "--strict", "--format", "tsv", "-"}, events);
  EXPECT_EQ(r.exit_code, producer::kExitInvalid) << r.out;
  EXPECT_NE(r.out.find("line 3: unknown type"), std::string::npos) << r.out;
  EXPECT_EQ(total(end_offsets(brokers_, topic_)), 2);
  // Without --strict the bad line is skipped and the rest goes through.
  EXPECT_EQ(cli({"import", "--format", "tsv", "-"}, events).exit_code, producer::kExitDelivered);
  EXPECT_EQ(total(end_offsets(brokers_, topic_)), 5);
}

TEST_F(ProducerTest, CliLoadPublishesTheRequestedMix) {
  create_topic(brokers_, topic_, 2);
  const auto r = cli({"load", "--count", "5000", "--keys", "100", "--value-size", "10",
                      "--delete-ratio", "0.2", "--seed", "7"});
  ASSERT_EQ(r.exit_code, producer::kExitDelivered) << r.out;
  EXPECT_NE(r.out.find("load: 5000 events delivered"), std::string::npos) << r.out;
  const auto records = read_all(brokers_, topic_);
  ASSERT_EQ(records.size(), 5000u);
  std::set<std::string> keys;
  size_t deletes = 0;
  for (const auto& rec : records) {
    keys.insert(*rec.key);
    if (!rec.value) {
      ++deletes;
    } else {
      EXPECT_EQ(rec.value->size(), 10u);
    }
  }
  EXPECT_LE(keys.size(), 100u);
  EXPECT_GT(keys.size(), 90u);
  for (const auto& k : keys) EXPECT_EQ(k.rfind("key-", 0), 0u) << k;
  EXPECT_NEAR(static_cast<double>(deletes) / 5000, 0.2, 0.03);

  const auto start = std::chrono::steady_clock::now();
  const auto paced = cli({"load", "--rate", "200", "--duration", "2", "--quiet"});
  EXPECT_EQ(paced.exit_code, producer::kExitDelivered) << paced.out;
  EXPECT_GE(seconds_since(start), 2);
  EXPECT_NEAR(static_cast<double>(total(end_offsets(brokers_, topic_)) - 5000), 400, 20);
}

}  // namespace
}  // namespace kvstream::testing
