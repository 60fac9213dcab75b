#include "apply/workers.h"

#include <spdlog/spdlog.h>

namespace kvstream::apply {

ApplyWorkers::ApplyWorkers(size_t workers, const StoreFactory& factory, CommitHook after_commit)
    : after_commit_(std::move(after_commit)) {
  for (size_t i = 0; i < std::max<size_t>(workers, 1); ++i) stores_.push_back(factory());
  for (auto& store : stores_) {
    store::Store* raw = store.get();
    threads_.emplace_back([this, raw] { run(*raw); });
  }
}

ApplyWorkers::~ApplyWorkers() { stop(); }

void ApplyWorkers::submit(store::PartitionBatch batch, std::function<void(BatchResult)> done) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    queue_.push_back(Job{std::move(batch), std::move(done)});
  }
  wake_.notify_one();
}

std::deque<ApplyWorkers::Job>::iterator ApplyWorkers::next_job() {
  for (auto it = queue_.begin(); it != queue_.end(); ++it) {
    if (active_.count(it->batch.partition) == 0) return it;
  }
  return queue_.end();
}

void ApplyWorkers::run(store::Store& store) {
  for (;;) {
    Job job;
    {
      std::unique_lock<std::mutex> lock(mu_);
      wake_.wait(lock, [&] { return next_job() != queue_.end() || (stopping_ && queue_.empty()); });
      auto it = next_job();
      if (it == queue_.end()) return;  // stopping and drained
      job = std::move(*it);
      queue_.erase(it);
      active_.insert(job.batch.partition);
    }
    const int32_t partition = job.batch.partition;
    BatchResult r = apply_batch(store, std::move(job.batch));
    if (after_commit_ && r.outcome == store::ApplyOutcome::kApplied) {
      try {
        after_commit_(r.batch);
      } catch (const std::exception& e) {
        spdlog::error("after-commit hook failed: {}", e.what());
      }
    }
    job.done(std::move(r));
    bool runnable;
    bool drained;
    {
      std::lock_guard<std::mutex> lock(mu_);
      active_.erase(partition);
      runnable = next_job() != queue_.end();
      drained = stopping_ && queue_.empty();
    }
    if (drained) {
      // Stopping, and nothing is left: the workers asleep because every
      // queued batch's partition was being applied exit now (nothing else
      // would wake them, and stop() joins them).
      wake_.notify_all();
    } else if (runnable) {
      // A queued batch of this partition may have waited for this one.
      wake_.notify_one();
    }
  }
}

void ApplyWorkers::stop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
  }
  wake_.notify_all();
  for (auto& t : threads_) {
    if (t.joinable()) t.join();
  }
}

}  // namespace kvstream::apply
