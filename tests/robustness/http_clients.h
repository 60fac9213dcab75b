// The chaos driver's (chaos.h) HTTP clients: while the faults run, they
// write through the replicas' API with `PUT ?wait=applied` and read every
// acknowledged write back on a random replica with its position
// (`min_position`). Internal to the driver.
//
// Each client owns its keys ("http:<client>:<n>"), and writes them one
// request at a time, so what a key may hold is known exactly:
//   - a write answered with a position (201, 202, or 504 "not yet
//     applied") is in the topic there: it goes to the oracle, like the
//     load's acknowledged events;
//   - a write with no position (the replica killed, the broker down: a
//     reset connection, a 503, a 504 without a position) may still reach
//     the topic, even after a later write; such a key is written again at
//     the end, once every fault is over, so that its last event is an
//     acknowledged one (as the load does for its failed deliveries).
// The invariants, each a failure of the run when broken:
//   - a read carrying the position of an applied write returns that value,
//     or the value of a write of the key whose outcome is unknown (never an
//     older one, never 404); 503 and 504 are allowed answers;
//   - no request waits past its own timeout plus kHangMargin for an answer;
//   - at the end, every replica answers each key's last acknowledged value
//     (with its position).
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "common/position.h"
#include "schema/record.h"
#include "tests/robustness/chaos_util.h"
#include "tests/robustness/run_log.h"
#include "tests/support/oracle.h"

namespace kvstream::chaos::detail {

struct HttpFigures {
  size_t writes = 0;             // PUTs sent
  size_t applied = 0;            // 201
  size_t accepted = 0;           // 202
  size_t not_yet_applied = 0;    // 504 with a position
  size_t unknown = 0;            // no position: connection lost, 503, ...
  size_t reads = 0;              // reads with the position of an applied write
  size_t reads_exact = 0;        // ... that answered the write's value
  size_t reads_unavailable = 0;  // ... that answered 503 or 504
  size_t reads_older = 0;        // ... that answered an older value
  size_t final_reads = 0;        // the end's reads, every key on every replica
  size_t late = 0;               // writes of unknown outcome found in the topic
  double slowest_s = 0;          // the slowest answer
  std::string describe() const;
};

class HttpClients {
 public:
  // How long past its own timeout a request may go unanswered.
  static constexpr std::chrono::seconds kHangMargin{15};

  // `ports`: the HTTP ports of the replicas running now (any thread).
  HttpClients(int clients, size_t keys_per_client, testing::Oracle& oracle,
              std::function<std::vector<uint16_t>()> ports, RunLog& log);
  ~HttpClients();

  void start();
  // Stops the writes (each client finishes its request).
  void stop();
  // After stop(), with every fault over: writes again each key whose last
  // write had no answer, until one is acknowledged (bounded by `timeout`).
  bool settle(std::chrono::seconds timeout, std::string* why);
  // After the replicas caught up: the writes of unknown outcome that reached
  // the topic after all (a replica's producer may deliver one after the
  // settling write) go to the oracle at the position the topic holds them;
  // returns how many. `log` is the topic, read whole.
  size_t adopt_late_writes(const std::vector<schema::Record>& log);
  // Then: reads every key on every replica.
  void check_final(const std::vector<uint16_t>& ports);

  HttpFigures figures() const;
  std::vector<std::string> failures() const;

 private:
  struct Key {
    std::string name;
    size_t writes = 0;
    std::optional<Position> last_acked;
    std::string last_acked_value;
    // Values of the writes whose outcome is unknown: one may still reach
    // the topic after a later acknowledged write (a replica's producer
    // retrying it), so a read may see any of them.
    std::set<std::string> unknown_values;
  };
  enum class Outcome { kAcked, kUnknown, kStopped };

  void run(int client);
  // One PUT of the key on some replica; records what it learned.
  Outcome write(Key& key, const std::string& value, uint16_t port, bool check_read);
  void read_back(const Key& key, const std::string& value, const Position& at);
  void fail(const std::string& what);
  void note_time(double seconds);
  uint16_t pick(std::mt19937_64& rng) const;

  const int clients_;
  testing::Oracle& oracle_;
  const std::function<std::vector<uint16_t>()> ports_;
  RunLog& log_;
  std::vector<std::vector<Key>> keys_;  // by client; each client's thread only
  std::vector<std::thread> threads_;
  std::atomic<bool> stop_{false};
  mutable std::mutex mu_;
  HttpFigures figures_;                // guarded by mu_
  std::vector<std::string> failures_;  // guarded by mu_
};

}  // namespace kvstream::chaos::detail
