// What the end-to-end apply tests share: per test a topic (6 partitions) and
// its dead-letter topic, a consumer group, a database with the schema and the
// audit triggers, a publisher whose acknowledged events feed the oracle, and
// the replicas it started (their logs are printed when a test fails).
//
// Only what a user can observe is read: rows in Postgres, kv_offsets, the
// group's committed offsets and membership on the broker, the DLQ topic,
// exit codes, /readyz.
#pragma once

#include <gtest/gtest.h>

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "tests/support/group.h"
#include "tests/support/kafka_util.h"
#include "tests/support/kv_table.h"
#include "tests/support/load.h"
#include "tests/support/oracle.h"
#include "tests/support/replica.h"
#include "tests/support/test_database.h"
#include "tests/support/test_env.h"
#include "tests/support/wait.h"

namespace kvstream::testing {

using Offsets = std::map<int32_t, int64_t>;

// An integer from the environment, or `fallback` when unset.
uint64_t env_number(const char* name, uint64_t fallback);

// "p0=123 p1=0 ...".
std::string show(const Offsets& offsets);

// The sum of the offsets: events applied (or published) over all partitions.
inline int64_t total(const Offsets& offsets) {
  int64_t sum = 0;
  for (const auto& [p, o] : offsets) sum += o;
  return sum;
}

class ApplyFixture : public ::testing::Test {
 protected:
  static constexpr int kPartitions = 6;

  void SetUp() override;
  void TearDown() override;

  // A load of `events` over `keys`, seeded by KVSTREAM_TEST_SEED when set.
  static LoadSpec load_spec(size_t events, size_t keys, uint64_t seed);

  // The replica settings of this test; `env` adds KVSTREAM_* variables.
  ReplicaConfig config(const std::map<std::string, std::string>& env = {}) const;
  // Starts a replica and keeps it (its log is shown if the test fails).
  Replica& start_replica(const std::string& name,
                         const std::map<std::string, std::string>& env = {});

  // End offsets of every partition of the topic.
  Offsets ends() const { return end_offsets(brokers_, topic_); }
  // kv_offsets of the topic, one entry per partition (0 when it has no row).
  Offsets applied() const;
  // The group's committed offsets, one entry per partition (0 when none).
  Offsets committed() const;
  // Waits until kv_offsets equals `target` for every partition.
  bool wait_applied(const Offsets& target, std::chrono::milliseconds timeout) const;

  // Asserts (non-fatally) that the whole kv table equals the oracle and that
  // every key whose last event is a DELETE is a tombstone; and that the
  // audit saw no applied position or row move backwards.
  void expect_table_matches_oracle() const;
  void expect_no_backward_moves() const;

  // Tails of every replica's log, for failure messages.
  std::string replica_logs() const;

  std::string brokers_;
  std::string topic_;
  std::string group_;
  TestDatabase db_;
  std::string pg_url_;  // the database the replicas use (db_ unless a test changes it)
  Oracle oracle_;
  std::unique_ptr<EventPublisher> publisher_;
  std::vector<std::unique_ptr<Replica>> replicas_;
};

}  // namespace kvstream::testing
