// Structured logs end to end: a replica logging JSON (KVSTREAM_LOG_FORMAT)
// at debug level, a write through its HTTP API with W3C trace context, and a
// record that breaks the contract. What an operator searching the logs sees:
// every line one JSON object, and the lines about that request and those
// records carrying its request id, trace id, partition and offset as fields.
#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>

#include "common/position.h"
#include "schema/codec.h"
#include "tests/support/http_client.h"
#include "tests/support/kafka_util.h"
#include "tests/support/load.h"
#include "tests/support/oracle.h"
#include "tests/support/poison.h"
#include "tests/support/replica.h"
#include "tests/support/test_database.h"
#include "tests/support/test_env.h"
#include "tests/support/wait.h"

namespace kvstream::testing {
namespace {

using namespace std::chrono_literals;
using nlohmann::json;

constexpr char kTraceId[] = "0af7651916cd43dd8448eb211c80319c";
constexpr char kTraceparent[] = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";
constexpr char kPoisonTraceId[] = "4bf92f3577b34da6a3ce929d0e0e4736";
constexpr char kPoisonTraceparent[] = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

std::string starts(const json& line) { return line.value("msg", ""); }

bool begins_with(const std::string& s, const std::string& prefix) {
  return s.compare(0, prefix.size(), prefix) == 0;
}

TEST(StructuredLogs, JsonLinesCarryRequestTraceAndRecordFields) {
  TestDatabase db;
  ReplicaConfig config{
      test_brokers(), unique_name("logs"), unique_name("logs-group"), db.url(), {}};
  create_topic(config.brokers, config.topic, 3);
  create_topic(config.brokers, config.topic + ".dlq", 1);
  run_migrations(config);
  config.env = {{"KVSTREAM_LOG_FORMAT", "json"}, {"KVSTREAM_LOG_LEVEL", "debug"}};
  Replica replica(config, "json");
  ASSERT_TRUE(replica.wait_ready(60s)) << replica.log_tail();

  // A write with trace context, applied before the answer.
  const HttpResult put =
      http_request(replica.port(), "PUT", "/v1/kv/traced%20key?wait=applied", "v1",
                   {{"traceparent", kTraceparent}, {"X-Request-ID", "logs-req-1"}}, 30s);
  ASSERT_EQ(put.status, 201) << put.body;
  const std::optional<Position> at = parse_position(put.header("X-KV-Position"));
  ASSERT_TRUE(at.has_value()) << put.header("X-KV-Position");

  // The event in the topic carries the request's trace context.
  bool carried = false;
  for (const schema::Record& r : read_all(config.brokers, config.topic)) {
    if (r.partition != at->partition || r.offset != at->offset) continue;
    const schema::Header* tp = r.last_header(schema::kTraceparentHeader);
    carried = tp != nullptr && tp->value == std::string(kTraceparent);
  }
  EXPECT_TRUE(carried) << "the record at " << to_string(*at) << " has no traceparent header";

  // A record that breaks the contract, with trace context of its own.
  Oracle oracle;
  EventPublisher publisher(config.brokers, config.topic, oracle);
  PoisonRecord poison = poison_record(7, "poisoned");  // an unknown kv-op
  poison.record.headers.push_back({std::string(schema::kTraceparentHeader), kPoisonTraceparent});
  const Position poison_at = publisher.send_raw(poison.record);
  ASSERT_TRUE(eventually(
      [&] {
        const auto dlq = end_offsets(config.brokers, config.topic + ".dlq");
        return dlq.count(0) && dlq.at(0) == 1;
      },
      60s))
      << replica.log_tail();

  // Stopping flushes the log.
  ASSERT_EQ(replica.terminate(30s), 0) << replica.log_tail();
  std::ifstream in(replica.log_path());
  ASSERT_TRUE(in) << replica.log_path();
  std::vector<json> lines;
  std::string text;
  while (std::getline(in, text)) {
    json line;
    try {
      line = json::parse(text);
    } catch (const std::exception& e) {
      ADD_FAILURE() << "not a JSON line (" << e.what() << "): " << text;
      continue;
    }
    EXPECT_TRUE(line.is_object() && line.contains("time") && line.contains("level") &&
                line.contains("msg"))
        << text;
    lines.push_back(std::move(line));
  }
  ASSERT_GT(lines.size(), 5u);

  auto find = [&](const std::string& msg_prefix, const json& fields) -> std::optional<json> {
    for (const json& line : lines) {
      if (!begins_with(starts(line), msg_prefix)) continue;
      bool all = true;
      for (const auto& [name, value] : fields.items()) {
        all = all && line.contains(name) && line.at(name) == value;
      }
      if (all) return line;
    }
    return std::nullopt;
  };
  auto show = [&](const std::string& msg_prefix) {
    std::string out;
    for (const json& line : lines) {
      if (begins_with(starts(line), msg_prefix)) out += line.dump() + "\n";
    }
    return out.empty() ? "no line starts with \"" + msg_prefix + "\"\n" : out;
  };

  // The request: its access line carries the request id and the trace id.
  EXPECT_TRUE(find("HTTP PUT /v1/kv/traced%20key -> 201",
                   {{"request_id", "logs-req-1"}, {"trace_id", kTraceId}}))
      << show("HTTP PUT");
  // The event: received with its position and the same trace id, then
  // applied in a batch whose last offset is at or past it.
  EXPECT_TRUE(find("received PUT",
                   {{"partition", at->partition}, {"offset", at->offset}, {"trace_id", kTraceId}}))
      << show("received");
  bool batch = false;
  for (const json& line : lines) {
    batch = batch || (begins_with(starts(line), "applied a batch") &&
                      line.value("partition", -1) == at->partition &&
                      line.value("offset", int64_t{-1}) >= at->offset);
  }
  EXPECT_TRUE(batch) << show("applied a batch");
  // The poison record: refused with its position and its trace id.
  EXPECT_TRUE(find("record refused: " + poison.reason, {{"partition", poison_at.partition},
                                                        {"offset", poison_at.offset},
                                                        {"trace_id", kPoisonTraceId}}))
      << show("record refused");
}

}  // namespace
}  // namespace kvstream::testing
