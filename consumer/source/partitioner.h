// Where a key lives: the partition the Java client's default partitioner
// (murmur2, as the record contract requires of every producer) picks for it.
#pragma once

#include <cstdint>
#include <string_view>

namespace kvstream::source {

// The partition of `key` among `partition_count`; -1 if the count is not
// positive.
int32_t partition_for_key(std::string_view key, int32_t partition_count);

}  // namespace kvstream::source
