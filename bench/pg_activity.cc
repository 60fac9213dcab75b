#include "bench/pg_activity.h"

#include <algorithm>
#include <cstdio>
#include <iostream>
#include <pqxx/pqxx>
#include <vector>

namespace kvstream::bench {

ActivitySampler::ActivitySampler(std::string pg_url, std::chrono::milliseconds interval)
    : url_(std::move(pg_url)), interval_(interval) {}

ActivitySampler::~ActivitySampler() { stop(); }

void ActivitySampler::start() {
  stopping_.store(false);
  thread_ = std::thread([this] { run(); });
}

void ActivitySampler::stop() {
  stopping_.store(true);
  if (thread_.joinable()) thread_.join();
}

void ActivitySampler::run() {
  try {
    pqxx::connection conn(url_);
    conn.prepare("activity",
                 "SELECT CASE WHEN state = 'active' THEN "
                 "  coalesce(wait_event_type || ':' || wait_event, 'cpu') "
                 "  ELSE coalesce(state, 'unknown') END "
                 "FROM pg_stat_activity "
                 "WHERE datname = current_database() AND pid <> pg_backend_pid() "
                 "  AND application_name LIKE 'kvstream-apply%'");
    while (!stopping_.load()) {
      const auto next = std::chrono::steady_clock::now() + interval_;
      pqxx::nontransaction tx(conn);
      for (const auto& row : tx.exec_prepared("activity")) {
        ++counts_[row[0].as<std::string>()];
        ++samples_;
      }
      tx.commit();
      std::this_thread::sleep_until(next);
    }
  } catch (const std::exception& e) {
    std::cerr << "activity sampler: " << e.what() << "\n";
  }
}

void ActivitySampler::report(const std::string& name) const {
  std::vector<std::pair<int64_t, std::string>> by_count;
  for (const auto& [state, n] : counts_) by_count.emplace_back(n, state);
  std::sort(by_count.rbegin(), by_count.rend());
  std::string line;
  for (const auto& [n, state] : by_count) {
    char share[32];
    std::snprintf(share, sizeof(share), " %.1f%%",
                  100.0 * static_cast<double>(n) / static_cast<double>(samples_));
    line += (line.empty() ? "" : ", ") + state + share;
  }
  std::cout << name << '=' << (line.empty() ? "-" : line) << '\n';
  std::cout << name << "_samples=" << samples_ << '\n';
}

}  // namespace kvstream::bench
