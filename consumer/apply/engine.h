// The apply engine: turns a stream of decoded events into atomic, fenced,
// per-partition batches in the Store, and says which positions are safe to
// commit to Kafka.
//
// Lifecycle, all on the poll thread (not thread-safe; it owns no thread):
//   assign(partitions)  -> loads each partition's applied position from the
//                          store: the caller seeks there
//   add_event / add_skipped, as records arrive in offset order
//   flush() when should_flush(): one transaction per partition with pending
//                          work; returns the applied positions to commit
//   revoke(partitions)  -> drops pending work of those partitions
//
// Records below a partition's applied position are ignored (a redelivery),
// so replays change nothing.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "apply/applied_view.h"
#include "schema/event.h"
#include "store/store.h"

namespace kvstream::apply {

struct BatchLimits {
  size_t max_events = 5000;
  size_t max_bytes = 16 * 1024 * 1024;
  std::chrono::milliseconds max_wait{50};
};

struct FlushResult {
  // Partitions whose batch committed, with their new applied position
  // (next offset): safe to commit to Kafka.
  std::map<int32_t, int64_t> applied;
  // Partitions whose batch was fenced, with the applied position now in the
  // database: the caller seeks there (or loses the partition in a rebalance).
  std::map<int32_t, int64_t> fenced;
  size_t events_written = 0;
};

class ApplyEngine {
 public:
  using Clock = std::chrono::steady_clock;

  ApplyEngine(std::string topic, store::Store& store, AppliedView& view, BatchLimits limits);

  // Returns, for each partition, where to resume: the applied position, or
  // store::kNoOffset when the database has none (start from the beginning).
  // Throws kvstream::Error when the store cannot be read.
  std::map<int32_t, int64_t> assign(const std::vector<int32_t>& partitions);
  void revoke(const std::vector<int32_t>& partitions);

  // An event of an assigned partition, in offset order.
  void add_event(schema::Event event);
  // A record that will not be applied (it went to the dead-letter topic);
  // the applied position still moves past it.
  void add_skipped(int32_t partition, int64_t offset);

  bool has_pending() const { return pending_events_ > 0 || !pending_.empty(); }
  bool should_flush(Clock::time_point now) const;

  // Applies every partition with pending work. On a transient store error
  // the error is thrown and the pending work kept, to be retried by calling
  // flush() again; partitions applied before the error are not redone.
  FlushResult flush();

  const std::map<int32_t, int64_t>& next_offsets() const { return next_offsets_; }

 private:
  struct Pending {
    std::vector<schema::Event> events;
    int64_t last_offset = -1;
  };
  bool accept(int32_t partition, int64_t offset);

  const std::string topic_;
  store::Store& store_;
  AppliedView& view_;
  const BatchLimits limits_;

  std::map<int32_t, int64_t> next_offsets_;  // assigned partitions
  std::map<int32_t, Pending> pending_;
  size_t pending_events_ = 0;
  size_t pending_bytes_ = 0;
  Clock::time_point batch_started_{};
};

}  // namespace kvstream::apply
