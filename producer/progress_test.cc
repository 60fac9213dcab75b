#include "producer/progress.h"

#include <gtest/gtest.h>

#include <sstream>

namespace kvstream::producer {
namespace {

ProgressState state(uint64_t events, double fraction, uint64_t failed = 0) {
  ProgressState s;
  s.events = events;
  s.fraction = fraction;
  s.failed = failed;
  return s;
}

TEST(Progress, BarShowsShareRateAndEta) {
  EXPECT_EQ(format_bar(state(50000, 0.5), 61234.4, 1.0),
            "[##########..........]  50%  50000 events  61234 events/s  ETA 0:01");
  EXPECT_EQ(format_bar(state(1, 0.25, 3), 10, 3725),
            "[#####...............]  25%  1 events  10 events/s, 3 failed  ETA 3:06:15");
  EXPECT_EQ(format_bar(state(1000, 1.5), 1, 1),
            "[####################] 100%  1000 events  1 events/s  ETA 0:00");
}

TEST(Progress, BarWithoutATotalShowsElapsedTime) {
  EXPECT_EQ(format_bar(state(7, -1), 7, 61), "7 events  7 events/s  1:01");
}

TEST(Progress, LinesForLogs) {
  EXPECT_EQ(format_line(state(100, 0.1), 50, 2),
            "progress: 100 events delivered, 50 events/s, 10.0%, ETA 18 s");
  EXPECT_EQ(format_line(state(100, -1, 2), 50, 2),
            "progress: 100 events delivered, 50 events/s, 2 failed");
}

TEST(Progress, SummaryHasEventsBytesRateAndFailures) {
  Summary s;
  s.command = "import";
  s.delivered = 99900;
  s.bytes = 3 * 1024 * 1024;
  s.undelivered = 2;
  s.seconds = 2;
  s.extra = "100 bad line(s) skipped";
  EXPECT_EQ(format_summary(s),
            "import: 99900 events delivered (3.0 MiB) in 2.00 s, 49950 events/s; 2 undelivered; "
            "100 bad line(s) skipped");
}

TEST(ProgressReporter, PrintsPeriodicLinesAndMessagesWhenNotATerminal) {
  std::ostringstream out;
  {
    ProgressReporter reporter(
        out, false, true, [] { return state(5, -1); }, std::chrono::milliseconds(10));
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    reporter.message("line 3: bad");
  }
  const std::string text = out.str();
  EXPECT_NE(text.find("progress: 5 events delivered"), std::string::npos) << text;
  EXPECT_NE(text.find("line 3: bad\n"), std::string::npos) << text;
  EXPECT_EQ(text.find('\r'), std::string::npos) << text;
}

TEST(ProgressReporter, DisabledPrintsOnlyMessages) {
  std::ostringstream out;
  {
    ProgressReporter reporter(
        out, false, false, [] { return state(5, -1); }, std::chrono::milliseconds(1));
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    reporter.message("hello");
  }
  EXPECT_EQ(out.str(), "hello\n");
}

TEST(ProgressReporter, OnATerminalRedrawsInPlaceAndErasesTheBarAtTheEnd) {
  std::ostringstream out;
  {
    ProgressReporter reporter(out, true, true, [] { return state(5, 0.5); });
    std::this_thread::sleep_for(std::chrono::milliseconds(450));
  }
  const std::string text = out.str();
  EXPECT_NE(text.find("\r\033[K[##########"), std::string::npos) << text;
  EXPECT_EQ(text.substr(text.size() - 4), "\r\033[K");
  EXPECT_EQ(text.find('\n'), std::string::npos);
}

}  // namespace
}  // namespace kvstream::producer
