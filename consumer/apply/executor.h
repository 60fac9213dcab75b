// Where partition batches are applied: the seam between the apply engine
// (which decides what to write, on the poll thread) and the threads that
// talk to the database.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>

#include "common/error.h"
#include "store/store.h"

namespace kvstream::apply {

struct BatchResult {
  store::PartitionBatch batch;                 // handed back, so a failed batch can be retried
  std::optional<store::ApplyOutcome> outcome;  // set when the store answered
  std::optional<Error> error;                  // set when it threw
  std::chrono::system_clock::time_point finished_at;
};

class BatchExecutor {
 public:
  virtual ~BatchExecutor() = default;
  // Applies `batch` and calls `done` with the result, on some thread, exactly
  // once. Batches of one partition are applied in submission order.
  virtual void submit(store::PartitionBatch batch, std::function<void(BatchResult)> done) = 0;
};

// Applies in the caller's thread: for tests and tools.
class InlineExecutor : public BatchExecutor {
 public:
  explicit InlineExecutor(store::Store& store) : store_(store) {}
  void submit(store::PartitionBatch batch, std::function<void(BatchResult)> done) override;

 private:
  store::Store& store_;
};

// Runs `store.apply(batch)` and packs the outcome or the kvstream::Error
// (anything else becomes a fatal Error).
BatchResult apply_batch(store::Store& store, store::PartitionBatch batch);

}  // namespace kvstream::apply
