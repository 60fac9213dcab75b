#include "tests/robustness/chaos.h"

#include <signal.h>
#include <spdlog/sinks/basic_file_sink.h>
#include <spdlog/spdlog.h>
#include <stdlib.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <memory>
#include <mutex>
#include <random>
#include <set>
#include <sstream>
#include <thread>

#include "schema/codec.h"
#include "schema/dlq.h"
#include "tests/support/kafka_server.h"
#include "tests/support/kafka_util.h"
#include "tests/support/kv_table.h"
#include "tests/support/load.h"
#include "tests/support/oracle.h"
#include "tests/support/pg_faults.h"
#include "tests/support/pg_server.h"
#include "tests/support/poison.h"
#include "tests/support/replica.h"
#include "tests/support/wait.h"

namespace kvstream::chaos {

namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;
using testing::EventPublisher;
using testing::eventually;
using testing::KafkaServer;
using testing::Oracle;
using testing::PgServer;
using testing::PublishedEvent;
using testing::Replica;
using testing::ReplicaConfig;

const std::string kTopic = "chaos";
const std::string kDlqTopic = "chaos.dlq";
const std::string kGroup = "chaos";
constexpr int kPartitions = 6;
// A replica has KVSTREAM_SHUTDOWN_GRACE_MS (20 s) to apply what is pending
// after SIGTERM, and up to 10 s per revoke; on top, the broker or Postgres
// may be down for a while and leaving the group waits for the broker.
constexpr auto kSigtermLimit = 90s;

double seconds(Clock::duration d) { return std::chrono::duration<double>(d).count(); }

// `value` with `decimals` digits after the point.
std::string fixed(double value, int decimals) {
  char buf[64];
  std::snprintf(buf, sizeof(buf), "%.*f", decimals, value);
  return buf;
}

using Offsets = std::map<int32_t, int64_t>;

Offsets dense(Offsets sparse) {
  for (int32_t p = 0; p < kPartitions; ++p) sparse.emplace(p, 0);
  return sparse;
}

int64_t total(const Offsets& offsets) {
  int64_t sum = 0;
  for (const auto& [p, o] : offsets) sum += o;
  return sum;
}

std::string show(const Offsets& offsets) {
  std::string out;
  for (const auto& [p, o] : offsets) {
    if (!out.empty()) out += " ";
    out += "p" + std::to_string(p) + "=" + std::to_string(o);
  }
  return out.empty() ? "(none)" : out;
}

std::string printable(const std::optional<std::string>& s, size_t max = 60) {
  if (!s) return "<null>";
  std::string out;
  for (unsigned char c : s->substr(0, max)) {
    if (c >= 0x20 && c < 0x7f) {
      out += static_cast<char>(c);
    } else {
      char hex[8];
      std::snprintf(hex, sizeof(hex), "\\x%02x", c);
      out += hex;
    }
  }
  if (s->size() > max) out += "...(" + std::to_string(s->size()) + " bytes)";
  return out;
}

// Thrown when a server the run needs cannot be brought back: the run stops
// there (the report says why).
struct Abort : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// ---------------------------------------------------------------------------
// The run's log: progress lines with the time since the chaos phase started
// (negative during setup), to the caller's stream and to chaos.log.

class RunLog {
 public:
  RunLog(std::ostream* out, const std::string& path) : out_(out), file_(path, std::ios::app) {
    origin_.store(Clock::now().time_since_epoch().count());
  }
  void set_origin(Clock::time_point t) { origin_.store(t.time_since_epoch().count()); }
  Clock::time_point origin() const { return Clock::time_point(Clock::duration(origin_.load())); }
  double now_s() const { return seconds(Clock::now() - origin()); }

  void line(const std::string& text) {
    char head[32];
    std::snprintf(head, sizeof(head), "[%8.2fs] ", now_s());
    std::lock_guard<std::mutex> lock(mu_);
    if (out_ != nullptr) *out_ << head << text << std::endl;
    file_ << head << text << std::endl;
  }

