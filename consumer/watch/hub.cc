#include "watch/hub.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <charconv>
#include <nlohmann/json.hpp>

#include "common/error.h"
#include "common/logging.h"
#include "http/request.h"
#include "http/url.h"
#include "schema/codec.h"

namespace kvstream::watch {

namespace {

using Clock = std::chrono::steady_clock;
using nlohmann::json;
namespace beast_http = http::beast_http;

// The longest the delivery thread waits for the source: a wait's end, a new
// watcher and a heartbeat due wake it sooner.
constexpr auto kMaxPoll = std::chrono::milliseconds(100);
// The wait instead while a watcher is held back by its client's reading.
constexpr auto kBehindPoll = std::chrono::milliseconds(5);
// A watcher whose client has had its whole buffer unread this long has
// stopped reading.
constexpr auto kStalled = std::chrono::seconds(1);
// How long reading may wait for the watchers furthest behind, while their
// clients read, before they are cut.
constexpr auto kHoldLimit = std::chrono::seconds(10);
// How long one wait for an applied position lasts before it is asked again.
constexpr auto kApplyWait = std::chrono::seconds(1);
// A partition is read again from where every watcher is, rather than on
// from where the hub is, once they are this far ahead of it.
constexpr int64_t kSkipAhead = 100000;
// What a browser's EventSource waits before it reconnects (with the last
// id it received).
constexpr const char* kRetry = "retry: 2000\n";

int64_t next_or_zero(const std::map<int32_t, int64_t>& next, int32_t p) {
  auto it = next.find(p);
  return it == next.end() ? 0 : std::max<int64_t>(0, it->second);
}

std::string error_event(const char* code, const std::string& message) {
  return "event: error\ndata: " + json{{"error", code}, {"message", message}}.dump() + "\n\n";
}

http::Response error_answer(unsigned version, beast_http::status status, const std::string& code,
                            const std::string& message) {
  http::Response res = http::json_error(status, code, message, version);
  if (status == beast_http::status::service_unavailable ||
      status == beast_http::status::too_many_requests) {
    res.set(beast_http::field::retry_after, "1");
  }
  return res;
}

}  // namespace

WatchHub::WatchHub(HubSettings settings, HubDeps deps)
    : settings_(settings), deps_(std::move(deps)), signals_(std::make_shared<Signals>()) {
  signals_->source = &deps_.source;
  opener_ = std::thread([this] { open_loop(); });
  deliverer_ = std::thread([this] { deliver_loop(); });
}

WatchHub::~WatchHub() { stop(); }

void WatchHub::stop() {
  std::deque<Opening> openings;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (stopping_) return;
    stopping_ = true;
    openings.swap(openings_);
  }
  {
    std::lock_guard<std::mutex> lock(signals_->mu);
    signals_->source = nullptr;
  }
  opening_wake_.notify_all();
  deps_.source.wake();
  if (opener_.joinable()) opener_.join();
  if (deliverer_.joinable()) deliverer_.join();
  for (auto& o : openings) {
    o.reply->answer(error_answer(o.request.version, beast_http::status::service_unavailable,
                                 "shutting_down", "the replica is stopping"));
  }
  for (auto& w : new_watchers_) w->stream->finish(": the replica is stopping\n\n");
  for (auto& w : watchers_) w->stream->finish(": the replica is stopping\n\n");
  new_watchers_.clear();
  watchers_.clear();
  admitted_.store(0);
}

void WatchHub::open(http::WatchRequest request, std::unique_ptr<http::WatchReply> reply) {
  if (admitted_.fetch_add(1) >= settings_.max_watchers) {
    admitted_.fetch_sub(1);
    return reply->answer(
        error_answer(request.version, beast_http::status::too_many_requests, "too_many_watchers",
                     "this replica serves " + std::to_string(settings_.max_watchers) +
                         " watches at most; retry later or on another replica"));
  }
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (!stopping_) {
      openings_.push_back(Opening{std::move(request), std::move(reply)});
      opening_wake_.notify_one();
      return;
    }
  }
  admitted_.fetch_sub(1);
  reply->answer(error_answer(request.version, beast_http::status::service_unavailable,
                             "shutting_down", "the replica is stopping"));
}

