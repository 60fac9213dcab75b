// A read-only view of the apply engine's state for the HTTP layer: which
// partitions this replica owns, how far each is applied, and whether the
// replica is ready. The engine (poll thread) writes; HTTP threads read.
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

namespace kvstream::apply {

class AppliedView {
 public:
  void set_assigned(int32_t partition, int64_t next_offset);
  void set_revoked(int32_t partition);
  void set_applied(int32_t partition, int64_t next_offset);
  void set_joined(bool joined);
  void set_database_ok(bool ok, const std::string& reason = {});
  void set_partition_count(int32_t count);
  // The log end offset of an owned partition (for lag); -1 unknown.
  void set_end_offset(int32_t partition, int64_t end_offset);
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
  std::function<void()> listener_;
};

}  // namespace kvstream::apply
