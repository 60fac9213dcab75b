#include "stop_watchdog.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cstdlib>

namespace kvstream {

namespace {

double seconds(StopWatchdog::Clock::duration d) {
  return std::chrono::duration_cast<std::chrono::duration<double>>(d).count();
}

}  // namespace

StopWatchdog::StopWatchdog(const std::atomic<const char*>& step, Clock::duration limit,
                           Clock::duration report_every)
    : step_(step), limit_(limit), report_every_(report_every), thread_([this] { run(); }) {}

StopWatchdog::~StopWatchdog() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    done_ = true;
  }
  cv_.notify_all();
  thread_.join();
}

void StopWatchdog::run() {
  const auto start = Clock::now();
  const auto end = start + limit_;
  std::unique_lock<std::mutex> lock(mu_);
  while (!done_) {
    const auto now = Clock::now();
    if (now >= end) {
      spdlog::error(
          "the stop did not end within {:g} s (waiting for {}); exiting with code {}: what was "
          "applied is in Postgres with its positions, and the group drops this member after its "
          "session timeout",
          seconds(limit_), step_.load(), kExitStopOverran);
      spdlog::default_logger()->flush();
      std::_Exit(kExitStopOverran);
    }
    if (cv_.wait_until(lock, std::min(now + report_every_, end), [this] { return done_; })) break;
    if (Clock::now() < end) {
      spdlog::warn("still stopping after {:.0f} s: waiting for {}", seconds(Clock::now() - start),
                   step_.load());
    }
  }
}

}  // namespace kvstream
