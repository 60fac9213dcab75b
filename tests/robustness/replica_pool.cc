#include "tests/robustness/replica_pool.h"

#include <signal.h>

#include <algorithm>
#include <chrono>
#include <exception>
#include <filesystem>
#include <fstream>
#include <optional>
#include <system_error>
#include <utility>

#include "stop_watchdog.h"

namespace kvstream::chaos::detail {

using namespace std::chrono_literals;

// A replica has KVSTREAM_SHUTDOWN_GRACE_MS (20 s) to apply what is pending
// after SIGTERM, and up to 10 s per revoke; on top, the broker or Postgres
// may be down for a while and leaving the group waits for the broker.
constexpr auto kSigtermLimit = 90s;

ReplicaPool::ReplicaPool(ReplicaConfig base, const ScheduleSpec& spec, RunLog& log)
    : base_(std::move(base)), spec_(spec), log_(log) {
  for (int i = 0; i < spec.core_replicas + spec.storm_replicas; ++i) {
    Slot s;
    s.name = slot_name(spec, i);
    s.storm = i >= spec.core_replicas;
    slots_.push_back(std::move(s));
  }
}

std::string ReplicaPool::start(int slot) {
  std::lock_guard<std::mutex> lock(mu_);
  Slot& s = slots_.at(static_cast<size_t>(slot));
  reap(s);
  if (s.proc) {
    if (s.expect != Expect::kNone) {
      s.start_pending = true;
      return "deferred: " + s.proc_name + " is still shutting down";
    }
    return "already running (" + s.proc_name + ")";
  }
  return launch(s);
}

std::string ReplicaPool::kill(int slot) {
  std::lock_guard<std::mutex> lock(mu_);
  Slot& s = slots_.at(static_cast<size_t>(slot));
  reap(s);
  if (!s.proc) return "not running: nothing to kill";
  s.expect = Expect::kKill;
  s.signalled = Clock::now();
  const pid_t pid = s.proc->pid();
  s.proc->kill();
  reap(s);
  return "SIGKILL " + s.last_exit_name + " (pid " + std::to_string(pid) + ")";
}

std::string ReplicaPool::term(int slot) {
  std::lock_guard<std::mutex> lock(mu_);
  Slot& s = slots_.at(static_cast<size_t>(slot));
  reap(s);
  if (!s.proc) return "not running: nothing to terminate";
  if (s.expect != Expect::kNone) {
    // It stays stopped: a start deferred until it is gone is called off.
    s.start_pending = false;
    return "already being stopped (" + s.proc_name + ")";
  }
  s.expect = Expect::kTerm;
  s.signalled = Clock::now();
  s.proc->signal(SIGTERM);
  return "SIGTERM " + s.proc_name + " (pid " + std::to_string(s.proc->pid()) + ")";
}

std::string ReplicaPool::dump_stacks(const Replica& r) {
  // Where a replica that does not stop waits: every thread's stack, by gdb
  // when the machine has it, beside the replica's log.
  const std::string path = r.log_path() + ".stacks";
  testing::RunResult bt;
  try {
    bt = testing::run_command(
        {"/usr/bin/gdb", "-p", std::to_string(r.pid()), "-batch", "-ex", "thread apply all bt"}, {},
        std::chrono::seconds(60));
  } catch (const std::exception& e) {
    return std::string("no stacks: ") + e.what();
  }
  if (bt.exit_code != 0 || bt.out.empty()) return "no stacks: gdb failed";
  std::ofstream(path) << bt.out;
  return "its threads' stacks: " + path;
}

void ReplicaPool::poll() {
  std::lock_guard<std::mutex> lock(mu_);
  for (Slot& s : slots_) {
    reap(s);
    if (s.proc && s.expect == Expect::kTerm && Clock::now() - s.signalled > kSigtermLimit) {
      fail(s.proc_name + " did not exit within " +
           std::to_string(std::chrono::duration_cast<std::chrono::seconds>(kSigtermLimit).count()) +
           " s of SIGTERM; killed (" + dump_stacks(*s.proc) + ")\n" + s.proc->log_tail());
      s.expect = Expect::kTimedOut;
      s.proc->kill();
      reap(s);
    }
    if (!s.proc && s.start_pending) {
      s.start_pending = false;
      log_.line("deferred start of " + s.name + ": " + launch(s));
    }
  }
}

std::vector<uint16_t> ReplicaPool::ports() {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<uint16_t> out;
  for (const Slot& s : slots_) {
    if (s.proc && s.expect == Expect::kNone) out.push_back(s.proc->port());
  }
  return out;
}

bool ReplicaPool::settled() {
  std::lock_guard<std::mutex> lock(mu_);
  for (const Slot& s : slots_) {
    if (s.start_pending || (s.proc && s.expect != Expect::kNone)) return false;
  }
  return true;
}

int ReplicaPool::running() {
  std::lock_guard<std::mutex> lock(mu_);
  int n = 0;
  for (const Slot& s : slots_) {
    if (s.proc && s.expect == Expect::kNone) ++n;
  }
  return n;
}

bool ReplicaPool::slot_running(int slot) {
  std::lock_guard<std::mutex> lock(mu_);
  const Slot& s = slots_.at(static_cast<size_t>(slot));
  return s.proc != nullptr || s.start_pending;
}

std::vector<std::string> ReplicaPool::failures() {
  std::lock_guard<std::mutex> lock(mu_);
  return failures_;
}

std::map<std::string, size_t> ReplicaPool::exits() {
  std::lock_guard<std::mutex> lock(mu_);
  return exits_;
}

size_t ReplicaPool::starts() {
  std::lock_guard<std::mutex> lock(mu_);
  return starts_;
}

double ReplicaPool::slowest_sigterm() {
  std::lock_guard<std::mutex> lock(mu_);
  return slowest_sigterm_;
}

std::vector<std::string> ReplicaPool::log_paths() {
  std::lock_guard<std::mutex> lock(mu_);
  return log_paths_;
}

std::string ReplicaPool::tails(size_t bytes) {
  std::lock_guard<std::mutex> lock(mu_);
  std::string out;
  for (const Slot& s : slots_) {
    if (s.proc) out += s.proc->log_tail(bytes) + "\n";
  }
  return out;
}

std::string ReplicaPool::launch(Slot& s) {
  ReplicaConfig config = base_;
  config.env["KVSTREAM_KAFKA_CLIENT_ID"] = "chaos-" + s.name;
  // One replica is a static member: a quick restart keeps its partitions.
  if (s.name == "r0") config.env["KVSTREAM_GROUP_INSTANCE_ID"] = "chaos-r0";
  const std::string name = s.name + "." + std::to_string(s.generation++);
  try {
    s.proc = std::make_unique<Replica>(config, name);
  } catch (const std::exception& e) {
    fail("cannot start replica " + name + ": " + e.what());
    return std::string("start failed: ") + e.what();
  }
  s.proc_name = name;
  s.expect = Expect::kNone;
  ++starts_;
  log_paths_.push_back(s.proc->log_path());
  return "started " + name + " (pid " + std::to_string(s.proc->pid()) + ", port " +
         std::to_string(s.proc->port()) + ")";
}

bool ReplicaPool::log_is_empty(const Replica& r) {
  std::error_code ec;
  return std::filesystem::file_size(r.log_path(), ec) == 0 && !ec;
}

void ReplicaPool::reap(Slot& s) {
  if (!s.proc) return;
  const std::optional<int> code = s.proc->wait(0ms);
  if (!code) return;
  const double after = seconds(Clock::now() - s.signalled);
  std::string what =
      s.proc_name + " (pid " + std::to_string(s.proc->pid()) + ") exited " + std::to_string(*code);
  switch (s.expect) {
    case Expect::kKill:
      if (*code == 128 + SIGKILL) {
        ++exits_["kill9"];
      } else {
        ++exits_["unexpected"];
        fail(what + " before the SIGKILL arrived (an exit nobody asked for)\n" +
             s.proc->log_tail());
      }
      break;
    case Expect::kTerm:
      if (*code == 128 + SIGTERM && log_is_empty(*s.proc)) {
        // Signalled before its first instruction took the signals over
        // (the replica blocks them before it logs anything): an orchestrator
        // stopping a process it has just started sees the same, and
        // nothing had been done yet.
        ++exits_["sigterm_before_start"];
        log_.line(what + ", signalled before it started");
        break;
      }
      if (*code == kExitStopOverran) {
        // A step of the stop waited inside a library past the stop's limit
        // (finding 13: librdkafka's unassign while the broker is down); the
        // replica ended itself, as safely as kill -9. Counted and reported.
        ++exits_["sigterm_overran"];
        log_.line(what + ", " + fixed(after, 1) + " s after SIGTERM: its stop overran its limit\n" +
                  s.proc->log_tail(1000));
        break;
      }
      ++exits_["sigterm"];
      slowest_sigterm_ = std::max(slowest_sigterm_, after);
      if (*code != 0) {
        fail(what + " after SIGTERM (want 0)\n" + s.proc->log_tail());
      }
      log_.line(what + ", " + fixed(after, 1) + " s after SIGTERM");
      break;
    case Expect::kTimedOut:
      ++exits_["sigterm_timeout"];
      break;
    case Expect::kNone:
      ++exits_["unexpected"];
      fail(what + " by itself (nobody signalled it)\n" + s.proc->log_tail());
      log_.line("UNEXPECTED EXIT: " + what);
      break;
  }
  s.last_exit_name = s.proc_name;
  s.proc.reset();
  s.expect = Expect::kNone;
}

void ReplicaPool::fail(const std::string& what) {
  std::string line = "replica: " + what;
  // A consumer bug fixed before (tests/robustness/findings_test.cc), back.
  if (what.find("rd_kafka_sticky_assignor_state_destroy: Assertion") != std::string::npos) {
    line +=
        "\n  (SIGTERM between joining the group and the first assignment aborts in "
        "librdkafka 2.0.2's cooperative-sticky assignor, librdkafka issue 4312; "
        "KafkaSource::close works around it: see ReplicaShutdown in findings_test.cc)";
  }
  failures_.push_back(line);
}

}  // namespace kvstream::chaos::detail
