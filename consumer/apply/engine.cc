#include "apply/engine.h"

#include <spdlog/spdlog.h>

#include <algorithm>

#include "apply/coalesce.h"
#include "common/logging.h"

namespace kvstream::apply {

ApplyEngine::ApplyEngine(std::string topic, store::Store& offsets, BatchExecutor& executor,
                         AppliedView& view, BatchLimits limits)
    : topic_(std::move(topic)),
      offsets_(offsets),
      executor_(executor),
      view_(view),
      limits_(limits) {}

ApplyEngine::~ApplyEngine() = default;

std::map<int32_t, int64_t> ApplyEngine::assign(const std::vector<int32_t>& partitions) {
  auto stored = offsets_.load_next_offsets(topic_, partitions);
  std::map<int32_t, int64_t> out;
  for (int32_t id : partitions) {
    auto it = stored.find(id);
    Partition p;
    p.epoch = next_epoch_++;
    p.next_offset = it == stored.end() ? store::kNoOffset : it->second;
    partitions_[id] = std::move(p);
    view_.set_assigned(id, partitions_[id].next_offset);
    out[id] = partitions_[id].next_offset;
  }
  return out;
}

void ApplyEngine::revoke(const std::vector<int32_t>& partitions, Clock::time_point deadline) {
  auto busy = [&] {
    for (int32_t id : partitions) {
      auto it = partitions_.find(id);
      if (it != partitions_.end() && it->second.in_flight) return true;
    }
    return false;
  };
  while (busy() && Clock::now() < deadline) {
    collect(std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()));
  }
  for (int32_t id : partitions) {
    auto it = partitions_.find(id);
    if (it == partitions_.end()) continue;
    if (it->second.in_flight) {
      --in_flight_;  // its completion will find a stale epoch and be ignored
      LogScope scope(LogFields::of_partition(id));
      spdlog::warn("revoked with a batch still in flight; its outcome is ignored");
    }
    partitions_.erase(it);
    view_.set_revoked(id);
  }
}

bool ApplyEngine::accept(int32_t partition, int64_t offset, Partition*& out) {
  auto it = partitions_.find(partition);
  if (it == partitions_.end()) return false;  // not ours (revoked meanwhile)
  Partition& p = it->second;
  if (p.held_from >= 0 && offset >= p.held_from) return false;                    // held back
  if (p.next_offset != store::kNoOffset && offset < p.next_offset) return false;  // applied
  if (offset <= p.last_offset) return false;                                      // redelivered
  if (p.last_offset <= p.submitted_until) p.pending_since = Clock::now();         // first new work
  p.last_offset = offset;
  out = &p;
  return true;
}

void ApplyEngine::add_event(schema::Event event) {
  Partition* p = nullptr;
  if (!accept(event.position.partition, event.position.offset, p)) return;
  p->pending_bytes += event.key.size() + event.value.size();
  p->pending.push_back(std::move(event));
}

void ApplyEngine::add_skipped(int32_t partition, int64_t offset) {
  Partition* p = nullptr;
  accept(partition, offset, p);
}

void ApplyEngine::hold_back(int32_t partition, int64_t offset) {
  auto it = partitions_.find(partition);
  if (it == partitions_.end()) return;
  Partition& p = it->second;
  if (p.held_from < 0 || offset < p.held_from) p.held_from = offset;
}

bool ApplyEngine::ready(const Partition& p, Clock::time_point now, bool force) const {
  if (p.in_flight || p.last_offset <= p.submitted_until) return false;  // nothing new
  if (now < p.retry_at && !force) return false;
  if (force) return true;
  return p.pending.size() >= limits_.max_events || p.pending_bytes >= limits_.max_bytes ||
         now - p.pending_since >= limits_.max_wait;
}

void ApplyEngine::dispatch(Clock::time_point now, bool force) {
  for (auto& [id, p] : partitions_) {
    if (ready(p, now, force)) submit(id, p);
    update_pause(id, p);
  }
}

void ApplyEngine::submit(int32_t id, Partition& p) {
  store::PartitionBatch batch;
  batch.topic = topic_;
  batch.partition = id;
  batch.expected_next_offset = p.next_offset;
  batch.new_next_offset = p.last_offset + 1;
  const size_t events_in = p.pending.size();
  p.in_flight_oldest_ts = p.pending.empty() ? -1 : p.pending.front().timestamp_ms;
  batch.events = coalesce(std::move(p.pending));
  p.pending.clear();
  p.pending_bytes = 0;
  p.submitted_until = p.last_offset;
  p.in_flight = true;
  ++in_flight_;
  const uint64_t epoch = p.epoch;
  executor_.submit(std::move(batch), [this, epoch, events_in](BatchResult r) {
    {
      std::lock_guard<std::mutex> lock(done_mu_);
      done_.push_back(Completion{epoch, events_in, std::move(r)});
    }
    done_cv_.notify_one();
  });
}

void ApplyEngine::collect(std::chrono::milliseconds wait) {
  std::vector<Completion> done;
  {
    std::unique_lock<std::mutex> lock(done_mu_);
    if (done_.empty() && in_flight_ > 0 && wait.count() > 0) {
      done_cv_.wait_for(lock, wait, [&] { return !done_.empty(); });
    }
    done.swap(done_);
  }
  for (Completion& c : done) finish(std::move(c));
}

