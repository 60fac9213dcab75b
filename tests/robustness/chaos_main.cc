// kvstream-chaos: the chaos driver from the command line (scripts/chaos).
//
//   kvstream-chaos --minutes 30 --seed 7
//   kvstream-chaos --print-schedule --minutes 5 --seed 7   # the plan only
//
// Exit code 0 when every invariant held, 1 when one did not (the report
// says which, with the seed and the schedule), 2 for bad arguments.
#include <signal.h>

#include <CLI/CLI.hpp>
#include <atomic>
#include <fstream>
#include <iostream>
#include <random>

#include "tests/robustness/chaos.h"

namespace {

// Ctrl-C or SIGTERM: the run stops at its next wait and cleans up (the broker
// and Postgres it started are stopped, its replicas killed).
std::atomic<bool> cancelled{false};
static_assert(std::atomic<bool>::is_always_lock_free);
extern "C" void on_signal(int) { cancelled.store(true); }

}  // namespace

int main(int argc, char** argv) {
  using namespace kvstream::chaos;
  ChaosOptions options;
  options.seed = std::random_device{}();
  bool print_schedule = false;

  CLI::App app{"kvstream chaos driver: a load with a known final state under seeded faults"};
  app.add_option("--minutes", options.minutes, "length of the chaos phase")->capture_default_str();
  app.add_option("--seed", options.seed, "seed of the schedule and the load (default: random)");
  app.add_option("--replicas", options.core_replicas, "replicas that always run")
      ->capture_default_str()
      ->check(CLI::Range(1, 16));
  app.add_option("--storm-replicas", options.storm_replicas,
                 "extra replicas that join and leave during rebalance storms")
      ->capture_default_str()
      ->check(CLI::Range(0, 16));
  app.add_option("--rate", options.rate, "events per second")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  app.add_option("--poison-per-minute", options.poison_per_minute, "poison records per minute")
      ->capture_default_str();
  app.add_option("--tombstone-retention", options.tombstone_retention_s,
                 "KVSTREAM_TOMBSTONE_RETENTION_S of the replicas (0: their default of a day, "
                 "so that every tombstone is checked)")
      ->capture_default_str();
  app.add_option("--run-dir", options.run_dir,
                 "folder for the log, schedule, report and replica logs (default: a new "
                 "/tmp/kvstream-chaos-XXXXXX)");
  app.add_option("--log-level", options.log_level, "log level of the replicas")
      ->capture_default_str();
  app.add_flag("--keep-logs", options.keep_logs, "keep the replica logs of a run that passed");
  app.add_flag("--print-schedule", print_schedule, "print the schedule and exit");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? 0 : 2;
  }
  if (options.minutes <= 0) {
    std::cerr << "kvstream-chaos: --minutes must be positive" << std::endl;
    return 2;
  }

  if (print_schedule) {
    const Schedule s = make_schedule(schedule_spec(options));
    std::cout << s.describe();
    for (const auto& [kind, n] : s.episodes_by_kind())
      std::cout << to_string(kind) << " " << n << "\n";
    return 0;
  }

  options.out = &std::cout;
  options.cancel = &cancelled;
  struct sigaction sa {};
  sa.sa_handler = on_signal;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);
  std::cout << "kvstream-chaos: seed " << options.seed << ", " << options.minutes
            << " min of faults" << std::endl;
  const ChaosReport report = run_chaos(options);
  std::cout << "\n" << report.full() << std::endl;
  std::cout << report.figures();
  if (!report.ok()) {
    std::cout << "replay: " << report.replay_command() << std::endl;
  }
  std::cout << "report: " << report.run_dir << "/report.txt" << std::endl;
  return report.ok() ? 0 : 1;
}
