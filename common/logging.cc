#include "common/logging.h"

#include <spdlog/pattern_formatter.h>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

#include <cstdio>
#include <memory>
#include <utility>

namespace kvstream {

namespace {

thread_local LogFields t_fields;

// `s` escaped as the inside of a JSON string.
void append_json_escaped(std::string_view s, spdlog::memory_buf_t& dest) {
  for (char c : s) {
    switch (c) {
      case '"':
        dest.append(std::string_view("\\\""));
        break;
      case '\\':
        dest.append(std::string_view("\\\\"));
        break;
      case '\n':
        dest.append(std::string_view("\\n"));
        break;
      case '\t':
        dest.append(std::string_view("\\t"));
        break;
      case '\r':
        dest.append(std::string_view("\\r"));
        break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) {
          char buf[8];
          std::snprintf(buf, sizeof buf, "\\u%04x", c);
          dest.append(std::string_view(buf));
        } else {
          dest.push_back(c);
        }
    }
  }
}

void append(std::string_view s, spdlog::memory_buf_t& dest) { dest.append(s); }

template <typename T>
void append_number(T n, spdlog::memory_buf_t& dest) {
  fmt::format_to(std::back_inserter(dest), "{}", n);
}

// %*: the message as the inside of a JSON string.
class JsonMessage : public spdlog::custom_flag_formatter {
 public:
  void format(const spdlog::details::log_msg& msg, const std::tm&,
              spdlog::memory_buf_t& dest) override {
    append_json_escaped(std::string_view(msg.payload.data(), msg.payload.size()), dest);
  }
  std::unique_ptr<custom_flag_formatter> clone() const override {
    return std::make_unique<JsonMessage>();
  }
};

// %&: this thread's fields, as `,"name":value` members (JSON) or as
// ` name=value` words (text).
class Fields : public spdlog::custom_flag_formatter {
 public:
  explicit Fields(bool json) : json_(json) {}

  void format(const spdlog::details::log_msg&, const std::tm&,
              spdlog::memory_buf_t& dest) override {
    const LogFields& f = t_fields;
    if (f.empty()) return;
    if (f.partition) {
      name("partition", dest);
      append_number(*f.partition, dest);
    }
    if (f.offset) {
      name("offset", dest);
      append_number(*f.offset, dest);
    }
    if (!f.request_id.empty()) text("request_id", f.request_id, dest);
    if (!f.trace_id.empty()) text("trace_id", f.trace_id, dest);
  }
  std::unique_ptr<custom_flag_formatter> clone() const override {
    return std::make_unique<Fields>(json_);
  }

 private:
  void name(std::string_view n, spdlog::memory_buf_t& dest) const {
    append(json_ ? std::string_view(",\"") : std::string_view(" "), dest);
    append(n, dest);
    append(json_ ? std::string_view("\":") : std::string_view("="), dest);
  }
  // Request ids are printable ASCII without spaces (the HTTP API refuses
  // others), so text needs no quoting.
  void text(std::string_view n, std::string_view value, spdlog::memory_buf_t& dest) const {
    name(n, dest);
    if (!json_) return append(value, dest);
    dest.push_back('"');
    append_json_escaped(value, dest);
    dest.push_back('"');
  }

  const bool json_;
};

}  // namespace

LogScope::LogScope(const LogFields& fields) : saved_(t_fields) {
  LogFields& now = t_fields;
  if (fields.partition) now.partition = fields.partition;
  if (fields.offset) now.offset = fields.offset;
  if (!fields.request_id.empty()) now.request_id = fields.request_id;
  if (!fields.trace_id.empty()) now.trace_id = fields.trace_id;
}

LogScope::~LogScope() { t_fields = std::move(saved_); }

const LogFields& current_log_fields() { return t_fields; }

void setup_logging(const LogSettings& log, spdlog::sink_ptr sink) {
  if (!sink) sink = std::make_shared<spdlog::sinks::stdout_sink_mt>();
  auto logger = std::make_shared<spdlog::logger>("kvstream", std::move(sink));
  const bool json = log.format == "json";
  auto formatter = std::make_unique<spdlog::pattern_formatter>();
  formatter->add_flag<JsonMessage>('*').add_flag<Fields>('&', json);
  formatter->set_pattern(json ? R"({"time":"%Y-%m-%dT%H:%M:%S.%e%z","level":"%l","msg":"%*"%&})"
                              : "%Y-%m-%dT%H:%M:%S.%e%z %^%l%$ %v%&");
  logger->set_formatter(std::move(formatter));
  logger->set_level(spdlog::level::from_str(log.level));
  logger->flush_on(spdlog::level::info);
  spdlog::set_default_logger(logger);
}

}  // namespace kvstream
