// apply_bench_tools: the programs bench/apply_bench runs (see tools.h and
// bench/README.md). `apply_bench_tools SUBCOMMAND --help` lists the options.

#include <CLI/CLI.hpp>
#include <exception>

#include "bench/ceiling_writers.h"
#include "bench/tools.h"
#include "common/kafka_admin.h"

namespace kvstream::bench {
namespace {

int run(int argc, char** argv) {
  CLI::App app{"apply_bench_tools: the programs of bench/apply_bench"};
  app.require_subcommand(1);

  std::string brokers, topic;
  int partitions = 6;
  auto* create = app.add_subcommand("create-topic", "Create a topic");
  create->add_option("--brokers", brokers)->required();
  create->add_option("--topic", topic)->required();
  create->add_option("--partitions", partitions)->capture_default_str();

  PublishOptions publish;
  auto* pub = app.add_subcommand("publish", "Publish the workload once");
  pub->add_option("--brokers", publish.brokers)->required();
  pub->add_option("--topic", publish.topic)->required();
  add_workload_options(*pub, publish.workload, true);

  WatchOptions watch;
  int64_t watch_timeout = watch.timeout.count();
  auto* wat = app.add_subcommand("watch", "Wait until a replica has applied a whole topic");
  wat->add_option("--brokers", watch.brokers)->required();
  wat->add_option("--topic", watch.topic)->required();
  wat->add_option("--pg-url", watch.pg_url)->required();
  wat->add_option("--pid", watch.pid, "The replica's pid")->required();
  wat->add_option("--timeout", watch_timeout, "Seconds")->capture_default_str();
  add_watched_options(*wat, watch.watched);

  CeilingOptions ceiling;
  ceiling.topic = "bench-ceiling";
  auto* ceil = app.add_subcommand("ceiling", "The database ceiling: batched upserts, no Kafka");
  ceil->add_option("--pg-url", ceiling.pg_url)->required();
  ceil->add_option("--batch-events", ceiling.batch_events)->capture_default_str();
  ceil->add_option("--connections", ceiling.connections)->capture_default_str();
  ceil->add_option("--method", ceiling.method, "kvstream, unnest-text, copy-binary or merge")
      ->check(CLI::IsMember(ceiling_methods()))
      ->capture_default_str();
  add_workload_options(*ceil, ceiling.workload, true);
  add_watched_options(*ceil, ceiling.watched);

  NaiveOptions naive;
  int64_t naive_seconds = naive.max_seconds.count();
  auto* nai = app.add_subcommand("naive", "The naive consumer: one event per transaction");
  nai->add_option("--brokers", naive.brokers)->required();
  nai->add_option("--topic", naive.topic)->required();
  nai->add_option("--group", naive.group)->required();
  nai->add_option("--pg-url", naive.pg_url)->required();
  nai->add_option("--max-events", naive.max_events)->capture_default_str();
  nai->add_option("--max-seconds", naive_seconds)->capture_default_str();
  add_watched_options(*nai, naive.watched);

  LatencyOptions latency;
  latency.workload.seed += 1;  // another stream of the same shape
  int64_t lat_seconds = latency.duration.count();
  int64_t probe_ms = latency.probe_interval.count();
  int64_t drain_seconds = latency.drain_timeout.count();
  int64_t warmup_seconds = latency.warmup.count();
  int64_t linger_ms = latency.linger.count();
  auto* lat = app.add_subcommand("latency", "Apply latency at a fixed rate");
  lat->add_option("--brokers", latency.brokers)->required();
  lat->add_option("--topic", latency.topic)->required();
  lat->add_option("--pg-url", latency.pg_url)->required();
  lat->add_option("--rate", latency.rate, "Events per second")->capture_default_str();
  lat->add_option("--seconds", lat_seconds, "How long to publish")->capture_default_str();
  lat->add_option("--probe-interval-ms", probe_ms)->capture_default_str();
  lat->add_option("--drain-timeout", drain_seconds, "Seconds")->capture_default_str();
  lat->add_option("--warmup-seconds", warmup_seconds, "Uncounted seconds first")
      ->capture_default_str();
  lat->add_option("--linger-ms", linger_ms, "The publisher's linger.ms")->capture_default_str();
  add_workload_options(*lat, latency.workload, false);
  add_watched_options(*lat, latency.watched, true);

  MigrationOptions migration;
  int64_t before_seconds = migration.before.count();
  auto* mig = app.add_subcommand(
      "migration", "Migrate a live table of many rows while batches apply; how long they waited");
  mig->add_option("--pg-url", migration.pg_url, "A new, empty database")->required();
  mig->add_option("--rows", migration.rows)->capture_default_str();
  mig->add_option("--writers", migration.writers)->capture_default_str();
  mig->add_option("--batch-events", migration.batch_events)->capture_default_str();
  mig->add_option("--before-seconds", before_seconds, "Writing before (and after) the migration")
      ->capture_default_str();

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? 0 : 2;
  }
  watch.timeout = std::chrono::seconds(watch_timeout);
  naive.max_seconds = std::chrono::seconds(naive_seconds);
  latency.duration = std::chrono::seconds(lat_seconds);
  latency.probe_interval = std::chrono::milliseconds(probe_ms);
  latency.drain_timeout = std::chrono::seconds(drain_seconds);
  latency.warmup = std::chrono::seconds(warmup_seconds);
  latency.linger = std::chrono::milliseconds(linger_ms);
  migration.before = std::chrono::seconds(before_seconds);

  try {
    if (create->parsed()) {
      kafka::create_topic(brokers, topic, partitions);
      return 0;
    }
    if (pub->parsed()) return run_publish(publish);
    if (wat->parsed()) return run_watch(watch);
    if (ceil->parsed()) return run_ceiling(ceiling);
    if (nai->parsed()) return run_naive(naive);
    if (lat->parsed()) return run_latency(latency);
    if (mig->parsed()) return run_migration(migration);
  } catch (const std::exception& e) {
    std::cerr << "apply_bench_tools " << app.get_subcommands().front()->get_name() << ": "
              << e.what() << "\n";
    return 1;
  }
  return 2;
}

}  // namespace
}  // namespace kvstream::bench

int main(int argc, char** argv) { return kvstream::bench::run(argc, argv); }
