// ceiling: the database ceiling. The workload's events, generated in memory
// with the same seed and split by partition exactly as Kafka holds them, cut
// into batches of `batch_events` per partition, coalesced per key (the last
// event of a key wins), and applied with one of the SQL methods of
// ceiling_writers.h (`method`; kvstream's own store by default), one
// transaction per batch. No Kafka, no decoding, no polling: what is left is
// what Postgres (and building the statement's parameters) costs.
//
// Partitions are spread over `connections` connections (partition p on
// connection p % connections), each applying its partitions' batches in
// offset order, round robin, as the replica does.

#include <algorithm>
#include <atomic>
#include <future>
#include <memory>
#include <stdexcept>
#include <thread>

#include "apply/coalesce.h"
#include "bench/ceiling_writers.h"
#include "bench/pg_activity.h"
#include "bench/tools.h"

namespace kvstream::bench {

int run_ceiling(const CeilingOptions& options) {
  if (options.connections <= 0 || options.batch_events == 0) {
    std::cerr << "ceiling: connections and batch events must be positive\n";
    return 1;
  }
  migrate_database(options.pg_url);

  // All batches, prepared before the clock starts.
  const Workload workload(options.workload);
  std::vector<std::vector<store::PartitionBatch>> batches(
      static_cast<size_t>(options.workload.partitions));
  size_t rows = 0;
  {
    auto streams = events_by_partition(workload);
    for (size_t p = 0; p < streams.size(); ++p) {
      auto& stream = streams[p];
      int64_t next = store::kNoOffset;
      for (size_t from = 0; from < stream.size(); from += options.batch_events) {
        const size_t to = std::min(stream.size(), from + options.batch_events);
        store::PartitionBatch b;
        b.topic = options.topic;
        b.partition = static_cast<int32_t>(p);
        b.expected_next_offset = next;
        b.new_next_offset = stream[to - 1].position.offset + 1;
        next = b.new_next_offset;
        b.events.assign(std::make_move_iterator(stream.begin() + static_cast<std::ptrdiff_t>(from)),
                        std::make_move_iterator(stream.begin() + static_cast<std::ptrdiff_t>(to)));
        std::vector<schema::Event> dropped;
        apply::coalesce(b.events, dropped);
        rows += b.events.size();
        batches[p].push_back(std::move(b));
      }
      stream = {};
    }
  }
  size_t batch_count = 0;
  for (const auto& b : batches) batch_count += b.size();

  // One writer (one connection) per applying thread, connected before the
  // clock starts.
  const int n = std::min(options.connections, options.workload.partitions);
  std::vector<std::unique_ptr<BatchWriter>> writers;
  for (int t = 0; t < n; ++t) writers.push_back(make_batch_writer(options.method, options.pg_url));

  std::atomic<bool> failed{false};
  std::promise<void> go;
  const std::shared_future<void> gate = go.get_future().share();
  std::vector<std::thread> threads;
  for (int t = 0; t < n; ++t) {
    threads.emplace_back([&, t] {
      std::vector<size_t> mine;
      for (size_t p = static_cast<size_t>(t); p < batches.size(); p += static_cast<size_t>(n)) {
        mine.push_back(p);
      }
      gate.wait();
      try {
        for (size_t round = 0;; ++round) {
          bool any = false;
          for (size_t p : mine) {
            if (round >= batches[p].size()) continue;
            any = true;
            writers[static_cast<size_t>(t)]->apply(batches[p][round]);
          }
          if (!any || failed.load()) break;
        }
      } catch (const std::exception& e) {
        if (!failed.exchange(true)) std::cerr << "ceiling: " << e.what() << "\n";
      }
    });
  }
  const CostWindow cost(options.watched);
  ActivitySampler activity(options.pg_url, std::chrono::milliseconds(10));
  activity.start();
  const auto start = SteadyClock::now();
  go.set_value();
  for (auto& t : threads) t.join();
  const double seconds = seconds_since(start);
  activity.stop();
  if (failed.load()) return 1;

  const int64_t events = options.workload.events;
  report("method", options.method);
  report("events", events);
  report("rows_written", rows);
  report("batches", batch_count);
  report("batch_events", options.batch_events);
  report("connections", n);
  report("seconds", seconds);
  report("events_per_s", static_cast<int64_t>(static_cast<double>(events) / seconds));
  cost.report_usage();  // before the connections close
  activity.report("pg_activity");
  return 0;
}

}  // namespace kvstream::bench
