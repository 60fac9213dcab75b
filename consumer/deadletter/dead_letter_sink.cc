#include "deadletter/dead_letter_sink.h"

#include <spdlog/spdlog.h>

#include <utility>

#include "common/error.h"
#include "schema/dlq.h"

namespace kvstream::deadletter {

DeadLetterSink::DeadLetterSink(SendFn send, std::function<void()> wake, RetrySettings retry)
    : send_(std::move(send)), wake_(std::move(wake)), retry_(retry) {}

void DeadLetterSink::submit(const schema::Record& record, const schema::ValidationError& why) {
  {
    std::lock_guard<std::mutex> lock(state_->mu);
    Letter& letter = state_->letters[record.partition];
    letter = Letter{};
    letter.id = next_id_++;
    letter.at = Position{record.partition, record.offset};
    letter.reason = std::string(schema::reason_code(why.reason));
    letter.record = schema::make_dlq_record(record, why);
    letter.backoff = Backoff(retry_.first, retry_.max);
  }
  send(record.partition);
}

void DeadLetterSink::poll(Clock::time_point now) {
  std::vector<int32_t> due;
  {
    std::lock_guard<std::mutex> lock(state_->mu);
    for (const auto& [partition, letter] : state_->letters) {
      if (!letter.in_flight && letter.retry_at <= now) due.push_back(partition);
    }
  }
  for (int32_t partition : due) send(partition);
}

void DeadLetterSink::send(int32_t partition) {
  schema::Record record;
  uint64_t id = 0;
  {
    std::lock_guard<std::mutex> lock(state_->mu);
    auto it = state_->letters.find(partition);
    if (it == state_->letters.end() || it->second.in_flight) return;
    it->second.in_flight = true;
    record = it->second.record;
    id = it->second.id;
  }
  std::weak_ptr<State> weak = state_;
  auto wake = wake_;
  producer::DeliveryCallback on_delivery = [weak, wake, partition,
                                            id](const producer::Delivery& d) {
    const std::shared_ptr<State> state = weak.lock();
    if (!state) return;
    {
      std::lock_guard<std::mutex> lock(state->mu);
      settle(*state, partition, id, d);
    }
    if (wake) wake();
  };
  try {
    send_(record, std::move(on_delivery));
  } catch (const Error& e) {
    producer::Delivery refused;
    refused.error = e.what();
    const auto* send_error = dynamic_cast<const producer::SendError*>(&e);
    refused.failure = send_error ? send_error->failure() : producer::DeliveryFailure::kOther;
    std::lock_guard<std::mutex> lock(state_->mu);
    settle(*state_, partition, id, refused);
  }
}

void DeadLetterSink::settle(State& state, int32_t partition, uint64_t id,
                            const producer::Delivery& d) {
  auto it = state.letters.find(partition);
  if (it == state.letters.end() || it->second.id != id) return;  // cancelled meanwhile
  Letter& letter = it->second;
  letter.in_flight = false;
  if (d.ok()) {
    state.delivered.push_back(Delivered{letter.at, letter.reason});
    state.letters.erase(it);
    return;
  }
  if (d.failure == producer::DeliveryFailure::kTooLarge && letter.record.value) {
    // The dead letter must not block its partition for good: it goes
    // without its value, saying so, at once.
    spdlog::warn("dead letter of {} too large for its topic ({}); sending it without its value",
                 to_string(letter.at), d.error.value_or(""));
    letter.record.headers.push_back(
        {std::string(schema::kDlqValueOmittedHeader), std::to_string(letter.record.value->size())});
    letter.record.value.reset();
    letter.retry_at = Clock::time_point{};
    return;
  }
  ++letter.refusals;
  ++state.failures;
  const auto delay = letter.backoff.next();
  letter.retry_at = Clock::now() + delay;
  spdlog::warn("dead letter of {} refused ({}: {}); partition {} waits, retrying in {} ms",
               to_string(letter.at), producer::to_string(d.failure), d.error.value_or(""),
               partition, delay.count());
}

std::vector<Delivered> DeadLetterSink::take_delivered() {
  std::lock_guard<std::mutex> lock(state_->mu);
  std::vector<Delivered> out;
  out.swap(state_->delivered);
  return out;
}

void DeadLetterSink::cancel(const std::vector<int32_t>& partitions) {
  std::lock_guard<std::mutex> lock(state_->mu);
  for (int32_t p : partitions) state_->letters.erase(p);
  auto& delivered = state_->delivered;
  for (auto it = delivered.begin(); it != delivered.end();) {
    bool revoked = false;
    for (int32_t p : partitions) revoked = revoked || it->at.partition == p;
    it = revoked ? delivered.erase(it) : it + 1;
  }
}

std::optional<DeadLetterSink::Clock::time_point> DeadLetterSink::next_retry() const {
  std::lock_guard<std::mutex> lock(state_->mu);
  std::optional<Clock::time_point> next;
  for (const auto& [partition, letter] : state_->letters) {
    if (letter.in_flight) continue;
    if (!next || letter.retry_at < *next) next = letter.retry_at;
  }
  return next;
}

size_t DeadLetterSink::waiting() const {
  std::lock_guard<std::mutex> lock(state_->mu);
  return state_->letters.size();
}

bool DeadLetterSink::stalled() const {
  std::lock_guard<std::mutex> lock(state_->mu);
  for (const auto& [partition, letter] : state_->letters) {
    if (letter.refusals > 0) return true;
  }
  return false;
}

size_t DeadLetterSink::take_failures() {
  std::lock_guard<std::mutex> lock(state_->mu);
  const size_t n = state_->failures;
  state_->failures = 0;
  return n;
}

}  // namespace kvstream::deadletter
