// The seam between the apply engine and the database.
//
// A Store applies one partition's coalesced batch atomically: the rows and
// the partition's new applied position commit together or not at all, and
// only if the partition's applied position is still the one the caller
// expects (fencing: a replica that lost the partition cannot write).
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "schema/event.h"

namespace kvstream::store {

// kNoOffset: the database has no applied position for the partition yet.
inline constexpr int64_t kNoOffset = -1;

struct PartitionBatch {
  std::string topic;
  int32_t partition = -1;
  // The applied position this batch starts from, as last read from or
  // written to the database (kNoOffset if none).
  int64_t expected_next_offset = kNoOffset;
  // The applied position after this batch: last consumed offset + 1. It may
  // move past records that were not applied (dead-lettered ones).
  int64_t new_next_offset = kNoOffset;
  // At most one event per key (coalesced), any order.
  std::vector<schema::Event> events;
};

enum class ApplyOutcome {
  kApplied,  // rows and position committed
  kFenced,   // the position was not the expected one; nothing was written
};

class Store {
 public:
  virtual ~Store() = default;

  // The applied position of each given partition that has one.
  // Throws kvstream::Error (transient when the database is unreachable).
  virtual std::map<int32_t, int64_t> load_next_offsets(const std::string& topic,
                                                       const std::vector<int32_t>& partitions) = 0;

  // Applies the batch in one transaction. An event never overwrites a row
  // written from a later offset of the same partition. Throws kvstream::Error.
  virtual ApplyOutcome apply(const PartitionBatch& batch) = 0;
};

}  // namespace kvstream::store
