// The apply workers: N threads, each with its own Store (its own database
// connection), so different partitions apply in parallel. A partition always
// goes to the same worker (partition mod N), which keeps its batches in
// order.
//
// Thread-safe: submit() may be called from any thread. Each worker's queue is
// guarded by its own mutex. stop() lets every worker finish its queue, then
// joins them.
#pragma once

#include <condition_variable>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "apply/executor.h"

namespace kvstream::apply {

class ApplyWorkers : public BatchExecutor {
 public:
  using StoreFactory = std::function<std::unique_ptr<store::Store>()>;
  // Called on the worker thread right after a batch committed, before the
  // worker takes the partition's next batch (e.g. to update a cache).
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
  struct Worker {
    std::unique_ptr<store::Store> store;
    std::mutex mu;
    std::condition_variable wake;
    std::deque<Job> queue;  // guarded by mu
    bool stopping = false;  // guarded by mu
    std::thread thread;
  };
  void run(Worker& w);

  const CommitHook after_commit_;
  std::vector<std::unique_ptr<Worker>> workers_;
};

}  // namespace kvstream::apply
