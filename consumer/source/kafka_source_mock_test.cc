// Fault injection with librdkafka's mock cluster (unit tests only; the real
// broker is used by the integration and end-to-end tests): failed offset
// commits, a broker that goes away, a log whose start moved past the
// applied position.
#include <gtest/gtest.h>
#include <librdkafka/rdkafka.h>
// clang-format off: the mock API header needs rdkafka.h first.
#include <librdkafka/rdkafka_mock.h>
// clang-format on

#include <atomic>
#include <future>
#include <set>
#include <thread>

#include "producer/producer.h"
#include "source/kafka_record.h"
#include "source/kafka_source.h"
#include "tests/support/kafka_util.h"

namespace kvstream::source {
namespace {

using namespace std::chrono_literals;

class MockCluster {
 public:
  MockCluster() {
    kafka::ConfPtr conf(rd_kafka_conf_new());
    kafka::set_conf(conf.get(), "log_level", "0");
    char err[256];
    rk_.reset(rd_kafka_new(RD_KAFKA_PRODUCER, conf.release(), err, sizeof(err)));
    cluster_ = rd_kafka_mock_cluster_new(rk_.get(), 1);
    rd_kafka_mock_topic_create(cluster_, "events", 2, 1);
  }
  ~MockCluster() { rd_kafka_mock_cluster_destroy(cluster_); }
  std::string bootstraps() const { return rd_kafka_mock_cluster_bootstraps(cluster_); }
  rd_kafka_mock_cluster_t* get() { return cluster_; }

