#include "tests/robustness/run_log.h"

#include <cstdio>

namespace kvstream::chaos::detail {

RunLog::RunLog(std::ostream* out, const std::string& path) : out_(out), file_(path, std::ios::app) {
  origin_.store(Clock::now().time_since_epoch().count());
}

void RunLog::set_origin(Clock::time_point t) { origin_.store(t.time_since_epoch().count()); }

Clock::time_point RunLog::origin() const {
  return Clock::time_point(Clock::duration(origin_.load()));
}

double RunLog::now_s() const { return seconds(Clock::now() - origin()); }

void RunLog::line(const std::string& text) {
  char head[32];
  std::snprintf(head, sizeof(head), "[%8.2fs] ", now_s());
  std::lock_guard<std::mutex> lock(mu_);
  if (out_ != nullptr) *out_ << head << text << std::endl;
  file_ << head << text << std::endl;
}

}  // namespace kvstream::chaos::detail
