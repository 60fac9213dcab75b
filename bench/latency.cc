// latency: apply latency at a fixed rate, record timestamp -> committed.
//
// A replica is already running on `topic` (fresh, empty) and its database.
// This publishes `rate` events per second for `duration` (through kvstream's
// producer, with linger.ms `linger`, default 0) and, on another connection, polls the
// replica's applied positions (kv_offsets) every `probe_interval`.
//
// Per event: latency = (start of the first poll that shows its partition's
// applied position past the event's offset) - (the event's send time).
//   * The send time is read just before Producer::put/del; librdkafka stamps
//     the record's CreateTime (its timestamp) in the same call, so the two
//     agree to well under a millisecond. Publisher and probe share one clock.
//   * kv_offsets advances in the same transaction as the batch's rows, so a
//     position visible to a new snapshot means the event's effect is
//     committed and visible. A commit seen by a poll happened before that
//     poll's snapshot and after the previous poll's, so the figure is exact
//     to within one probe interval.
//   * Every event counts, including those coalesced away (their batch's
//     commit is when their effect, being overwritten, is settled).
//
// With `warmup` > 0 the run starts with that many seconds of the same
// stream, applied but not counted (and the rows figure below counts only the
// rows of counted events).
//
// A second figure, on rows only: the values carry "ts=<send ms>;" and the
// rows their updated_at, so `updated_at - ts` per surviving row. updated_at
// is now() of the applying transaction, i.e. its start, not its commit: a
// lower bound, reported for comparison.

#include <algorithm>
#include <atomic>
#include <cmath>
#include <memory>
#include <pqxx/pqxx>
#include <thread>
#include <vector>

#include "bench/progress_probe.h"
#include "bench/tools.h"
#include "producer/producer.h"

namespace kvstream::bench {

namespace {

int64_t wall_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace

int run_latency(const LatencyOptions& options) {
  if (options.rate <= 0 || options.duration.count() <= 0) {
    std::cerr << "latency: rate and duration must be positive\n";
    return 1;
  }
  WorkloadSpec spec = options.workload;
  const auto warmup =
      static_cast<size_t>(options.rate) * static_cast<size_t>(options.warmup.count());
  spec.events =
      static_cast<int64_t>(options.rate) * (options.warmup.count() + options.duration.count());
  const Workload workload(spec);
  const auto total = static_cast<size_t>(spec.events);
  int64_t counted_from_ms = 0;  // the wall clock of the first counted send
  std::vector<int64_t> sent_us(total, -1), offset(total, -1);
  std::vector<int32_t> partition(total, -1);
  std::atomic<int64_t> failed{0};

  ProgressProbe probe(options.pg_url,
                      "SELECT partition, next_offset FROM kv_offsets WHERE topic = $1",
                      options.topic, spec.partitions, options.probe_interval);
  probe.start();
  const CostWindow cost(options.watched);

  producer::ProducerSettings settings;
  settings.kafka.brokers = options.brokers;
  settings.kafka.topic = options.topic;
  settings.client_id = "kvstream-bench-latency";
  settings.linger = options.linger;
  const auto start = SteadyClock::now();
  double publish_seconds = 0;
  {
    producer::Producer producer(settings);
    WorkloadEvent e;
    size_t i = 0;
    while (i < total) {
      // Everything due by now.
      const double elapsed = seconds_since(start);
      const size_t due = std::min(total, static_cast<size_t>(elapsed * options.rate) + 1);
      for (; i < due; ++i) {
        workload.event(static_cast<int64_t>(i), e);
        if (!e.is_delete) stamp_value(e.value, wall_ms());
        auto on_delivery = [&partition, &offset, &failed, i](const producer::Delivery& d) {
          if (!d.ok()) {
            failed.fetch_add(1);
            return;
          }
          partition[i] = d.position.partition;
          offset[i] = d.position.offset;
        };
        if (i == warmup) counted_from_ms = wall_ms();
        sent_us[i] = steady_us();
        const auto invalid = e.is_delete ? producer.del(e.key, {}, on_delivery)
                                         : producer.put(e.key, e.value, {}, on_delivery);
        if (invalid) {
          std::cerr << "latency: event " << i << " breaks the contract: " << invalid->message
                    << "\n";
          probe.stop();
          return 1;
        }
      }
      // Paced in 1 ms ticks (rate / 1000 events each): smooth at the scale
      // that matters, without a wake-up per event stealing the cores.
      std::this_thread::sleep_until(
          start + std::chrono::milliseconds(static_cast<int64_t>(seconds_since(start) * 1000) + 1));
    }
    publish_seconds = seconds_since(start) - static_cast<double>(options.warmup.count());
    if (const size_t left = producer.flush(std::chrono::milliseconds(60000))) {
      std::cerr << "latency: " << left << " events undelivered after 60 s\n";
      probe.stop();
      return 1;
    }
  }
  if (failed.load() > 0) {
    std::cerr << "latency: " << failed.load() << " deliveries failed\n";
    probe.stop();
    return 1;
  }

  // Wait (bounded) until the replica has applied everything.
  std::vector<int64_t> ends(static_cast<size_t>(spec.partitions), 0);
  for (size_t i = 0; i < total; ++i) {
    auto& end = ends[static_cast<size_t>(partition[i])];
    end = std::max(end, offset[i] + 1);
  }
  const auto drain_deadline = SteadyClock::now() + options.drain_timeout;
  for (;;) {
    bool done = true;
    for (int32_t p = 0; p < spec.partitions; ++p) {
      if (probe.latest(p) < ends[static_cast<size_t>(p)]) done = false;
    }
    if (done) break;
    if (probe.failed() || SteadyClock::now() > drain_deadline) {
      std::cerr << "latency: the replica did not apply everything within "
                << options.drain_timeout.count() << " s of the last send\n";
      probe.stop();
      return 1;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  const double drain_seconds =
      seconds_since(start) - publish_seconds - static_cast<double>(options.warmup.count());
  probe.stop();

  std::vector<double> ms;
  ms.reserve(total - warmup);
  for (size_t i = warmup; i < total; ++i) {
    const int64_t seen = probe.reached_at(partition[i], offset[i] + 1);
    if (seen < 0) {
      std::cerr << "latency: event " << i << " was never seen applied\n";
      return 1;
    }
    ms.push_back(static_cast<double>(seen - sent_us[i]) / 1000.0);
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

  // The row-based lower bound (see the top of this file).
  pqxx::connection conn(options.pg_url);
  pqxx::nontransaction tx(conn);
  const pqxx::row r = tx.exec_params1(
      "SELECT count(*), percentile_disc(0.5) WITHIN GROUP (ORDER BY l), "
      "percentile_disc(0.99) WITHIN GROUP (ORDER BY l), "
      "percentile_disc(0.999) WITHIN GROUP (ORDER BY l) "
      "FROM (SELECT extract(epoch FROM updated_at) * 1000 - ts AS l "
      "      FROM (SELECT updated_at, substring(convert_from(value, 'UTF8') "
      "                                          FROM '^ts=([0-9]+);')::bigint AS ts "
      "            FROM kv WHERE value IS NOT NULL) AS v WHERE ts >= $1) AS s",
      counted_from_ms);
  report("rows_measured", r[0].as<int64_t>());
  report("rows_p50_ms", r[1].is_null() ? 0.0 : r[1].as<double>());
  report("rows_p99_ms", r[2].is_null() ? 0.0 : r[2].as<double>());
  report("rows_p999_ms", r[3].is_null() ? 0.0 : r[3].as<double>());
  return 0;
}

}  // namespace kvstream::bench