 private:
  kafka::HandlePtr rk_;
  rd_kafka_mock_cluster_t* cluster_ = nullptr;
};

class FromBeginning : public KafkaSource::Listener {
 public:
  std::map<int32_t, int64_t> on_assign(const std::vector<int32_t>& p) override {
    assigned.insert(p.begin(), p.end());
    return {};
  }
  void on_revoke(const std::vector<int32_t>& p) override {
    for (int32_t id : p) assigned.erase(id);
  }
  std::set<int32_t> assigned;
};

SourceSettings settings(const std::string& brokers) {
  SourceSettings s;
  s.kafka.brokers = brokers;
  s.kafka.topic = "events";
  s.group = "g";
  s.kafka.properties["log_level"] = "0";
  return s;
}

void produce(const std::string& brokers, int n, int first = 0) {
  producer::ProducerSettings ps;
  ps.kafka.brokers = brokers;
  ps.kafka.topic = "events";
  ps.kafka.properties["log_level"] = "0";
  producer::Producer p(ps);
  for (int i = first; i < first + n; ++i) p.put_sync("k" + std::to_string(i), "v");
}

// librdkafka answers NULL for the protocol while rd_kafka_consumer_close
// serves a last rebalance; the replica crashed on it (strcmp of NULL, exit
// 139 after SIGTERM in a chaos soak).
TEST(KafkaSourceRebalance, AnUnknownProtocolFallsBackToTheConfiguredAssignor) {
  EXPECT_TRUE(uses_cooperative_protocol("COOPERATIVE", false));
  EXPECT_FALSE(uses_cooperative_protocol("EAGER", true));
  EXPECT_FALSE(uses_cooperative_protocol("NONE", true));
  EXPECT_TRUE(uses_cooperative_protocol(nullptr, true));
  EXPECT_FALSE(uses_cooperative_protocol(nullptr, false));
}

// The last commit of an idle partition refused outside a rebalance (a
// broker restarting, a request timing out) was never sent again: the
// group's committed offset stayed behind the applied position for good (a
// short chaos run, a broker killed near its end). It is sent again, one
// commit at a time, until the broker takes it, with no new record and no
// new commit() call.
TEST(KafkaSourceWithMockCluster, ARefusedCommitOfAnIdlePartitionIsSentAgain) {
  MockCluster cluster;
  const std::string brokers = cluster.bootstraps();
  produce(brokers, 10);
  FromBeginning listener;
  KafkaSource source(settings(brokers), listener);
  source.subscribe();
  std::map<int32_t, int64_t> next;
  int seen = 0;
  for (int i = 0; i < 300 && seen < 10; ++i) {
    if (auto m = source.poll(50ms)) {
      const schema::Record r = to_record(m.get());
      next[r.partition] = r.offset + 1;
      ++seen;
    }
  }
  ASSERT_EQ(seen, 10);

  // The first commit and the first two sent again are refused.
  const rd_kafka_resp_err_t errors[] = {RD_KAFKA_RESP_ERR_OFFSET_METADATA_TOO_LARGE,
                                        RD_KAFKA_RESP_ERR_OFFSET_METADATA_TOO_LARGE,
                                        RD_KAFKA_RESP_ERR_OFFSET_METADATA_TOO_LARGE};
  rd_kafka_mock_push_request_errors_array(cluster.get(), 8 /* OffsetCommit */, 3, errors);
  source.commit(next);
  bool committed = false;
  for (int i = 0; i < 300 && !committed; ++i) {
    source.poll(50ms);
    if (i % 10 == 9) committed = testing::committed_offsets(brokers, "g", "events") == next;
  }
  EXPECT_TRUE(committed) << "the refused positions were not committed again";
  source.close();
}

// Records the positions reported before the log start.
class ResetListener : public FromBeginning {
 public:
  void on_position_reset(int32_t partition, int64_t next, int64_t log_start) override {
    resets.push_back({partition, next, log_start});
  }
  struct Reset {
    int32_t partition;
    int64_t next, log_start;
  };
  std::vector<Reset> resets;
};

// The mock broker keeps 5 MiB a partition and drops its oldest record sets
// beyond that, as retention would: a position below what is left is
// reported (fetching starts over at the log start); one within is not.
TEST(KafkaSourceWithMockCluster, APositionBeforeTheLogStartIsReportedAsAReset) {
  MockCluster cluster;
  const std::string brokers = cluster.bootstraps();
  Position last;
  {
    producer::ProducerSettings ps;
    ps.kafka.brokers = brokers;
    ps.kafka.topic = "events";
    ps.kafka.properties["log_level"] = "0";
    producer::Producer p(ps);
    const std::string value(900 * 1024, 'v');
    for (int i = 0; i < 8; ++i) last = p.put_sync("big", value);  // one record set each
  }
  ASSERT_EQ(last.offset, 7);
  ResetListener listener;
  KafkaSource source(settings(brokers), listener);
  source.subscribe();  // a member, so that close() leaves at once
  for (int i = 0; i < 300 && listener.assigned.empty(); ++i) source.poll(50ms);
  ASSERT_FALSE(listener.assigned.empty());
  source.check_positions({{last.partition, 8}});  // the end: applied everything
  EXPECT_TRUE(listener.resets.empty());
  source.check_positions({{last.partition, 1}});
  ASSERT_EQ(listener.resets.size(), 1u);
  EXPECT_EQ(listener.resets[0].partition, last.partition);
  EXPECT_EQ(listener.resets[0].next, 1);
  EXPECT_GT(listener.resets[0].log_start, 1) << "the mock kept the oldest records";
  EXPECT_LE(listener.resets[0].log_start, 7);
  source.close();
}

TEST(KafkaSourceWithMockCluster, SurvivesTheBrokerGoingAwayAndResumes) {
  MockCluster cluster;
  const std::string brokers = cluster.bootstraps();
  produce(brokers, 4);
  FromBeginning listener;
  KafkaSource source(settings(brokers), listener);
  source.subscribe();
  int seen = 0;
  for (int i = 0; i < 300 && seen < 4; ++i) {
    if (source.poll(50ms)) ++seen;
  }
  ASSERT_EQ(seen, 4);

  rd_kafka_mock_broker_set_down(cluster.get(), 1);
  for (int i = 0; i < 20; ++i) EXPECT_EQ(source.poll(50ms), nullptr);  // no throw
  rd_kafka_mock_broker_set_up(cluster.get(), 1);
  produce(brokers, 3, 100);
  std::set<std::string> keys;
  for (int i = 0; i < 400 && keys.size() < 3; ++i) {
    if (auto m = source.poll(50ms)) keys.insert(*to_record(m.get()).key);
  }
  EXPECT_EQ(keys, (std::set<std::string>{"k100", "k101", "k102"}));
  source.close();
}

TEST(ProducerWithMockCluster, EveryAcceptedEventHearsItsOutcomeWhenTheBrokerIsDown) {
  MockCluster cluster;
  rd_kafka_mock_broker_set_down(cluster.get(), 1);
  producer::ProducerSettings ps;
  ps.kafka.brokers = cluster.bootstraps();
  ps.kafka.topic = "events";
  ps.kafka.properties["log_level"] = "0";
  ps.delivery_timeout = 1500ms;
  ps.close_timeout = 3000ms;
  std::atomic<int> failed{0}, delivered{0};
  {
    producer::Producer p(ps);
    for (int i = 0; i < 50; ++i) {
      auto invalid = p.put("k" + std::to_string(i), "v", {}, [&](const producer::Delivery& d) {
        (d.ok() ? delivered : failed).fetch_add(1);
      });
      ASSERT_FALSE(invalid.has_value());
    }
    EXPECT_EQ(p.flush(10s), 0u);
  }
  EXPECT_EQ(delivered.load(), 0);
  EXPECT_EQ(failed.load(), 50);
}

// The apply workers wake the poll thread whenever a batch finishes, also
// while a stopping replica closes its consumer. rd_kafka_consumer_close reads
// the consumer queue the wake-up yields: a wake-up during the close cut it
// short ("Timed out"), leaving the group unclosed and the replica hung in the
// consumer's destruction after SIGTERM.
TEST(KafkaSourceWithMockCluster, WakeUpsDuringCloseDoNotCutItShort) {
  MockCluster cluster;
  const std::string brokers = cluster.bootstraps();
  produce(brokers, 2);
  FromBeginning listener;
  auto source = std::make_unique<KafkaSource>(settings(brokers), listener);
  source->subscribe();
  for (int i = 0; i < 300 && listener.assigned.size() < 2; ++i) source->poll(50ms);
  ASSERT_EQ(listener.assigned, (std::set<int32_t>{0, 1}));

  std::atomic<bool> waking{true};
  std::thread waker([&] {
    while (waking.load()) source->wake();
  });
  auto closed = std::async(std::launch::async, [&] { source->close(); });
  const bool in_time = closed.wait_for(30s) == std::future_status::ready;
  waking.store(false);
  waker.join();
  ASSERT_TRUE(in_time) << "close did not return";
  // A close that ran to the end revoked the partitions (its last rebalance).
  EXPECT_TRUE(listener.assigned.empty());
  auto destroyed = std::async(std::launch::async, [&] { source.reset(); });
  EXPECT_EQ(destroyed.wait_for(30s), std::future_status::ready)
      << "the consumer's destruction hung";
}

// A replica told to stop must stop, even when the broker does not answer:
// closing the consumer (the last commits, leaving the group) waits for the
// broker, and a broker that holds its answers held the close, and with it
// the replica after SIGTERM, for as long as librdkafka's request timeout (a
// minute) or longer. The close gives up after the session timeout, when the
// group drops the member anyway, and the consumer's destruction returns too.
TEST(KafkaSourceWithMockCluster, CloseEndsAfterTheSessionTimeoutWhenTheBrokerHoldsItsAnswers) {
  MockCluster cluster;
  const std::string brokers = cluster.bootstraps();
  produce(brokers, 2);
  FromBeginning listener;
  SourceSettings s = settings(brokers);
  s.session_timeout = 6000ms;
  auto source = std::make_unique<KafkaSource>(s, listener);
  source->subscribe();
  for (int i = 0; i < 300 && listener.assigned.size() < 2; ++i) source->poll(50ms);
  ASSERT_EQ(listener.assigned, (std::set<int32_t>{0, 1}));

  rd_kafka_mock_broker_set_rtt(cluster.get(), 1, 120000);
  source->commit({{0, 1}, {1, 1}});
  auto closed = std::async(std::launch::async, [&] { source->close(); });
  ASSERT_EQ(closed.wait_for(s.session_timeout + 10s), std::future_status::ready)
      << "close did not return while the broker held its answers";
  auto destroyed = std::async(std::launch::async, [&] { source.reset(); });
  EXPECT_EQ(destroyed.wait_for(10s), std::future_status::ready)
      << "the consumer's destruction hung";
  rd_kafka_mock_broker_set_rtt(cluster.get(), 1, 0);
}

}  // namespace
}  // namespace kvstream::source
