#include "view/replica_status.h"

#include <fmt/format.h>

namespace kvstream::view {

void ReplicaStatus::set_assigned(int32_t partition, int64_t next_offset) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    next_offsets_[partition] = next_offset;
    if (!caught_up_once_) catching_up_[partition] = Lag{};
  }
  if (listener_) listener_();
}

void ReplicaStatus::set_revoked(int32_t partition) {
  std::lock_guard<std::mutex> lock(mu_);
  next_offsets_.erase(partition);
  end_offsets_.erase(partition);
  if (catching_up_.erase(partition) > 0) note_caught_up();
}

void ReplicaStatus::note_caught_up() {
  if (catching_up_.empty() && !next_offsets_.empty()) caught_up_once_ = true;
}

void ReplicaStatus::set_catch_up_bounds(int64_t max_events, double max_seconds) {
  std::lock_guard<std::mutex> lock(mu_);
  catch_up_events_ = max_events;
  catch_up_seconds_ = max_seconds;
}

void ReplicaStatus::set_lag(int32_t partition, int64_t events, double seconds) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = catching_up_.find(partition);
  if (it == catching_up_.end()) return;
  if (events <= catch_up_events_ && seconds <= catch_up_seconds_) {
    catching_up_.erase(it);
    note_caught_up();
  } else {
    it->second = Lag{events, seconds};
  }
}

void ReplicaStatus::set_applied(int32_t partition, int64_t next_offset) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    next_offsets_[partition] = next_offset;
  }
  if (listener_) listener_();
}

void ReplicaStatus::set_end_offset(int32_t partition, int64_t end_offset) {
  std::lock_guard<std::mutex> lock(mu_);
  end_offsets_[partition] = end_offset;
}

void ReplicaStatus::set_listener(std::function<void()> on_applied) {
  listener_ = std::move(on_applied);
}

std::map<int32_t, int64_t> ReplicaStatus::end_offsets() const {
  std::lock_guard<std::mutex> lock(mu_);
  return end_offsets_;
}

void ReplicaStatus::set_joined(bool joined) {
  std::lock_guard<std::mutex> lock(mu_);
  joined_ = joined;
}

void ReplicaStatus::set_database_ok(bool ok, const std::string& reason) {
  std::lock_guard<std::mutex> lock(mu_);
  database_ok_ = ok;
  database_reason_ = reason;
}

void ReplicaStatus::set_partition_count(int32_t count) {
  std::lock_guard<std::mutex> lock(mu_);
  partition_count_ = count;
}

bool ReplicaStatus::database_ok() const {
  std::lock_guard<std::mutex> lock(mu_);
  return database_ok_;
}

int32_t ReplicaStatus::partition_count() const {
  std::lock_guard<std::mutex> lock(mu_);
  return partition_count_;
}

std::map<int32_t, int64_t> ReplicaStatus::applied() const {
  std::lock_guard<std::mutex> lock(mu_);
  return next_offsets_;
}

bool ReplicaStatus::joined() const {
  std::lock_guard<std::mutex> lock(mu_);
  return joined_;
}

std::optional<std::string> ReplicaStatus::not_ready_reason() const {
  std::lock_guard<std::mutex> lock(mu_);
  if (!database_ok_) return "database unavailable: " + database_reason_;
  if (!joined_) return std::string("not yet a member of the consumer group");
  if (!catching_up_.empty()) {
    std::string behind;
    for (const auto& [partition, lag] : catching_up_) {
      if (!behind.empty()) behind += ", ";
      behind += lag.events < 0
                    ? fmt::format("{} (lag not measured yet)", partition)
                    : fmt::format("{} ({} events, {:.1f} s)", partition, lag.events, lag.seconds);
    }
    return fmt::format("catching up (ready at most {} events and {:g} s behind): partition {}",
                       catch_up_events_, catch_up_seconds_, behind);
  }
  return std::nullopt;
}

}  // namespace kvstream::view
