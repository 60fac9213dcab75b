#include "bench/progress_probe.h"

#include <algorithm>
#include <cmath>
#include <iostream>

namespace kvstream::bench {

int64_t steady_us() {
  return std::chrono::duration_cast<std::chrono::microseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

double percentile(const std::vector<double>& sorted, double q) {
  if (sorted.empty()) return 0;
  const auto rank = static_cast<size_t>(std::ceil(q * static_cast<double>(sorted.size())));
  return sorted[std::min(sorted.size(), std::max<size_t>(rank, 1)) - 1];
}

ProgressProbe::ProgressProbe(std::string pg_url, std::string sql, std::string param,
                             int32_t partitions, std::chrono::milliseconds interval)
    : url_(std::move(pg_url)),
      sql_(std::move(sql)),
      param_(std::move(param)),
      interval_(interval),
      advances_(static_cast<size_t>(partitions)),
      latest_(static_cast<size_t>(partitions)) {
  for (auto& l : latest_) l.store(-1);
}

ProgressProbe::~ProgressProbe() { stop(); }

void ProgressProbe::start() {
  conn_ = std::make_unique<pqxx::connection>(url_);
  conn_->prepare("progress", sql_);
  thread_ = std::thread([this] { run(); });
}

void ProgressProbe::stop() {
  stopping_.store(true);
  if (thread_.joinable()) thread_.join();
}

int64_t ProgressProbe::latest(int32_t partition) const {
  return latest_[static_cast<size_t>(partition)].load();
}

int64_t ProgressProbe::reached_at(int32_t partition, int64_t target) const {
  const auto& a = advances_[static_cast<size_t>(partition)];
  auto it = std::lower_bound(a.begin(), a.end(), target,
                             [](const Advance& adv, int64_t t) { return adv.progress < t; });
  return it == a.end() ? -1 : it->seen_us;
}

void ProgressProbe::run() {
  try {
    while (!stopping_.load()) {
      const auto poll_start = std::chrono::steady_clock::now();
      const int64_t t = steady_us();
      pqxx::nontransaction tx(*conn_);
      for (const auto& row : tx.exec_prepared("progress", param_)) {
        if (row[1].is_null()) continue;
        const auto p = row[0].as<int32_t>();
        const auto progress = row[1].as<int64_t>();
        if (p < 0 || static_cast<size_t>(p) >= advances_.size()) continue;
        if (progress > latest_[static_cast<size_t>(p)].load()) {
          advances_[static_cast<size_t>(p)].push_back(Advance{progress, t});
          latest_[static_cast<size_t>(p)].store(progress);
        }
      }
      tx.commit();
      ++polls_;
      std::this_thread::sleep_until(poll_start + interval_);
    }
  } catch (const std::exception& e) {
    std::cerr << "the latency probe failed: " << e.what() << "\n";
    failed_.store(true);
  }
}

}  // namespace kvstream::bench