void WatchHub::open_loop() {
  std::unique_lock<std::mutex> lock(mu_);
  while (true) {
    opening_wake_.wait(lock, [&] { return stopping_ || !openings_.empty(); });
    if (stopping_) return;
    Opening opening = std::move(openings_.front());
    openings_.pop_front();
    lock.unlock();
    start(std::move(opening));
    lock.lock();
  }
}

void WatchHub::start(Opening opening) {
  const http::WatchRequest& req = opening.request;
  auto refuse = [&](beast_http::status status, const std::string& code,
                    const std::string& message) {
    admitted_.fetch_sub(1);
    opening.reply->answer(error_answer(req.version, status, code, message));
  };
  std::vector<int64_t> cursors;
  try {
    const int32_t n = deps_.source.partitions();
    if (n <= 0) throw Error(ErrorKind::kTransient, "the topic has no partitions (yet)");
    const auto ranges = deps_.source.watermarks();
    cursors.assign(static_cast<size_t>(n), 0);
    if (req.from) {
      std::string gone, past;
      for (const auto& [p, last] : *req.from) {
        if (p >= n) {
          return refuse(beast_http::status::bad_request, "bad_from",
                        "partition " + std::to_string(p) + " does not exist; the topic has " +
                            std::to_string(n));
        }
      }
      for (int32_t p = 0; p < n; ++p) {
        auto it = req.from->find(p);
        const int64_t cursor = it == req.from->end() ? 0 : it->second + 1;
        cursors[static_cast<size_t>(p)] = cursor;
        auto range = ranges.find(p);
        if (range == ranges.end()) continue;
        if (cursor < range->second.low) {
          gone += (gone.empty() ? "" : ", ") + std::to_string(p) + ":" +
                  std::to_string(cursor - 1) + " (the log starts at " +
                  std::to_string(range->second.low) + ")";
        } else if (cursor > range->second.high) {
          past += (past.empty() ? "" : ", ") + std::to_string(p) + ":" +
                  std::to_string(cursor - 1) + " (the log ends at " +
                  std::to_string(range->second.high) + ")";
        }
      }
      if (!gone.empty()) {
        return refuse(beast_http::status::gone, "gone",
                      "changes after " + gone +
                          " are no longer in the topic; list the keys again and watch from the "
                          "listing's positions");
      }
      if (!past.empty()) {
        return refuse(beast_http::status::gone, "gone",
                      "the topic has no record at " + past +
                          " (it was recreated?); list the keys again and watch from the "
                          "listing's positions");
      }
    } else {
      const auto next = deps_.applied_now();
      for (int32_t p = 0; p < n; ++p) {
        int64_t cursor = next_or_zero(next, p);
        if (auto range = ranges.find(p); range != ranges.end()) {
          cursor = std::max(cursor, range->second.low);
        }
        cursors[static_cast<size_t>(p)] = cursor;
      }
    }
  } catch (const std::exception& e) {
    // Kafka or the database did not answer (kvstream::Error, transient).
    return refuse(beast_http::status::service_unavailable, "watch_unavailable",
                  std::string("the watch cannot start now: ") + e.what());
  }

  http::Response header{beast_http::status::ok, req.version};
  header.set(beast_http::field::content_type, "text/event-stream");
  header.set(beast_http::field::cache_control, "no-cache");
  // A proxy in front (nginx) passes each event on at once.
  header.set("X-Accel-Buffering", "no");
  auto w = std::make_unique<Watcher>();
  w->request_id = req.request_id;
  w->prefix = req.prefix;
  w->values = req.values;
  w->stream = opening.reply->stream(std::move(header));
  w->last_send = Clock::now();
  // The first id: where the watch starts (a reconnect resumes there even
  // before any event arrived).
  w->stream->send(std::string(kRetry) + "id: " + http::format_position_vector(cursors) + "\n\n");
  w->cursors = std::move(cursors);
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (stopping_) {
      w->stream->finish(": the replica is stopping\n\n");
      admitted_.fetch_sub(1);
      return;
    }
    new_watchers_.push_back(std::move(w));
  }
  deps_.source.wake();
}

