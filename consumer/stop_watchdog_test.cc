#include "stop_watchdog.h"

#include <gtest/gtest.h>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

#include <thread>

namespace kvstream {
namespace {

using namespace std::chrono_literals;

TEST(StopWatchdogDeathTest, AStopThatOverrunsItsLimitExitsNamingTheStep) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  std::atomic<const char*> step{"the Kafka consumer's close"};
  EXPECT_EXIT(
      {
        // The replica logs to stdout; the death test reads stderr.
        spdlog::set_default_logger(std::make_shared<spdlog::logger>(
            "stop", std::make_shared<spdlog::sinks::stderr_sink_mt>()));
        StopWatchdog watchdog(step, 300ms, 100ms);
        std::this_thread::sleep_for(30s);  // a step that does not return
      },
      ::testing::ExitedWithCode(kExitStopOverran),
      "the stop did not end within 0.3 s \\(waiting for the Kafka consumer's close\\)");
}

TEST(StopWatchdog, AStopThatEndsInTimeGoesOn) {
  std::atomic<const char*> step{"the apply workers"};
  const auto start = StopWatchdog::Clock::now();
  {
    StopWatchdog watchdog(step, 10s, 50ms);
    std::this_thread::sleep_for(120ms);  // reports, does not exit
  }
  // The destructor does not wait out the limit.
  EXPECT_LT(StopWatchdog::Clock::now() - start, 5s);
}

}  // namespace
}  // namespace kvstream
