// The seam of publishing one key-value event: what the HTTP API's PUT and
// DELETE need of a producer, without a Kafka client. `producer::Producer`
// implements it (producer/producer.h); tests use tests/fakes/fake_publisher.h.
//
//   publisher.put("user:1", "v", {}, [](const Delivery& d) {
//     if (d.ok()) use(d.position); else report(*d.error, d.failure);
//   }, WhenFull::kRefuse);
//
// An implementation validates by the record contract first: a violation is
// returned and the callback is not called. Otherwise the event is accepted
// or an Error is thrown (nothing sent, no callback); an accepted event gets
// exactly one callback, on a thread of the implementation's choosing.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include "common/error.h"
#include "common/position.h"
#include "schema/codec.h"

namespace kvstream::producer {

// Why a record was not delivered, for callers that act on the reason.
enum class DeliveryFailure {
  kNone,
  kTooLarge,   // larger than the broker or the topic takes (max.message.bytes)
  kQueueFull,  // librdkafka's local queue stayed full
  kTimedOut,   // not acknowledged within the delivery timeout
  kAbandoned,  // still in flight when the producer closed
  kOther,      // any other refusal (authorization, an unknown topic, ...)
};

const char* to_string(DeliveryFailure failure);

struct Delivery {
  Position position;                                 // valid when ok()
  std::optional<std::string> error;                  // set when the broker did not take it
  DeliveryFailure failure = DeliveryFailure::kNone;  // set with `error`
  bool ok() const { return !error.has_value(); }
};

using DeliveryCallback = std::function<void(const Delivery&)>;

// What put() and del() do while the local queue is full.
enum class WhenFull {
  kWait,    // retry until there is room, up to the delivery timeout
  kRefuse,  // throw a transient Error at once; nothing is sent
};

class Publisher {
 public:
  virtual ~Publisher() = default;

  // Validates by the contract, then enqueues. A contract violation is
  // returned (nothing is sent, the callback is not called); otherwise the
  // callback, if any, reports the delivery. Throws kvstream::Error:
  // transient if the local queue is full (past the delivery timeout with
  // WhenFull::kWait, at once with kRefuse; the callback is then not called),
  // fatal after close or on an unrecoverable client error. With kRefuse it
  // never blocks.
  virtual std::optional<schema::ValidationError> put(std::string_view key, std::string_view value,
                                                     const schema::EncodeOptions& options,
                                                     DeliveryCallback callback,
                                                     WhenFull when_full) = 0;
  virtual std::optional<schema::ValidationError> del(std::string_view key,
                                                     const schema::EncodeOptions& options,
                                                     DeliveryCallback callback,
                                                     WhenFull when_full) = 0;
};

}  // namespace kvstream::producer
