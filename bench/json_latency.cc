// latency-json: apply latency of the Debezium JDBC sink at a fixed rate,
// send -> committed in its table. The counterpart of `apply_bench_tools
// latency` (bench/latency.cc) for a sink that keeps no applied positions.
//
// A Kafka Connect worker already runs the sink on `topic` (fresh, empty) into
// `table` (key text PRIMARY KEY, value bytea, part int, seq bigint, with an
// index on (part, seq)). This publishes `rate` events per second for
// `duration`, in the JSON-with-schema envelope with two extra value fields:
// `part`, the partition (the workload's, given explicitly) and `seq`, the
// event's rank within it (its offset: the topic is fresh and the producer
// idempotent). On its own connection it polls, every `probe_interval`, the
// largest `seq` in the table for each partition (6 index lookups).
//
// Per event: latency = (start of the first poll whose largest seq of its
// partition is >= the event's seq) - (its send time). The sink applies a
// partition in order and commits each flush in one transaction, so a row
// with seq s visible means every upsert before s in that partition is
// committed. A DELETE leaves no row: it counts as applied with the next
// upsert of its partition seen (one sentinel PUT per partition after the
// last event settles the trailing deletes). With use.reduction.buffer the
// deletes of a batch commit just after its upserts: a DELETE may be counted
// a few milliseconds early. Exact to within one probe interval otherwise.
//
// With `warmup` > 0 the run starts with that many seconds of the same stream
// at the same rate whose events are not counted: the worker's JVM compiles
// its hot paths during its first seconds of work (a stall of a second or two
// on the 2-core VM), which a long-running sink has behind it.

#include <algorithm>
#include <atomic>
#include <cmath>
#include <memory>
#include <optional>
#include <pqxx/pqxx>
#include <thread>
#include <vector>

#include "bench/json_envelope.h"
#include "bench/json_producer.h"
#include "bench/progress_probe.h"
#include "bench/run_tools.h"

namespace kvstream::bench {

namespace {}  // namespace

int run_latency_json(const LatencyJsonOptions& options) {
  if (options.rate <= 0 || options.duration.count() <= 0) {
    std::cerr << "latency-json: rate and duration must be positive\n";
    return 1;
  }
  WorkloadSpec spec = options.workload;
  const auto warmup =
      static_cast<size_t>(options.rate) * static_cast<size_t>(options.warmup.count());
  spec.events =
      static_cast<int64_t>(options.rate) * (options.warmup.count() + options.duration.count());
  const Workload workload(spec);
  const ValueType type = parse_value_type(options.value_type);
  const auto total = static_cast<size_t>(spec.events);
  const auto partitions = static_cast<size_t>(spec.partitions);
  std::vector<int64_t> sent_us(total, -1), seq(total, -1);
  std::vector<int32_t> partition(total, -1);
  int64_t misplaced = 0;

  ProgressProbe probe(options.pg_url,
                      "SELECT p, (SELECT max(seq) FROM " +
                          pqxx::connection(options.pg_url).quote_name(options.table) +
                          " WHERE part = p) FROM generate_series(0, $1::int - 1) AS p",
                      std::to_string(spec.partitions), spec.partitions, options.probe_interval);
  probe.start();
  const CostWindow cost(options.watched);

  std::vector<int64_t> next_seq(partitions, 0);
  const auto start = SteadyClock::now();
  double publish_seconds = 0, publish_end = 0;
  {
    JsonProducer producer(
        options.brokers, options.topic, options.linger,
        [&](int64_t i, int32_t p, int64_t offset, bool ok) {
          if (!ok || i < 0 || static_cast<size_t>(i) >= total) return;
          if (p != partition[static_cast<size_t>(i)] || offset != seq[static_cast<size_t>(i)]) {
            ++misplaced;
          }
        });
    WorkloadEvent e;
    size_t i = 0;
    while (i < total) {
      const double elapsed = seconds_since(start);
      const size_t due = std::min(total, static_cast<size_t>(elapsed * options.rate) + 1);
      for (; i < due; ++i) {
        workload.event(static_cast<int64_t>(i), e);
        const int32_t p = workload.partition_of(e.key);
        partition[i] = p;
        seq[i] = next_seq[static_cast<size_t>(p)]++;
        std::optional<std::string> value;
        if (!e.is_delete) value = envelope_value_seq(e.value, type, p, seq[i]);
        const std::string key = envelope_key(e.key);
        sent_us[i] = steady_us();
        producer.produce(p, key, value, static_cast<int64_t>(i));
      }
      producer.poll();
      // Paced in 1 ms ticks, as latency.cc.
      std::this_thread::sleep_until(
          start + std::chrono::milliseconds(static_cast<int64_t>(seconds_since(start) * 1000) + 1));
    }
    publish_end = seconds_since(start);
    publish_seconds = publish_end - static_cast<double>(options.warmup.count());
    // The sentinels: settle each partition's trailing deletes.
    for (size_t p = 0; p < partitions; ++p) {
      producer.produce(static_cast<int32_t>(p), envelope_key(sentinel_key(static_cast<int32_t>(p))),
                       envelope_value_seq("end", type, static_cast<int32_t>(p), next_seq[p]), -1);
    }
    if (const int left = producer.flush(std::chrono::milliseconds(60000))) {
      std::cerr << "latency-json: " << left << " records undelivered after 60 s\n";
      probe.stop();
      return 1;
    }
    if (producer.failed() > 0 || misplaced > 0) {
      std::cerr << "latency-json: " << producer.failed() << " failed and " << misplaced
                << " misplaced deliveries\n";
      probe.stop();
      return 1;
    }
  }

  // Wait (bounded) until every sentinel is in.
  const auto drain_deadline = SteadyClock::now() + options.drain_timeout;
  for (;;) {
    bool done = true;
    for (size_t p = 0; p < partitions; ++p) {
      if (probe.latest(static_cast<int32_t>(p)) < next_seq[p]) done = false;
    }
    if (done) break;
    if (probe.failed() || SteadyClock::now() > drain_deadline) {
      std::cerr << "latency-json: the sink did not apply everything within "
                << options.drain_timeout.count() << " s of the last send\n";
      probe.stop();
      return 1;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  const double drain_seconds = seconds_since(start) - publish_end;
  probe.stop();

  std::vector<double> ms;
  ms.reserve(total - warmup);
  for (size_t i = warmup; i < total; ++i) {
    const int64_t seen = probe.reached_at(partition[i], seq[i]);
    if (seen < 0) {
      std::cerr << "latency-json: event " << i << " was never seen applied\n";
      return 1;
    }
    ms.push_back(static_cast<double>(std::max<int64_t>(0, seen - sent_us[i])) / 1000.0);
  }
  std::sort(ms.begin(), ms.end());
  double sum = 0;
  for (double v : ms) sum += v;
  report("events", total - warmup);
  report("warmup_events", warmup);
  report("publish_seconds", publish_seconds);
  report("achieved_rate",
         static_cast<int64_t>(static_cast<double>(total - warmup) / publish_seconds));
  report("drain_seconds", drain_seconds);
  report("probe_interval_ms", options.probe_interval.count());
  report("probe_polls", probe.polls());
  report("p50_ms", percentile(ms, 0.50));
  report("p99_ms", percentile(ms, 0.99));
  report("p999_ms", percentile(ms, 0.999));
  report("max_ms", ms.back());
  report("mean_ms", sum / static_cast<double>(ms.size()));
  cost.report_usage();
  return 0;
}

}  // namespace kvstream::bench
