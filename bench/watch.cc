// watch: waits until a kvstream replica has applied a whole topic, that is
// until kv_offsets holds the topic's end offset for every partition, and
// reports how fast it got there and what it cost.
//
// Started right after the replica. Two rates: over the whole run from the
// watch's start (about the replica's start: includes migrations and the
// group join), and the steady one: the events applied after the first commit
// was seen (the first kv_offsets row of the topic) over the time from then to
// the last. Polls every 10 ms.

#include <map>
#include <memory>
#include <optional>
#include <pqxx/pqxx>
#include <thread>

#include "bench/pg_activity.h"
#include "bench/proc_stats.h"
#include "bench/tools.h"
#include "common/kafka_admin.h"

namespace kvstream::bench {

int run_watch(const WatchOptions& options) {
  const auto start = SteadyClock::now();
  Watched watched = options.watched;
  watched.replica = options.pid;
  const CostWindow cost(watched);
  ActivitySampler activity(options.pg_url, std::chrono::milliseconds(10));
  activity.start();
  const std::map<int32_t, int64_t> ends = kafka::end_offsets(options.brokers, options.topic);
  int64_t total = 0;
  for (const auto& [p, end] : ends) total += end;

  // The replica migrates the database on start: until then the table is not
  // there, and the connection may be refused for a moment.
  std::unique_ptr<pqxx::connection> conn;
  std::optional<SteadyClock::time_point> first_commit;
  int64_t applied_at_first_commit = 0;
  const auto deadline = start + options.timeout;
  auto next_progress = start + std::chrono::seconds(5);
  for (;;) {
    if (SteadyClock::now() > deadline) {
      std::cerr << "watch: not everything applied within " << options.timeout.count() << " s\n";
      return 1;
    }
    if (!process_alive(options.pid)) {
      std::cerr << "watch: the replica (pid " << options.pid << ") exited before applying "
                << "everything\n";
      return 1;
    }
    int64_t applied = 0;
    bool done = true;
    try {
      if (!conn) conn = std::make_unique<pqxx::connection>(options.pg_url);
      pqxx::nontransaction tx(*conn);
      const pqxx::result rows = tx.exec(
          "SELECT partition, next_offset FROM kv_offsets WHERE topic = " + tx.quote(options.topic));
      std::map<int32_t, int64_t> at;
      for (const auto& row : rows) at[row[0].as<int32_t>()] = row[1].as<int64_t>();
      for (const auto& [p, end] : ends) {
        const auto it = at.find(p);
        const int64_t next = it == at.end() ? 0 : it->second;
        applied += next;
        if (next < end) done = false;
      }
      if (!rows.empty() && !first_commit) {
        first_commit = SteadyClock::now();
        applied_at_first_commit = applied;
      }
    } catch (const pqxx::undefined_table&) {
      done = false;  // not migrated yet
    } catch (const pqxx::broken_connection&) {
      conn.reset();
      done = false;
    }
    if (done) break;
    if (SteadyClock::now() >= next_progress) {
      next_progress += std::chrono::seconds(5);
      std::cerr << "watch: " << applied << " of " << total << " events applied after "
                << static_cast<int>(seconds_since(start)) << " s\n";
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  const auto done_at = SteadyClock::now();
  activity.stop();
  // The replica's cost, read while it still runs (idle now).
  const Cost replica = process_cost(options.pid);
  const int64_t replica_rss = peak_rss_kib(options.pid);

  const double wall = std::chrono::duration<double>(done_at - start).count();
  const double applying =
      std::chrono::duration<double>(done_at - first_commit.value_or(start)).count();
  report("events", total);
  report("seconds_from_start", wall);
  report("seconds_applying", applying);
  report("applied_at_first_commit", applied_at_first_commit);
  // The steady rate: what was applied after the first commit was seen, over
  // the time it took.
  report("events_per_s",
         applying > 0
             ? static_cast<int64_t>(static_cast<double>(total - applied_at_first_commit) / applying)
             : 0);
  report("events_per_s_from_start", static_cast<int64_t>(static_cast<double>(total) / wall));
  report("replica_total_cpu_s", replica.cpu_s);
  report("replica_peak_rss_kib", replica_rss);
  cost.report_usage();
  activity.report("pg_activity");
  return 0;
}

}  // namespace kvstream::bench
