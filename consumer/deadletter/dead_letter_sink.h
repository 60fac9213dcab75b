// Dead-lettering without stalling the replica: records that break the
// contract go to the dead-letter topic, sent and retried off the poll thread.
//
// The poll thread submits a refused record and holds its partition back (the
// apply engine takes none of the partition's later records and the source
// stops fetching it, so its position stays at the record). The sink sends
// the dead letter and, while the topic refuses it, sends it again after a
// backoff; the poll thread collects what the topic acknowledged with
// take_delivered() and lets the partition move on past the record. Other
// partitions are never held. A record too large for the dead-letter topic is
// sent again without its value, with a header saying so
// (schema::kDlqValueOmittedHeader).
//
// Threads: everything but the delivery callbacks runs on the poll thread.
// The callbacks run on the producer's delivery thread; they only record the
// outcome (under mu_) and call `wake` so the poll thread looks at it. They
// hold the sink's state by shared pointer, so a late report after the sink
// is gone is harmless.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "common/backoff.h"
#include "common/position.h"
#include "producer/producer.h"
#include "schema/codec.h"
#include "schema/record.h"

namespace kvstream::deadletter {

// Sends one record to the dead-letter topic: the producer in the replica, a
// fake in tests. May throw kvstream::Error (producer::SendError when
// librdkafka refuses the record before sending it).
using SendFn = std::function<void(const schema::Record&, producer::DeliveryCallback)>;

struct RetrySettings {
  std::chrono::milliseconds first{200};
  std::chrono::milliseconds max{5000};
};

// A dead letter the topic acknowledged.
struct Delivered {
  Position at;         // the refused record
  std::string reason;  // its reason code (schema::reason_code)
};

class DeadLetterSink {
 public:
  using Clock = std::chrono::steady_clock;

  DeadLetterSink(SendFn send, std::function<void()> wake, RetrySettings retry = {});
  DeadLetterSink(const DeadLetterSink&) = delete;
  DeadLetterSink& operator=(const DeadLetterSink&) = delete;

  // Starts dead-lettering `record`, refused for `why`. One dead letter per
  // partition at a time: the caller holds the partition back until it is
  // delivered (a second one for the same partition replaces the first).
  void submit(const schema::Record& record, const schema::ValidationError& why);
  // Sends again each dead letter whose backoff has passed.
  void poll(Clock::time_point now);
  // The dead letters acknowledged since the last call.
  std::vector<Delivered> take_delivered();
  // Forgets the partitions' dead letters (revoked: the next owner reads the
  // records again); a late acknowledgement of them is ignored.
  void cancel(const std::vector<int32_t>& partitions);

  // When poll() next has a dead letter to send again, if any waits for its
  // backoff.
  std::optional<Clock::time_point> next_retry() const;
  // Dead letters submitted and not yet acknowledged.
  size_t waiting() const;
  // Whether a waiting dead letter has been refused at least once.
  bool stalled() const;
  // Refusals (failed sends and deliveries) since the last call.
  size_t take_failures();

 private:
  struct Letter {
    uint64_t id = 0;  // tells a late report of a cancelled letter from a new one
    Position at;
    std::string reason;
    schema::Record record;  // what is sent
    bool in_flight = false;
    size_t refusals = 0;
    Clock::time_point retry_at{};
    Backoff backoff{std::chrono::milliseconds(200), std::chrono::milliseconds(5000)};
  };
  struct State {
    std::mutex mu;
    std::map<int32_t, Letter> letters;  // by partition
    std::vector<Delivered> delivered;
    size_t failures = 0;
  };

  void send(int32_t partition);
  // Under state.mu: the outcome of one attempt.
  static void settle(State& state, int32_t partition, uint64_t id, const producer::Delivery& d);

  const SendFn send_;
  const std::function<void()> wake_;
  const RetrySettings retry_;
  const std::shared_ptr<State> state_ = std::make_shared<State>();
  uint64_t next_id_ = 1;
};

}  // namespace kvstream::deadletter