void WatchHub::deliver_loop() {
  std::vector<ChangeSource::Item> items;
  while (true) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (stopping_) break;
    }
    try {
      take_new();
      remove_closed();
      position_reads();
      items.clear();
      const auto now = Clock::now();
      // A watcher held back by what its client has not read yet is looked
      // at again soon.
      const Clock::duration longest = behind_ ? kBehindPoll : kMaxPoll;
      auto wait = watchers_.empty()
                      ? kMaxPoll
                      : std::min<Clock::duration>(
                            longest, std::max<Clock::duration>(Clock::duration::zero(),
                                                               next_heartbeats_ - now));
      deps_.source.poll(std::chrono::ceil<std::chrono::milliseconds>(wait), items);
      take(items);
      {
        std::lock_guard<std::mutex> lock(signals_->mu);
        for (int32_t p : signals_->waited) {
          if (static_cast<size_t>(p) < partitions_.size()) {
            partitions_[static_cast<size_t>(p)].waiting = false;
          }
        }
        signals_->waited.clear();
      }
      const auto applied = watchers_.empty() ? std::map<int32_t, int64_t>{} : deps_.applied();
      if (!watchers_.empty()) {
        deliver(applied);
        wait_for_applies(applied);
      }
      trim_and_pace(applied);
      if (Clock::now() >= next_heartbeats_) heartbeats();
      if (deps_.metrics != nullptr) deps_.metrics->set_watchers(watchers_.size());
    } catch (const std::exception& e) {
      // The source failed (the broker unreachable): tried again shortly,
      // the watchers keep their cursors.
      spdlog::warn("watch: {}", e.what());
      std::unique_lock<std::mutex> lock(mu_);
      opening_wake_.wait_for(lock, std::chrono::milliseconds(500), [&] { return stopping_; });
    }
  }
}

void WatchHub::take_new() {
  std::vector<std::unique_ptr<Watcher>> fresh;
  {
    std::lock_guard<std::mutex> lock(mu_);
    fresh.swap(new_watchers_);
  }
  for (auto& w : fresh) {
    if (w->cursors.size() > partitions_.size()) partitions_.resize(w->cursors.size());
    watchers_.push_back(std::move(w));
  }
}

void WatchHub::remove_closed() {
  const size_t before = watchers_.size();
  watchers_.erase(std::remove_if(watchers_.begin(), watchers_.end(),
                                 [](const std::unique_ptr<Watcher>& w) {
                                   return w->cut || w->stream->closed();
                                 }),
                  watchers_.end());
  admitted_.fetch_sub(before - watchers_.size());
}

int64_t WatchHub::lowest_cursor(size_t p) const {
  int64_t lowest = INT64_MAX;
  for (const auto& w : watchers_) {
    if (!w->cut && p < w->cursors.size()) lowest = std::min(lowest, w->cursors[p]);
  }
  return lowest;
}

void WatchHub::position_reads() {
  bool change = false;
  std::map<int32_t, int64_t> from;
  if (watchers_.empty()) {
    // No one watches: stop reading, forget what was kept.
    for (auto& part : partitions_) {
      change = change || part.reading;
      part = Partition{};
    }
    kept_bytes_ = 0;
    if (change) deps_.source.read({});
    return;
  }
  for (size_t p = 0; p < partitions_.size(); ++p) {
    Partition& part = partitions_[p];
    const int64_t lowest = lowest_cursor(p);
    if (lowest == INT64_MAX) {
      // No watcher reads it.
      change = change || part.reading;
      kept_bytes_ -= part.bytes;
      part = Partition{};
      continue;
    }
    if (!part.reading || lowest < part.begin || lowest > part.end + kSkipAhead) {
      kept_bytes_ -= part.bytes;
      part = Partition{};
      part.begin = part.end = lowest;
      part.reading = true;
      change = true;
    }
    from[static_cast<int32_t>(p)] = part.end;
  }
  if (!change) return;
  deps_.source.read(from);
  // A new assignment fetches every partition: those paused stay paused.
  for (size_t p = 0; p < partitions_.size(); ++p) {
    if (partitions_[p].paused) deps_.source.pause(static_cast<int32_t>(p));
  }
}

