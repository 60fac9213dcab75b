// ReplicaStatus: the replica's state as the rest of the program sees it:
// which partitions this replica owns, how far each is applied, the topic's
// partition count, and whether the replica is ready. The apply engine and
// the service (poll thread) write; HTTP threads read.
//
// Ready: a member of the group, the database reachable, and caught up: until
// the replica has first caught up with partitions of its own, every
// partition it is assigned must have had its lag once at or under the
// catch-up bounds (events and seconds). So a new replica that took
// partitions with a backlog (a cold start, a rolling update) is not ready
// until it has replayed it. After that, neither a backlog that builds later
// (a burst, a slow database) nor the partitions of a peer that left make it
// unready: every replica serves the same shared database, and such a
// backlog would take every replica out of a load balancer at once (the lag
// metrics report it).
//
// Thread-safe: `mu_` guards every field but the listener, which is set
// before any writer runs.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <string>

namespace kvstream::view {

class ReplicaStatus {
 public:
  void set_assigned(int32_t partition, int64_t next_offset);
  void set_revoked(int32_t partition);
  void set_applied(int32_t partition, int64_t next_offset);
  void set_joined(bool joined);
  void set_database_ok(bool ok, const std::string& reason = {});
  void set_partition_count(int32_t count);
  // The log end offset of an owned partition (for lag); -1 unknown.
  void set_end_offset(int32_t partition, int64_t end_offset);
  // The catch-up bounds of readiness: a partition is caught up once its lag
  // is at most `max_events` and the oldest event it has not applied is at
  // most `max_seconds` old. Set before the engine runs.
  void set_catch_up_bounds(int64_t max_events, double max_seconds);
  // The lag of an owned partition, as the poll thread last measured it.
  void set_lag(int32_t partition, int64_t events, double seconds);
  // Called (without the lock held, on the writer's thread) after every change
  // of an applied position; set once, before the engine runs.
  void set_listener(std::function<void()> on_applied);

  // Owned partitions and the next offset each will apply (-1: none yet).
  std::map<int32_t, int64_t> applied() const;
  bool joined() const;
  bool database_ok() const;
  // Partitions of the topic (0 until known): with the key, where a key lives.
  int32_t partition_count() const;
  // End offsets of owned partitions, as last set.
  std::map<int32_t, int64_t> end_offsets() const;
  // nullopt when ready; otherwise why not.
  std::optional<std::string> not_ready_reason() const;

 private:
  mutable std::mutex mu_;
  std::map<int32_t, int64_t> next_offsets_;
  bool joined_ = false;
  bool database_ok_ = true;
  int32_t partition_count_ = 0;
  std::string database_reason_;
  std::map<int32_t, int64_t> end_offsets_;
  int64_t catch_up_events_ = 0;
  double catch_up_seconds_ = 0;
  struct Lag {
    int64_t events = -1;  // -1: not measured yet
    double seconds = 0;
  };
  std::map<int32_t, Lag> catching_up_;  // assigned, not yet caught up
  bool caught_up_once_ = false;         // with partitions: later ones are not checked
  void note_caught_up();                // under mu_
  std::function<void()> listener_;
};

}  // namespace kvstream::view
