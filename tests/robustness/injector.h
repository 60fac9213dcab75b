// The chaos driver's (chaos.h) fault injection. Internal to the driver.
#pragma once

#include <atomic>
#include <exception>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "tests/robustness/chaos.h"
#include "tests/robustness/replica_pool.h"
#include "tests/robustness/run_log.h"
#include "tests/robustness/schedule.h"
#include "tests/support/kafka_server.h"
#include "tests/support/pg_server.h"
#include "tests/support/small_disk.h"
#include "tests/support/toxiproxy.h"

namespace kvstream::chaos::detail {

using testing::KafkaServer;
using testing::PgServer;

// Executes the schedule's actions on the servers and the replicas.
class Injector {
 public:
  // `proxy` carries the replicas' links: its proxy "postgres" to Postgres,
  // "broker" to the broker (the network episodes fault them).
  // `disk`, the database's own disk (pg_disk_full), may be null when the
  // schedule has no such episode.
  Injector(KafkaServer& broker, PgServer& pg, std::string db_url, testing::Toxiproxy& proxy,
           testing::SmallDisk* disk, ReplicaPool& pool, RunLog& log, ChaosReport& report);

  ~Injector();

  bool pg_up() const;
  bool broker_up() const;

  // Runs the action; returns what happened.
  std::string execute(const Action& a);

  // Brings Postgres and the broker back if the run ended with them down,
  // and heals the links.
  void restore();

  // Waits for a broker start in progress; rethrows its failure (Abort).
  void join_broker_start();

  void join_locks();

 private:
  bool slot_is_storm(int slot) const;

  void start_pg();

  void start_broker();

  // Applies or removes a network fault; returns what was done.
  std::string fault_link(const Action& a);
  std::string heal_link(Link link);

  KafkaServer& broker_;
  PgServer& pg_;
  const std::string db_url_;
  testing::Toxiproxy& proxy_;
  testing::SmallDisk* disk_;
  std::set<std::string> toxics_[2];  // by Link: the toxics in place
  bool disabled_[2] = {false, false};
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

}  // namespace kvstream::chaos::detail
