// WatchHub: the change feed of the view (GET /v1/watch), for every
// partition of the topic, on every replica.
//
// The hub reads the topic itself (a ChangeSource: a Kafka client outside the
// group, decoding with the consumer's own decoder) and hands each change of
// a key to the watchers whose prefix it matches, only once the view has
// applied it: a change at partition:offset waits until the partition's
// applied position (this replica's own for the partitions it owns, the
// database's for the others, as for read-your-writes) is past it. So a read
// made after an event, on any replica, with the event's position as
// min_position, sees that change or a newer one.
//
// Each watcher has a cursor per partition: the next offset it has not
// looked at. Its events go out per partition in offset order; its resume
// token (the SSE `id:`) is its cursors less one, with the event's own offset
// for the event's partition: everything up to it was sent or did not match,
// nothing after it was. A watch from that token gets every later change
// exactly once.
//
// What the hub read is kept per partition (bounded by history_bytes across
// the partitions): for watchers that start a little behind (one that starts
// before it makes the hub read that partition again from there), and for
// watchers whose clients read slowly. A watcher is sent at most
// buffer_bytes that its client has not read; beyond that it waits, its
// place in the history kept. When the history is full, the watchers
// furthest behind get a last `event: error` (too_slow) and are closed;
// nothing waits for them: not the view, nor the other watchers. Reading
// pauses for a partition read far ahead of what the view applied, and
// stops while no one watches.
//
// Threads: open() may be called from any thread; one opening thread asks
// Kafka and the database where a new watch starts (they may block), one
// delivery thread does everything else. Callbacks of `wait` may run on any
// thread.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "common/position.h"
#include "http/watch.h"
#include "schema/event.h"

namespace kvstream::watch {

// A change of the topic, decoded.
struct Change {
  int32_t partition = -1;
  int64_t offset = -1;
  int64_t timestamp_ms = -1;
  schema::Op op = schema::Op::kPut;
  std::string key;
  std::string value;
  std::string content_type;
};

// What the hub reads the topic with. Every call but wake() comes from the
// hub's threads: read, pause, resume and poll from the delivery thread,
// partitions and watermarks from either.
class ChangeSource {
 public:
  struct Item {
    enum class Kind {
      kChange,  // change
      kEnd,     // nothing more before change.offset in change.partition (the
                // end of the log, or a record that breaks the contract)
      kGone,    // change.offset of change.partition is no longer in the log
    };
    Kind kind = Kind::kChange;
    Change change;
  };
  struct Range {
    int64_t low = 0;   // the first offset still in the log
    int64_t high = 0;  // the offset the next record will get
  };

  virtual ~ChangeSource() = default;
  // The topic's partition count. Throws kvstream::Error (transient).
  virtual int32_t partitions() = 0;
  // Every partition's range. Throws kvstream::Error (transient).
  virtual std::map<int32_t, Range> watermarks() = 0;
  // Reads exactly these partitions, from these offsets (a partition left out
  // is no longer read); what was fetched before is dropped.
  virtual void read(const std::map<int32_t, int64_t>& from) = 0;
  virtual void pause(int32_t partition) = 0;
  virtual void resume(int32_t partition) = 0;
  // Appends what arrived, waiting up to `wait` for the first item.
  virtual void poll(std::chrono::milliseconds wait, std::vector<Item>& out) = 0;
  // Ends a poll in progress early. Any thread.
  virtual void wake() = 0;
};

struct HubSettings {
  size_t max_watchers = 256;  // beyond: 429
  std::chrono::milliseconds heartbeat{15000};
  size_t buffer_bytes = size_t{4} << 20;    // per watcher, not yet written
  size_t history_bytes = size_t{64} << 20;  // changes kept, across partitions
};

// What the hub counts (Prometheus, consumer/metrics.h). Called from the
// hub's threads.
class HubMetrics {
 public:
  virtual ~HubMetrics() = default;
  virtual void set_watchers(size_t watchers) = 0;
  // `events` handed to a watcher's connection at once, the oldest
  // `lag_seconds` after its record's timestamp.
  virtual void sent(size_t events, double lag_seconds) = 0;
  // A watcher was closed by the hub: "too_slow", "gone".
  virtual void dropped(const char* reason) = 0;
};

struct HubDeps {
  ChangeSource& source;
  // The next offset to apply of each partition, as far as this replica
  // knows (http::PositionWaiter::known()).
  std::function<std::map<int32_t, int64_t>()> applied;
  // Calls `done` once `position` is applied or at `deadline`
  // (http::PositionWaiter::wait()).
  std::function<void(Position position, std::chrono::steady_clock::time_point deadline,
                     std::function<void(bool)> done)>
      wait;
  // The next offset to apply of each partition now, as the database and
  // this replica know it; may block. Throws kvstream::Error.
  std::function<std::map<int32_t, int64_t>()> applied_now;
  HubMetrics* metrics = nullptr;
};

class WatchHub {
 public:
  WatchHub(HubSettings settings, HubDeps deps);
  ~WatchHub();
  WatchHub(const WatchHub&) = delete;
  WatchHub& operator=(const WatchHub&) = delete;

