// The apply workers: N threads, each with its own Store (its own database
// connection), taking batches from one shared queue, so different partitions
// apply in parallel and a batch never waits behind another partition's while
// a worker is free. A batch is never taken while an earlier batch of its
// partition is being applied, which keeps each partition in order.
//
// Thread-safe: submit() may be called from any thread. `mu_` guards the
// queue, the partitions being applied and the stop flag. stop() lets the
// workers finish the queue, then joins them.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>
#include <unordered_set>
#include <vector>

#include "apply/executor.h"

namespace kvstream::apply {

class ApplyWorkers : public BatchExecutor {
 public:
  using StoreFactory = std::function<std::unique_ptr<store::Store>()>;
  // Called on the worker thread right after a batch committed, before the
  // partition's next batch can be taken (e.g. to update a cache).
  using CommitHook = std::function<void(const store::PartitionBatch&)>;

  ApplyWorkers(size_t workers, const StoreFactory& factory, CommitHook after_commit = {});
  ~ApplyWorkers() override;

  void submit(store::PartitionBatch batch, std::function<void(BatchResult)> done) override;
  void stop();

 private:
  struct Job {
    store::PartitionBatch batch;
    std::function<void(BatchResult)> done;
  };
  void run(store::Store& store);
  // The first queued job whose partition is not being applied; end() if none.
  std::deque<Job>::iterator next_job();

  const CommitHook after_commit_;
  std::vector<std::unique_ptr<store::Store>> stores_;
  std::vector<std::thread> threads_;

  std::mutex mu_;
  std::condition_variable wake_;
  std::deque<Job> queue_;               // guarded by mu_
  std::unordered_set<int32_t> active_;  // partitions being applied; guarded by mu_
  bool stopping_ = false;               // guarded by mu_
};

}  // namespace kvstream::apply
