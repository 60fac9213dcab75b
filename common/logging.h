// Logging: spdlog's default logger, one line per event, text or JSON, with
// the fields of what a line is about (a record's partition and offset, an
// HTTP request's id, a W3C trace id) set by the code that knows them:
//
//   LogScope scope(LogFields::record(3, 17));
//   spdlog::warn("record refused");
//
//   text: 2026-11-23T18:00:00.000+00:00 warning record refused partition=3 offset=17
//   json: {"time":"...","level":"warning","msg":"record refused","partition":3,"offset":17}
//
// The fields belong to the thread that sets them (spdlog formats a line in
// the thread that logs it); code that goes on in another thread carries
// them along: LogScope scope(captured), with captured = current_log_fields().
// Target kvstream_logging (spdlog only).
#pragma once

#include <spdlog/common.h>

#include <cstdint>
#include <optional>
#include <string>
#include <utility>

namespace kvstream {

struct LogSettings {
  std::string level = "info";   // KVSTREAM_LOG_LEVEL: trace debug info warn error
  std::string format = "text";  // KVSTREAM_LOG_FORMAT: text or json (one object a line)
};

struct LogFields {
  std::optional<int32_t> partition;
  std::optional<int64_t> offset;
  std::string request_id;  // empty: none
  std::string trace_id;    // 32 lower-case hex digits; empty: none

  static LogFields record(int32_t partition, int64_t offset, std::string trace_id = {}) {
    LogFields f;
    f.partition = partition;
    f.offset = offset;
    f.trace_id = std::move(trace_id);
    return f;
  }
  static LogFields of_partition(int32_t partition) {
    LogFields f;
    f.partition = partition;
    return f;
  }
  static LogFields request(std::string request_id, std::string trace_id = {}) {
    LogFields f;
    f.request_id = std::move(request_id);
    f.trace_id = std::move(trace_id);
    return f;
  }

  bool empty() const { return !partition && !offset && request_id.empty() && trace_id.empty(); }
};

// Sets fields of the lines this thread logs while it lives, on top of the
// fields already set (a field given here wins; the others stay); the
// previous fields come back when it ends. Not movable: a scope is a block.
class LogScope {
 public:
  explicit LogScope(const LogFields& fields);
  ~LogScope();
  LogScope(const LogScope&) = delete;
  LogScope& operator=(const LogScope&) = delete;

 private:
  LogFields saved_;
};

// The fields this thread's lines carry now.
const LogFields& current_log_fields();

// Configures the default spdlog logger: one line per event to `sink`
// (stdout when null), in text (fields appended as name=value) or JSON (one
// object a line: time, level, msg, then the fields), as log.format says.
void setup_logging(const LogSettings& log, spdlog::sink_ptr sink = nullptr);

}  // namespace kvstream
