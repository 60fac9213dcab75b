// An in-memory Store with the same fencing and offset-guard rules as
// PgStore, and switches to fail the next calls: for unit tests of the apply
// engine.
#pragma once

#include <map>
#include <optional>
#include <string>

#include "common/error.h"
#include "store/store.h"

namespace kvstream::fakes {

class FakeStore : public store::Store {
 public:
  struct Row {
    std::optional<std::string> value;  // nullopt: tombstone
    int32_t partition;
    int64_t offset;
  };

  std::map<int32_t, int64_t> load_next_offsets(const std::string&,
                                               const std::vector<int32_t>& partitions) override {
    if (fail_next_ > 0) {
      --fail_next_;
      throw Error(ErrorKind::kTransient, "fake database down");
    }
    std::map<int32_t, int64_t> out;
    for (int32_t p : partitions) {
      if (offsets.count(p)) out[p] = offsets[p];
    }
    return out;
  }

  store::ApplyOutcome apply(const store::PartitionBatch& batch) override {
    if (fail_next_ > 0) {
      --fail_next_;
      throw Error(ErrorKind::kTransient, "fake database down");
    }
    ++transactions;
    const int64_t current =
        offsets.count(batch.partition) ? offsets[batch.partition] : store::kNoOffset;
    if (current != batch.expected_next_offset) return store::ApplyOutcome::kFenced;
    offsets[batch.partition] = batch.new_next_offset;
    for (const auto& e : batch.events) {
      auto it = rows.find(e.key);
      if (it != rows.end() && it->second.partition == batch.partition &&
          it->second.offset >= e.position.offset) {
        continue;
      }
      rows[e.key] =
          Row{e.op == schema::Op::kPut ? std::optional<std::string>(e.value) : std::nullopt,
              batch.partition, e.position.offset};
      ++rows_written;
    }
    return store::ApplyOutcome::kApplied;
  }

  void fail_next(int n) { fail_next_ = n; }

  std::map<std::string, Row> rows;
  std::map<int32_t, int64_t> offsets;
  int transactions = 0;
  int rows_written = 0;

 private:
  int fail_next_ = 0;
};

}  // namespace kvstream::fakes
