// The broker and librdkafka work together for what kvstream relies on:
// idempotent produce with the murmur2 partitioner, group join with the
// cooperative-sticky assignor, and offset commits.
#include <gtest/gtest.h>

#include <set>
#include <thread>

#include "producer/producer.h"
#include "source/kafka_record.h"
#include "source/kafka_source.h"
#include "tests/support/kafka_util.h"
#include "tests/support/test_env.h"

namespace kvstream::testing {
namespace {

using namespace std::chrono_literals;

class StartAtBeginning : public source::KafkaSource::Listener {
 public:
  std::map<int32_t, int64_t> on_assign(const std::vector<int32_t>& partitions) override {
    assigned.insert(partitions.begin(), partitions.end());
    return {};
  }
  void on_revoke(const std::vector<int32_t>& partitions) override {
    for (int32_t p : partitions) assigned.erase(p);
  }
  std::set<int32_t> assigned;
};

TEST(KafkaRoundTrip, PositionsFromTheProducerAreWhereTheGroupReadsAndCommits) {
  const std::string brokers = test_brokers();
  const std::string topic = unique_name("roundtrip");
  const std::string group = unique_name("group");
  create_topic(brokers, topic, 3);

  std::map<std::string, Position> sent;
  {
    producer::ProducerSettings settings;
    settings.kafka.brokers = brokers;
    settings.kafka.topic = topic;
    producer::Producer producer(settings);
    for (int i = 0; i < 30; ++i) {
      const std::string key = "key-" + std::to_string(i);
      sent[key] = producer.put_sync(key, "value-" + std::to_string(i));
    }
  }

  StartAtBeginning listener;
  source::SourceSettings settings;
  settings.kafka.brokers = brokers;
  settings.kafka.topic = topic;
  settings.group = group;
  source::KafkaSource source(settings, listener);
  source.subscribe();
  std::map<std::string, Position> received;
  std::map<int32_t, int64_t> next;
  const auto deadline = std::chrono::steady_clock::now() + 60s;
  while (received.size() < sent.size() && std::chrono::steady_clock::now() < deadline) {
    if (auto m = source.poll(100ms)) {
      const schema::Record r = source::to_record(m.get());
      received[*r.key] = Position{r.partition, r.offset};
      next[r.partition] = r.offset + 1;
    }
  }
  EXPECT_EQ(listener.assigned, (std::set<int32_t>{0, 1, 2}));
  EXPECT_EQ(received, sent);
  source.commit(next);
  EXPECT_TRUE([&] {
    for (int i = 0; i < 100; ++i) {
      source.poll(50ms);  // serves the commit's result
      if (committed_offsets(brokers, group, topic) == next) return true;
    }
    return false;
  }());
  EXPECT_EQ(end_offsets(brokers, topic), next);
  source.close();
  EXPECT_TRUE(listener.assigned.empty());
}

TEST(KafkaRoundTrip, APartitionPausedWhenRevokedFetchesWhenItComesBack) {
  const std::string brokers = test_brokers();
  const std::string topic = unique_name("paused");
  create_topic(brokers, topic, 2);
  source::SourceSettings settings;
  settings.kafka.brokers = brokers;
  settings.kafka.topic = topic;
  settings.group = unique_name("group");
  StartAtBeginning la, lb;
  source::KafkaSource a(settings, la);
  a.subscribe();
  for (int i = 0; i < 300 && la.assigned.size() < 2; ++i) a.poll(100ms);
  ASSERT_EQ(la.assigned.size(), 2u);
  a.pause({0, 1});  // e.g. the database is down

  // A second member takes one partition away, then leaves: it comes back.
  auto b = std::make_unique<source::KafkaSource>(settings, lb);
  b->subscribe();
  for (int i = 0; i < 600 && (lb.assigned.empty() || la.assigned.size() != 1); ++i) {
    a.poll(50ms);
    b->poll(50ms);
  }
  ASSERT_EQ(lb.assigned.size(), 1u);
  const int32_t moved = *lb.assigned.begin();
  b->close();
  b.reset();
  for (int i = 0; i < 600 && la.assigned.size() < 2; ++i) a.poll(100ms);
  ASSERT_EQ(la.assigned.size(), 2u);

  // Records of the returned partition arrive; the other one stays paused.
  {
    producer::ProducerSettings ps;
    ps.kafka.brokers = brokers;
    ps.kafka.topic = topic;
    producer::Producer producer(ps);
    for (int i = 0; i < 40; ++i) producer.put_sync("key-" + std::to_string(i), "v");
  }
  std::map<int32_t, int> seen;
  for (int i = 0; i < 200 && seen[moved] == 0; ++i) {
    if (auto r = a.poll(100ms)) ++seen[r->partition];
  }
  EXPECT_GT(seen[moved], 0) << "partition " << moved << " stayed paused after it came back";
  EXPECT_EQ(seen[1 - moved], 0);
  a.close();
}

TEST(KafkaRoundTrip, ATombstoneArrivesAsANullValueAndAnEmptyValueAsEmpty) {
  const std::string brokers = test_brokers();
  const std::string topic = unique_name("nulls");
  create_topic(brokers, topic, 1);
  producer::ProducerSettings settings;
  settings.kafka.brokers = brokers;
  settings.kafka.topic = topic;
  {
    producer::Producer producer(settings);
    producer.put_sync("a", "");
    producer.del_sync("a");
  }
  auto records = read_all(brokers, topic);
  ASSERT_EQ(records.size(), 2u);
  ASSERT_TRUE(records[0].value.has_value());
  EXPECT_EQ(*records[0].value, "");
  EXPECT_FALSE(records[1].value.has_value());
}

}  // namespace
}  // namespace kvstream::testing
