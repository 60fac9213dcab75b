#include "tests/e2e/apply_fixture.h"

#include <cstdlib>
#include <iostream>

namespace kvstream::testing {

uint64_t env_number(const char* name, uint64_t fallback) {
  const char* v = std::getenv(name);
  if (v == nullptr || *v == '\0') return fallback;
  return std::stoull(v);
}

std::string show(const Offsets& offsets) {
  std::string out;
  for (const auto& [p, o] : offsets) {
    if (!out.empty()) out += " ";
    out += "p" + std::to_string(p) + "=" + std::to_string(o);
  }
  return out.empty() ? "(none)" : out;
}

namespace {

// One entry per partition of the topic; a partition absent from `sparse` is 0
// (nothing applied or committed yet). Entries for partitions the topic does
// not have are kept, so that they show up as differences.
Offsets dense(const Offsets& sparse, int partitions) {
  Offsets out = sparse;
  for (int32_t p = 0; p < partitions; ++p) out.emplace(p, 0);
  return out;
}

}  // namespace

void ApplyFixture::SetUp() {
  brokers_ = test_brokers();
  topic_ = unique_name("apply");
  group_ = unique_name("apply_group");
  pg_url_ = db_.url();
  create_topic(brokers_, topic_, kPartitions);
  create_topic(brokers_, topic_ + ".dlq", 1);
  run_migrations(config());
  install_audit(pg_url_);
  publisher_ = std::make_unique<EventPublisher>(brokers_, topic_, oracle_);
}

void ApplyFixture::TearDown() {
  if (HasFailure()) {
    std::cerr << "topic " << topic_ << ", group " << group_ << ", database " << pg_url_ << "\n"
              << replica_logs() << std::endl;
  }
  replicas_.clear();  // SIGKILL whatever a test left running
  publisher_.reset();
}

LoadSpec ApplyFixture::load_spec(size_t events, size_t keys, uint64_t seed) {
  LoadSpec spec;
  spec.events = events;
  spec.keys = keys;
  spec.seed = env_number("KVSTREAM_TEST_SEED", seed);
  return spec;
}

ReplicaConfig ApplyFixture::config(const std::map<std::string, std::string>& env) const {
  ReplicaConfig c{brokers_, topic_, group_, pg_url_, env};
  return c;
}

Replica& ApplyFixture::start_replica(const std::string& name,
                                     const std::map<std::string, std::string>& env) {
  replicas_.push_back(std::make_unique<Replica>(config(env), name));
  return *replicas_.back();
}

Offsets ApplyFixture::applied() const {
  return dense(read_applied_offsets(pg_url_, topic_), kPartitions);
}

Offsets ApplyFixture::committed() const {
  return dense(committed_offsets(brokers_, group_, topic_), kPartitions);
}

bool ApplyFixture::wait_applied(const Offsets& target, std::chrono::milliseconds timeout) const {
  const Offsets want = dense(target, kPartitions);
  return eventually([&] { return applied() == want; }, timeout, std::chrono::milliseconds(250));
}

void ApplyFixture::expect_table_matches_oracle() const {
  const ExpectedTable expected = oracle_.expected();
  const KvTable table = read_kv_table(pg_url_);
  const TableDiff diff = compare(expected, table);
  EXPECT_TRUE(diff.empty()) << "kv differs from the oracle (" << oracle_.size() << " events, "
                            << expected.size() << " keys, " << table.size() << " rows):\n"
                            << diff.describe();
  size_t resurrected = 0;
  for (const std::string& key : deleted_keys(expected)) {
    auto it = table.find(key);
    if (it != table.end() && it->second.value) ++resurrected;
  }
  EXPECT_EQ(resurrected, 0u) << "keys whose last event is a DELETE have a value";
}

void ApplyFixture::expect_no_backward_moves() const {
  const auto violations = audit_violations(pg_url_);
  std::string lines;
  for (size_t i = 0; i < violations.size() && i < 20; ++i) lines += "  " + violations[i] + "\n";
  EXPECT_TRUE(violations.empty()) << violations.size()
                                  << " backward moves of an applied position or a row:\n"
                                  << lines;
}

std::string ApplyFixture::replica_logs() const {
  std::string out;
  for (const auto& r : replicas_) out += r->log_tail() + "\n";
  return out;
}

}  // namespace kvstream::testing
