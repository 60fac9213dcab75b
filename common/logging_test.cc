#include "common/logging.h"

#include <gtest/gtest.h>
#include <spdlog/sinks/ostream_sink.h>
#include <spdlog/spdlog.h>

#include <nlohmann/json.hpp>
#include <sstream>
#include <thread>

namespace kvstream {
namespace {

using nlohmann::json;

// Logs through setup_logging into a string, one line at a time.
class LogLines {
 public:
  explicit LogLines(const std::string& format) : previous_(spdlog::default_logger()) {
    LogSettings settings;
    settings.format = format;
    settings.level = "debug";
    setup_logging(settings, std::make_shared<spdlog::sinks::ostream_sink_mt>(out_));
  }
  ~LogLines() { spdlog::set_default_logger(previous_); }

  // The lines logged since the last call, without their newlines.
  std::vector<std::string> take() {
    std::vector<std::string> lines;
    std::string line;
    std::istringstream in(out_.str());
    while (std::getline(in, line)) lines.push_back(line);
    out_.str("");
    return lines;
  }
  std::string one() {
    auto lines = take();
    EXPECT_EQ(lines.size(), 1u);
    return lines.empty() ? std::string() : lines.front();
  }

 private:
  std::shared_ptr<spdlog::logger> previous_;
  std::ostringstream out_;
};

const char* const kTrace = "4bf92f3577b34da6a3ce929d0e0e4736";

TEST(Logging, JsonLinesAreObjectsWithTheMessageEscaped) {
  LogLines log("json");
  spdlog::warn("a \"quoted\" word,\na second line\tand a \\ \x01");
  const json line = json::parse(log.one());
  EXPECT_EQ(line.at("level"), "warning");
  EXPECT_EQ(line.at("msg"), "a \"quoted\" word,\na second line\tand a \\ \x01");
  EXPECT_TRUE(line.at("time").is_string());
  EXPECT_FALSE(line.contains("partition"));
  EXPECT_FALSE(line.contains("request_id"));
}

TEST(Logging, JsonLinesCarryTheFieldsOfTheScope) {
  LogLines log("json");
  {
    LogFields fields = LogFields::record(3, 17, kTrace);
    fields.request_id = "req-\"1\"";
    LogScope scope(fields);
    spdlog::info("record refused");
  }
  const json line = json::parse(log.one());
  EXPECT_EQ(line.at("msg"), "record refused");
  EXPECT_EQ(line.at("partition"), 3);
  EXPECT_EQ(line.at("offset"), 17);
  EXPECT_EQ(line.at("request_id"), "req-\"1\"");
  EXPECT_EQ(line.at("trace_id"), kTrace);
  spdlog::info("after the scope");
  EXPECT_FALSE(json::parse(log.one()).contains("partition"));
}

TEST(Logging, TextLinesEndWithTheFieldsAsNameValueWords) {
  LogLines log("text");
  spdlog::info("no fields");
  const std::string plain = log.one();
  EXPECT_NE(plain.find(" info no fields"), std::string::npos) << plain;
  EXPECT_EQ(plain.find('='), std::string::npos) << plain;
  {
    LogFields fields = LogFields::record(0, 42);
    fields.request_id = "abc";
    LogScope scope(fields);
    spdlog::warn("fenced");
  }
  const std::string line = log.one();
  const std::string tail = " fenced partition=0 offset=42 request_id=abc";
  ASSERT_GE(line.size(), tail.size()) << line;
  EXPECT_EQ(line.substr(line.size() - tail.size()), tail) << line;
}

TEST(Logging, InnerScopesAddToOuterOnesAndRestoreThem) {
  LogLines log("json");
  LogScope request(LogFields::request("r1", kTrace));
  {
    LogScope record(LogFields::record(5, 9));
    EXPECT_EQ(current_log_fields().request_id, "r1");
    spdlog::info("inner");
    const json inner = json::parse(log.one());
    EXPECT_EQ(inner.at("request_id"), "r1");
    EXPECT_EQ(inner.at("trace_id"), kTrace);
    EXPECT_EQ(inner.at("partition"), 5);
    {
      LogScope other(LogFields::of_partition(6));
      EXPECT_EQ(current_log_fields().partition, 6);
      EXPECT_EQ(current_log_fields().offset, 9);
    }
    EXPECT_EQ(current_log_fields().partition, 5);
  }
  spdlog::info("outer");
  const json outer = json::parse(log.one());
  EXPECT_EQ(outer.at("request_id"), "r1");
  EXPECT_FALSE(outer.contains("partition"));
  EXPECT_FALSE(outer.contains("offset"));
}

TEST(Logging, FieldsBelongToTheThreadThatSetsThem) {
  LogLines log("json");
  LogFields fields = LogFields::request("mine");
  fields.partition = 1;
  LogScope scope(fields);
  std::thread([] { spdlog::info("elsewhere"); }).join();
  const json elsewhere = json::parse(log.one());
  EXPECT_FALSE(elsewhere.contains("partition"));
  EXPECT_FALSE(elsewhere.contains("request_id"));

  // Carried along explicitly, as the HTTP API does into its database pool.
  const LogFields captured = current_log_fields();
  std::thread([captured] {
    LogScope carried(captured);
    spdlog::info("carried");
  }).join();
  EXPECT_EQ(json::parse(log.one()).at("request_id"), "mine");
}

}  // namespace
}  // namespace kvstream