void WatchHub::take(std::vector<ChangeSource::Item>& items) {
  for (auto& item : items) {
    const auto p = static_cast<size_t>(item.change.partition);
    if (p >= partitions_.size() || !partitions_[p].reading) continue;
    Partition& part = partitions_[p];
    switch (item.kind) {
      case ChangeSource::Item::Kind::kChange: {
        if (item.change.offset < part.end) break;  // read again after a seek
        Kept kept;
        kept.bytes = sizeof(Kept) + item.change.key.size() + item.change.value.size() +
                     item.change.content_type.size();
        part.end = item.change.offset + 1;
        kept.change = std::move(item.change);
        part.bytes += kept.bytes;
        part.added += kept.bytes;
        kept.upto = part.added;
        kept_bytes_ += kept.bytes;
        part.kept.push_back(std::move(kept));
        break;
      }
      case ChangeSource::Item::Kind::kEnd:
        part.end = std::max(part.end, item.change.offset);
        break;
      case ChangeSource::Item::Kind::kGone:
        gone(item.change.partition);
        break;
    }
  }
}

void WatchHub::gone(int32_t partition) {
  const auto p = static_cast<size_t>(partition);
  int64_t low = 0;
  try {
    const auto ranges = deps_.source.watermarks();
    if (auto it = ranges.find(partition); it != ranges.end()) low = it->second.low;
  } catch (const Error& e) {
    spdlog::warn("watch: the log start of partition {} is unknown: {}", partition, e.what());
    return;  // read again from the same place
  }
  for (auto& w : watchers_) {
    if (!w->cut && p < w->cursors.size() && w->cursors[p] < low) {
      cut(*w, "gone",
          "changes of partition " + std::to_string(partition) + " after offset " +
              std::to_string(w->cursors[p] - 1) +
              " are no longer in the topic; list the keys again and watch from the "
              "listing's positions");
    }
  }
  // Read again from where the remaining watchers are.
  partitions_[p].reading = false;
}

const std::string& WatchHub::data_of(Kept& kept, bool values) {
  std::string& out = values ? kept.data : kept.data_keys;
  if (!out.empty()) return out;
  const Change& c = kept.change;
  json data = {{"key", c.key}};
  if (c.op == schema::Op::kPut) {
    if (values) {
      if (schema::is_valid_utf8(c.value)) {
        data["value"] = c.value;
        data["value_encoding"] = "utf-8";
      } else {
        data["value"] = http::base64(c.value);
        data["value_encoding"] = "base64";
      }
    }
    data["content_type"] = c.content_type.empty() ? "application/octet-stream" : c.content_type;
  }
  data["position"] = std::to_string(c.partition) + ":" + std::to_string(c.offset);
  out = data.dump();
  return out;
}

void WatchHub::deliver(const std::map<int32_t, int64_t>& applied) {
  const auto now = Clock::now();
  const auto now_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                          std::chrono::system_clock::now().time_since_epoch())
                          .count();
  std::string out;
  behind_ = false;
  for (auto& wp : watchers_) {
    Watcher& w = *wp;
    if (w.cut || w.stream->closed()) continue;
    // A watcher whose client has not read what it was sent waits, in the
    // history, until it has (or the history cannot keep its place).
    const size_t pending = w.stream->pending_bytes();
    if (pending >= settings_.buffer_bytes) {
      behind_ = true;
      continue;
    }
    w.had_room = now;
    const size_t budget = settings_.buffer_bytes - pending;
    out.clear();
    size_t events = 0;
    int64_t oldest_ms = INT64_MAX;
    std::string head, tail;
    char number[24];
    for (size_t p = 0; p < w.cursors.size() && p < partitions_.size() && out.size() < budget; ++p) {
      Partition& part = partitions_[p];
      if (!part.reading || w.cursors[p] < part.begin) continue;
      const int64_t limit = std::min(next_or_zero(applied, static_cast<int32_t>(p)), part.end);
      if (w.cursors[p] >= limit) continue;
      auto it =
          std::lower_bound(part.kept.begin(), part.kept.end(), w.cursors[p],
                           [](const Kept& k, int64_t offset) { return k.change.offset < offset; });
      // The token of an event of this partition: the other partitions'
      // parts do not change while its events go out.
      bool token_parts = false;
      int64_t reached = limit;
      for (; it != part.kept.end() && it->change.offset < limit; ++it) {
        if (out.size() >= budget) {
          reached = it->change.offset;  // the rest in a later round
          behind_ = true;
          break;
        }
        const Change& c = it->change;
        if (c.key.compare(0, w.prefix.size(), w.prefix) != 0) continue;
        if (!token_parts) {
          token(w.cursors, p, head, tail);
          token_parts = true;
        }
        w.cursors[p] = c.offset + 1;
        out += c.op == schema::Op::kPut ? "event: put\nid: " : "event: delete\nid: ";
        out += head;
        out.append(number, std::to_chars(number, number + sizeof number, c.offset).ptr);
        out += tail;
        out += "\ndata: ";
        out += data_of(*it, w.values);
        out += "\n\n";
        ++events;
        if (c.timestamp_ms >= 0) oldest_ms = std::min(oldest_ms, c.timestamp_ms);
      }
      w.cursors[p] = reached;
    }
    if (events == 0) continue;
    if (deps_.metrics != nullptr) {
      deps_.metrics->sent(
          events, oldest_ms == INT64_MAX ? 0.0 : std::max<double>(0, now_ms - oldest_ms) / 1000.0);
    }
    send(w, std::move(out));
  }
}

