// The events of one partition that wait for its next batch, coalesced as
// they arrive: at most one event per key, the last by offset (a PUT after a
// DELETE leaves the PUT, a DELETE after a PUT the DELETE), as coalescing a
// batch does (coalesce.h). A partition that receives the same keys again
// and again holds one event per key, not one per record, however long its
// batch in flight takes.
//
//   PendingEvents pending;
//   schema::Event replaced;
//   if (pending.add(std::move(event), replaced)) recycle(std::move(replaced));
//   batch.events = pending.take();   // one event per key, in first-seen order
//
// Not thread-safe. Not movable: its key index refers to its own events.
#pragma once

#include <tsl/robin_set.h>

#include <cstdint>
#include <string_view>
#include <vector>

#include "schema/event.h"

namespace kvstream::apply {

class PendingEvents {
 public:
  PendingEvents();
  PendingEvents(const PendingEvents&) = delete;
  PendingEvents& operator=(const PendingEvents&) = delete;

  // Adds an event; events come in offset order. When its key was pending,
  // the older event is swapped out into `replaced` (its buffers can be
  // reused) and true is returned.
  bool add(schema::Event&& event, schema::Event& replaced);

  bool empty() const { return events_.empty(); }
  size_t size() const { return events_.size(); }   // distinct keys
  size_t events_in() const { return events_in_; }  // events added, before coalescing
  void set_events_in(size_t n) { events_in_ = n; }
  // The record timestamp (ms) of the first event added since take(); -1 if
  // none or it had none.
  int64_t first_timestamp_ms() const { return first_timestamp_ms_; }
  const std::vector<schema::Event>& events() const { return events_; }

  // Moves the events out (one per key) and empties the buffer.
  std::vector<schema::Event> take();

 private:
  // The index holds positions in events_, hashed and compared by their key;
  // lookups by key need no copy of it.
  struct KeyHash {
    using is_transparent = void;
    const std::vector<schema::Event>* events;
    size_t operator()(std::string_view key) const { return std::hash<std::string_view>{}(key); }
    size_t operator()(uint32_t i) const { return (*this)((*events)[i].key); }
  };
  struct KeyEqual {
    using is_transparent = void;
    const std::vector<schema::Event>* events;
    bool operator()(uint32_t a, uint32_t b) const { return a == b; }
    bool operator()(std::string_view key, uint32_t i) const { return (*events)[i].key == key; }
    bool operator()(uint32_t i, std::string_view key) const { return (*events)[i].key == key; }
  };

  std::vector<schema::Event> events_;
  tsl::robin_set<uint32_t, KeyHash, KeyEqual, std::allocator<uint32_t>, /*StoreHash=*/true> index_;
  size_t events_in_ = 0;
  int64_t first_timestamp_ms_ = -1;
};

}  // namespace kvstream::apply