void ApplyEngine::finish(Completion c) {
  const int32_t id = c.result.batch.partition;
  auto it = partitions_.find(id);
  if (it == partitions_.end() || it->second.epoch != c.epoch) return;  // revoked meanwhile
  Partition& p = it->second;
  p.in_flight = false;
  --in_flight_;
  store::PartitionBatch& batch = c.result.batch;

  if (c.result.error) {
    const Error& e = *c.result.error;
    if (!e.retryable()) {
      progress_.fatal = e;
      return;
    }
    // Put the batch back in front of what arrived since, and retry later.
    // It is already coalesced: replaying it gives the same rows.
    ++progress_.retries;
    progress_.last_error = e.what();
    p.failed = true;
    p.retry_at = Clock::now() + backoff_.next();
    std::vector<schema::Event> events = std::move(batch.events);
    for (auto& ev : p.pending) events.push_back(std::move(ev));
    p.pending = std::move(events);
    p.pending_bytes = 0;
    for (const auto& ev : p.pending) p.pending_bytes += ev.key.size() + ev.value.size();
    p.submitted_until =
        batch.expected_next_offset == store::kNoOffset ? -1 : batch.expected_next_offset - 1;
    update_pause(id, p);
    return;
  }

  if (*c.result.outcome == store::ApplyOutcome::kFenced) {
    // Another writer moved the partition: what we hold is stale. Resume from
    // the database's position (a rebalance usually takes the partition away
    // shortly).
    LogScope scope(LogFields::of_partition(id));
    int64_t next = store::kNoOffset;
    try {
      auto now = offsets_.load_next_offsets(topic_, {id});
      if (now.count(id)) next = now[id];
    } catch (const Error& e) {
      spdlog::warn("fenced, and the applied position could not be read: {}", e.what());
      next = p.next_offset;
    }
    spdlog::warn("fenced: expected applied offset {}, the database has {}",
                 batch.expected_next_offset, next);
    p.next_offset = next;
    p.pending.clear();
    p.pending_bytes = 0;
    p.last_offset = next == store::kNoOffset ? -1 : next - 1;
    p.submitted_until = p.last_offset;
    view_.set_applied(id, next);
    progress_.fenced[id] = next;
    // A batch being retried may come back fenced: the partition is not
    // failing any more, and must fetch again.
    p.failed = false;
    p.retry_at = Clock::time_point{};
    update_pause(id, p);
    return;
  }

  p.next_offset = batch.new_next_offset;
  if (p.failed) {
    p.failed = false;
    backoff_.reset();
  }
  view_.set_applied(id, p.next_offset);
  progress_.applied[id] = p.next_offset;
  BatchReport report;
  report.partition = id;
  report.events_in = c.events_in;
  const double committed_ms =
      std::chrono::duration<double, std::milli>(c.result.finished_at.time_since_epoch()).count();
  report.latencies.reserve(batch.events.size());
  for (const auto& ev : batch.events) {
    (ev.op == schema::Op::kPut ? report.puts : report.deletes)++;
    if (ev.timestamp_ms >= 0) {
      report.latencies.push_back(
          std::max(0.0, (committed_ms - static_cast<double>(ev.timestamp_ms)) / 1000.0));
    }
  }
  if (spdlog::should_log(spdlog::level::debug)) {
    // The offset field is the batch's last one; its events are in the
    // partition's "received" lines up to it.
    LogScope scope(LogFields::record(id, p.next_offset - 1));
    spdlog::debug("applied a batch: {} event(s) in, {} row(s) written", report.events_in,
                  batch.events.size());
  }
  progress_.batches.push_back(std::move(report));
  update_pause(id, p);
}

void ApplyEngine::update_pause(int32_t id, Partition& p) {
  const bool backlog = p.pending.size() >= limits_.max_events * limits_.pause_factor ||
                       p.pending_bytes >= limits_.max_bytes * limits_.pause_factor;
  const bool drained = p.pending.size() < limits_.max_events && p.pending_bytes < limits_.max_bytes;
  bool want = p.paused;
  if (p.failed || backlog) want = true;
  if (!p.failed && drained) want = false;
  if (want == p.paused) return;
  p.paused = want;
  (want ? progress_.pause : progress_.resume).push_back(id);
}

Progress ApplyEngine::take_progress() {
  Progress out = std::move(progress_);
  progress_ = Progress{};
  return out;
}

bool ApplyEngine::idle() const {
  if (in_flight_ > 0) return false;
  for (const auto& [id, p] : partitions_) {
    if (p.last_offset > p.submitted_until) return false;
  }
  return true;
}

std::optional<int64_t> ApplyEngine::next_offset(int32_t partition) const {
  auto it = partitions_.find(partition);
  if (it == partitions_.end()) return std::nullopt;
  return it->second.next_offset;
}

std::optional<int64_t> ApplyEngine::oldest_unapplied_timestamp(int32_t partition) const {
  auto it = partitions_.find(partition);
  if (it == partitions_.end()) return std::nullopt;
  const Partition& p = it->second;
  if (p.in_flight && p.in_flight_oldest_ts >= 0) return p.in_flight_oldest_ts;
  if (!p.pending.empty() && p.pending.front().timestamp_ms >= 0) {
    return p.pending.front().timestamp_ms;
  }
  return std::nullopt;
}

}  // namespace kvstream::apply
