// The probe of the latency tools: polls, on a connection of its own, a
// query that returns (partition, progress) rows, every `interval`, and
// records when each partition's progress advanced. Progress is whatever
// only grows as a contender applies events: kvstream's applied position
// (kv_offsets.next_offset, `latency`), or the largest sequence number the
// Debezium sink has written (`latency-json`). A partition without a row, or
// with a NULL, has made none yet.
//
//   ProgressProbe probe(url, "SELECT partition, next_offset FROM kv_offsets WHERE topic = $1",
//                       topic, partitions, std::chrono::milliseconds(2));
//   probe.start();
//   ... publish, waiting until probe.latest(p) reaches the end ...
//   probe.stop();
//   int64_t at = probe.reached_at(p, offset + 1);   // steady µs, or -1
//
// Its thread writes; the caller reads latest() while it runs and
// reached_at() after stop().
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <pqxx/pqxx>
#include <string>
#include <thread>
#include <vector>

namespace kvstream::bench {

// Microseconds of the steady clock: the clock of send times and of polls.
int64_t steady_us();

// Nearest-rank percentile of sorted values (0 for none).
double percentile(const std::vector<double>& sorted, double q);

class ProgressProbe {
 public:
  // `sql` takes one parameter, `param`.
  ProgressProbe(std::string pg_url, std::string sql, std::string param, int32_t partitions,
                std::chrono::milliseconds interval);
  ~ProgressProbe();

  void start();
  void stop();

  // The partition's progress as last polled; -1 before any.
  int64_t latest(int32_t partition) const;
  bool failed() const { return failed_.load(); }
  int64_t polls() const { return polls_; }
  // The time (steady µs) of the first poll that saw the partition's
  // progress at `target` or past it; -1 if none did. Call after stop().
  int64_t reached_at(int32_t partition, int64_t target) const;

 private:
  struct Advance {
    int64_t progress;
    int64_t seen_us;
  };
  void run();

  const std::string url_, sql_, param_;
  const std::chrono::milliseconds interval_;
  std::unique_ptr<pqxx::connection> conn_;
  std::vector<std::vector<Advance>> advances_;  // written by the probe thread only
  std::vector<std::atomic<int64_t>> latest_;
  int64_t polls_ = 0;  // probe thread; read after stop()
  std::atomic<bool> stopping_{false}, failed_{false};
  std::thread thread_;
};

}  // namespace kvstream::bench
