#include "tests/robustness/chaos.h"

#include <spdlog/sinks/basic_file_sink.h>
#include <spdlog/spdlog.h>
#include <stdlib.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <exception>
#include <filesystem>
#include <fstream>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <system_error>
#include <thread>
#include <vector>

#include "tests/robustness/chaos_util.h"
#include "tests/robustness/chaos_workload.h"
#include "tests/robustness/checker.h"
#include "tests/robustness/http_clients.h"
#include "tests/robustness/injector.h"
#include "tests/robustness/replica_pool.h"
#include "tests/robustness/run_log.h"
#include "tests/robustness/schedule.h"
#include "tests/support/kafka_server.h"
#include "tests/support/kafka_util.h"
#include "tests/support/kv_table.h"
#include "tests/support/pg_server.h"
#include "tests/support/replica.h"
#include "tests/support/small_disk.h"
#include "tests/support/toxiproxy.h"
#include "tests/support/wait.h"

namespace kvstream::chaos {

namespace {

using namespace std::chrono_literals;
using detail::Abort;
using detail::Checker;
using detail::Clock;
using detail::dense;
using detail::fixed;
using detail::HttpClients;
using detail::Injector;
using detail::kDlqTopic;
using detail::kGroup;
using detail::kPartitions;
using detail::kTopic;
using detail::Offsets;
using detail::ReplicaPool;
using detail::RunLog;
using detail::seconds;
using detail::show;
using detail::total;
using detail::Workload;
using testing::eventually;
using testing::KafkaServer;
using testing::PgServer;
using testing::ReplicaConfig;

// eventually(), but a cancelled run stops waiting (Abort).
template <class Pred>
bool wait_for(const ChaosOptions& options, Pred pred, std::chrono::milliseconds timeout,
              std::chrono::milliseconds interval) {
  return eventually(
      [&] {
        if (options.cancel != nullptr && options.cancel->load()) {
          throw Abort("cancelled by a signal");
        }
        return pred();
      },
      timeout, interval);
}

// How often the apply latency's sampler reads kv_offsets, and how long after
// an episode a fault still counts as on (the session timeout of 6 s, then a
// rebalance).
constexpr auto kLatencyInterval = std::chrono::milliseconds(50);
constexpr double kRecoveryS = 10;

// The HTTP API's clients: each writes (and reads back) its own keys, one
// request at a time.
constexpr int kHttpClients = 2;
constexpr size_t kHttpKeysPerClient = 50;

Offsets applied_offsets(const std::string& db_url) {
  return dense(testing::read_applied_offsets(db_url, kTopic));
}

}  // namespace

ScheduleSpec schedule_spec(const ChaosOptions& options) {
  ScheduleSpec spec;
  spec.seed = options.seed;
  spec.duration_s = options.minutes * 60;
  spec.core_replicas = options.core_replicas;
  spec.storm_replicas = options.storm_replicas;
  spec.disk_full = testing::SmallDisk::can_mount();
  return spec;
}

std::string ChaosReport::replay_command() const {
  std::ostringstream out;
  out << "scripts/chaos --minutes " << options.minutes << " --seed " << options.seed;
  if (options.core_replicas != 3) out << " --replicas " << options.core_replicas;
  if (options.storm_replicas != 2) out << " --storm-replicas " << options.storm_replicas;
  if (options.rate != 300) out << " --rate " << options.rate;
  if (options.tombstone_retention_s > 0) {
    out << " --tombstone-retention " << options.tombstone_retention_s;
  }
  return out.str();
}

std::string ChaosReport::figures() const {
  std::ostringstream out;
  out << "chaos run: seed " << options.seed << ", " << options.minutes << " min of faults, "
      << options.core_replicas << " replicas (+" << options.storm_replicas << " in storms), "
      << options.rate << " events/s; " << fixed(elapsed_s, 0) << " s in all\n";
  out << "faults injected:";
  int all = 0;
  for (const auto& [kind, n] : injected) {
    out << " " << to_string(kind) << " " << n;
    all += n;
  }
  out << " (" << all << " in all; " << sessions_terminated << " sessions terminated, "
      << storm_joins << " storm joins, " << storm_leaves << " storm leaves)\n";
  out << "replica processes: " << replica_starts << " started; exits:";
  for (const auto& [cause, n] : exits) out << " " << cause << " " << n;
  out << "; slowest exit after SIGTERM " << fixed(slowest_sigterm_exit_s, 1) << " s\n";
  out << "events acknowledged: " << events << " (" << puts << " PUT, " << deletes
      << " DELETE) over " << keys << " keys; delivery failures " << delivery_failures
      << " (published again: " << republished << "); written though reported failed "
      << unacked_but_persisted << "\n";
  out << "poison records: " << poison_sent << " acknowledged, " << poison_unknown
      << " of unknown outcome; " << poison_in_topic << " in the topic; DLQ " << dlq_records
      << " records (" << dlq_duplicates << " repeated deliveries)\n";
  out << "final table: " << rows << " rows (" << value_rows << " values, " << tombstone_rows
      << " tombstones); " << deleted_keys << " keys end deleted";
  if (options.tombstone_retention_s > 0) {
    out << " (" << collected_tombstones << " tombstones collected)";
  }
  out << "\n";
  out << "lost " << lost << ", resurrected " << resurrected << ", other differences "
      << other_differences << ", acknowledged events not applied (a stall) " << not_applied
      << ", backward moves " << backward_moves << " (of " << audited_offset_changes
      << " audited kv_offsets changes); end offsets " << end_offsets_total << "\n";
  out << "catch-up after the chaos phase " << fixed(catch_up_s, 1)
      << " s; longest time without applying while behind " << fixed(longest_stall_s, 1) << " s\n";
  out << http;
  if (apply_latency) out << describe(*apply_latency);
  out << (ok() ? "PASSED" : "FAILED (" + std::to_string(failures.size()) + " failures)") << "\n";
  return out.str();
}

std::string ChaosReport::full() const {
  std::ostringstream out;
  out << figures();
  for (size_t i = 0; i < failures.size(); ++i) {
    out << "\nfailure " << i + 1 << ": " << failures[i] << "\n";
  }
  out << "\nreplay: " << replay_command() << "\n";
  out << "run folder: " << run_dir << "\n";
  out << "\nschedule as run (planned time, episode, action -> actual time and outcome):\n";
  for (const std::string& line : executed) out << line << "\n";
  // Once more, each failure's first line, last: a log cut in the middle
  // (CI keeps the head and the tail) still names what failed.
  if (!failures.empty()) out << "\n" << failures.size() << " failure(s), in short:\n";
  for (size_t i = 0; i < failures.size(); ++i) {
    out << "failure " << i + 1 << ": " << failures[i].substr(0, failures[i].find('\n')) << "\n";
  }
  return out.str();
}

ChaosReport run_chaos(const ChaosOptions& options) {
  ChaosReport report;
  report.options = options;
  const auto run_start = Clock::now();

  // Before any thread: the servers' ports outside the ephemeral range.
  testing::avoid_ephemeral_ports();

  if (options.run_dir.empty()) {
    char dir[] = "/tmp/kvstream-chaos-XXXXXX";
    if (mkdtemp(dir) == nullptr) {
      report.failures.push_back("mkdtemp failed");
      return report;
    }
    report.run_dir = dir;
  } else {
    report.run_dir = options.run_dir;
    std::error_code ec;
    std::filesystem::create_directories(report.run_dir, ec);
  }
  RunLog log(options.out, report.run_dir + "/chaos.log");
  // The driver's own clients (librdkafka's complaints while the broker is
  // down, ...) log to driver.log, not among the progress lines.
  const std::shared_ptr<spdlog::logger> previous_logger = spdlog::default_logger();
  try {
    spdlog::set_default_logger(std::make_shared<spdlog::logger>(
        "chaos-driver-" + std::to_string(options.seed),
        std::make_shared<spdlog::sinks::basic_file_sink_mt>(report.run_dir + "/driver.log")));
  } catch (const std::exception& e) {
    log.line(std::string("driver.log: ") + e.what());
  }
  report.schedule = make_schedule(schedule_spec(options));
  { std::ofstream(report.run_dir + "/schedule.txt") << report.schedule.describe(); }
  log.line("chaos run, seed " + std::to_string(options.seed) + ": " +
           std::to_string(report.schedule.episodes.size()) + " fault episodes, " +
           std::to_string(report.schedule.actions.size()) + " actions in " +
           fixed(options.minutes, 1) + " min; folder " + report.run_dir);

  if (!report.schedule.spec.disk_full) {
    log.line("no pg_disk_full episodes: mounting a tmpfs for the database needs root");
  }

  std::vector<std::string> replica_logs;
  bool keep = options.keep_logs;
  try {
    log.line("starting Postgres, a Kafka broker and Toxiproxy of the run's own");
    // The database on a disk of its own (a tmpfs; root only), which the
    // pg_disk_full episodes fill; the WAL stays on the server's disk. It
    // outlives the server, which holds its files open.
    std::unique_ptr<testing::SmallDisk> disk;
    if (report.schedule.spec.disk_full) disk = std::make_unique<testing::SmallDisk>("768m");
    PgServer pg;
    const std::string db_url = pg.create_database("chaos", disk.get());
    // The replicas reach both servers through Toxiproxy (the network
    // episodes); the driver's own clients go straight to them. The broker
    // has a second listener for the proxy, which advertises the proxy.
    testing::Toxiproxy proxy(report.run_dir);
    const uint16_t broker_listener = testing::free_port();
    const uint16_t broker_proxy =
        proxy.add_proxy(to_string(Link::kBroker), "127.0.0.1:" + std::to_string(broker_listener));
    KafkaServer broker(broker_listener, broker_proxy);
    const std::string replica_db_url = testing::pg_url_with_port(
        db_url, proxy.add_proxy(to_string(Link::kPostgres), testing::pg_url_host_port(db_url)));
    log.line("broker " + broker.brokers() + " (pid " + std::to_string(broker.pid()) + ", folder " +
             broker.dir() + "), Postgres " + db_url +
             "; the replicas reach them through 127.0.0.1:" + std::to_string(broker_proxy) +
             " and " + replica_db_url);
    testing::create_topic(broker.brokers(), kTopic, kPartitions);
    testing::create_topic(broker.brokers(), kDlqTopic, 1);

    ReplicaConfig base{"127.0.0.1:" + std::to_string(broker_proxy),
                       kTopic,
                       kGroup,
                       replica_db_url,
                       {},
                       report.run_dir};
    base.env = {{"KVSTREAM_KAFKA_SESSION_TIMEOUT_MS", "6000"},
                {"KVSTREAM_KAFKA_HEARTBEAT_INTERVAL_MS", "1000"},
                {"KVSTREAM_APPLY_WORKERS", "2"},
                {"KVSTREAM_HTTP_THREADS", "1"},
                {"KVSTREAM_HTTP_READ_POOL_SIZE", "1"},
                {"KVSTREAM_LOG_LEVEL", options.log_level}};
    if (options.tombstone_retention_s > 0) {
      base.env["KVSTREAM_TOMBSTONE_RETENTION_S"] = std::to_string(options.tombstone_retention_s);
    }
    testing::run_migrations(base);
    testing::install_audit(db_url);
    AppliedSampler applied_sampler(db_url, kTopic, kLatencyInterval);

    ReplicaPool pool(base, report.schedule.spec, log);
    Workload workload(broker.brokers(), options, log);
    Injector injector(broker, pg, db_url, proxy, disk.get(), pool, log, report);
    // Clients of the HTTP API on every replica, as long as the faults run.
    HttpClients http(
        kHttpClients, kHttpKeysPerClient, workload.oracle(), [&pool] { return pool.ports(); }, log);

    // The monitor reaps replica exits; the sampler follows the progress.
    std::atomic<bool> stop_threads{false};
    std::thread monitor([&] {
      while (!stop_threads.load()) {
        pool.poll();
        std::this_thread::sleep_for(200ms);
      }
    });
    std::atomic<double> longest_stall{0};
    std::thread sampler([&] {
      int64_t last = -1;
      auto last_change = Clock::now();
      auto next_line = Clock::now();
      while (!stop_threads.load()) {
        int64_t applied = last;
        try {
          applied = total(applied_offsets(db_url));
        } catch (const std::exception&) {
          // Postgres down: no progress to see.
        }
        const auto now = Clock::now();
        const int64_t published =
            static_cast<int64_t>(workload.publisher().acknowledged() + workload.poison().size());
        if (applied != last) {
          last = applied;
          last_change = now;
        } else if (applied < published) {
          longest_stall.store(std::max(longest_stall.load(), seconds(now - last_change)));
        }
        if (now >= next_line) {
          next_line = now + 10s;
          log.line("progress: acknowledged " + std::to_string(workload.publisher().acknowledged()) +
                   " events, " + std::to_string(workload.poison().size()) + " poison; applied " +
                   std::to_string(applied) + "; replicas up " + std::to_string(pool.running()) +
                   "; broker " + (injector.broker_up() ? "up" : "DOWN") + ", Postgres " +
                   (injector.pg_up() ? "up" : "DOWN"));
        }
        std::this_thread::sleep_for(1s);
      }
    });
    struct Joiner {
      std::atomic<bool>& stop;
      std::thread& a;
      std::thread& b;
      ~Joiner() {
        stop.store(true);
        if (a.joinable()) a.join();
        if (b.joinable()) b.join();
      }
    } joiner{stop_threads, monitor, sampler};

    for (int s = 0; s < options.core_replicas; ++s) log.line(pool.start(s));
    workload.start();
    http.start();
    const auto chaos_start = Clock::now();
    log.set_origin(chaos_start);
    log.line("chaos phase begins");

    // The schedule.
    for (const Action& a : report.schedule.actions) {
      const auto due = chaos_start + std::chrono::duration_cast<Clock::duration>(
                                         std::chrono::duration<double>(a.at));
      wait_for(
          options, [&] { return Clock::now() >= due; }, std::chrono::hours(24), 100ms);
      std::string outcome;
      try {
        outcome = injector.execute(a);
      } catch (const Abort&) {
        throw;
      } catch (const std::exception& e) {
        outcome = std::string("FAILED: ") + e.what();
        report.failures.push_back("action " + a.describe() + " failed: " + e.what());
      }
      const std::string line =
          a.describe() + (a.slot >= 0 ? " (" + slot_name(report.schedule.spec, a.slot) + ")" : "") +
          " -> " + fixed(log.now_s(), 2) + "s: " + outcome;
      report.executed.push_back(line);
      log.line(line);
    }
    const auto chaos_end =
        chaos_start + std::chrono::duration_cast<Clock::duration>(
                          std::chrono::duration<double>(report.schedule.spec.duration_s));
    wait_for(
        options, [&] { return Clock::now() >= chaos_end; }, std::chrono::hours(24), 100ms);
    log.line("chaos phase over: settling");
    injector.join_locks();
    injector.restore();

    // Everything published is acknowledged; nothing is left failed.
    workload.stop_poison();
    workload.stop_load();
    std::string why;
    if (!workload.settle(300s, &why)) report.failures.push_back("the test producer: " + why);
    if (!http.settle(120s, &why)) report.failures.push_back("the HTTP clients: " + why);
    if (!workload.error().empty()) {
      log.line("the load saw errors (retried): " + workload.error());
    }

    // The core replicas run; the storm's are gone.
    for (int s = options.core_replicas; s < options.core_replicas + options.storm_replicas; ++s) {
      pool.term(s);
    }
    for (int s = 0; s < options.core_replicas; ++s) {
      if (!pool.slot_running(s)) log.line("final start: " + pool.start(s));
    }
    if (!wait_for(
            options, [&] { return pool.settled(); }, 150s, 250ms)) {
      report.failures.push_back("replicas did not settle (a SIGTERM or a start pending) in 150 s");
    }

    Offsets end;
    if (!wait_for(
            options,
            [&] {
              try {
                end = dense(testing::end_offsets(broker.brokers(), kTopic));
                return true;
              } catch (const std::exception& e) {
                log.line(std::string("end offsets: ") + e.what());
                return false;
              }
            },
            60s, 1s)) {
      throw Abort("the broker does not tell the end offsets");
    }
    report.end_offsets_total = total(end);
    log.line("end offsets " + show(end) + "; waiting for kv_offsets to reach them");
    const auto catch_up_start = Clock::now();
    Offsets applied;
    // At most 600 s, and no more than 120 s without any partition moving.
    Offsets last_seen;
    auto last_move = Clock::now();
    bool stalled = false;
    const bool caught_up = wait_for(
                               options,
                               [&] {
                                 try {
                                   applied = applied_offsets(db_url);
                                 } catch (const std::exception&) {
                                   return false;
                                 }
                                 if (applied != last_seen) {
                                   last_seen = applied;
                                   last_move = Clock::now();
                                 } else if (Clock::now() - last_move > 120s) {
                                   stalled = true;
                                 }
                                 return applied == end || stalled;
                               },
                               600s, 500ms) &&
                           !stalled;
    report.catch_up_s = seconds(Clock::now() - catch_up_start);
    if (!caught_up) {
      std::string behind;
      for (const auto& [p, o] : end) {
        if (applied[p] != o) behind += " " + std::to_string(p);
      }
      report.failures.push_back("kv_offsets " + show(applied) + " never reached the end offsets " +
                                show(end) +
                                (stalled ? " (no partition moved for 120 s; behind:" + behind + ")"
                                         : " (600 s; behind:" + behind + ")") +
                                "\n" + pool.tails(4000));
    } else {
      log.line("caught up in " + fixed(report.catch_up_s, 1) + " s");
    }
    applied_sampler.stop();
    report.apply_latency = summarize_latency(
        workload.oracle().events(), applied_sampler.samples(), report.schedule.episodes,
        chaos_start, kRecoveryS, std::chrono::duration<double>(kLatencyInterval).count());

    // The topic, read once: for the HTTP writes and for the checker.
    std::optional<std::vector<schema::Record>> topic_log;
    try {
      topic_log = testing::read_all(broker.brokers(), kTopic, 600s);
    } catch (const std::exception& e) {
      report.failures.push_back(std::string("reading the topics: ") + e.what());
    }
    if (caught_up) {
      // A write of unknown outcome may reach the topic after the key's
      // settling write (a replica's producer delivering it late): the topic
      // says where it is.
      if (topic_log) http.adopt_late_writes(*topic_log);
      http.check_final(pool.ports());
    }
    report.http = http.figures().describe();
    for (const std::string& f : http.failures()) report.failures.push_back(f);

    Checker check(broker.brokers(), db_url, workload, report, applied, caught_up);
    try {
      check.table();
    } catch (const std::exception& e) {
      report.failures.push_back(std::string("reading the table: ") + e.what());
    }
    Offsets committed;
    const bool committed_ok = wait_for(
        options,
        [&] {
          try {
            committed = dense(testing::committed_offsets(broker.brokers(), kGroup, kTopic));
          } catch (const std::exception&) {
            return false;
          }
          return committed == end;
        },
        60s, 1s);
    if (!committed_ok) {
      report.failures.push_back("the group's committed offsets " + show(committed) +
                                " are not the end offsets " + show(end));
    }
    try {
      if (topic_log) check.topics(*topic_log);
    } catch (const std::exception& e) {
      report.failures.push_back(std::string("reading the topics: ") + e.what());
    }

    // Every replica leaves with exit 0.
    for (int s = 0; s < options.core_replicas + options.storm_replicas; ++s) pool.term(s);
    if (!wait_for(
            options, [&] { return pool.settled() && pool.running() == 0; }, 120s, 250ms)) {
      report.failures.push_back("replicas still running 120 s after the final SIGTERM");
    }
    stop_threads.store(true);
    monitor.join();
    sampler.join();
    pool.poll();

    for (const std::string& f : pool.failures()) report.failures.push_back(f);
    report.replica_starts = pool.starts();
    report.exits = pool.exits();
    report.slowest_sigterm_exit_s = pool.slowest_sigterm();
    report.delivery_failures = workload.delivery_failures();
    report.republished = workload.republished();
    report.poison_sent = workload.poison().size();
    report.poison_unknown = workload.poison_unknown();
    report.longest_stall_s = longest_stall.load();
    replica_logs = pool.log_paths();
  } catch (const std::exception& e) {
    report.failures.push_back(std::string("the run stopped: ") + e.what());
    keep = true;
  }
  spdlog::set_default_logger(previous_logger);
  report.elapsed_s = seconds(Clock::now() - run_start);
  if (!report.ok()) keep = true;
  if (!keep) {
    for (const std::string& path : replica_logs) std::remove(path.c_str());
  }
  std::ofstream(report.run_dir + "/report.txt") << report.full();
  log.line(report.ok() ? "PASSED" : "FAILED");
  return report;
}

}  // namespace kvstream::chaos
