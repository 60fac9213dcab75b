#include <unistd.h>

#include <CLI/CLI.hpp>
#include <pqxx/pqxx>
#include <thread>

#include "bench/tools.h"
#include "schema/migrations.h"

namespace kvstream::bench {

void add_workload_options(CLI::App& app, WorkloadSpec& w, bool with_events) {
  if (with_events)
    app.add_option("--events", w.events, "Events in the workload")->capture_default_str();
  app.add_option("--keys", w.keys, "Distinct keys")->capture_default_str();
  app.add_option("--value-bytes", w.value_bytes, "Bytes per PUT value")->capture_default_str();
  app.add_option("--delete-ratio", w.delete_ratio, "Share of DELETE events")->capture_default_str();
  app.add_option("--partitions", w.partitions, "Partitions of the topic")->capture_default_str();
  app.add_option("--seed", w.seed, "Seed of the workload")->capture_default_str();
  app.add_flag("--unique-keys", w.unique_keys, "Event i writes key i (a row per event)");
}

void add_watched_options(CLI::App& app, Watched& w, bool with_replica) {
  app.add_option("--postmaster-pid", w.postmaster, "Postgres server pid, to account its CPU");
  app.add_option("--broker-pid", w.broker, "Kafka broker pid, to account its CPU");
  if (with_replica) app.add_option("--replica-pid", w.replica, "Replica pid, to account its CPU");
}

CostWindow::CostWindow(Watched watched) : watched_(watched), start_(SteadyClock::now()) {
  self_ = process_cost(getpid());
  if (watched_.postmaster > 0) pg_ = process_tree_cost(watched_.postmaster);
  if (watched_.broker > 0) broker_ = process_cost(watched_.broker);
  if (watched_.replica > 0) replica_ = process_cost(watched_.replica);
  machine_ = machine_cost();
}

void CostWindow::report_usage() const {
  const auto both = [](const std::string& who, const Cost& c) {
    if (!c.ok) return;
    report(who + "_cpu_s", c.cpu_s);
    report(who + "_runq_s", c.runq_s);
  };
  report("window_s", seconds_since(start_));
  report("cores", std::thread::hardware_concurrency());
  report("machine_cpu_s", (machine_cost() - machine_).cpu_s);
  // Only CPU for this process: its threads that ended took their run-queue
  // time with them.
  report("self_cpu_s", (process_cost(getpid()) - self_).cpu_s);
  if (watched_.postmaster > 0) both("pg", process_tree_cost(watched_.postmaster) - pg_);
  if (watched_.broker > 0) both("broker", process_cost(watched_.broker) - broker_);
  if (watched_.replica > 0) both("replica", process_cost(watched_.replica) - replica_);
}

void migrate_database(const std::string& pg_url) {
  pqxx::connection conn(pg_url);
  schema::migrate(conn, schema::load_migrations(schema::embedded_migrations()));
}

}  // namespace kvstream::bench
