#include "apply/workers.h"

#include <spdlog/spdlog.h>

namespace kvstream::apply {

ApplyWorkers::ApplyWorkers(size_t workers, const StoreFactory& factory, CommitHook after_commit)
    : after_commit_(std::move(after_commit)) {
  for (size_t i = 0; i < std::max<size_t>(workers, 1); ++i) {
    auto w = std::make_unique<Worker>();
    w->store = factory();
    workers_.push_back(std::move(w));
  }
  for (auto& w : workers_) {
    Worker* raw = w.get();
    w->thread = std::thread([this, raw] { run(*raw); });
  }
}

ApplyWorkers::~ApplyWorkers() { stop(); }

void ApplyWorkers::submit(store::PartitionBatch batch, std::function<void(BatchResult)> done) {
  Worker& w = *workers_[static_cast<size_t>(batch.partition) % workers_.size()];
  {
    std::lock_guard<std::mutex> lock(w.mu);
    w.queue.push_back(Job{std::move(batch), std::move(done)});
  }
  w.wake.notify_one();
}

void ApplyWorkers::run(Worker& w) {
  for (;;) {
    Job job;
    {
      std::unique_lock<std::mutex> lock(w.mu);
      w.wake.wait(lock, [&] { return w.stopping || !w.queue.empty(); });
      if (w.queue.empty()) return;  // stopping and drained
      job = std::move(w.queue.front());
      w.queue.pop_front();
    }
    BatchResult r = apply_batch(*w.store, std::move(job.batch));
    if (after_commit_ && r.outcome == store::ApplyOutcome::kApplied) {
      try {
        after_commit_(r.batch);
      } catch (const std::exception& e) {
        spdlog::error("after-commit hook failed: {}", e.what());
      }
    }
    job.done(std::move(r));
  }
}

void ApplyWorkers::stop() {
  for (auto& w : workers_) {
    {
      std::lock_guard<std::mutex> lock(w->mu);
      w->stopping = true;
    }
    w->wake.notify_one();
  }
  for (auto& w : workers_) {
    if (w->thread.joinable()) w->thread.join();
  }
}

}  // namespace kvstream::apply