void WatchHub::token(const std::vector<int64_t>& cursors, size_t p, std::string& head,
                     std::string& tail) {
  const std::string all = http::format_position_vector(cursors);
  // "0:a,1:b,...": the part of partition p starts after its p-th comma.
  size_t start = 0;
  for (size_t i = 0; i < p; ++i) start = all.find(',', start) + 1;
  const size_t colon = all.find(':', start);
  const size_t end = all.find(',', colon);
  head.assign(all, 0, colon + 1);
  tail.assign(end == std::string::npos ? std::string() : all.substr(end));
}

void WatchHub::send(Watcher& w, std::string bytes) {
  w.last_send = Clock::now();
  w.stream->send(std::move(bytes));
}

void WatchHub::cut(Watcher& w, const char* reason, const std::string& message) {
  LogFields fields;
  fields.request_id = w.request_id;
  LogScope scope(fields);
  spdlog::info("watch of prefix '{}' closed: {}: {}", w.prefix, reason, message);
  w.cut = true;
  w.stream->finish(error_event(reason, message));
  if (deps_.metrics != nullptr) deps_.metrics->dropped(reason);
}

void WatchHub::wait_for_applies(const std::map<int32_t, int64_t>& applied) {
  const auto deadline = Clock::now() + kApplyWait;
  for (size_t p = 0; p < partitions_.size(); ++p) {
    Partition& part = partitions_[p];
    if (!part.reading || part.waiting) continue;
    const int64_t next = next_or_zero(applied, static_cast<int32_t>(p));
    // Read and not yet applied, and a watcher needs it.
    if (part.end <= next || lowest_cursor(p) >= part.end) continue;
    part.waiting = true;
    std::weak_ptr<Signals> weak = signals_;
    const auto partition = static_cast<int32_t>(p);
    deps_.wait(Position{partition, next}, deadline, [weak, partition](bool) {
      auto signals = weak.lock();
      if (!signals) return;
      std::lock_guard<std::mutex> lock(signals->mu);
      signals->waited.push_back(partition);
      if (signals->source != nullptr) signals->source->wake();
    });
  }
}

void WatchHub::pop_front(Partition& part) {
  const Kept& front = part.kept.front();
  part.begin = front.change.offset + 1;
  part.bytes -= front.bytes;
  part.dropped += front.bytes;
  kept_bytes_ -= front.bytes;
  part.kept.pop_front();
}

size_t WatchHub::bytes_from(const Partition& part, int64_t offset) {
  auto it = std::lower_bound(part.kept.begin(), part.kept.end(), offset,
                             [](const Kept& k, int64_t o) { return k.change.offset < o; });
  const size_t before = it == part.kept.begin() ? part.dropped : std::prev(it)->upto;
  return part.added - before;
}

