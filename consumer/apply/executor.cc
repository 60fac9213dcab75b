#include "apply/executor.h"

namespace kvstream::apply {

BatchResult apply_batch(store::Store& store, store::PartitionBatch batch) {
  BatchResult r;
  try {
    r.outcome = store.apply(batch);
  } catch (const Error& e) {
    r.error = e;
  } catch (const std::exception& e) {
    r.error = Error(ErrorKind::kFatal, e.what());
  }
  r.finished_at = std::chrono::system_clock::now();
  r.batch = std::move(batch);
  return r;
}

void InlineExecutor::submit(store::PartitionBatch batch, std::function<void(BatchResult)> done) {
  done(apply_batch(store_, std::move(batch)));
}

}  // namespace kvstream::apply
