// The chaos driver's (chaos.h) consumer replicas. Internal to the driver.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "tests/robustness/chaos_util.h"
#include "tests/robustness/run_log.h"
#include "tests/robustness/schedule.h"
#include "tests/support/replica.h"

namespace kvstream::chaos::detail {

using testing::Replica;
using testing::ReplicaConfig;

// The replicas, by slot. Every exit is reaped here and classified: one the
// driver caused (SIGKILL: 137; SIGTERM: 0, within kSigtermLimit) or not.
class ReplicaPool {
 public:
  ReplicaPool(ReplicaConfig base, const ScheduleSpec& spec, RunLog& log);

  std::string start(int slot);

  std::string kill(int slot);

  std::string term(int slot);

  // Reaps exits, starts deferred restarts, enforces the SIGTERM deadline.
  void poll();

  // No SIGTERM in progress, no start deferred.
  bool settled();

  int running();

  bool slot_running(int slot);

  std::vector<std::string> failures();
  std::map<std::string, size_t> exits();
  size_t starts();
  double slowest_sigterm();
  std::vector<std::string> log_paths();
  // The HTTP ports of the replicas running and not signalled.
  std::vector<uint16_t> ports();
  // The log tails of the replicas running now.
  std::string tails(size_t bytes);

 private:
  enum class Expect { kNone, kKill, kTerm, kTimedOut };
  struct Slot {
    std::string name;
    bool storm = false;
    std::unique_ptr<Replica> proc;
    std::string proc_name;  // name of the running process: slot.generation
    std::string last_exit_name;
    int generation = 0;
    Expect expect = Expect::kNone;
    Clock::time_point signalled;
    bool start_pending = false;
  };

  // Under mu_.
  std::string launch(Slot& s);

  static bool log_is_empty(const Replica& r);

  // Under mu_: if the slot's process has exited, records and classifies it.
  void reap(Slot& s);
  // Writes every thread's stack of a replica that does not stop; says where.
  static std::string dump_stacks(const Replica& r);

  void fail(const std::string& what);

  const ReplicaConfig base_;
  const ScheduleSpec spec_;
  RunLog& log_;
  std::mutex mu_;
  std::vector<Slot> slots_;  // guarded by mu_, as is everything below
  std::vector<std::string> failures_;
  std::map<std::string, size_t> exits_;
  std::vector<std::string> log_paths_;
  size_t starts_ = 0;
  double slowest_sigterm_ = 0;
};

}  // namespace kvstream::chaos::detail
