// The chaos driver's (chaos.h) load and poison records. Internal to the
// driver.
#pragma once

#include <atomic>
#include <chrono>
#include <cstddef>
#include <memory>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "common/position.h"
#include "tests/robustness/chaos.h"
#include "tests/robustness/chaos_util.h"
#include "tests/robustness/run_log.h"
#include "tests/support/load.h"
#include "tests/support/oracle.h"

namespace kvstream::chaos::detail {

using testing::EventPublisher;
using testing::Oracle;

// The workload: a paced load of PUTs and DELETEs (oracle of acknowledged
// events) and poison records mixed in.

struct SentPoison {
  size_t n = 0;
  std::string reason;
  Position position;
};

class Workload {
 public:
  Workload(const std::string& brokers, const ChaosOptions& options, RunLog& log);

  ~Workload();

  void start();

  void stop_poison();
  void stop_load();

  // After stop_load(): waits for every acknowledgement, publishes the failed
  // events again, until nothing is in flight and nothing failed.
  bool settle(std::chrono::seconds timeout, std::string* why);

  Oracle& oracle();
  EventPublisher& publisher();
  std::vector<SentPoison> poison() const;
  size_t poison_unknown() const;
  size_t republished() const;
  size_t delivery_failures() const;
  std::string error() const;

 private:
  void sleep_until(Clock::time_point t, const std::atomic<bool>& stop);

  std::string value(const char* tag, size_t seq, std::mt19937_64& rng);

  // Publishes again, as new events, the events whose delivery failed (they
  // may have been written anyway: a later acknowledged event of the key
  // makes the outcome certain). Returns how many.
  size_t republish_failed();

  void note_error(const std::string& what);

  void load_loop();

  void poison_loop();

  const ChaosOptions options_;
  RunLog& log_;
  Oracle oracle_;
  std::unique_ptr<EventPublisher> publisher_;
  std::mt19937_64 republish_rng_{7};  // the load thread's, or settle()'s once it ended
  std::atomic<bool> stop_load_{false}, stop_poison_{false};
  std::atomic<size_t> republished_{0}, poison_unknown_{0};
  mutable std::mutex mu_;
  std::vector<SentPoison> poison_;  // guarded by mu_
  std::string error_;               // guarded by mu_
  std::thread load_thread_, poison_thread_;
};

}  // namespace kvstream::chaos::detail
