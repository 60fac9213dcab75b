// Progress of the long CLI commands (import, load) on stderr: a bar with
// rate and ETA redrawn in place when stderr is a terminal, plain periodic
// lines otherwise, and the final summary.
//
//   [##########..........]  50%  50000 events  61234 events/s  ETA 0:01
//   progress: 50000 events delivered, 61234 events/s, 50.0%, ETA 1 s
//   import: 99900 events delivered (11.8 MiB) in 1.63 s, 61288 events/s; 0 undelivered; ...
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <ostream>
#include <string>
#include <thread>

namespace kvstream::producer {

struct ProgressState {
  uint64_t events = 0;   // delivered so far
  uint64_t failed = 0;   // undelivered or rejected so far
  double fraction = -1;  // share of the work done, 0..1; negative: unknown
};

// One redraw of the bar (no line ending), `rate` in events/s.
std::string format_bar(const ProgressState& s, double rate, double elapsed_s);
// One periodic line (no line ending).
std::string format_line(const ProgressState& s, double rate, double elapsed_s);

struct Summary {
  std::string command;  // "import", "load"
  uint64_t delivered = 0;
  uint64_t bytes = 0;  // key + value bytes delivered
  uint64_t undelivered = 0;
  double seconds = 0;
  std::string extra;  // appended after "; " when not empty
};
// "import: 99900 events delivered (11.8 MiB) in 1.63 s, 61288 events/s; 0 undelivered"
std::string format_summary(const Summary& s);

// Samples `state` on its own thread and prints it: every 200 ms as a bar on
// a terminal, every `interval` as a line otherwise. Thread-safe: message()
// may be called from any thread; the output stream is used by this class
// alone (under mu_) until finish().
class ProgressReporter {
 public:
  using Sampler = std::function<ProgressState()>;

  // enabled=false prints only messages.
  ProgressReporter(std::ostream& out, bool terminal, bool enabled, Sampler sampler,
                   std::chrono::milliseconds interval = std::chrono::seconds(5));
  ~ProgressReporter();  // calls finish()
  ProgressReporter(const ProgressReporter&) = delete;
  ProgressReporter& operator=(const ProgressReporter&) = delete;

  // Prints a line (e.g. a bad input line) without garbling the bar.
  void message(const std::string& line);
  // Stops the thread and erases the bar. Idempotent.
  void finish();

 private:
  void run();
  void clear_bar();  // requires mu_

  std::ostream& out_;
  const bool terminal_;
  const Sampler sampler_;
  const std::chrono::milliseconds interval_;
  const std::chrono::steady_clock::time_point start_ = std::chrono::steady_clock::now();
  std::mutex mu_;  // guards out_, bar_shown_, stop_
  std::condition_variable wake_;
  bool bar_shown_ = false;
  bool stop_ = false;
  std::thread thread_;
};

}  // namespace kvstream::producer
