// The kvstream producer: publishes key-value events by the record contract
// (schema/README.md) and tells the caller where each landed.
//
//   Producer producer(settings);
//   Position p = producer.put_sync("user:1", "{\"name\":\"Ada\"}");   // "3:1042"
//   producer.put("user:2", "...", {}, [](const Delivery& d) { ... });  // async
//   producer.del_sync("user:1");
//
// Settings that matter for correctness are fixed: idempotence on (acks=all,
// no duplicates or reordering on retry) and the murmur2 partitioner of the
// Java client, so every producer puts a key on the same partition.
//
// Thread-safe: any thread may send. Delivery callbacks run on the producer's
// own delivery thread, one at a time; they must not block for long.
// Destruction flushes, waiting at most `close_timeout`.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>

#include "common/config.h"
#include "common/error.h"
#include "common/kafka_handles.h"
#include "common/position.h"
#include "schema/codec.h"

namespace kvstream::producer {

struct ProducerSettings {
  KafkaSettings kafka;
  std::chrono::milliseconds linger{5};
  std::chrono::milliseconds delivery_timeout{30000};
  std::chrono::milliseconds close_timeout{30000};
  schema::Limits limits;
  std::string client_id = "kvstream-producer";
};

struct Delivery {
  Position position;                 // valid when ok()
  std::optional<std::string> error;  // set when the broker did not take it
  bool ok() const { return !error.has_value(); }
};

using DeliveryCallback = std::function<void(const Delivery&)>;

class Producer {
 public:
  explicit Producer(ProducerSettings settings);
  ~Producer();
  Producer(const Producer&) = delete;
  Producer& operator=(const Producer&) = delete;

  // Validates by the contract, then enqueues. A contract violation is
  // returned (nothing is sent, the callback is not called); otherwise the
  // callback reports the delivery. Throws kvstream::Error if the local queue
  // stays full past the delivery timeout.
  std::optional<schema::ValidationError> put(std::string_view key, std::string_view value,
                                             const schema::EncodeOptions& options,
                                             DeliveryCallback callback);
  std::optional<schema::ValidationError> del(std::string_view key,
                                             const schema::EncodeOptions& options,
                                             DeliveryCallback callback);

  // Blocking forms: the position once acknowledged. Throw kvstream::Error:
  // permanent for a contract violation, transient for a failed delivery.
  Position put_sync(std::string_view key, std::string_view value,
                    const schema::EncodeOptions& options = {});
  Position del_sync(std::string_view key, const schema::EncodeOptions& options = {});

  // Sends a record as it is, unvalidated, to `topic` (dead-letter records).
  void send(const std::string& topic, const schema::Record& record, DeliveryCallback callback);

  // Waits until nothing is in flight or `timeout` passes; returns how many
  // events are still undelivered.
  size_t flush(std::chrono::milliseconds timeout);

  size_t in_flight() const { return in_flight_.load(); }
  const std::string& topic() const { return settings_.kafka.topic; }

 private:
  static void on_delivery(rd_kafka_t*, const rd_kafka_message_t* msg, void*);
  void enqueue(const std::string& topic, const schema::Record& record, DeliveryCallback callback);
  Position wait(
      const std::function<std::optional<schema::ValidationError>(DeliveryCallback)>& send);

  const ProducerSettings settings_;
  kafka::HandlePtr rk_;
  std::mutex flush_mu_;  // pairs with flushed_ for waits on in_flight_
  std::condition_variable flushed_;
  std::atomic<size_t> in_flight_{0};
  std::atomic<bool> stopping_{false};
  std::thread delivery_thread_;  // polls delivery reports until stopping_
};

}  // namespace kvstream::producer
