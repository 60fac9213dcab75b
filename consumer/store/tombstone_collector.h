// Tombstone collection (DESIGN.md "Deletes"): a DELETE leaves a row with a
// NULL value and its position, so that an older PUT replayed later cannot
// bring the key back. Such rows are kept for the retention (longer than any
// replay can lag behind), then removed by this collector in the background.
//
// Every interval, one sweep over the whole key space, in pages, with a short
// pause between pages so that the apply path keeps the database. A tombstone
// goes between `retention` and that plus an interval and a sweep after its
// delete. A sweep that fails (the database down) is logged and tried again
// at the next interval; one that finds another replica collecting stops
// there. Its own thread; start() and stop() from one thread.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <mutex>
#include <string>
#include <thread>

namespace kvstream::store {

// What one step of the tombstone sweep did.
struct SweepStep {
  bool ran = false;      // false: another replica holds the collector lock
  size_t scanned = 0;    // keys looked at
  size_t deleted = 0;    // tombstones removed
  bool wrapped = false;  // the page reached the end of the table
};

struct TombstoneCollectorSettings {
  std::chrono::seconds retention{24 * 3600};
  std::chrono::milliseconds interval{60000};  // from the end of one sweep to the next
  size_t page = 10000;                        // keys per step
  std::chrono::milliseconds pause{10};        // between two steps of a sweep
};

class TombstoneCollector {
 public:
  // One step of a sweep (PgStore::collect_tombstones).
  using Step =
      std::function<SweepStep(std::chrono::seconds retention, size_t page, std::string& cursor)>;
  // Opens what a sweep's steps need (a database session), once per sweep:
  // a sweep after an outage starts afresh. May throw.
  using Open = std::function<Step()>;
  // Told the tombstones each step removed (when it removed any), on the
  // collector's thread (metrics). Optional.
  using Removed = std::function<void(size_t rows)>;

  TombstoneCollector(TombstoneCollectorSettings settings, Open open, Removed removed = {});
  ~TombstoneCollector();
  TombstoneCollector(const TombstoneCollector&) = delete;
  TombstoneCollector& operator=(const TombstoneCollector&) = delete;

  void start();
  // Ends the wait or the sweep under way (after its current step) and joins.
  void stop();

  // Sweeps finished (to the end of the table, or stopped by another
  // replica's lock), and tombstones removed, since start.
  uint64_t sweeps() const;
  uint64_t removed() const;

 private:
  void loop();
  void sweep();

  const TombstoneCollectorSettings settings_;
  const Open open_;
  const Removed on_removed_;
  std::thread thread_;
  mutable std::mutex mu_;
  std::condition_variable wake_;  // with mu_: stop()
  bool stopping_ = false;         // guarded by mu_
  uint64_t sweeps_ = 0;           // guarded by mu_
  uint64_t removed_ = 0;          // guarded by mu_
};

}  // namespace kvstream::store
