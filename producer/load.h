// The load generator behind `kvstream-producer load`: a deterministic stream
// of PUT and DELETE events over a bounded key space, and the pacing that
// holds a target rate. Pure: no Kafka here (the command sends).
//
//   LoadSettings s;
//   s.keys = 1000;
//   s.delete_ratio = 0.1;
//   LoadGenerator gen(s);
//   LoadEvent e = gen.next();  // {kPut, "key-417", <100 printable bytes>}
#pragma once

#include <chrono>
#include <cstdint>
#include <random>
#include <string>
#include <string_view>

#include "schema/event.h"

namespace kvstream::producer {

struct LoadSettings {
  double rate = 0;                        // events/s; 0: as fast as the producer takes them
  uint64_t keys = 100000;                 // key space: <key_prefix>0 .. <key_prefix>(keys-1)
  size_t value_size = 100;                // bytes of every PUT value
  double delete_ratio = 0;                // share of DELETEs, 0..1
  std::chrono::milliseconds duration{0};  // 0: no limit
  uint64_t count = 0;                     // 0: no limit
  uint64_t seed = 1;
  std::string key_prefix = "key-";
};

struct LoadEvent {
  schema::Op op;
  std::string_view key;    // valid until the next call of next()
  std::string_view value;  // PUT only; likewise
};

// The same settings and seed give the same sequence.
class LoadGenerator {
 public:
  explicit LoadGenerator(const LoadSettings& settings);
  LoadEvent next();

 private:
  double uniform();  // [0, 1)

  const LoadSettings settings_;
  std::mt19937_64 rng_;
  std::string values_;  // random printable bytes; values are windows of it
  std::string key_;
};

// When event `n` (0-based) is due after the start, at `rate` events/s.
std::chrono::nanoseconds due_after(uint64_t n, double rate);

}  // namespace kvstream::producer
