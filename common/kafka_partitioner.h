// Where a key lives: the partition the Java client's default partitioner
// picks for it, which the record contract requires of every producer
// (schema/README.md, "Partitioning"):
//
//   partition = (murmur2(key bytes) & 0x7fffffff) % partition_count
//
// Our producer has librdkafka apply the same rule (partitioner
// murmur2_random); this is the one copy of it for code that needs the answer
// without a Kafka client (the HTTP read path, the benchmarks). No dependency.
#pragma once

#include <cstdint>
#include <string_view>

namespace kvstream {

// The Java client's murmur2 of `bytes` (seed 0x9747b28c), as a signed 32-bit
// value like Java's int.
int32_t murmur2(std::string_view bytes);

// The partition of `key` among `partition_count`; -1 if the count is not
// positive.
int32_t partition_for_key(std::string_view key, int32_t partition_count);

}  // namespace kvstream
