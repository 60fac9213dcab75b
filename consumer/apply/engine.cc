#include "apply/engine.h"

#include <spdlog/spdlog.h>

#include <algorithm>

#include "common/logging.h"

namespace kvstream::apply {

namespace {

// The event pool keeps at most this many events, and only events whose
// buffers are small: what the pool holds is memory the replica keeps while
// idle.
constexpr size_t kMaxSpareEvents = 8192;
constexpr size_t kMaxSpareBytes = 4096;  // key, value and header capacity of one event

// The heap buffers of an event's strings.
size_t heap_of(const schema::Event& e) {
  auto heap = [](const std::string& s) {
    return s.capacity() > std::string().capacity() ? s.capacity() + 1 : 0;
  };
  return heap(e.key) + heap(e.value) + heap(e.content_type) + heap(e.traceparent);
}

// What a vector of events costs in memory: its slots (capacity: a vector
// grows by doubling) and the events' strings.
size_t memory_of(const std::vector<schema::Event>& events) {
  size_t total = events.capacity() * sizeof(schema::Event);
  for (const auto& e : events) total += heap_of(e);
  return total;
}

}  // namespace

void ApplyEngine::set_memory(Partition& p, size_t pending, size_t in_flight) {
  held_bytes_ = held_bytes_ - p.pending_memory - p.in_flight_memory + pending + in_flight;
  p.pending_memory = pending;
  p.in_flight_memory = in_flight;
}

ApplyEngine::ApplyEngine(std::string topic, store::Store& offsets, BatchExecutor& executor,
                         view::ReplicaStatus& view, BatchLimits limits,
                         std::function<void()> on_done)
    : topic_(std::move(topic)),
      offsets_(offsets),
      executor_(executor),
      view_(view),
      limits_(limits),
      on_done_(std::move(on_done)) {}

ApplyEngine::~ApplyEngine() = default;

std::map<int32_t, int64_t> ApplyEngine::assign(const std::vector<int32_t>& partitions) {
  auto stored = offsets_.load_next_offsets(topic_, partitions);
  std::map<int32_t, int64_t> out;
  for (int32_t id : partitions) {
    auto it = stored.find(id);
    if (auto old = partitions_.find(id); old != partitions_.end()) {
      set_memory(old->second, 0, 0);
      partitions_.erase(old);
    }
    Partition& p = partitions_.try_emplace(id).first->second;
    p.epoch = next_epoch_++;
    p.next_offset = it == stored.end() ? store::kNoOffset : it->second;
    view_.set_assigned(id, p.next_offset);
    out[id] = p.next_offset;
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
    auto dropped = it->second.pending.take();
    recycle_all(dropped);
    set_memory(it->second, 0, 0);
    partitions_.erase(it);
    // A fence that came back while the revoke waited concerns the next
    // owner: the service must not move the view's position of a partition
    // that is no longer ours (it would be listed as owned again, and reads
    // at its positions would wait on this replica's stale position).
    progress_.fenced.erase(id);
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
  add_pending(*p, std::move(event));
}

void ApplyEngine::add_pending(Partition& p, schema::Event&& event) {
  const size_t slots = p.pending.events().capacity();
  size_t added = heap_of(event);
  p.pending_bytes += event.key.size() + event.value.size();
  schema::Event replaced;
  if (p.pending.add(std::move(event), replaced)) {
    const size_t gone = heap_of(replaced);
    p.pending_bytes -= replaced.key.size() + replaced.value.size();
    recycle(std::move(replaced));
    added -= std::min(added, gone);
  }
  added += (p.pending.events().capacity() - slots) * sizeof(schema::Event);
  set_memory(p, p.pending_memory + added, p.in_flight_memory);
}

schema::Event ApplyEngine::take_spare() {
  if (spare_.empty()) return schema::Event{};
  schema::Event e = std::move(spare_.back());
  spare_.pop_back();
  return e;
}

void ApplyEngine::recycle(schema::Event&& event) {
  if (spare_.size() >= kMaxSpareEvents) return;
  const size_t bytes = event.key.capacity() + event.value.capacity() +
                       event.content_type.capacity() + event.traceparent.capacity();
  if (bytes > kMaxSpareBytes) return;
  spare_.push_back(std::move(event));
}

void ApplyEngine::recycle_all(std::vector<schema::Event>& events) {
  for (schema::Event& e : events) recycle(std::move(e));
  events.clear();
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

void ApplyEngine::release(int32_t partition, int64_t offset) {
  auto it = partitions_.find(partition);
  if (it == partitions_.end() || it->second.held_from != offset) return;
  it->second.held_from = -1;
  add_skipped(partition, offset);
}

bool ApplyEngine::ready(const Partition& p, Clock::time_point now, bool force) const {
  if (p.in_flight || p.last_offset <= p.submitted_until) return false;  // nothing new
  if (now < p.retry_at && !force) return false;
  if (force) return true;
  return p.pending.events_in() >= limits_.max_events || p.pending_bytes >= limits_.max_bytes ||
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
  const size_t events_in = p.pending.events_in();
  p.in_flight_oldest_ts = p.pending.first_timestamp_ms();
  batch.events = p.pending.take();
  p.pending_bytes = 0;
  set_memory(p, 0, memory_of(batch.events));
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
    if (on_done_) on_done_();
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
    // Put the batch back in front of what arrived since (coalescing again:
    // its events are older), and retry later. Replaying it gives the same
    // rows.
    ++progress_.retries;
    progress_.last_error = e.what();
    p.failed = true;
    p.retry_at = Clock::now() + backoff_.next();
    const size_t newer_in = p.pending.events_in();
    std::vector<schema::Event> newer = p.pending.take();
    set_memory(p, 0, 0);
    p.pending_bytes = 0;
    for (auto& ev : batch.events) add_pending(p, std::move(ev));
    for (auto& ev : newer) add_pending(p, std::move(ev));
    p.pending.set_events_in(c.events_in + newer_in);
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
    auto dropped = p.pending.take();
    recycle_all(dropped);
    recycle_all(batch.events);
    p.pending_bytes = 0;
    set_memory(p, 0, 0);
    p.last_offset = next == store::kNoOffset ? -1 : next - 1;
    p.submitted_until = p.last_offset;
    // A record held back for its dead letter is read again from the new
    // position: releasing it later would move the position past the
    // records between (the service cancels its dead letter).
    p.held_from = -1;
    // The view's position moves in the service, once the cache has
    // forgotten what the other writer made stale (ConsumerService::advance).
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
  set_memory(p, p.pending_memory, 0);
  recycle_all(batch.events);
  update_pause(id, p);
}

void ApplyEngine::update_pause(int32_t id, Partition& p) {
  const bool backlog = p.pending.size() >= limits_.max_events * limits_.pause_factor ||
                       p.pending_bytes >= limits_.max_bytes * limits_.pause_factor ||
                       (held_bytes_ >= limits_.max_held_bytes && !p.pending.empty());
  const bool drained = p.pending.size() < limits_.max_events &&
                       p.pending_bytes < limits_.max_bytes &&
                       held_bytes_ < limits_.max_held_bytes / 2;
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

std::optional<ApplyEngine::Clock::time_point> ApplyEngine::next_deadline() const {
  std::optional<Clock::time_point> out;
  auto earliest = [&](Clock::time_point t) {
    if (!out || t < *out) out = t;
  };
  for (const auto& [id, p] : partitions_) {
    if (p.in_flight || p.last_offset <= p.submitted_until) continue;  // nothing held back
    if (p.retry_at != Clock::time_point{}) earliest(p.retry_at);
    if (limits_.max_wait.count() > 0) earliest(p.pending_since + limits_.max_wait);
  }
  return out;
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
  if (!p.pending.empty() && p.pending.first_timestamp_ms() >= 0) {
    return p.pending.first_timestamp_ms();
  }
  return std::nullopt;
}

}  // namespace kvstream::apply
