// The kvstream producer: publishes key-value events by the record contract
// (schema/README.md) and tells the caller where each landed.
//
//   Producer producer(settings);
//   Position p = producer.put_sync("user:1", "{\"name\":\"Ada\"}");   // "3:1042"
//   producer.put("user:2", "...", {}, [](const Delivery& d) { ... });  // async
//   producer.del_sync("user:1");
//   CloseReport r = producer.close();  // r.undelivered == 0: nothing lost
//
// Settings that matter for correctness are fixed: idempotence on (acks=all,
// no duplicates or reordering on retry) and the murmur2 partitioner of the
// Java client, so every producer puts a key on the same partition.
//
// Lifecycle: constructed = open; close() (or the destructor, which calls it)
// stops taking events, waits at most `close_timeout` for those in flight,
// then abandons the rest (their callbacks hear an error) and reports how many
// were not delivered. An accepted event always gets exactly one callback.
//
// Threads: thread-safe; any thread may send, flush or close. Delivery
// callbacks run on the producer's own delivery thread, one at a time; they
// must not block for long and must not call the blocking forms (put_sync,
// flush, close) of the same producer. The destructor must not race other
// calls.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>

#include "common/error.h"
#include "common/kafka_handles.h"
#include "common/kafka_settings.h"
#include "common/position.h"
#include "producer/publisher.h"
#include "schema/codec.h"

namespace kvstream::producer {

struct ProducerSettings {
  KafkaSettings kafka;
  // How long librdkafka waits to fill a batch (linger.ms).
  std::chrono::milliseconds linger{5};
  // Upper bounds of one batch per partition: bytes (batch.size) and
  // messages (batch.num.messages).
  size_t batch_bytes = 1000000;
  size_t batch_messages = 10000;
  // How long an event may take to be acknowledged, retries included
  // (delivery.timeout.ms); past it the callback reports a failure.
  std::chrono::milliseconds delivery_timeout{30000};
  // How long close() waits for events in flight before abandoning them;
  // close() returns within it plus a grace of 2 s for the abandoned events'
  // reports.
  std::chrono::milliseconds close_timeout{30000};
  schema::Limits limits;
  std::string client_id = "kvstream-producer";
};

// What send() throws when librdkafka refuses a record before sending it: an
// Error (transient for a full queue, fatal otherwise) with the reason.
class SendError : public Error {
 public:
  SendError(ErrorKind kind, DeliveryFailure failure, const std::string& message)
      : Error(kind, message), failure_(failure) {}
  DeliveryFailure failure() const { return failure_; }

 private:
  DeliveryFailure failure_;
};

// Counters over the producer's life so far.
struct ProducerStats {
  uint64_t accepted = 0;         // events handed to librdkafka
  uint64_t delivered = 0;        // acknowledged by the broker
  uint64_t failed = 0;           // reported failed (including abandoned at close)
  uint64_t delivered_bytes = 0;  // key + value bytes of the delivered events
};

// What close() reports; counts cover the producer's whole life.
struct CloseReport {
  uint64_t delivered = 0;
  uint64_t undelivered = 0;  // accepted but not delivered: failed or abandoned
  uint64_t abandoned = 0;    // still in flight when close_timeout expired
  bool ok() const { return undelivered == 0; }
};

class Producer : public Publisher {
 public:
  // Throws kvstream::Error (fatal) for a configuration librdkafka rejects.
  explicit Producer(ProducerSettings settings);
  // Calls close() and logs an error if anything was not delivered.
  ~Producer() override;
  Producer(const Producer&) = delete;
  Producer& operator=(const Producer&) = delete;

  // Publisher (producer/publisher.h): validates by the contract, then
  // enqueues; the callback runs on the delivery thread. Fatal after close().
  std::optional<schema::ValidationError> put(std::string_view key, std::string_view value,
                                             const schema::EncodeOptions& options,
                                             DeliveryCallback callback,
                                             WhenFull when_full = WhenFull::kWait) override;
  std::optional<schema::ValidationError> del(std::string_view key,
                                             const schema::EncodeOptions& options,
                                             DeliveryCallback callback,
                                             WhenFull when_full = WhenFull::kWait) override;

  // Blocking forms: the position once acknowledged. Throw kvstream::Error:
  // permanent for a contract violation, transient for a failed delivery.
  Position put_sync(std::string_view key, std::string_view value,
                    const schema::EncodeOptions& options = {});
  Position del_sync(std::string_view key, const schema::EncodeOptions& options = {});

  // Sends a record as it is, unvalidated, to `topic` (dead-letter records).
  // Throws SendError, as put() throws kvstream::Error.
  void send(const std::string& topic, const schema::Record& record, DeliveryCallback callback);

  // Sends what lingers now and waits until nothing is in flight (every
  // callback has run) or `timeout` passes; returns how many events are still
  // in flight.
  size_t flush(std::chrono::milliseconds timeout);

  // Stops taking events and flushes for at most close_timeout; what is still
  // in flight then is abandoned (its callbacks report an error). Idempotent:
  // later calls return the first report.
  CloseReport close();

  size_t in_flight() const { return in_flight_.load(); }
  ProducerStats stats() const;
  const std::string& topic() const { return settings_.kafka.topic; }
  const ProducerSettings& settings() const { return settings_; }

 private:
  // Outcomes of one batch of delivery reports, counted once per batch.
  struct Tally {
    uint64_t reports = 0, delivered = 0, failed = 0, bytes = 0, abandoned = 0;
  };
  void deliver(const rd_kafka_message_t* msg, Tally& tally);
  void settle(const Tally& tally);
  void delivery_loop();
  void enqueue(const std::string& topic, const schema::Record& record, DeliveryCallback callback,
               WhenFull when_full = WhenFull::kWait);
  void uncount(size_t n);
  Position wait(
      const std::function<std::optional<schema::ValidationError>(DeliveryCallback)>& send);

  const ProducerSettings settings_;
  struct TopicDeleter {
    void operator()(rd_kafka_topic_t* t) const { rd_kafka_topic_destroy(t); }
  };

  kafka::HandlePtr rk_;
  kafka::QueuePtr events_;  // the main queue: delivery reports and errors
  // settings_.kafka.topic, looked up once (by name, each send would take a lock).
  std::unique_ptr<rd_kafka_topic_t, TopicDeleter> topic_;
  std::mutex flush_mu_;  // pairs with flushed_ for waits on in_flight_
  std::condition_variable flushed_;
  std::atomic<size_t> in_flight_{0};
  std::atomic<uint64_t> accepted_{0}, delivered_{0}, failed_{0}, delivered_bytes_{0}, abandoned_{0};
  std::atomic<bool> closed_{false};  // set by close(): sends throw
  std::mutex close_mu_;              // guards report_
  std::optional<CloseReport> report_;
  std::atomic<bool> stopping_{false};
  std::thread delivery_thread_;  // serves events_ until stopping_
};

}  // namespace kvstream::producer
