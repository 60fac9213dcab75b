// watch-table: waits until the Debezium JDBC sink's table holds the
// workload's final state, and reports how fast it got there and what Kafka
// Connect cost. The counterpart of `apply_bench_tools watch` for a sink that
// keeps no applied positions.
//
// Started right after the Kafka Connect worker, on a topic holding the whole
// workload followed by one sentinel PUT per partition (publish-json). The sink
// applies each partition in order, so once all the sentinels are in the table
// every event before them is applied. Then the table must equal the final
// state computed here from the workload (the last event of each key: its
// value, or no row after a DELETE): same row count and same md5 over the
// sorted rows. The deletes of the sink's last batch may commit a moment after
// its upserts (use.reduction.buffer flushes them second), so the digest is
// retried for up to 30 s, and the finish time is when it first matched.
//
// Rates, as watch's: the steady one from the first row seen to the finish
// (it counts the first batch as applied after it, which favours the sink
// slightly), and the one from the watch's start (about the worker's start:
// JVM start, plugin scan, group join included). Polls every 10 ms.

#include <future>
#include <map>
#include <memory>
#include <optional>
#include <pqxx/pqxx>
#include <thread>

#include "bench/json_envelope.h"
#include "bench/pg_activity.h"
#include "bench/proc_stats.h"
#include "bench/run_tools.h"

namespace kvstream::bench {

namespace {

std::string hex(const std::string& bytes) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  out.reserve(bytes.size() * 2);
  for (const char c : bytes) {
    out += kDigits[(static_cast<unsigned char>(c) >> 4) & 15];
    out += kDigits[static_cast<unsigned char>(c) & 15];
  }
  return out;
}

// "<rows> <md5>" of the workload's final state, in the form table_digest()
// computes (md5 by Postgres, over the same text).
std::string expected_digest(const std::string& pg_url, const WorkloadSpec& spec) {
  const Workload workload(spec);
  std::map<std::string, std::optional<std::string>> last;
  WorkloadEvent e;
  for (int64_t i = 0; i < spec.events; ++i) {
    workload.event(i, e);
    if (e.is_delete) {
      last[e.key] = std::nullopt;
    } else {
      last[e.key] = e.value;
    }
  }
  std::string text;
  int64_t rows = 0;
  for (const auto& [key, value] : last) {  // std::map: bytewise key order, as COLLATE "C"
    if (!value) continue;
    if (rows++ > 0) text += ',';
    text += key;
    text += '|';
    text += hex(*value);
  }
  if (rows == 0) return "0 -";
  pqxx::connection conn(pg_url);
  pqxx::nontransaction tx(conn);
  return std::to_string(rows) + " " +
         tx.exec_params1("SELECT md5($1::text)", text)[0].as<std::string>();
}

}  // namespace

int run_watch_table(const WatchTableOptions& options) {
  parse_value_type(options.value_type);  // validates it
  const auto start = SteadyClock::now();
  Watched watched = options.watched;
  watched.replica = options.pid;
  const CostWindow cost(watched);
  ActivitySampler activity(options.pg_url, std::chrono::milliseconds(10));
  activity.start();

  pqxx::connection conn(options.pg_url);
  std::string in_sentinels;
  {
    pqxx::nontransaction tx(conn);
    for (const auto& k : options.sentinels)
      in_sentinels += (in_sentinels.empty() ? "" : ",") + tx.quote(k);
  }
  const std::string table = conn.quote_name(options.table);
  const std::string progress_sql = "SELECT (SELECT count(*) FROM " + table + " WHERE key IN (" +
                                   in_sentinels + ")), EXISTS (SELECT 1 FROM " + table + ")";
  // The digest of the rows as bytes, whatever the value column's type.
  const std::string value_bytes =
      options.value_type == "string" ? "convert_to(value, 'UTF8')" : "value";
  const std::string digest_sql =
      "SELECT count(*) || ' ' || coalesce(md5(string_agg(key || '|' || encode(" + value_bytes +
      ", 'hex'), ',' "
      "ORDER BY key COLLATE \"C\")), '-') FROM " +
      table + " WHERE key NOT IN (" + in_sentinels + ")";
  const auto sentinel_count = static_cast<int64_t>(options.sentinels.size());

  std::optional<SteadyClock::time_point> first_row, sentinels_in;
  Cost replica_at_first_row;
  const auto deadline = start + options.timeout;
  auto next_progress = start + std::chrono::seconds(5);
  std::string expected, digest;
  // The expected state is computed while the worker starts (it takes seconds).
  auto expect = std::async(std::launch::async,
                           [&] { return expected_digest(options.pg_url, options.workload); });
  for (;;) {
    const auto now = SteadyClock::now();
    if (now > deadline) {
      std::cerr << "watch-table: the table did not reach the final state within "
                << options.timeout.count() << " s\n";
      return 1;
    }
    if (!process_alive(options.pid)) {
      std::cerr << "watch-table: the worker (pid " << options.pid << ") exited before applying "
                << "everything\n";
      return 1;
    }
    pqxx::nontransaction tx(conn);
    const pqxx::row r = tx.exec1(progress_sql);
    tx.commit();
    if (!first_row && r[1].as<bool>()) {
      first_row = SteadyClock::now();
      replica_at_first_row = process_cost(options.pid);
    }
    if (r[0].as<int64_t>() == sentinel_count) {
      if (!sentinels_in) {
        sentinels_in = SteadyClock::now();
        expected = expect.get();
      }
      pqxx::nontransaction dtx(conn);
      digest = dtx.exec1(digest_sql)[0].as<std::string>();
      if (digest == expected) break;
      if (SteadyClock::now() - *sentinels_in > std::chrono::seconds(30)) {
        std::cerr << "watch-table: the table differs from the workload's final state: " << digest
                  << ", expected " << expected << "\n";
        return 1;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
      continue;
    }
    if (now >= next_progress) {
      next_progress += std::chrono::seconds(5);
      std::cerr << "watch-table: " << r[0].as<int64_t>() << " of " << sentinel_count
                << " partitions done after " << static_cast<int>(seconds_since(start)) << " s\n";
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  const auto done_at = SteadyClock::now();
  activity.stop();
  const Cost replica = process_cost(options.pid);
  const int64_t replica_rss = peak_rss_kib(options.pid);

  const double wall = std::chrono::duration<double>(done_at - start).count();
  const double applying =
      std::chrono::duration<double>(done_at - first_row.value_or(start)).count();
  const int64_t total = options.workload.events;
  report("events", total);
  report("seconds_from_start", wall);
  report("seconds_applying", applying);
  report("digest_wait_s", std::chrono::duration<double>(done_at - *sentinels_in).count());
  report("applied_at_first_commit", 0);
  report("events_per_s",
         applying > 0 ? static_cast<int64_t>(static_cast<double>(total) / applying) : 0);
  report("events_per_s_from_start", static_cast<int64_t>(static_cast<double>(total) / wall));
  report("replica_total_cpu_s", replica.cpu_s);
  report("replica_apply_cpu_s", (replica - replica_at_first_row).cpu_s);
  report("replica_peak_rss_kib", replica_rss);
  report("digest", digest);
  cost.report_usage();
  activity.report("pg_activity");
  return 0;
}

}  // namespace kvstream::bench
