// A kvstream-consumer replica for end-to-end tests: the real binary, started
// with its settings in the environment (KVSTREAM_*), its HTTP API on a free
// loopback port and its output in a log file of its own.
//
//   ReplicaConfig config{brokers, topic, group, db.url()};
//   config.env["KVSTREAM_KAFKA_SESSION_TIMEOUT_MS"] = "6000";
//   Replica r(config, "r1");
//   ASSERT_TRUE(r.wait_ready(30s)) << r.log_tail();
//   EXPECT_EQ(r.terminate(25s), 0);   // SIGTERM, exit code
#pragma once

#include <sys/types.h>

#include <chrono>
#include <map>
#include <memory>
#include <optional>
#include <string>

#include "tests/support/process.h"

namespace kvstream::testing {

struct ReplicaConfig {
  std::string brokers;
  std::string topic;
  std::string group;
  std::string pg_url;
  // More KVSTREAM_* variables (they win over the four above).
  std::map<std::string, std::string> env;
  // The folder of the replica's log; empty: /tmp.
  std::string log_dir = {};
};

// A TCP port on 127.0.0.1 that is free right now.
uint16_t free_port();

// Runs `kvstream-consumer migrate` (the schema, then exits); throws
// std::runtime_error with its output if it fails.
void run_migrations(const ReplicaConfig& config);

class Replica {
 public:
  // Starts the replica; `name` tells its log apart ("<log_dir>/<topic>-<name>.log").
  Replica(const ReplicaConfig& config, const std::string& name);
  ~Replica();  // SIGKILL if still running
  Replica(const Replica&) = delete;
  Replica& operator=(const Replica&) = delete;

  const std::string& name() const { return name_; }
  uint16_t port() const { return port_; }
  pid_t pid() const { return process_->pid(); }
  bool running() { return process_->running(); }

  // GET /readyz: the status, or 0 when nothing answers.
  int readyz();
  bool wait_ready(std::chrono::milliseconds timeout);

  void signal(int sig) { process_->signal(sig); }
  // SIGTERM, then waits up to `timeout`: the exit code, or nullopt if it is
  // still running (it is left running).
  std::optional<int> terminate(std::chrono::milliseconds timeout);
  // SIGKILL and reap; returns once it is gone.
  void kill();
  std::optional<int> wait(std::chrono::milliseconds timeout) { return process_->wait(timeout); }

  const std::string& log_path() const { return process_->log_path(); }
  // The last `bytes` of its log, for failure messages.
  std::string log_tail(size_t bytes = 6000) const;

 private:
  std::string name_;
  uint16_t port_ = 0;
  std::unique_ptr<ChildProcess> process_;
};

}  // namespace kvstream::testing
