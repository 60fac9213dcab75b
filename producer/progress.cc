#include "producer/progress.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>

namespace kvstream::producer {

namespace {

constexpr int kBarWidth = 20;
constexpr std::chrono::milliseconds kBarInterval{200};

// "m:ss" or "h:mm:ss".
std::string clock_text(double seconds) {
  const auto s = static_cast<int64_t>(std::llround(std::max(0.0, seconds)));
  if (s >= 3600) return fmt::format("{}:{:02}:{:02}", s / 3600, s / 60 % 60, s % 60);
  return fmt::format("{}:{:02}", s / 60, s % 60);
}

double eta_seconds(const ProgressState& s, double elapsed_s) {
  return s.fraction > 0 ? elapsed_s * (1 - s.fraction) / s.fraction : -1;
}

std::string failed_text(const ProgressState& s) {
  return s.failed > 0 ? fmt::format(", {} failed", s.failed) : "";
}

}  // namespace

std::string format_bar(const ProgressState& s, double rate, double elapsed_s) {
  std::string out;
  if (s.fraction >= 0) {
    const double f = std::min(1.0, s.fraction);
    const int filled = static_cast<int>(f * kBarWidth);
    out = fmt::format("[{}{}] {:3}%  ", std::string(filled, '#'),
                      std::string(kBarWidth - filled, '.'), static_cast<int>(f * 100));
  }
  out += fmt::format("{} events  {:.0f} events/s{}", s.events, rate, failed_text(s));
  if (s.fraction > 0) {
    out += "  ETA " + clock_text(eta_seconds(s, elapsed_s));
  } else {
    out += "  " + clock_text(elapsed_s);
  }
  return out;
}

std::string format_line(const ProgressState& s, double rate, double elapsed_s) {
  std::string out = fmt::format("progress: {} events delivered, {:.0f} events/s{}", s.events, rate,
                                failed_text(s));
  if (s.fraction >= 0) out += fmt::format(", {:.1f}%", std::min(1.0, s.fraction) * 100);
  if (s.fraction > 0) out += fmt::format(", ETA {:.0f} s", eta_seconds(s, elapsed_s));
  return out;
}

std::string format_summary(const Summary& s) {
  const double rate = s.seconds > 0 ? static_cast<double>(s.delivered) / s.seconds : 0;
  std::string out = fmt::format(
      "{}: {} events delivered ({:.1f} MiB) in {:.2f} s, {:.0f} events/s; {} undelivered",
      s.command, s.delivered, static_cast<double>(s.bytes) / (1024 * 1024), s.seconds, rate,
      s.undelivered);
  if (!s.extra.empty()) out += "; " + s.extra;
  return out;
}

ProgressReporter::ProgressReporter(std::ostream& out, bool terminal, bool enabled, Sampler sampler,
                                   std::chrono::milliseconds interval)
    : out_(out),
      terminal_(terminal),
      sampler_(std::move(sampler)),
      interval_(terminal ? kBarInterval : interval) {
  if (enabled) thread_ = std::thread([this] { run(); });
}

ProgressReporter::~ProgressReporter() { finish(); }

void ProgressReporter::run() {
  using Clock = std::chrono::steady_clock;
  auto last_time = start_;
  uint64_t last_events = 0;
  std::unique_lock<std::mutex> lock(mu_);
  while (!wake_.wait_for(lock, interval_, [&] { return stop_; })) {
    const ProgressState s = sampler_();
    const auto now = Clock::now();
    const double since_last = std::chrono::duration<double>(now - last_time).count();
    const double rate =
        since_last > 0 ? static_cast<double>(s.events - last_events) / since_last : 0;
    const double elapsed = std::chrono::duration<double>(now - start_).count();
    last_time = now;
    last_events = s.events;
    if (terminal_) {
      out_ << "\r\033[K" << format_bar(s, rate, elapsed) << std::flush;
      bar_shown_ = true;
    } else {
      out_ << format_line(s, rate, elapsed) << std::endl;
    }
  }
}

void ProgressReporter::clear_bar() {
  if (!bar_shown_) return;
  out_ << "\r\033[K";
  bar_shown_ = false;
}

void ProgressReporter::message(const std::string& line) {
  std::lock_guard<std::mutex> lock(mu_);
  clear_bar();
  out_ << line << std::endl;
}

void ProgressReporter::finish() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  wake_.notify_all();
  if (thread_.joinable()) thread_.join();
  std::lock_guard<std::mutex> lock(mu_);
  clear_bar();
  out_ << std::flush;
}

}  // namespace kvstream::producer
