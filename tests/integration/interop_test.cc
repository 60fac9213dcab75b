// The record contract (schema/README.md) against clients we did not write:
// records published by kcat (librdkafka) and by Kafka's own Java console
// producer, read back from the real broker, decode exactly as the contract
// says, invalid ones with the right reason; and both clients, set up as the
// README says, put every key on the partition our producer picks.
#include <gtest/gtest.h>

#include <set>

#include "producer/producer.h"
#include "schema/codec.h"
#include "tests/support/kafka_util.h"
#include "tests/support/process.h"
#include "tests/support/test_env.h"

namespace kvstream::testing {
namespace {

using namespace std::chrono_literals;

const std::string kTraceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

std::string printable(const std::string& bytes) {
  if (bytes.size() > 40) return "<" + std::to_string(bytes.size()) + " bytes>";
  std::string out;
  for (unsigned char c : bytes) {
    if (c >= 0x20 && c < 0x7f) {
      out += static_cast<char>(c);
    } else {
      char hex[5];
      std::snprintf(hex, sizeof hex, "\\x%02x", c);
      out += hex;
    }
  }
  return out;
}

// What kvstream makes of a record, as one line: "put KEY = VALUE [ct] [tp]",
// "delete KEY", or "refused REASON".
std::string outcome(const schema::Record& record) {
  const schema::DecodeResult result = schema::decode(record);
  if (const auto* e = std::get_if<schema::ValidationError>(&result)) {
    return std::string("refused ") + schema::reason_code(e->reason);
  }
  const schema::Event& ev = std::get<schema::Event>(result);
  std::string out = std::string(schema::to_string(ev.op)) + " " + printable(ev.key);
  if (ev.op == schema::Op::kPut) out += " = " + printable(ev.value);
  if (!ev.content_type.empty()) out += " content-type=" + ev.content_type;
  if (!ev.traceparent.empty()) out += " traceparent=" + ev.traceparent;
  return out;
}

std::vector<std::string> outcomes(const std::string& brokers, const std::string& topic) {
  std::vector<std::string> out;
  for (const schema::Record& r : read_all(brokers, topic)) out.push_back(outcome(r));
  return out;
}

// kcat as a producer: one record per line of `lines`, key and value split at
// the first tab.
void kcat(const std::string& brokers, const std::string& topic, const std::string& lines,
          const std::vector<std::string>& options = {}) {
  std::vector<std::string> argv{"/usr/bin/kcat", "-b", brokers, "-t", topic, "-P", "-K", "\t"};
  argv.insert(argv.end(), options.begin(), options.end());
  const RunResult r = run_command(argv, {}, 60s, lines);
  ASSERT_EQ(r.exit_code, 0) << r.out;
}

// Kafka's console producer (the Java client), keys parsed at the first tab.
void java_console_producer(const std::string& brokers, const std::string& topic,
                           const std::string& lines, const std::vector<std::string>& options = {}) {
  std::vector<std::string> argv{source_dir() + "/tests/env/kafka-env",
                                "java",
                                "org.apache.kafka.tools.ConsoleProducer",
                                "--bootstrap-server",
                                brokers,
                                "--topic",
                                topic,
                                "--reader-property",
                                "parse.key=true",
                                "--reader-property",
                                "key.separator=\t",
                                "--reader-property",
                                "null.marker=<NULL>"};
  argv.insert(argv.end(), options.begin(), options.end());
  const RunResult r = run_command(argv, {}, 120s, lines);
  ASSERT_EQ(r.exit_code, 0) << r.out;
}

TEST(Interop, KcatRecordsDecodeAsTheContractSays) {
  const std::string brokers = test_brokers();
  const std::string topic = unique_name("kcat");
  create_topic(brokers, topic, 1);
  const std::string nul_key("a\0b\tv\n", 6);
  // -Z: an empty value (or key) is sent as null.
  kcat(brokers, topic,
       "user:1\t{\"name\":\"Ada\"}\n"
       "user:2\t\n"
       "caf\xc3\xa9\tv\n"
       "\tv\n"
       "no-key-separator\n" +
           std::string(1025, 'k') + "\tv\n" + "\xff\xfe\tv\n" + nul_key,
       {"-Z"});
  kcat(brokers, topic, "user:3\t\n\tv\n");  // without -Z, empty is empty
  kcat(brokers, topic, "order:9\t{}\n",
       {"-H", "content-type=application/json", "-H", "traceparent=" + kTraceparent});
  kcat(brokers, topic, "user:4\tignored\n", {"-H", "kv-op=delete"});
  kcat(brokers, topic, "user:5\t\n", {"-Z", "-H", "kv-op=put"});
  kcat(brokers, topic, "user:6\tv\n", {"-H", "kv-op=delete", "-H", "kv-op=put"});
  kcat(brokers, topic, "user:7\tv\n", {"-H", "kv-op=upsert"});
  kcat(brokers, topic, "user:8\tv\n", {"-H", "traceparent=00-abc"});
  kcat(brokers, topic, "user:9\tv\n", {"-H", "content-type=text/plain\x01"});
  kcat(brokers, topic, "user:10\tv\n", {"-H", "x-big=" + std::string(4097, 'h')});

  EXPECT_EQ(outcomes(brokers, topic), (std::vector<std::string>{
                                          "put user:1 = {\"name\":\"Ada\"}",
                                          "delete user:2",
                                          "put caf\\xc3\\xa9 = v",
                                          "refused missing_key",
                                          "refused missing_key",
                                          "refused key_too_long",
                                          "refused key_not_utf8",
                                          "refused key_contains_nul",
                                          "put user:3 = ",
                                          "refused empty_key",
                                          "put order:9 = {} content-type=application/json "
                                          "traceparent=" +
                                              kTraceparent,
                                          "delete user:4",
                                          "refused put_without_value",
                                          "put user:6 = v",
                                          "refused unknown_op",
                                          "refused malformed_traceparent",
                                          "refused malformed_content_type",
                                          "refused header_too_large",
                                      }));
}

TEST(Interop, JavaConsoleProducerRecordsDecodeAsTheContractSays) {
  const std::string brokers = test_brokers();
  const std::string topic = unique_name("java");
  create_topic(brokers, topic, 1);
  java_console_producer(brokers, topic,
                        "user:1\t{\"name\":\"Ada\"}\n"
                        "user:2\t<NULL>\n"
                        "user:3\t\n"
                        "caf\xc3\xa9\tv\n"
                        "\tv\n"
                        "<NULL>\tv\n" +
                            std::string("a\0b\tv\n", 6) + std::string(1025, 'k') + "\tv\n");
  // With parse.headers, each line starts with name:value pairs and a tab.
  java_console_producer(brokers, topic,
                        "content-type:application/json,traceparent:" + kTraceparent +
                            "\torder:9\t{}\n"
                            "kv-op:delete\tuser:4\tignored\n"
                            "kv-op:put\tuser:5\t<NULL>\n"
                            "kv-op:delete,kv-op:put\tuser:6\tv\n"
                            "kv-op:<NULL>\tuser:7\tv\n"
                            "traceparent:00-abc\tuser:8\tv\n"
                            "content-type:text/plain\x01\tuser:9\tv\n"
                            "x-big:" +
                            std::string(4097, 'h') + "\tuser:10\tv\n",
                        {"--reader-property", "parse.headers=true"});

  EXPECT_EQ(outcomes(brokers, topic), (std::vector<std::string>{
                                          "put user:1 = {\"name\":\"Ada\"}",
                                          "delete user:2",
                                          "put user:3 = ",
                                          "put caf\\xc3\\xa9 = v",
                                          "refused empty_key",
                                          "refused missing_key",
                                          "refused key_contains_nul",
                                          "refused key_too_long",
                                          "put order:9 = {} content-type=application/json "
                                          "traceparent=" +
                                              kTraceparent,
                                          "delete user:4",
                                          "refused put_without_value",
                                          "put user:6 = v",
                                          "refused unknown_op",
                                          "refused malformed_traceparent",
                                          "refused malformed_content_type",
                                          "refused header_too_large",
                                      }));
}

TEST(Interop, AOneMebibyteValueNeedsTheSettingsOfTheReadme) {
  // Kafka's defaults (broker message.max.bytes, Java max.request.size,
  // librdkafka message.max.bytes) stop short of a 1 MiB value plus its key;
  // with the settings the README gives, the limit is kvstream's own.
  const std::string brokers = test_brokers();
  const std::string topic = unique_name("big");
  const RunResult created = run_command(
      {source_dir() + "/tests/env/kafka-env", "java", "org.apache.kafka.tools.TopicCommand",
       "--bootstrap-server", brokers, "--create", "--topic", topic, "--partitions", "1",
       "--replication-factor", "1", "--config", "max.message.bytes=2097152"},
      {}, 120s);
  ASSERT_EQ(created.exit_code, 0) << created.out;
  const std::string lines = "kcat\t" + std::string(1024 * 1024, 'v') + "\nkcat+1\t" +
                            std::string(1024 * 1024 + 1, 'v') + "\n";
  kcat(brokers, topic, lines, {"-X", "message.max.bytes=2097152"});
  java_console_producer(brokers, topic,
                        "java\t" + std::string(1024 * 1024, 'v') + "\njava+1\t" +
                            std::string(1024 * 1024 + 1, 'v') + "\n",
                        {"--command-property", "max.request.size=2097152"});
  EXPECT_EQ(outcomes(brokers, topic), (std::vector<std::string>{
                                          "put kcat = <1048576 bytes>",
                                          "refused value_too_large",
                                          "put java = <1048576 bytes>",
                                          "refused value_too_large",
                                      }));
}

TEST(Interop, KcatAndJavaPutEveryKeyOnThePartitionOurProducerPicks) {
  const std::string brokers = test_brokers();
  const std::string topic = unique_name("placement");
  create_topic(brokers, topic, 6);
  std::vector<std::string> keys{"caf\xc3\xa9", "\xe6\x97\xa5\xe6\x9c\xac", "a", "a/b c",
                                std::string(1024, 'k')};
  for (int i = 0; i < 30; ++i) keys.push_back("user:" + std::to_string(i));

  std::map<std::string, int32_t> ours;
  {
    producer::ProducerSettings settings;
    settings.kafka.brokers = brokers;
    settings.kafka.topic = topic;
    producer::Producer producer(settings);
    for (const auto& key : keys) ours[key] = producer.put_sync(key, "ours").partition;
  }
  auto lines = [&](const std::string& value) {
    std::string out;
    for (const auto& key : keys) out += key + "\t" + value + "\n";
    return out;
  };
  kcat(brokers, topic, lines("kcat"), {"-X", "partitioner=murmur2_random"});
  kcat(brokers, topic, lines("kcat-default"));
  java_console_producer(brokers, topic, lines("java"));

  // value (which client) -> key -> partition
  std::map<std::string, std::map<std::string, int32_t>> placed;
  for (const schema::Record& r : read_all(brokers, topic)) placed[*r.value][*r.key] = r.partition;
  EXPECT_EQ(placed["ours"], ours);
  EXPECT_EQ(placed["kcat"], ours);
  EXPECT_EQ(placed["java"], ours);
  // Without the setting, librdkafka's default (CRC32) partitioner differs.
  EXPECT_NE(placed["kcat-default"], ours);
  std::set<int32_t> used;
  for (const auto& [key, partition] : ours) used.insert(partition);
  EXPECT_GT(used.size(), 3u) << "the keys should spread over the partitions";
}

}  // namespace
}  // namespace kvstream::testing
