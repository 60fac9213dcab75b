// The bound of a replica's stop.
//
// While a stop lasts, a StopWatchdog says every 10 s which step it waits
// for, so that a replica that does not stop names the step in its log. Past
// its limit it ends the process itself (std::_Exit with kExitStopOverran),
// after one line naming the step: a step can wait inside a library with no
// time limit of its own (librdkafka 2.0.2's unassign, while the broker is
// down, waits for an answer that may never come). Such an exit is as safe as
// kill -9, which the orchestrator would send a little later: what was
// applied is committed in Postgres with its positions, the partitions' next
// owner resumes from them, and the group drops this member after its session
// timeout.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <thread>

namespace kvstream {

// The exit code of a stop that overran its limit.
constexpr int kExitStopOverran = 3;

class StopWatchdog {
 public:
  using Clock = std::chrono::steady_clock;

  // `step` names what the stop waits for; it must outlive the watchdog.
  StopWatchdog(const std::atomic<const char*>& step, Clock::duration limit,
               Clock::duration report_every = std::chrono::seconds(10));
  // The stop ended in time.
  ~StopWatchdog();
  StopWatchdog(const StopWatchdog&) = delete;
  StopWatchdog& operator=(const StopWatchdog&) = delete;

 private:
  void run();

  const std::atomic<const char*>& step_;
  const Clock::duration limit_;
  const Clock::duration report_every_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool done_ = false;
  std::thread thread_;
};

}  // namespace kvstream
