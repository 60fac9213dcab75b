// A plain librdkafka producer for the JSON-with-schema records of bench/run:
// idempotent, acks=all, explicit partitions (the workload's, so that the
// Debezium topic holds the same streams as kvstream's), delivery reports
// counted. Not thread-safe: one thread produces and polls.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "common/kafka_handles.h"

namespace kvstream::bench {

class JsonProducer {
 public:
  // on_delivery(opaque, partition, offset, ok) runs on the producing thread
  // (from poll()/flush()).
  using OnDelivery =
      std::function<void(int64_t opaque, int32_t partition, int64_t offset, bool ok)>;

  JsonProducer(const std::string& brokers, const std::string& topic,
               std::chrono::milliseconds linger, OnDelivery on_delivery);

  // Queues one record (value nullopt: a tombstone). Waits (serving delivery
  // reports) while librdkafka's queue is full.
  void produce(int32_t partition, const std::string& key, const std::optional<std::string>& value,
               int64_t opaque);

  void poll() { rd_kafka_poll(rk_.get(), 0); }

  // Waits for every delivery; returns how many are left after `timeout`.
  int flush(std::chrono::milliseconds timeout);

  int64_t failed() const { return failed_; }

 private:
  static void dr_cb(rd_kafka_t*, const rd_kafka_message_t* msg, void* self);

  std::string topic_;
  OnDelivery on_delivery_;
  int64_t failed_ = 0;
  kafka::HandlePtr rk_;
};

}  // namespace kvstream::bench
