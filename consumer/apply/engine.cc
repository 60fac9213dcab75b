#include "apply/engine.h"

#include <spdlog/spdlog.h>

#include "apply/coalesce.h"

namespace kvstream::apply {

ApplyEngine::ApplyEngine(std::string topic, store::Store& store, AppliedView& view,
                         BatchLimits limits)
    : topic_(std::move(topic)), store_(store), view_(view), limits_(limits) {}

std::map<int32_t, int64_t> ApplyEngine::assign(const std::vector<int32_t>& partitions) {
  auto stored = store_.load_next_offsets(topic_, partitions);
  std::map<int32_t, int64_t> out;
  for (int32_t p : partitions) {
    auto it = stored.find(p);
    const int64_t next = it == stored.end() ? store::kNoOffset : it->second;
    next_offsets_[p] = next;
    pending_.erase(p);
    view_.set_assigned(p, next);
    out[p] = next;
  }
  return out;
}

void ApplyEngine::revoke(const std::vector<int32_t>& partitions) {
  for (int32_t p : partitions) {
    auto it = pending_.find(p);
    if (it != pending_.end()) {
      pending_events_ -= it->second.events.size();
      pending_.erase(it);
    }
    next_offsets_.erase(p);
    view_.set_revoked(p);
  }
  if (pending_.empty()) {
    pending_events_ = 0;
    pending_bytes_ = 0;
  }
}

bool ApplyEngine::accept(int32_t partition, int64_t offset) {
  auto it = next_offsets_.find(partition);
  if (it == next_offsets_.end()) return false;  // not ours (revoked meanwhile)
  if (it->second != store::kNoOffset && offset < it->second) return false;  // applied already
  auto pit = pending_.find(partition);
  if (pit != pending_.end() && offset <= pit->second.last_offset) return false;  // redelivered
  if (pending_.empty()) batch_started_ = Clock::now();
  return true;
}

void ApplyEngine::add_event(schema::Event event) {
  const int32_t p = event.position.partition;
  const int64_t offset = event.position.offset;
  if (!accept(p, offset)) return;
  Pending& pending = pending_[p];
  pending.last_offset = offset;
  pending_bytes_ += event.key.size() + event.value.size();
  ++pending_events_;
  pending.events.push_back(std::move(event));
}

void ApplyEngine::add_skipped(int32_t partition, int64_t offset) {
  if (!accept(partition, offset)) return;
  pending_[partition].last_offset = offset;
}

bool ApplyEngine::should_flush(Clock::time_point now) const {
  if (pending_.empty()) return false;
  return pending_events_ >= limits_.max_events || pending_bytes_ >= limits_.max_bytes ||
         now - batch_started_ >= limits_.max_wait;
}

FlushResult ApplyEngine::flush() {
  FlushResult result;
  while (!pending_.empty()) {
    auto it = pending_.begin();
    const int32_t p = it->first;
    store::PartitionBatch batch;
    batch.topic = topic_;
    batch.partition = p;
    batch.expected_next_offset = next_offsets_.at(p);
    batch.new_next_offset = it->second.last_offset + 1;
    batch.events = coalesce(it->second.events);  // a copy: kept for a retry if this throws

    const store::ApplyOutcome outcome = store_.apply(batch);
    pending_events_ -= it->second.events.size();
    pending_.erase(it);
    if (outcome == store::ApplyOutcome::kApplied) {
      next_offsets_[p] = batch.new_next_offset;
      view_.set_applied(p, batch.new_next_offset);
      result.applied[p] = batch.new_next_offset;
      result.events_written += batch.events.size();
    } else {
      // Another writer moved the partition: what we hold is stale. Resume
      // from the database's position (a rebalance will usually take the
      // partition away from us shortly).
      auto now = store_.load_next_offsets(topic_, {p});
      const int64_t next = now.count(p) ? now[p] : store::kNoOffset;
      spdlog::warn("partition {} fenced: expected applied offset {}, database has {}", p,
                   batch.expected_next_offset, next);
      next_offsets_[p] = next;
      view_.set_applied(p, next);
      result.fenced[p] = next;
    }
  }
  pending_events_ = 0;
  pending_bytes_ = 0;
  return result;
}

}  // namespace kvstream::apply
