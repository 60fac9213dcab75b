#include "apply/applied_view.h"

namespace kvstream::apply {

void AppliedView::set_assigned(int32_t partition, int64_t next_offset) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    next_offsets_[partition] = next_offset;
  }
  if (listener_) listener_();
}

void AppliedView::set_revoked(int32_t partition) {
  std::lock_guard<std::mutex> lock(mu_);
  next_offsets_.erase(partition);
  end_offsets_.erase(partition);
}

void AppliedView::set_applied(int32_t partition, int64_t next_offset) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    next_offsets_[partition] = next_offset;
  }
  if (listener_) listener_();
}

void AppliedView::set_end_offset(int32_t partition, int64_t end_offset) {
  std::lock_guard<std::mutex> lock(mu_);
  end_offsets_[partition] = end_offset;
}

void AppliedView::set_listener(std::function<void()> on_applied) {
  listener_ = std::move(on_applied);
}

std::map<int32_t, int64_t> AppliedView::end_offsets() const {
  std::lock_guard<std::mutex> lock(mu_);
  return end_offsets_;
}

void AppliedView::set_joined(bool joined) {
  std::lock_guard<std::mutex> lock(mu_);
  joined_ = joined;
}

void AppliedView::set_database_ok(bool ok, const std::string& reason) {
  std::lock_guard<std::mutex> lock(mu_);
  database_ok_ = ok;
  database_reason_ = reason;
}

void AppliedView::set_partition_count(int32_t count) {
  std::lock_guard<std::mutex> lock(mu_);
  partition_count_ = count;
}

bool AppliedView::database_ok() const {
  std::lock_guard<std::mutex> lock(mu_);
  return database_ok_;
}

int32_t AppliedView::partition_count() const {
  std::lock_guard<std::mutex> lock(mu_);
  return partition_count_;
}

std::map<int32_t, int64_t> AppliedView::applied() const {
  std::lock_guard<std::mutex> lock(mu_);
  return next_offsets_;
}

bool AppliedView::joined() const {
  std::lock_guard<std::mutex> lock(mu_);
  return joined_;
}

std::optional<std::string> AppliedView::not_ready_reason() const {
  std::lock_guard<std::mutex> lock(mu_);
  if (!database_ok_) return "database unavailable: " + database_reason_;
  if (!joined_) return std::string("not yet a member of the consumer group");
  return std::nullopt;
}

}  // namespace kvstream::apply
