// The programs behind bench/apply_bench, one subcommand of
// `apply_bench_tools` each (bench/README.md says what each measures):
//
//   create-topic  the benchmark's topics
//   publish       the workload, once, into Kafka
//   watch         waits until a kvstream replica has applied a whole topic;
//                 its rate, CPU and peak RSS
//   ceiling       the database ceiling: the same batched upserts, no Kafka
//   naive         the naive consumer: one event per transaction
//   latency       publishes at a fixed rate and measures record timestamp ->
//                 committed in Postgres, per event
//   migration     migrates a live table of millions of rows while batches
//                 are applied; how long the batches waited
//
// Each prints its results on stdout as `name=value` lines (the driver reads
// them) and its progress and diagnostics on stderr. Exit status: 0 when the
// measurement ran, 1 when it could not (a failure, a timeout, a check that
// did not hold).
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <iostream>
#include <string>

#include "bench/proc_stats.h"
#include "bench/workload.h"

namespace CLI {
class App;
}

namespace kvstream::bench {

using SteadyClock = std::chrono::steady_clock;

inline double seconds_since(SteadyClock::time_point start) {
  return std::chrono::duration<double>(SteadyClock::now() - start).count();
}

// Processes whose cost a measurement window accounts for, besides its own
// (0: not watched).
struct Watched {
  pid_t postmaster = 0;  // Postgres: the postmaster and its backends
  pid_t broker = 0;      // the Kafka broker's JVM
  pid_t replica = 0;     // a kvstream-consumer
};

struct PublishOptions {
  std::string brokers, topic;
  WorkloadSpec workload;
};

struct WatchOptions {
  std::string brokers, topic, pg_url;
  pid_t pid = 0;  // the kvstream-consumer replica
  std::chrono::seconds timeout{1800};
  Watched watched;
};

struct CeilingOptions {
  std::string pg_url, topic;
  WorkloadSpec workload;
  size_t batch_events = 5000;       // events per partition transaction, before coalescing
  int connections = 1;              // partitions are spread over this many connections
  std::string method = "kvstream";  // the SQL (bench/ceiling_writers.h)
  Watched watched;
};

struct NaiveOptions {
  std::string brokers, topic, group, pg_url;
  int64_t max_events = 100000;
  std::chrono::seconds max_seconds{180};
  Watched watched;
};

struct LatencyOptions {
  std::string brokers, topic, pg_url;
  WorkloadSpec workload;  // events = rate * seconds
  int rate = 20000;       // events per second
  std::chrono::seconds duration{30};
  std::chrono::milliseconds probe_interval{2};
  std::chrono::seconds drain_timeout{120};
  // Published first at the same rate and applied, but not counted: the
  // producer's and the replica's first seconds (connections, metadata, the
  // producer id) are not the latency at that rate.
  std::chrono::seconds warmup{0};
  // The publisher's linger.ms: 0 sends each record at once, so the figure is
  // the pipeline's latency, not the producer's batching.
  std::chrono::milliseconds linger{0};
  Watched watched;
};

// The command-line options of a workload (--events unless with_events is
// false, --keys, --value-bytes, --delete-ratio, --partitions, --seed) and of
// the processes whose CPU a run accounts (--postmaster-pid, --broker-pid,
// and --replica-pid if with_replica).
void add_workload_options(CLI::App& app, WorkloadSpec& w, bool with_events);
void add_watched_options(CLI::App& app, Watched& w, bool with_replica = false);

int run_publish(const PublishOptions& options);
int run_watch(const WatchOptions& options);
struct MigrationOptions {
  std::string pg_url;
  int64_t rows = 10000000;
  int writers = 4;
  size_t batch_events = 1000;
  std::chrono::seconds before{10};  // of writing before the migration, and after it
};

int run_ceiling(const CeilingOptions& options);
int run_migration(const MigrationOptions& options);
int run_naive(const NaiveOptions& options);
int run_latency(const LatencyOptions& options);

// A result line: `name=value` on stdout.
template <typename T>
void report(const std::string& name, const T& value) {
  std::cout << name << '=' << value << '\n';
}

// What this process and the watched ones cost during a window, and how busy
// the whole machine was meanwhile (other work on a shared machine shows as
// run-queue time and as machine CPU the benchmark did not use).
class CostWindow {
 public:
  explicit CostWindow(Watched watched);  // the window starts now
  // Reports, since the window started: window_s, cores, machine_cpu_s,
  // self_cpu_s, and <who>_cpu_s and <who>_runq_s for pg, broker and replica
  // (those watched).
  void report_usage() const;

 private:
  Watched watched_;
  SteadyClock::time_point start_;
  Cost self_, pg_, broker_, replica_, machine_;
};

// Applies kvstream's migrations to the database at `pg_url`.
void migrate_database(const std::string& pg_url);

}  // namespace kvstream::bench