bool WatchHub::stalled(const Watcher& w, Clock::time_point now) const {
  return w.stream->pending_bytes() >= settings_.buffer_bytes && now - w.had_room > kStalled;
}

size_t WatchHub::cut_lowest(size_t p, bool stalled_only, const std::string& message) {
  const int64_t lowest = lowest_cursor(p);
  size_t n = 0;
  for (auto& w : watchers_) {
    if (w->cut || p >= w->cursors.size() || w->cursors[p] != lowest) continue;
    if (stalled_only && !stalled(*w, Clock::now())) continue;
    cut(*w, "too_slow", message);
    ++n;
  }
  return n;
}

void WatchHub::trim_and_pace(const std::map<int32_t, int64_t>& applied) {
  const auto now = Clock::now();
  const size_t count = std::max<size_t>(1, partitions_.size());
  // Per partition: how far reading may run ahead of the view, and ahead of
  // the watchers furthest behind.
  const size_t window = settings_.history_bytes / 2 / count;
  for (size_t p = 0; p < partitions_.size(); ++p) {
    Partition& part = partitions_[p];
    if (!part.reading) continue;
    // Changes every watcher is past go first, oldest first, while more
    // than half the history is kept.
    int64_t lowest = lowest_cursor(p);
    while (!part.kept.empty() && kept_bytes_ > settings_.history_bytes / 2 &&
           part.kept.front().change.offset < lowest) {
      pop_front(part);
    }
    // Reading waits for the watchers furthest behind while they read what
    // they are sent (a resume from long ago catches up at its client's
    // pace), but not for a client that stopped reading, nor for long.
    const int64_t next = next_or_zero(applied, static_cast<int32_t>(p));
    const size_t ahead = bytes_from(part, next);  // read, not applied
    bool held = false;
    if (lowest != INT64_MAX && lowest < next && bytes_from(part, lowest) - ahead > window) {
      if (cut_lowest(p, /*stalled_only=*/true,
                     "this watch's client stopped reading its events; resume from the last id "
                     "received") == 0) {
        if (part.held_since == Clock::time_point{}) part.held_since = now;
        if (now - part.held_since > kHoldLimit) {
          cut_lowest(p, /*stalled_only=*/false,
                     "this watch's client read its events more slowly than they came; resume "
                     "from the last id received");
          part.held_since = {};
        } else {
          held = true;
        }
      }
    }
    if (!held) part.held_since = {};
    const bool wait = held || ahead > window;
    if (!part.paused && wait) {
      part.paused = true;
      deps_.source.pause(static_cast<int32_t>(p));
    } else if (part.paused && !wait && ahead < window / 2) {
      part.paused = false;
      deps_.source.resume(static_cast<int32_t>(p));
    }
  }
  // Beyond the whole history (what one poll brought after reading paused),
  // the watchers at the oldest changes whose clients stopped reading lose
  // their place; those that read keep it (reading waits for them).
  while (kept_bytes_ > settings_.history_bytes) {
    bool dropped = false;
    for (size_t p = 0; p < partitions_.size(); ++p) {
      Partition& part = partitions_[p];
      if (part.kept.empty()) continue;
      const int64_t front = part.kept.front().change.offset;
      bool needed = false;
      for (auto& w : watchers_) {
        if (w->cut || p >= w->cursors.size() || w->cursors[p] > front) continue;
        if (stalled(*w, Clock::now())) {
          cut(*w, "too_slow",
              "this watch's client stopped reading its events; resume from the last id "
              "received");
        } else {
          needed = true;
        }
      }
      if (!needed) {
        pop_front(part);
        dropped = true;
      }
    }
    if (!dropped) break;
  }
}

void WatchHub::heartbeats() {
  const auto now = Clock::now();
  next_heartbeats_ = now + settings_.heartbeat;
  for (auto& w : watchers_) {
    if (w->cut || w->stream->closed() || now - w->last_send < settings_.heartbeat) continue;
    // A comment keeps proxies from closing an idle stream; the id moves the
    // client's resume point past what it was not sent.
    send(*w, ": heartbeat\nid: " + http::format_position_vector(w->cursors) + "\n\n");
  }
  // A closed connection is noticed here at the latest.
  remove_closed();
}

}  // namespace kvstream::watch
