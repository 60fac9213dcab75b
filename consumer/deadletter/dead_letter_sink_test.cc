#include "deadletter/dead_letter_sink.h"

#include <gtest/gtest.h>

#include <atomic>
#include <string>
#include <vector>

#include "schema/dlq.h"

namespace kvstream::deadletter {
namespace {

using namespace std::chrono_literals;
using Clock = DeadLetterSink::Clock;

schema::Record refused(int32_t partition, int64_t offset, std::string value = "v") {
  schema::Record r;
  r.topic = "kv";
  r.partition = partition;
  r.offset = offset;
  r.key = "k";
  r.value = std::move(value);
  return r;
}

const schema::ValidationError kWhy{schema::Reason::kEmptyKey, "the key is empty"};

// The dead-letter topic as the sink sees it: every send is kept with its
// callback, which the test answers.
struct FakeTopic {
  struct Sent {
    schema::Record record;
    producer::DeliveryCallback callback;
  };
  std::vector<Sent> sent;
  std::optional<producer::SendError> refuse_next;

  SendFn send() {
    return [this](const schema::Record& r, producer::DeliveryCallback cb) {
      if (refuse_next) {
        const producer::SendError e = *refuse_next;
        refuse_next.reset();
        throw e;
      }
      sent.push_back({r, std::move(cb)});
    };
  }
  void ack(size_t i) {
    producer::Delivery d;
    d.position = Position{0, static_cast<int64_t>(i)};
    sent.at(i).callback(d);
  }
  void refuse(size_t i, producer::DeliveryFailure why) {
    producer::Delivery d;
    d.error = "refused by the test";
    d.failure = why;
    sent.at(i).callback(d);
  }
};

TEST(DeadLetterSink, AnAcknowledgedDeadLetterIsDeliveredWithItsReason) {
  FakeTopic topic;
  std::atomic<int> wakes{0};
  DeadLetterSink sink(topic.send(), [&] { ++wakes; });
  sink.submit(refused(3, 41), kWhy);
  ASSERT_EQ(topic.sent.size(), 1u);
  EXPECT_EQ(topic.sent[0].record.last_header(schema::kDlqOffsetHeader)->value, "41");
  EXPECT_EQ(sink.waiting(), 1u);
  EXPECT_TRUE(sink.take_delivered().empty());

  topic.ack(0);
  EXPECT_EQ(wakes.load(), 1);
  const auto delivered = sink.take_delivered();
  ASSERT_EQ(delivered.size(), 1u);
  EXPECT_EQ(delivered[0].at, (Position{3, 41}));
  EXPECT_EQ(delivered[0].reason, "empty_key");
  EXPECT_EQ(sink.waiting(), 0u);
  EXPECT_FALSE(sink.stalled());
}

TEST(DeadLetterSink, ARefusedDeadLetterIsSentAgainAfterItsBackoffAndShowsAsStalled) {
  FakeTopic topic;
  DeadLetterSink sink(
      topic.send(), [] {}, RetrySettings{50ms, 100ms});
  sink.submit(refused(0, 7), kWhy);
  topic.refuse(0, producer::DeliveryFailure::kOther);
  EXPECT_TRUE(sink.stalled());
  EXPECT_EQ(sink.take_failures(), 1u);
  EXPECT_EQ(sink.take_failures(), 0u);
  ASSERT_TRUE(sink.next_retry().has_value());

  sink.poll(Clock::now());  // before the backoff: nothing sent
  EXPECT_EQ(topic.sent.size(), 1u);
  sink.poll(*sink.next_retry());
  ASSERT_EQ(topic.sent.size(), 2u);
  EXPECT_FALSE(sink.next_retry().has_value()) << "a letter in flight waits for its report";
  topic.ack(1);
  EXPECT_FALSE(sink.stalled());
  ASSERT_EQ(sink.take_delivered().size(), 1u);
}

TEST(DeadLetterSink, ARefusalOfOnePartitionDoesNotHoldAnother) {
  FakeTopic topic;
  DeadLetterSink sink(topic.send(), [] {});
  sink.submit(refused(0, 1), kWhy);
  sink.submit(refused(1, 9), kWhy);
  topic.refuse(0, producer::DeliveryFailure::kTimedOut);
  topic.ack(1);
  const auto delivered = sink.take_delivered();
  ASSERT_EQ(delivered.size(), 1u);
  EXPECT_EQ(delivered[0].at, (Position{1, 9}));
  EXPECT_EQ(sink.waiting(), 1u);
  EXPECT_TRUE(sink.stalled());
}

TEST(DeadLetterSink, ATooLargeDeadLetterGoesAgainAtOnceWithoutItsValue) {
  FakeTopic topic;
  DeadLetterSink sink(topic.send(), [] {});
  sink.submit(refused(2, 5, std::string(1000, 'x')), kWhy);
  topic.refuse(0, producer::DeliveryFailure::kTooLarge);
  EXPECT_FALSE(sink.stalled()) << "omitting the value is not a refusal";
  sink.poll(Clock::now());
  ASSERT_EQ(topic.sent.size(), 2u);
  EXPECT_FALSE(topic.sent[1].record.value.has_value());
  const schema::Header* omitted = topic.sent[1].record.last_header(schema::kDlqValueOmittedHeader);
  ASSERT_NE(omitted, nullptr);
  EXPECT_EQ(omitted->value, "1000");

  // Still too large without its value: it waits, visibly.
  topic.refuse(1, producer::DeliveryFailure::kTooLarge);
  EXPECT_TRUE(sink.stalled());
}

TEST(DeadLetterSink, ASendRefusedBeforeSendingCountsAsARefusal) {
  FakeTopic topic;
  topic.refuse_next = producer::SendError(ErrorKind::kFatal, producer::DeliveryFailure::kTooLarge,
                                          "Broker: Message size too large");
  DeadLetterSink sink(topic.send(), [] {});
  sink.submit(refused(0, 3, "value"), kWhy);
  EXPECT_TRUE(topic.sent.empty());
  sink.poll(Clock::now());
  ASSERT_EQ(topic.sent.size(), 1u) << "sent again at once without its value";
  EXPECT_FALSE(topic.sent[0].record.value.has_value());
}

TEST(DeadLetterSink, ALateAcknowledgementOfACancelledPartitionIsIgnored) {
  FakeTopic topic;
  DeadLetterSink sink(topic.send(), [] {});
  sink.submit(refused(4, 10), kWhy);
  sink.cancel({4});
  EXPECT_EQ(sink.waiting(), 0u);
  // The partition comes back and the record is refused again.
  sink.submit(refused(4, 10), kWhy);
  topic.ack(0);  // the first letter's late report
  EXPECT_TRUE(sink.take_delivered().empty());
  topic.ack(1);
  EXPECT_EQ(sink.take_delivered().size(), 1u);
}

TEST(DeadLetterSink, AReportAfterTheSinkIsGoneIsHarmless) {
  FakeTopic topic;
  {
    DeadLetterSink sink(topic.send(), [] {});
    sink.submit(refused(0, 1), kWhy);
  }
  topic.ack(0);  // under AddressSanitizer, a use of the freed sink would fail here
}

}  // namespace
}  // namespace kvstream::deadletter
