// bench_run_tools: the programs bench/run adds to apply_bench_tools' (see
// run_tools.h and docs/benchmarks.md). `bench_run_tools SUBCOMMAND --help`
// lists the options.

#include "bench/run_tools.h"

#include <CLI/CLI.hpp>
#include <exception>
#include <sstream>

namespace kvstream::bench {
namespace {

std::vector<std::string> split(const std::string& s) {
  std::vector<std::string> out;
  std::stringstream in(s);
  for (std::string item; std::getline(in, item, ',');) {
    if (!item.empty()) out.push_back(item);
  }
  return out;
}

int run(int argc, char** argv) {
  CLI::App app{"bench_run_tools: the programs of bench/run"};
  app.require_subcommand(1);

  PublishJsonOptions publish;
  auto* pub =
      app.add_subcommand("publish-json", "Publish the workload in the JSON-with-schema envelope");
  pub->add_option("--brokers", publish.brokers)->required();
  pub->add_option("--topic", publish.topic)->required();
  pub->add_option("--value-type", publish.value_type, "bytes or string")->capture_default_str();
  add_workload_options(*pub, publish.workload, true);

  WatchTableOptions watch;
  std::string sentinels;
  int64_t watch_timeout = watch.timeout.count();
  auto* wat =
      app.add_subcommand("watch-table", "Wait until the sink's table holds the final state");
  wat->add_option("--pg-url", watch.pg_url)->required();
  wat->add_option("--table", watch.table)->required();
  wat->add_option("--value-type", watch.value_type, "bytes or string")->capture_default_str();
  wat->add_option("--pid", watch.pid, "The Kafka Connect worker's pid")->required();
  wat->add_option("--sentinels", sentinels, "Sentinel keys, comma-separated")->required();
  wat->add_option("--timeout", watch_timeout, "Seconds")->capture_default_str();
  add_workload_options(*wat, watch.workload, true);
  add_watched_options(*wat, watch.watched);

  LatencyJsonOptions latency;
  latency.workload.seed += 1;  // the stream of apply_bench_tools latency
  int64_t lat_seconds = latency.duration.count();
  int64_t warmup_seconds = latency.warmup.count();
  int64_t linger_ms = latency.linger.count();
  int64_t probe_ms = latency.probe_interval.count();
  int64_t drain_seconds = latency.drain_timeout.count();
  auto* lat = app.add_subcommand("latency-json", "The sink's apply latency at a fixed rate");
  lat->add_option("--brokers", latency.brokers)->required();
  lat->add_option("--topic", latency.topic)->required();
  lat->add_option("--pg-url", latency.pg_url)->required();
  lat->add_option("--table", latency.table)->required();
  lat->add_option("--value-type", latency.value_type, "bytes or string")->capture_default_str();
  lat->add_option("--rate", latency.rate, "Events per second")->capture_default_str();
  lat->add_option("--seconds", lat_seconds, "How long to publish")->capture_default_str();
  lat->add_option("--warmup-seconds", warmup_seconds, "Uncounted seconds first")
      ->capture_default_str();
  lat->add_option("--probe-interval-ms", probe_ms)->capture_default_str();
  lat->add_option("--linger-ms", linger_ms, "The publisher's linger.ms")->capture_default_str();
  lat->add_option("--drain-timeout", drain_seconds, "Seconds")->capture_default_str();
  add_workload_options(*lat, latency.workload, false);
  add_watched_options(*lat, latency.watched, true);

  GroupReadyOptions ready;
  int64_t ready_timeout = ready.timeout.count();
  auto* rdy = app.add_subcommand("group-ready",
                                 "Wait until a group is stable with all partitions assigned");
  rdy->add_option("--brokers", ready.brokers)->required();
  rdy->add_option("--group", ready.group)->required();
  rdy->add_option("--topic", ready.topic)->required();
  rdy->add_option("--timeout", ready_timeout, "Seconds")->capture_default_str();

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? 0 : 2;
  }
  watch.sentinels = split(sentinels);
  watch.timeout = std::chrono::seconds(watch_timeout);
  latency.duration = std::chrono::seconds(lat_seconds);
  latency.warmup = std::chrono::seconds(warmup_seconds);
  latency.linger = std::chrono::milliseconds(linger_ms);
  latency.probe_interval = std::chrono::milliseconds(probe_ms);
  latency.drain_timeout = std::chrono::seconds(drain_seconds);
  ready.timeout = std::chrono::seconds(ready_timeout);

  try {
    if (pub->parsed()) return run_publish_json(publish);
    if (wat->parsed()) return run_watch_table(watch);
    if (lat->parsed()) return run_latency_json(latency);
    if (rdy->parsed()) return run_group_ready(ready);
  } catch (const std::exception& e) {
    std::cerr << "bench_run_tools " << app.get_subcommands().front()->get_name() << ": " << e.what()
              << "\n";
    return 1;
  }
  return 2;
}

}  // namespace
}  // namespace kvstream::bench

int main(int argc, char** argv) { return kvstream::bench::run(argc, argv); }
