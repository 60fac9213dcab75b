#include "apply/pending.h"

#include <utility>

namespace kvstream::apply {

PendingEvents::PendingEvents() : index_(0, KeyHash{&events_}, KeyEqual{&events_}) {}

bool PendingEvents::add(schema::Event&& event, schema::Event& replaced) {
  if (events_in_++ == 0) first_timestamp_ms_ = event.timestamp_ms;
  const std::string_view key = event.key;
  const size_t hash = std::hash<std::string_view>{}(key);
  auto it = index_.find(key, hash);
  if (it != index_.end()) {
    std::swap(events_[*it], event);
    replaced = std::move(event);
    return true;
  }
  events_.push_back(std::move(event));
  index_.insert(static_cast<uint32_t>(events_.size() - 1));
  return false;
}

std::vector<schema::Event> PendingEvents::take() {
  index_.clear();
  events_in_ = 0;
  first_timestamp_ms_ = -1;
  return std::exchange(events_, {});
}

}  // namespace kvstream::apply
