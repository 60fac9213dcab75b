// The replica's start-up checks of its settings: a setting missing or
// malformed stops the start with one clear line and exit code 2, before any
// connection is made.
#include <gtest/gtest.h>

#include <map>
#include <string>

#include "tests/support/process.h"
#include "tests/support/test_env.h"

namespace kvstream::testing {
namespace {

struct BadSetting {
  const char* what;
  std::map<std::string, std::string> env;
  const char* says;  // a part of the line the operator reads
};

// The lines of `out` that are not empty.
std::vector<std::string> lines(const std::string& out) {
  std::vector<std::string> result;
  size_t start = 0;
  while (start < out.size()) {
    const size_t end = out.find('\n', start);
    const std::string line = out.substr(start, end == std::string::npos ? end : end - start);
    if (!line.empty()) result.push_back(line);
    if (end == std::string::npos) break;
    start = end + 1;
  }
  return result;
}

TEST(ConsumerSettings, AMissingOrMalformedSettingStopsTheStartWithOneClearLine) {
  const std::map<std::string, std::string> good{
      {"KVSTREAM_BROKERS", "127.0.0.1:1"},
      {"KVSTREAM_PG_URL", "postgresql://postgres@127.0.0.1:1/none"}};
  const BadSetting cases[] = {
      {"no brokers", {{"KVSTREAM_BROKERS", ""}}, "--brokers"},
      {"no database", {{"KVSTREAM_PG_URL", ""}}, "--pg-url is required"},
      {"a topic name Kafka refuses", {{"KVSTREAM_TOPIC", "kv events"}}, "not ' '"},
      {"a dead-letter topic name Kafka refuses",
       {{"KVSTREAM_DLQ_TOPIC", "kv/dlq"}},
       "is not a valid topic name"},
      {"a default dead-letter topic name too long",
       {{"KVSTREAM_TOPIC", std::string(248, 't')}},
       "(KVSTREAM_DLQ_TOPIC, default <topic>.dlq) is not a valid topic name"},
      {"the dead-letter topic is the topic",
       {{"KVSTREAM_TOPIC", "kv"}, {"KVSTREAM_DLQ_TOPIC", "kv"}},
       "cannot be the topic of the events"},
      {"an HTTP address without a port", {{"KVSTREAM_HTTP_ADDR", "localhost"}}, "host:port"},
      {"a pause factor of 0", {{"KVSTREAM_BATCH_PAUSE_FACTOR", "0"}}, "--batch-pause-factor"},
      {"a pause factor not a number",
       {{"KVSTREAM_BATCH_PAUSE_FACTOR", "two"}},
       "--batch-pause-factor"},
      {"a tombstone page of 0", {{"KVSTREAM_TOMBSTONE_GC_PAGE", "0"}}, "--tombstone-gc-page"},
      {"a tombstone interval of 0",
       {{"KVSTREAM_TOMBSTONE_GC_INTERVAL_S", "0"}},
       "--tombstone-gc-interval-s"},
      {"a breaker that never opens",
       {{"KVSTREAM_HTTP_BREAKER_FAILURES", "0"}},
       "--http-breaker-failures"},
      {"a breaker open for no time",
       {{"KVSTREAM_HTTP_BREAKER_OPEN_MS", "0"}},
       "--http-breaker-open-ms"},
      {"a breaker open for over an hour",
       {{"KVSTREAM_HTTP_BREAKER_OPEN_MS", "3600001"}},
       "--http-breaker-open-ms"},
      {"a position poll of 0 ms",
       {{"KVSTREAM_HTTP_POSITION_POLL_MS", "0"}},
       "--http-position-poll-ms"},
  };
  for (const BadSetting& c : cases) {
    SCOPED_TRACE(c.what);
    std::map<std::string, std::string> env = good;
    for (const auto& [name, value] : c.env) env[name] = value;
    const RunResult r =
        run_command({bin_dir() + "/kvstream-consumer"}, env, std::chrono::seconds(30));
    EXPECT_EQ(r.exit_code, 2) << r.out;
    const std::vector<std::string> said = lines(r.out);
    ASSERT_EQ(said.size(), 1u) << r.out;
    EXPECT_EQ(said[0].rfind("kvstream-consumer: ", 0), 0u) << said[0];
    EXPECT_NE(said[0].find(c.says), std::string::npos) << said[0];
  }
}

TEST(ConsumerSettings, ARebuildSchemaPostgresWouldRefuseStopsTheCommandWithOneClearLine) {
  const std::map<std::string, std::string> env{
      {"KVSTREAM_BROKERS", "127.0.0.1:1"},
      {"KVSTREAM_PG_URL", "postgresql://postgres@127.0.0.1:1/none"}};
  const std::pair<std::string, std::string> cases[] = {
      {"pg_rebuild", "names starting with pg_ are Postgres' own"},
      {"", "a schema name has 1 to 63 bytes"},
      {std::string(64, 's'), "a schema name has 1 to 63 bytes"}};
  for (const auto& [schema, says] : cases) {
    SCOPED_TRACE(schema);
    const RunResult r =
        run_command({bin_dir() + "/kvstream-consumer", "rebuild", "--schema", schema}, env,
                    std::chrono::seconds(30));
    EXPECT_EQ(r.exit_code, 2) << r.out;
    const std::vector<std::string> said = lines(r.out);
    ASSERT_EQ(said.size(), 1u) << r.out;
    EXPECT_EQ(said[0].rfind("kvstream-consumer: --schema: ", 0), 0u) << said[0];
    EXPECT_NE(said[0].find(says), std::string::npos) << said[0];
  }
}

}  // namespace
}  // namespace kvstream::testing
