// The oracle of the end-to-end apply tests: what the kv table must hold once
// every acknowledged event is applied, computed only from what the producer
// was told (key, op, value, partition, offset), never from the consumer.
//
//   Oracle oracle;
//   oracle.record({"user:1", Op::kPut, "v1", "", Position{2, 17}});
//   TableDiff diff = compare(oracle.expected(), read_kv_table(url));
//   EXPECT_TRUE(diff.empty()) << diff.describe();
//
// Thread-safe: record() may be called from producer delivery threads while
// other threads read.
#pragma once

#include <chrono>
#include <cstddef>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "common/position.h"
#include "schema/event.h"

namespace kvstream::testing {

// One event the broker acknowledged.
struct PublishedEvent {
  std::string key;
  schema::Op op = schema::Op::kPut;
  std::string value;         // PUT only
  std::string content_type;  // empty: none
  Position position;
  // When it was handed to the producer (apply latency: this to applied).
  std::chrono::steady_clock::time_point sent{};
};

// What the kv row of a key must be: the event with the highest offset.
struct ExpectedRow {
  std::optional<std::string> value;         // nullopt: a tombstone
  std::optional<std::string> content_type;  // nullopt: NULL in the table
  Position position;                        // src_partition, src_offset
};

// A row of the kv table as Postgres holds it.
struct KvRow {
  std::optional<std::string> value;  // nullopt: a tombstone
  std::optional<std::string> content_type;
  Position position;
  std::string updated_at;  // as text, for "nothing was rewritten" checks
};

using ExpectedTable = std::map<std::string, ExpectedRow>;
using KvTable = std::map<std::string, KvRow>;

class Oracle {
 public:
  void record(PublishedEvent event);
  size_t size() const;
  std::vector<PublishedEvent> events() const;

  // Per key, the event with the highest offset. Throws std::logic_error if a
  // key was seen on two partitions (the producer broke the contract: per-key
  // order would be undefined).
  ExpectedTable expected() const;

 private:
  mutable std::mutex mu_;
  std::vector<PublishedEvent> events_;  // guarded by mu_
};

// How a table differs from the oracle, by kind of damage.
struct TableDiff {
  std::vector<std::string> missing;      // expected, but no row
  std::vector<std::string> unexpected;   // a row no acknowledged event explains
  std::vector<std::string> resurrected;  // last event a DELETE, but the row has a value
  std::vector<std::string> lost_put;     // last event a PUT, but the row is a tombstone
  std::vector<std::string> wrong_value;  // both values, different bytes
  std::vector<std::string> wrong_content_type;
  std::vector<std::string> wrong_position;  // src_partition/src_offset not the last event's

  bool empty() const;
  size_t count() const;
  // A summary with up to `max_examples` keys of each kind.
  std::string describe(size_t max_examples = 10) const;
};

TableDiff compare(const ExpectedTable& expected, const KvTable& actual);

// compare() for a run in which the consumer's tombstone collection was on
// (a short KVSTREAM_TOMBSTONE_RETENTION_S): a key whose last event is a
// DELETE may have no row at all. Any row it has must still be its tombstone
// from the right position. `collected`, when given, is set to the number of
// such keys without a row.
TableDiff compare_allowing_collected_tombstones(const ExpectedTable& expected,
                                                const KvTable& actual, size_t* collected = nullptr);

// Keys whose last event is a DELETE.
std::set<std::string> deleted_keys(const ExpectedTable& expected);

}  // namespace kvstream::testing