  // Starts a watch: answers 429, 410 or 503, or streams its events.
  void open(http::WatchRequest request, std::unique_ptr<http::WatchReply> reply);
  // Closes every watch (its stream ends) and joins the threads.
  void stop();

  size_t watchers() const { return admitted_.load(); }

 private:
  struct Opening {
    http::WatchRequest request;
    std::unique_ptr<http::WatchReply> reply;
  };
  struct Watcher {
    std::string request_id;  // of the request that started it, for log lines
    std::string prefix;
    bool values = true;
    std::vector<int64_t> cursors;  // per partition, the next offset to look at
    std::shared_ptr<http::EventStream> stream;
    std::chrono::steady_clock::time_point last_send;
    // When its client last had room in its buffer (it reads).
    std::chrono::steady_clock::time_point had_room = std::chrono::steady_clock::now();
    bool cut = false;  // finished by the hub; removed at the next pass
  };
  // A change as kept: with its rendered data, once a watcher needs it.
  struct Kept {
    Change change;
    std::string data;       // the JSON of `data:`, with the value
    std::string data_keys;  // without
    size_t bytes = 0;
    size_t upto = 0;  // Partition::added once this change was kept
  };
  struct Partition {
    bool reading = false;
    bool paused = false;
    int64_t begin = 0;  // kept covers [begin, end) of the log
    int64_t end = 0;    // the next offset the source gives
    std::deque<Kept> kept;
    size_t bytes = 0;
    // Bytes ever kept and ever dropped: a change's `upto` is the first as
    // it was once the change was kept, so what is kept from a change on is
    // `added` less the `upto` of the change before it.
    size_t added = 0;
    size_t dropped = 0;
    // Since when reading waits for the watchers furthest behind (zero: it
    // does not).
    std::chrono::steady_clock::time_point held_since{};
    bool waiting = false;  // a wait for the applied position is out
  };
  // What a wait's callback reaches, also after the hub is gone.
  struct Signals {
    std::mutex mu;
    std::vector<int32_t> waited;     // partitions whose wait ended
    ChangeSource* source = nullptr;  // null once stopped
  };

  void open_loop();
  void start(Opening opening);
  void deliver_loop();
  void take_new();
  void position_reads();
  void take(std::vector<ChangeSource::Item>& items);
  void gone(int32_t partition);
  void deliver(const std::map<int32_t, int64_t>& applied);
  void wait_for_applies(const std::map<int32_t, int64_t>& applied);
  void trim_and_pace(const std::map<int32_t, int64_t>& applied);
  void pop_front(Partition& part);
  // Bytes kept of changes at `offset` or later.
  static size_t bytes_from(const Partition& part, int64_t offset);
  // Cuts the watchers at partition `p`'s lowest cursor (only those whose
  // clients stopped reading, if `stalled_only`); how many.
  size_t cut_lowest(size_t p, bool stalled_only, const std::string& message);
  // Whether `w`'s client stopped reading: its buffer full for a while.
  bool stalled(const Watcher& w, std::chrono::steady_clock::time_point now) const;
  void heartbeats();
  // Sends `bytes` to `w` (a closed connection is dropped by remove_closed()).
  void send(Watcher& w, std::string bytes);
  void cut(Watcher& w, const char* reason, const std::string& message);
  void remove_closed();
  const std::string& data_of(Kept& kept, bool values);
  // The token of `cursors` around partition `p`'s offset: `head` up to its
  // "p:", `tail` from the comma after it (empty for the last partition).
  static void token(const std::vector<int64_t>& cursors, size_t p, std::string& head,
                    std::string& tail);
  int64_t lowest_cursor(size_t partition) const;

  const HubSettings settings_;
  HubDeps deps_;
  std::atomic<size_t> admitted_{0};  // opening or watching

  std::mutex mu_;
  std::condition_variable opening_wake_;
  std::deque<Opening> openings_;                        // guarded by mu_
  std::vector<std::unique_ptr<Watcher>> new_watchers_;  // guarded by mu_
  bool stopping_ = false;                               // guarded by mu_
  std::shared_ptr<Signals> signals_;

  // The delivery thread's.
  std::vector<std::unique_ptr<Watcher>> watchers_;
  std::vector<Partition> partitions_;
  size_t kept_bytes_ = 0;
  bool behind_ = false;  // a watcher was held back by its client's reading
  std::chrono::steady_clock::time_point next_heartbeats_{};

  std::thread opener_;
  std::thread deliverer_;
};

}  // namespace kvstream::watch