 private:
  std::mutex mu_;
  std::ostream* out_;
  std::ofstream file_;  // guarded by mu_
  std::atomic<Clock::rep> origin_{0};
};

// ---------------------------------------------------------------------------
// The replicas, by slot. Every exit is reaped here and classified: one the
// driver caused (SIGKILL: 137; SIGTERM: 0, within kSigtermLimit) or not.

class ReplicaPool {
 public:
  ReplicaPool(ReplicaConfig base, const ScheduleSpec& spec, RunLog& log)
      : base_(std::move(base)), spec_(spec), log_(log) {
    for (int i = 0; i < spec.core_replicas + spec.storm_replicas; ++i) {
      Slot s;
      s.name = slot_name(spec, i);
      s.storm = i >= spec.core_replicas;
      slots_.push_back(std::move(s));
    }
  }

  std::string start(int slot) {
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

  std::string kill(int slot) {
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

  std::string term(int slot) {
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

  // Reaps exits, starts deferred restarts, enforces the SIGTERM deadline.
  void poll() {
    std::lock_guard<std::mutex> lock(mu_);
    for (Slot& s : slots_) {
      reap(s);
      if (s.proc && s.expect == Expect::kTerm && Clock::now() - s.signalled > kSigtermLimit) {
        fail(s.proc_name + " did not exit within " +
             std::to_string(
                 std::chrono::duration_cast<std::chrono::seconds>(kSigtermLimit).count()) +
             " s of SIGTERM; killed\n" + s.proc->log_tail());
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

  // No SIGTERM in progress, no start deferred.
  bool settled() {
    std::lock_guard<std::mutex> lock(mu_);
    for (const Slot& s : slots_) {
      if (s.start_pending || (s.proc && s.expect != Expect::kNone)) return false;
    }
    return true;
  }

  int running() {
    std::lock_guard<std::mutex> lock(mu_);
    int n = 0;
    for (const Slot& s : slots_) {
      if (s.proc && s.expect == Expect::kNone) ++n;
    }
    return n;
  }

  bool slot_running(int slot) {
    std::lock_guard<std::mutex> lock(mu_);
    const Slot& s = slots_.at(static_cast<size_t>(slot));
    return s.proc != nullptr || s.start_pending;
  }

  std::vector<std::string> failures() {
    std::lock_guard<std::mutex> lock(mu_);
    return failures_;
  }
  std::map<std::string, size_t> exits() {
    std::lock_guard<std::mutex> lock(mu_);
    return exits_;
  }
  size_t starts() {
    std::lock_guard<std::mutex> lock(mu_);
    return starts_;
  }
  double slowest_sigterm() {
    std::lock_guard<std::mutex> lock(mu_);
    return slowest_sigterm_;
  }
  std::vector<std::string> log_paths() {
    std::lock_guard<std::mutex> lock(mu_);
    return log_paths_;
  }
  // The log tails of the replicas running now.
  std::string tails(size_t bytes) {
    std::lock_guard<std::mutex> lock(mu_);
    std::string out;
    for (const Slot& s : slots_) {
      if (s.proc) out += s.proc->log_tail(bytes) + "\n";
    }
    return out;
  }

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
  std::string launch(Slot& s) {
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

  static bool log_is_empty(const Replica& r) {
    std::error_code ec;
    return std::filesystem::file_size(r.log_path(), ec) == 0 && !ec;
  }

  // Under mu_: if the slot's process has exited, records and classifies it.
  void reap(Slot& s) {
    if (!s.proc) return;
    const std::optional<int> code = s.proc->wait(0ms);
    if (!code) return;
    const double after = seconds(Clock::now() - s.signalled);
    std::string what = s.proc_name + " (pid " + std::to_string(s.proc->pid()) + ") exited " +
                       std::to_string(*code);
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

  void fail(const std::string& what) {
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

// ---------------------------------------------------------------------------
// The workload: a paced load of PUTs and DELETEs (oracle of acknowledged
// events) and poison records mixed in.

struct SentPoison {
  size_t n = 0;
  std::string reason;
  Position position;
};

class Workload {
 public:
  Workload(const std::string& brokers, const ChaosOptions& options, RunLog& log)
      : options_(options), log_(log) {
    testing::PublisherOptions po;
    // Longer than any broker outage of a run: librdkafka keeps retrying
    // (idempotently) instead of failing the events.
    po.delivery_timeout = std::chrono::minutes(5);
    po.client_id = "chaos-load";
    po.keep_failed = true;
    publisher_ = std::make_unique<EventPublisher>(brokers, kTopic, oracle_, po);
  }

  ~Workload() {
    stop_poison();
    stop_load();
  }

  void start() {
    load_thread_ = std::thread([this] { load_loop(); });
    poison_thread_ = std::thread([this] { poison_loop(); });
  }

  void stop_poison() {
    stop_poison_.store(true);
    if (poison_thread_.joinable()) poison_thread_.join();
  }
  void stop_load() {
    stop_load_.store(true);
    if (load_thread_.joinable()) load_thread_.join();
  }

  // After stop_load(): waits for every acknowledgement, publishes the failed
  // events again, until nothing is in flight and nothing failed.
  bool settle(std::chrono::seconds timeout, std::string* why) {
    const auto deadline = Clock::now() + timeout;
    while (Clock::now() < deadline) {
      const auto left =
          std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
      if (!publisher_->flush(left)) {
        *why = "events still unacknowledged after " + std::to_string(timeout.count()) + " s";
        return false;
      }
      if (republish_failed() == 0) return true;
    }
    *why = "failed events kept failing for " + std::to_string(timeout.count()) + " s";
    return false;
  }

  Oracle& oracle() { return oracle_; }
  EventPublisher& publisher() { return *publisher_; }
  std::vector<SentPoison> poison() const {
    std::lock_guard<std::mutex> lock(mu_);
    return poison_;
  }
  size_t poison_unknown() const { return poison_unknown_.load(); }
  size_t republished() const { return republished_.load(); }
  size_t delivery_failures() const { return publisher_->failures(); }
  std::string error() const {
    std::lock_guard<std::mutex> lock(mu_);
    return error_;
  }

 private:
  void sleep_until(Clock::time_point t, const std::atomic<bool>& stop) {
    while (!stop.load()) {
      const auto now = Clock::now();
      if (now >= t) return;
      std::this_thread::sleep_for(std::min<Clock::duration>(t - now, 100ms));
    }
  }

  std::string value(const char* tag, size_t seq, std::mt19937_64& rng) {
    std::string v =
        std::string(tag) + std::to_string(options_.seed) + "." + std::to_string(seq) + "-";
    if (rng() % 100 == 0) return "";  // a few empty values
    const size_t padding = rng() % 49;
    for (size_t i = 0; i < padding; ++i) v += static_cast<char>(rng() & 0xff);
    return v;
  }

  // Publishes again, as new events, the events whose delivery failed (they
  // may have been written anyway: a later acknowledged event of the key
  // makes the outcome certain). Returns how many.
  size_t republish_failed() {
    std::vector<PublishedEvent> failed = publisher_->take_failed();
    for (const PublishedEvent& e : failed) {
      try {
        if (e.op == schema::Op::kPut) {
          publisher_->put(e.key, value("r", republished_.load(), republish_rng_), e.content_type);
        } else {
          publisher_->del(e.key);
        }
        republished_.fetch_add(1);
      } catch (const std::exception& ex) {
        note_error(std::string("republishing: ") + ex.what());
      }
    }
    if (!failed.empty())
      log_.line("republished " + std::to_string(failed.size()) + " failed event(s)");
    return failed.size();
  }

  void note_error(const std::string& what) {
    std::lock_guard<std::mutex> lock(mu_);
    if (error_.empty()) error_ = what;
  }

  void load_loop() {
    std::mt19937_64 rng(options_.seed * 0x9e3779b97f4a7c15ULL + 1);
    auto unit = [&] { return static_cast<double>(rng() >> 11) * 0x1.0p-53; };
    const auto start = Clock::now();
    size_t cold = 0;
    for (size_t seq = 0; !stop_load_.load(); ++seq) {
      sleep_until(start + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(
                              static_cast<double>(seq) / options_.rate)),
                  stop_load_);
      if (stop_load_.load()) break;
      if (seq % 50 == 0) republish_failed();
      std::string key;
      if (unit() < options_.hot_ratio) {
        key = "hot:" + std::to_string(rng() % options_.hot_keys);
      } else {
        // The window advances by one key every four cold events.
        key = "k:" + std::to_string(cold / 4 + rng() % options_.window_keys);
        ++cold;
      }
      try {
        if (unit() < options_.delete_ratio) {
          publisher_->del(key);
        } else {
          const std::string v = value("v", seq, rng);
          publisher_->put(key, v, unit() < 0.25 ? "text/plain" : "");
        }
      } catch (const std::exception& e) {
        note_error(std::string("publishing: ") + e.what());
        log_.line(std::string("publishing failed: ") + e.what());
        std::this_thread::sleep_for(100ms);
      }
    }
  }

  void poison_loop() {
    std::mt19937_64 rng(options_.seed * 0xbf58476d1ce4e5b9ULL + 2);
    auto unit = [&] { return static_cast<double>(rng() >> 11) * 0x1.0p-53; };
    if (options_.poison_per_minute <= 0) return;
    const double mean = 60.0 / options_.poison_per_minute;
    for (size_t n = 0; !stop_poison_.load(); ++n) {
      sleep_until(Clock::now() + std::chrono::duration_cast<Clock::duration>(
                                     std::chrono::duration<double>(mean * (0.5 + unit()))),
                  stop_poison_);
      if (stop_poison_.load()) break;
      const std::string key = "hot:" + std::to_string(rng() % options_.hot_keys);
      testing::PoisonRecord p = testing::poison_record(n, key);
      try {
        const Position at = publisher_->send_raw(p.record);
        std::lock_guard<std::mutex> lock(mu_);
        poison_.push_back(SentPoison{n, p.reason, at});
      } catch (const std::exception& e) {
        // It may still be written later: the topic scan at the end decides.
        poison_unknown_.fetch_add(1);
        log_.line("poison record " + std::to_string(n) + " (" + p.reason +
                  "): outcome unknown: " + e.what());
      }
    }
  }

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

// ---------------------------------------------------------------------------
// Executes the schedule's actions on the servers and the replicas.

class Injector {
 public:
  Injector(KafkaServer& broker, PgServer& pg, std::string db_url, ReplicaPool& pool, RunLog& log,
           ChaosReport& report)
      : broker_(broker),
        pg_(pg),
        db_url_(std::move(db_url)),
        pool_(pool),
        log_(log),
        report_(report) {
    for (const Episode& e : report.schedule.episodes) kinds_[e.id] = e.kind;
  }

  ~Injector() {
    join_locks();
    if (broker_start_.joinable()) broker_start_.join();
  }

  bool pg_up() const { return pg_up_.load(); }
  bool broker_up() const { return broker_up_.load(); }

  // Runs the action; returns what happened.
  std::string execute(const Action& a) {
    std::string outcome;
    bool effect = true;
    switch (a.kind) {
      case ActionKind::kReplicaStart:
        outcome = pool_.start(a.slot);
        if (slot_is_storm(a.slot)) ++report_.storm_joins;
        break;
      case ActionKind::kReplicaKill:
        outcome = pool_.kill(a.slot);
        effect = outcome.rfind("SIGKILL", 0) == 0;
        if (slot_is_storm(a.slot) && effect) ++report_.storm_leaves;
        break;
      case ActionKind::kReplicaTerm:
        outcome = pool_.term(a.slot);
        effect = outcome.rfind("SIGTERM", 0) == 0;
        if (slot_is_storm(a.slot) && effect) ++report_.storm_leaves;
        break;
      case ActionKind::kPgStop:
        pg_up_.store(false);
        pg_.stop();
        outcome = "Postgres stopped (fast shutdown)";
        break;
      case ActionKind::kPgStart:
        start_pg();
        outcome = "Postgres started";
        break;
      case ActionKind::kPgTerminate:
        try {
          const size_t n = testing::terminate_backends(db_url_);
          report_.sessions_terminated += n;
          outcome = "terminated " + std::to_string(n) + " kvstream session(s)";
        } catch (const std::exception& e) {
          effect = false;
          outcome = std::string("failed: ") + e.what();
        }
        break;
      case ActionKind::kKvLock: {
        const auto hold = std::chrono::milliseconds(static_cast<int64_t>(a.seconds * 1000));
        std::lock_guard<std::mutex> lock(locks_mu_);
        locks_.emplace_back([this, hold, id = a.episode] {
          const testing::TableLockResult r =
              testing::hold_table_lock(db_url_, "kv", "ACCESS EXCLUSIVE", hold);
          log_.line("#" + std::to_string(id) + " kv lock: " +
                    (r.acquired ? "acquired after " + std::to_string(r.waited.count()) +
                                      " ms, held " + std::to_string(r.held.count()) + " ms"
                                : "not acquired") +
                    (r.error.empty() ? "" : " (" + r.error + ")"));
        });
        outcome = "locking kv (ACCESS EXCLUSIVE) for " + fixed(a.seconds, 0) + " s";
        break;
      }
      case ActionKind::kBrokerKill: {
        join_broker_start();
        const pid_t pid = broker_.pid();
        broker_up_.store(false);
        broker_.kill();
        outcome = "SIGKILL broker (pid " + std::to_string(pid) + ")";
        break;
      }
      case ActionKind::kBrokerStart:
        // A JVM start takes seconds (more on a busy machine): in the
        // background, so that the schedule's other actions stay on time.
        join_broker_start();
        broker_start_ = std::thread([this, id = a.episode] {
          const auto begun = Clock::now();
          try {
            start_broker();
            log_.line("#" + std::to_string(id) + " broker up again on " + broker_.brokers() +
                      " (pid " + std::to_string(broker_.pid()) + ") after " +
                      fixed(seconds(Clock::now() - begun), 1) + " s");
          } catch (...) {
            broker_error_ = std::current_exception();
          }
        });
        outcome = "starting the broker again (same port and data)";
        break;
      case ActionKind::kStormBegin:
        outcome = "rebalance storm begins";
        break;
      case ActionKind::kStormEnd:
        outcome = "rebalance storm ends";
        break;
    }
    if (effect && started_.insert(a.episode).second) {
      auto it = kinds_.find(a.episode);
      if (it != kinds_.end()) ++report_.injected[it->second];
    }
    return outcome;
  }

  // Brings Postgres and the broker back if the run ended with them down.
  void restore() {
    join_broker_start();
    if (!pg_up_.load()) start_pg();
    if (!broker_up_.load() || !broker_.running()) start_broker();
  }

  // Waits for a broker start in progress; rethrows its failure (Abort).
  void join_broker_start() {
    if (broker_start_.joinable()) broker_start_.join();
    if (broker_error_) {
      std::exception_ptr e = broker_error_;
      broker_error_ = nullptr;
      std::rethrow_exception(e);
    }
  }

  void join_locks() {
    std::vector<std::thread> locks;
    {
      std::lock_guard<std::mutex> lock(locks_mu_);
      locks.swap(locks_);
    }
    for (auto& t : locks) t.join();
  }

 private:
  bool slot_is_storm(int slot) const { return slot >= report_.schedule.spec.core_replicas; }

  void start_pg() {
    for (int attempt = 1;; ++attempt) {
      try {
        pg_.start();
        pg_up_.store(true);
        return;
      } catch (const std::exception& e) {
        log_.line("Postgres start, attempt " + std::to_string(attempt) + ": " + e.what());
        if (attempt == 3) throw Abort(std::string("Postgres did not start again: ") + e.what());
        std::this_thread::sleep_for(3s);
      }
    }
  }

  void start_broker() {
    for (int attempt = 1;; ++attempt) {
      try {
        broker_.start();
        broker_up_.store(true);
        return;
      } catch (const std::exception& e) {
        log_.line("broker start, attempt " + std::to_string(attempt) + ": " + e.what());
        if (attempt == 3) throw Abort(std::string("the broker did not start again: ") + e.what());
        std::this_thread::sleep_for(3s);
      }
    }
  }

  KafkaServer& broker_;
  PgServer& pg_;
  const std::string db_url_;
  ReplicaPool& pool_;
  RunLog& log_;
  ChaosReport& report_;
  std::map<int, FaultKind> kinds_;
  std::set<int> started_;
  std::atomic<bool> pg_up_{true}, broker_up_{true};
  std::mutex locks_mu_;
  std::vector<std::thread> locks_;   // guarded by locks_mu_
  std::thread broker_start_;         // the scheduler's thread only
  std::exception_ptr broker_error_;  // set by broker_start_, read after joining it
};

// ---------------------------------------------------------------------------
// The final checks.

class Checker {
 public:
  // `applied`: kv_offsets at the end. When the replicas did not catch up
  // (a stall, reported on its own), the table and the DLQ are checked
  // against what lies below kv_offsets: a stall is not a loss, and the
  // events applied must still be exactly right.
  Checker(const std::string& brokers, const std::string& db_url, Workload& workload,
          ChaosReport& report, Offsets applied, bool caught_up)
      : brokers_(brokers),
        db_url_(db_url),
        workload_(workload),
        report_(report),
        applied_(std::move(applied)),
        caught_up_(caught_up) {}

  void fail(const std::string& what) { report_.failures.push_back(what); }

  bool below_applied(int32_t partition, int64_t offset) const {
    if (caught_up_) return true;
    auto it = applied_.find(partition);
    return it != applied_.end() && offset < it->second;
  }

  // The oracle's expected table, or (no catch-up) that of the events below
  // kv_offsets.
  testing::ExpectedTable expected_applied(size_t* not_applied) const {
    *not_applied = 0;
    if (caught_up_) return workload_.oracle().expected();
    Oracle prefix;
    for (const PublishedEvent& e : workload_.oracle().events()) {
      if (below_applied(e.position.partition, e.position.offset)) {
        prefix.record(e);
      } else {
        ++*not_applied;
      }
    }
    return prefix.expected();
  }

  // The table against the oracle, and the audit.
  void table() {
    size_t not_applied = 0;
    const testing::ExpectedTable expected = expected_applied(&not_applied);
    report_.not_applied = not_applied;
    const testing::KvTable table = testing::read_kv_table(db_url_);
    report_.keys = expected.size();
    report_.rows = table.size();
    for (const auto& [key, row] : table)
      (row.value ? report_.value_rows : report_.tombstone_rows)++;
    report_.deleted_keys = testing::deleted_keys(expected).size();
    testing::TableDiff diff;
    if (report_.options.tombstone_retention_s > 0) {
      diff = testing::compare_allowing_collected_tombstones(expected, table,
                                                            &report_.collected_tombstones);
    } else {
      diff = testing::compare(expected, table);
    }
    report_.lost = diff.missing.size() + diff.lost_put.size() + diff.wrong_value.size() +
                   diff.wrong_position.size();
    report_.resurrected = diff.resurrected.size();
    report_.other_differences = diff.unexpected.size() + diff.wrong_content_type.size();
    if (!diff.empty()) {
      fail("the kv table differs from the oracle (" + std::to_string(expected.size()) + " keys, " +
           std::to_string(table.size()) + " rows" +
           (caught_up_ ? std::string()
                       : "; checked against the events below kv_offsets, " +
                             std::to_string(not_applied) + " events above them not applied") +
           "):\n" + diff.describe(20));
    }
    const std::vector<std::string> moves = testing::audit_violations(db_url_);
    report_.backward_moves = moves.size();
    report_.audited_offset_changes = testing::audited_offset_changes(db_url_);
    if (!moves.empty()) {
      std::string lines;
      for (size_t i = 0; i < moves.size() && i < 20; ++i) lines += "  " + moves[i] + "\n";
      fail(std::to_string(moves.size()) +
           " backward moves of an applied position or a row (audit triggers):\n" + lines);
    }
  }

  // The topic against the oracle, and the DLQ against the topic's poison.
  void topics() {
    const std::vector<PublishedEvent> events = workload_.oracle().events();
    std::map<std::pair<int32_t, int64_t>, const PublishedEvent*> acked;
    for (const PublishedEvent& e : events) {
      (e.op == schema::Op::kPut ? report_.puts : report_.deletes)++;
      if (!acked.emplace(std::make_pair(e.position.partition, e.position.offset), &e).second) {
        fail("two acknowledged events at " + to_string(e.position));
      }
    }
    report_.events = events.size();
    const testing::ExpectedTable expected = workload_.oracle().expected();

    const std::vector<schema::Record> log = testing::read_all(brokers_, kTopic, 600s);
    std::set<std::pair<int32_t, int64_t>> seen;
    std::map<std::pair<int32_t, int64_t>, std::pair<std::string, const schema::Record*>> poison;
    std::vector<std::string> problems;
    for (const schema::Record& r : log) {
      const auto at = std::make_pair(r.partition, r.offset);
      const std::string where = std::to_string(r.partition) + ":" + std::to_string(r.offset);
      auto decoded = schema::decode(r);
      if (auto* bad = std::get_if<schema::ValidationError>(&decoded)) {
        poison[at] = {schema::reason_code(bad->reason), &r};
        continue;
      }
      const schema::Event& ev = std::get<schema::Event>(decoded);
      auto it = acked.find(at);
      if (it == acked.end()) {
        // Written, though its delivery was reported failed: it must not be
        // the last event of its key (it was published again).
        ++report_.unacked_but_persisted;
        auto last = expected.find(ev.key);
        if (last == expected.end() || last->second.position.offset < r.offset) {
          problems.push_back("event at " + where + " (key " + printable(ev.key) +
                             ") was reported failed but is in the topic and is the last of its "
                             "key: the oracle cannot say what the key must hold");
        }
        continue;
      }
      seen.insert(at);
      const PublishedEvent& want = *it->second;
      const bool same = want.key == ev.key && want.op == ev.op &&
                        (ev.op == schema::Op::kDelete ||
                         (want.value == ev.value && want.content_type == ev.content_type));
      if (!same) {
        problems.push_back("the topic holds at " + where + " key " + printable(ev.key) +
                           ", not the event acknowledged there (key " + printable(want.key) + ")");
      }
    }
    for (const auto& [at, e] : acked) {
      if (!seen.count(at)) {
        problems.push_back("acknowledged event " + to_string(e->position) + " (key " +
                           printable(e->key) + ") is not in the topic");
      }
    }
    report_.poison_in_topic = poison.size();
    for (const SentPoison& p : workload_.poison()) {
      auto it = poison.find({p.position.partition, p.position.offset});
      if (it == poison.end() || it->second.first != p.reason) {
        problems.push_back("poison record " + std::to_string(p.n) + " (" + p.reason +
                           ") acknowledged at " + to_string(p.position) +
                           " is not in the topic as such");
      }
    }

    // The DLQ: exactly the topic's poison records (by their origin), each
    // with its reason, key and value. A record dead-lettered twice (a
    // replica killed between its dead-letter send and its commit, or a
    // dead-letter delivery retried) is counted: dead-lettering is at least
    // once (docs/operations.md).
    const std::vector<schema::Record> dlq = testing::read_all(brokers_, kDlqTopic, 300s);
    report_.dlq_records = dlq.size();
    std::map<std::pair<int32_t, int64_t>, size_t> origins;
    auto header = [](const schema::Record& r, std::string_view name) -> std::string {
      const schema::Header* h = r.last_header(name);
      return h && h->value ? *h->value : "<absent>";
    };
    for (const schema::Record& d : dlq) {
      const std::string from =
          header(d, schema::kDlqPartitionHeader) + ":" + header(d, schema::kDlqOffsetHeader);
      std::pair<int32_t, int64_t> at;
      try {
        at = {std::stoi(header(d, schema::kDlqPartitionHeader)),
              std::stoll(header(d, schema::kDlqOffsetHeader))};
      } catch (const std::exception&) {
        problems.push_back("DLQ record at offset " + std::to_string(d.offset) +
                           " has no valid origin headers (" + from + ")");
        continue;
      }
      if (header(d, schema::kDlqTopicHeader) != kTopic) {
        problems.push_back("DLQ record from " + from + " names topic " +
                           header(d, schema::kDlqTopicHeader));
      }
      auto it = poison.find(at);
      if (it == poison.end()) {
        problems.push_back(
            "the DLQ holds " + from + ", which is not a poison record" +
            (acked.count(at) ? " but an acknowledged event (lost from the view)" : ""));
        continue;
      }
      ++origins[at];
      const schema::Record& original = *it->second.second;
      if (header(d, schema::kDlqReasonHeader) != it->second.first) {
        problems.push_back("DLQ record of " + from + " has reason " +
                           header(d, schema::kDlqReasonHeader) + ", want " + it->second.first);
      }
      const bool omitted = d.last_header(schema::kDlqValueOmittedHeader) != nullptr;
      if (d.key != original.key || (!omitted && d.value != original.value)) {
        problems.push_back("DLQ record of " + from + " does not carry the original key and value");
      }
    }
    for (const auto& [at, what] : poison) {
      if (!origins.count(at) && below_applied(at.first, at.second)) {
        problems.push_back("poison record " + std::to_string(at.first) + ":" +
                           std::to_string(at.second) + " (" + what.first + ") is not in the DLQ");
      }
    }
    for (const auto& [at, n] : origins) report_.dlq_duplicates += n - 1;

    if (!problems.empty()) {
      std::string lines;
      for (size_t i = 0; i < problems.size() && i < 30; ++i) lines += "  " + problems[i] + "\n";
      fail(std::to_string(problems.size()) + " problems in the topic or the DLQ:\n" + lines);
    }
  }

 private:
  const std::string brokers_, db_url_;
  Workload& workload_;
  ChaosReport& report_;
  const Offsets applied_;
  const bool caught_up_;
};

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

  std::vector<std::string> replica_logs;
  bool keep = options.keep_logs;
  try {
    log.line("starting Postgres and a Kafka broker of the run's own");
    PgServer pg;
    const std::string db_url = pg.create_database("chaos");
    KafkaServer broker;
    log.line("broker " + broker.brokers() + " (pid " + std::to_string(broker.pid()) + ", folder " +
             broker.dir() + "), Postgres " + db_url);
    testing::create_topic(broker.brokers(), kTopic, kPartitions);
    testing::create_topic(broker.brokers(), kDlqTopic, 1);

    ReplicaConfig base{broker.brokers(), kTopic, kGroup, db_url, {}, report.run_dir};
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

    ReplicaPool pool(base, report.schedule.spec, log);
    Workload workload(broker.brokers(), options, log);
    Injector injector(broker, pg, db_url, pool, log, report);

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
      check.topics();
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
