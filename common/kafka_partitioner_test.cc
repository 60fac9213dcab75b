#include "common/kafka_partitioner.h"

#include <gtest/gtest.h>
#include <librdkafka/rdkafka.h>

#include <string>

namespace kvstream {
namespace {

// The Java client's own vectors (Kafka's UtilsTest).
TEST(Murmur2, MatchesTheJavaClient) {
  EXPECT_EQ(murmur2("21"), -973932308);
  EXPECT_EQ(murmur2("foobar"), -790332482);
  EXPECT_EQ(murmur2("a-little-bit-long-string"), -985981536);
  EXPECT_EQ(murmur2("a-little-bit-longer-string"), -1486304829);
  EXPECT_EQ(murmur2("lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8"), -58897971);
  EXPECT_EQ(murmur2("abc"), 479470107);
}

TEST(PartitionForKey, NoPartitionWithoutAPositiveCount) {
  EXPECT_EQ(partition_for_key("user:1", 0), -1);
  EXPECT_EQ(partition_for_key("user:1", -3), -1);
}

// Every key, whatever its length or bytes, lands where librdkafka's murmur2
// partitioner (the one our producer uses) puts it.
TEST(PartitionForKey, AgreesWithLibrdkafkasMurmur2Partitioner) {
  std::string key;
  for (int i = 0; i < 2000; ++i) {
    key.push_back(static_cast<char>(i * 131 % 256));
    if (key.size() > 37) key.erase(0, 11);
    for (int32_t count : {1, 3, 6, 64, 1000}) {
      const int32_t theirs = rd_kafka_msg_partitioner_murmur2(nullptr, key.data(), key.size(),
                                                              count, nullptr, nullptr);
      ASSERT_EQ(partition_for_key(key, count), theirs) << "key of " << key.size() << " bytes";
    }
  }
  EXPECT_EQ(partition_for_key("", 6),
            rd_kafka_msg_partitioner_murmur2(nullptr, "", 0, 6, nullptr, nullptr));
}

}  // namespace
}  // namespace kvstream
