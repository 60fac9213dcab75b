#include "tests/robustness/apply_latency.h"

#include <algorithm>
#include <cmath>
#include <exception>
#include <memory>
#include <pqxx/pqxx>
#include <sstream>

#include "tests/robustness/chaos_util.h"

namespace kvstream::chaos {

using detail::fixed;
using detail::seconds;

void AppliedSamples::add(Clock::time_point t, const std::map<int32_t, int64_t>& next_offsets) {
  for (const auto& [partition, next] : next_offsets) {
    auto& seen = seen_[partition];
    if (seen.empty() || next > seen.back().first) seen.emplace_back(next, t);
  }
}

std::optional<AppliedSamples::Clock::time_point> AppliedSamples::applied_at(int32_t partition,
                                                                            int64_t offset) const {
  auto it = seen_.find(partition);
  if (it == seen_.end()) return std::nullopt;
  const auto& seen = it->second;
  // The first position past the offset.
  auto first = std::upper_bound(seen.begin(), seen.end(), offset,
                                [](int64_t o, const auto& s) { return o < s.first; });
  if (first == seen.end()) return std::nullopt;
  return first->second;
}

namespace {

LatencyFigures figures_of(std::vector<double> v) {
  LatencyFigures f;
  f.events = v.size();
  if (v.empty()) return f;
  std::sort(v.begin(), v.end());
  const auto at = [&](double q) {
    const size_t i = static_cast<size_t>(std::ceil(q * static_cast<double>(v.size())));
    return v[std::min(v.size() - 1, i == 0 ? 0 : i - 1)];
  };
  f.p50_s = at(0.50);
  f.p99_s = at(0.99);
  f.max_s = v.back();
  return f;
}

std::string line(const LatencyFigures& f) {
  if (f.events == 0) return "no events";
  return "p50 / p99 / max " + fixed(f.p50_s, 3) + " / " + fixed(f.p99_s, 3) + " / " +
         fixed(f.max_s, 1) + " s over " + std::to_string(f.events) + " events";
}

}  // namespace

ApplyLatency summarize_latency(const std::vector<testing::PublishedEvent>& events,
                               const AppliedSamples& samples, const std::vector<Episode>& episodes,
                               AppliedSamples::Clock::time_point chaos_start, double recovery_s,
                               double interval_s) {
  ApplyLatency out;
  out.interval_s = interval_s;
  out.recovery_s = recovery_s;
  std::vector<double> during, between;
  std::map<FaultKind, std::vector<double>> by_kind;
  for (const testing::PublishedEvent& e : events) {
    if (e.position.offset < 0 || e.sent == AppliedSamples::Clock::time_point{}) continue;
    const auto applied = samples.applied_at(e.position.partition, e.position.offset);
    if (!applied) {
      ++out.unseen;
      continue;
    }
    const double latency = std::max(0.0, seconds(*applied - e.sent));
    const double sent_s = seconds(e.sent - chaos_start);
    bool on = false;
    std::map<FaultKind, bool> kinds;
    for (const Episode& ep : episodes) {
      if (sent_s >= ep.start && sent_s <= ep.end + recovery_s) {
        on = true;
        kinds[ep.kind] = true;
      }
    }
    (on ? during : between).push_back(latency);
    for (const auto& [kind, yes] : kinds) by_kind[kind].push_back(latency);
  }
  out.during = figures_of(std::move(during));
  out.between = figures_of(std::move(between));
  for (auto& [kind, v] : by_kind) out.by_kind[kind] = figures_of(std::move(v));
  return out;
}

std::string describe(const ApplyLatency& latency) {
  std::ostringstream out;
  out << "apply latency (send to applied, sampled every " << fixed(latency.interval_s * 1000, 0)
      << " ms): between faults " << line(latency.between) << "; during faults (an episode and "
      << fixed(latency.recovery_s, 0) << " s after it) " << line(latency.during) << "\n";
  for (const auto& [kind, f] : latency.by_kind) {
    out << "  during " << to_string(kind) << ": " << line(f) << "\n";
  }
  if (latency.unseen > 0) {
    out << "  " << latency.unseen << " acknowledged events never seen applied by the sampler\n";
  }
  return out.str();
}

AppliedSampler::AppliedSampler(std::string db_url, std::string topic,
                               std::chrono::milliseconds interval)
    : db_url_(std::move(db_url)), topic_(std::move(topic)), interval_(interval) {
  thread_ = std::thread([this] { loop(); });
}

AppliedSampler::~AppliedSampler() { stop(); }

void AppliedSampler::stop() {
  stop_.store(true);
  if (thread_.joinable()) thread_.join();
}

void AppliedSampler::loop() {
  const std::string url =
      db_url_ + (db_url_.find('?') == std::string::npos ? "?" : "&") + "connect_timeout=2";
  std::unique_ptr<pqxx::connection> conn;
  auto next = AppliedSamples::Clock::now();
  while (!stop_.load()) {
    try {
      if (!conn) conn = std::make_unique<pqxx::connection>(url);
      pqxx::nontransaction tx(*conn);
      std::map<int32_t, int64_t> positions;
      for (const auto& r : tx.exec_params(
               "SELECT partition, next_offset FROM kv_offsets WHERE topic = $1", topic_)) {
        positions[r[0].as<int32_t>()] = r[1].as<int64_t>();
      }
      samples_.add(AppliedSamples::Clock::now(), positions);
    } catch (const std::exception&) {
      conn.reset();  // Postgres down or the session terminated: connect again
    }
    next += interval_;
    const auto now = AppliedSamples::Clock::now();
    if (next < now) next = now;
    std::this_thread::sleep_until(next);
  }
}

}  // namespace kvstream::chaos
