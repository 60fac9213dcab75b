#include "store/tombstone_collector.h"

#include <spdlog/spdlog.h>

#include <exception>
#include <utility>

namespace kvstream::store {

TombstoneCollector::TombstoneCollector(TombstoneCollectorSettings settings, Open open,
                                       Removed removed)
    : settings_(settings), open_(std::move(open)), on_removed_(std::move(removed)) {}

TombstoneCollector::~TombstoneCollector() { stop(); }

void TombstoneCollector::start() {
  if (thread_.joinable()) return;
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = false;
  }
  thread_ = std::thread([this] { loop(); });
}

void TombstoneCollector::stop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
  }
  wake_.notify_all();
  if (thread_.joinable()) thread_.join();
}

uint64_t TombstoneCollector::sweeps() const {
  std::lock_guard<std::mutex> lock(mu_);
  return sweeps_;
}

uint64_t TombstoneCollector::removed() const {
  std::lock_guard<std::mutex> lock(mu_);
  return removed_;
}

void TombstoneCollector::loop() {
  for (;;) {
    {
      std::unique_lock<std::mutex> lock(mu_);
      if (wake_.wait_for(lock, settings_.interval, [&] { return stopping_; })) return;
    }
    try {
      sweep();
    } catch (const std::exception& e) {
      spdlog::warn("tombstone collection: {}", e.what());
    }
  }
}

void TombstoneCollector::sweep() {
  const Step step = open_();
  std::string cursor;
  uint64_t total = 0;
  for (;;) {
    const SweepStep done = step(settings_.retention, settings_.page, cursor);
    total += done.deleted;
    if (done.deleted > 0 && on_removed_) on_removed_(done.deleted);
    {
      std::lock_guard<std::mutex> lock(mu_);
      removed_ += done.deleted;
      if (!done.ran || done.wrapped) {
        ++sweeps_;
        break;
      }
    }
    std::unique_lock<std::mutex> lock(mu_);
    if (wake_.wait_for(lock, settings_.pause, [&] { return stopping_; })) break;
  }
  if (total > 0) spdlog::info("removed {} tombstone(s) older than the retention", total);
}

}  // namespace kvstream::store
