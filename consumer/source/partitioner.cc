#include "source/partitioner.h"

#include <librdkafka/rdkafka.h>

namespace kvstream::source {

int32_t partition_for_key(std::string_view key, int32_t partition_count) {
  if (partition_count <= 0) return -1;
  // librdkafka's own murmur2 partitioner: the topic handle and opaques are
  // not used by it.
  return rd_kafka_msg_partitioner_murmur2(nullptr, key.data(), key.size(), partition_count, nullptr,
                                          nullptr);
}

}  // namespace kvstream::source
