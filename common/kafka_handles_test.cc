#include "common/kafka_handles.h"

#include <gtest/gtest.h>

namespace kvstream::kafka {
namespace {

TEST(PropertyApplies, FollowsLibrdkafkasOwnTable) {
  // Consumer only.
  EXPECT_FALSE(property_applies("session.timeout.ms", RD_KAFKA_PRODUCER));
  EXPECT_TRUE(property_applies("session.timeout.ms", RD_KAFKA_CONSUMER));
  EXPECT_FALSE(property_applies("auto.offset.reset", RD_KAFKA_PRODUCER));
  // Producer only.
  EXPECT_FALSE(property_applies("linger.ms", RD_KAFKA_CONSUMER));
  EXPECT_TRUE(property_applies("linger.ms", RD_KAFKA_PRODUCER));
  // Both.
  EXPECT_TRUE(property_applies("security.protocol", RD_KAFKA_PRODUCER));
  EXPECT_TRUE(property_applies("security.protocol", RD_KAFKA_CONSUMER));
  EXPECT_TRUE(property_applies("sasl.username", RD_KAFKA_CONSUMER));
  // Unknown names are librdkafka's to refuse.
  EXPECT_TRUE(property_applies("no.such.property", RD_KAFKA_PRODUCER));
}

}  // namespace
}  // namespace kvstream::kafka
