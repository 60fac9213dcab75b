#include "tests/robustness/injector.h"

#include <chrono>
#include <cstdint>
#include <exception>
#include <utility>

#include "tests/robustness/chaos_util.h"
#include "tests/support/pg_faults.h"

namespace kvstream::chaos::detail {

using namespace std::chrono_literals;

Injector::Injector(KafkaServer& broker, PgServer& pg, std::string db_url, testing::Toxiproxy& proxy,
                   testing::SmallDisk* disk, ReplicaPool& pool, RunLog& log, ChaosReport& report)
    : broker_(broker),
      pg_(pg),
      db_url_(std::move(db_url)),
      proxy_(proxy),
      disk_(disk),
      pool_(pool),
      log_(log),
      report_(report) {
  for (const Episode& e : report.schedule.episodes) kinds_[e.id] = e.kind;
}

Injector::~Injector() {
  join_locks();
  if (broker_start_.joinable()) broker_start_.join();
}

bool Injector::pg_up() const { return pg_up_.load(); }

bool Injector::broker_up() const { return broker_up_.load(); }

std::string Injector::execute(const Action& a) {
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
    case ActionKind::kNetworkFault:
      try {
        outcome = fault_link(a);
      } catch (const std::exception& e) {
        effect = false;
        outcome = std::string("failed: ") + e.what();
      }
      break;
    case ActionKind::kNetworkHeal:
      try {
        outcome = heal_link(a.link);
      } catch (const std::exception& e) {
        outcome = std::string("failed: ") + e.what();
      }
      break;
    case ActionKind::kDiskFill:
      if (disk_ == nullptr) {
        effect = false;
        outcome = "no disk of its own to fill";
      } else {
        outcome = "the database's disk filled (" + std::to_string(disk_->fill() >> 20) +
                  " MiB were left)";
      }
      break;
    case ActionKind::kDiskFree:
      if (disk_ != nullptr) disk_->free_space();
      outcome = "the database's disk has room again";
      break;
  }
  if (effect && started_.insert(a.episode).second) {
    auto it = kinds_.find(a.episode);
    if (it != kinds_.end()) ++report_.injected[it->second];
  }
  return outcome;
}

void Injector::restore() {
  if (disk_ != nullptr) disk_->free_space();
  for (Link link : {Link::kPostgres, Link::kBroker}) {
    try {
      heal_link(link);
    } catch (const std::exception& e) {
      log_.line(std::string("healing the link to ") + to_string(link) + ": " + e.what());
    }
  }
  join_broker_start();
  if (!pg_up_.load()) start_pg();
  if (!broker_up_.load() || !broker_.running()) start_broker();
}

void Injector::join_broker_start() {
  if (broker_start_.joinable()) broker_start_.join();
  if (broker_error_) {
    std::exception_ptr e = broker_error_;
    broker_error_ = nullptr;
    std::rethrow_exception(e);
  }
}

void Injector::join_locks() {
  std::vector<std::thread> locks;
  {
    std::lock_guard<std::mutex> lock(locks_mu_);
    locks.swap(locks_);
  }
  for (auto& t : locks) t.join();
}

bool Injector::slot_is_storm(int slot) const { return slot >= report_.schedule.spec.core_replicas; }

void Injector::start_pg() {
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

void Injector::start_broker() {
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

std::string Injector::fault_link(const Action& a) {
  const std::string proxy = to_string(a.link);
  std::set<std::string>& toxics = toxics_[static_cast<int>(a.link)];
  auto toxic = [&](const std::string& name, const std::string& type, const std::string& stream,
                   const nlohmann::json& attributes) {
    proxy_.add_toxic(proxy, name, type, stream, attributes);
    toxics.insert(name);
  };
  switch (a.fault) {
    case NetworkFault::kLatency:
      toxic("latency", "latency", "downstream", {{"latency", a.amount}, {"jitter", 50}});
      return "the link to " + proxy + " answers " + std::to_string(a.amount) + " ms late";
    case NetworkFault::kNarrow:
      toxic("narrow-up", "bandwidth", "upstream", {{"rate", 32}});
      toxic("narrow-down", "bandwidth", "downstream", {{"rate", 32}});
      return "the link to " + proxy + " narrowed to 32 KB/s each way";
    case NetworkFault::kReset:
      toxic("reset", "reset_peer", "upstream", {{"timeout", 0}});
      return "every connection to " + proxy + " reset, new ones too";
    case NetworkFault::kCutAfter:
      toxic("cut", "limit_data", "downstream", {{"bytes", 65536}});
      return "each connection to " + proxy + " cut after 64 KB from the server";
    case NetworkFault::kHalfOpen:
      toxic("half-open-up", "timeout", "upstream", {{"timeout", 0}});
      toxic("half-open-down", "timeout", "downstream", {{"timeout", 0}});
      return "the link to " + proxy + " half-open: nothing goes through, nothing is closed";
    case NetworkFault::kRefused:
      proxy_.set_enabled(proxy, false);
      disabled_[static_cast<int>(a.link)] = true;
      return "every connection to " + proxy + " closed, new ones refused";
  }
  return "?";
}

std::string Injector::heal_link(Link link) {
  const std::string proxy = to_string(link);
  std::set<std::string>& toxics = toxics_[static_cast<int>(link)];
  std::string removed;
  for (auto it = toxics.begin(); it != toxics.end(); it = toxics.erase(it)) {
    proxy_.remove_toxic(proxy, *it);
    removed += " " + *it;
  }
  if (disabled_[static_cast<int>(link)]) {
    proxy_.set_enabled(proxy, true);
    disabled_[static_cast<int>(link)] = false;
    removed += " (enabled again)";
  }
  return "the link to " + proxy +
         " healthy again:" + (removed.empty() ? " nothing to heal" : removed);
}

}  // namespace kvstream::chaos::detail
