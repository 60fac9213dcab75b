// A Publisher (producer/publisher.h) for unit tests of what writes through
// the seam: it validates by the record contract like the producer, places
// each event at the next offset of its key's murmur2 partition, and records
// what it was asked to send. By default it reports the delivery at once, on
// the caller's thread; switches make it hold deliveries, fail them, refuse a
// full queue or throw a fatal error. Thread-safe.
#pragma once

#include <deque>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "common/error.h"
#include "common/kafka_partitioner.h"
#include "producer/publisher.h"
#include "schema/codec.h"

namespace kvstream::fakes {

class FakePublisher : public producer::Publisher {
 public:
  struct Sent {
    bool put = false;
    std::string key, value;
    schema::EncodeOptions options;
    producer::WhenFull when_full = producer::WhenFull::kWait;
  };

  explicit FakePublisher(int32_t partitions, schema::Limits limits = {})
      : partitions_(partitions), limits_(limits) {}

  // Deliveries wait for deliver_held() instead of being reported at once.
  void hold(bool on) {
    std::lock_guard<std::mutex> lock(mu_);
    hold_ = on;
  }
  // Later deliveries fail with this error (nullopt: they succeed).
  void fail_deliveries(std::optional<std::string> error) {
    std::lock_guard<std::mutex> lock(mu_);
    delivery_error_ = std::move(error);
  }
  // The queue is full for the next `n` sends that refuse to wait.
  void refuse_when_full(size_t n) {
    std::lock_guard<std::mutex> lock(mu_);
    full_refusals_ = n;
  }
  // Later sends throw a fatal error (a closed producer).
  void close() {
    std::lock_guard<std::mutex> lock(mu_);
    closed_ = true;
  }
  // Reports the held deliveries, oldest first; returns how many.
  size_t deliver_held() {
    std::deque<std::pair<producer::DeliveryCallback, producer::Delivery>> held;
    {
      std::lock_guard<std::mutex> lock(mu_);
      held.swap(held_);
    }
    for (auto& [callback, delivery] : held) callback(delivery);
    return held.size();
  }
  std::vector<Sent> sent() const {
    std::lock_guard<std::mutex> lock(mu_);
    return sent_;
  }

  std::optional<schema::ValidationError> put(std::string_view key, std::string_view value,
                                             const schema::EncodeOptions& options,
                                             producer::DeliveryCallback callback,
                                             producer::WhenFull when_full) override {
    auto encoded = schema::encode_put(key, value, options, limits_);
    if (auto* e = std::get_if<schema::ValidationError>(&encoded)) return *e;
    send(Sent{true, std::string(key), std::string(value), options, when_full}, std::move(callback));
    return std::nullopt;
  }

  std::optional<schema::ValidationError> del(std::string_view key,
                                             const schema::EncodeOptions& options,
                                             producer::DeliveryCallback callback,
                                             producer::WhenFull when_full) override {
    auto encoded = schema::encode_delete(key, options, limits_);
    if (auto* e = std::get_if<schema::ValidationError>(&encoded)) return *e;
    send(Sent{false, std::string(key), {}, options, when_full}, std::move(callback));
    return std::nullopt;
  }

 private:
  void send(Sent sent, producer::DeliveryCallback callback) {
    producer::Delivery delivery;
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (closed_) throw Error(ErrorKind::kFatal, "the producer is closed");
      if (full_refusals_ > 0 && sent.when_full == producer::WhenFull::kRefuse) {
        --full_refusals_;
        throw Error(ErrorKind::kTransient, "the local queue is full");
      }
      if (delivery_error_) {
        delivery.error = delivery_error_;
        delivery.failure = producer::DeliveryFailure::kTimedOut;
      } else {
        const int32_t p = partition_for_key(sent.key, partitions_);
        delivery.position = Position{p, next_offsets_[p]++};
      }
      sent_.push_back(std::move(sent));
      if (hold_) {
        held_.emplace_back(std::move(callback), std::move(delivery));
        return;
      }
    }
    if (callback) callback(delivery);
  }

  const int32_t partitions_;
  const schema::Limits limits_;
  mutable std::mutex mu_;
  std::map<int32_t, int64_t> next_offsets_;
  std::vector<Sent> sent_;
  std::deque<std::pair<producer::DeliveryCallback, producer::Delivery>> held_;
  std::optional<std::string> delivery_error_;
  size_t full_refusals_ = 0;
  bool hold_ = false;
  bool closed_ = false;
};

}  // namespace kvstream::fakes
