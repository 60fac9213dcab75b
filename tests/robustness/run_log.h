// The chaos driver's (chaos.h) log of a run. Internal to the driver.
#pragma once

#include <atomic>
#include <fstream>
#include <mutex>
#include <ostream>
#include <string>

#include "tests/robustness/chaos_util.h"

namespace kvstream::chaos::detail {

// The run's log: progress lines with the time since the chaos phase started
// (negative during setup), to the caller's stream and to chaos.log.
class RunLog {
 public:
  RunLog(std::ostream* out, const std::string& path);
  void set_origin(Clock::time_point t);
  Clock::time_point origin() const;
  double now_s() const;

  void line(const std::string& text);

 private:
  std::mutex mu_;
  std::ostream* out_;
  std::ofstream file_;  // guarded by mu_
  std::atomic<Clock::rep> origin_{0};
};

}  // namespace kvstream::chaos::detail
