#include "bench/workload.h"

#include <cstdio>
#include <stdexcept>

#include "common/kafka_partitioner.h"

namespace kvstream::bench {

namespace {

// splitmix64: a fast, well-mixed 64-bit hash, so that event i is a pure
// function of (seed, i).
uint64_t mix64(uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

}  // namespace

Workload::Workload(WorkloadSpec spec) : spec_(spec) {
  if (spec_.events < 0 || spec_.keys == 0 || spec_.partitions <= 0 || spec_.delete_ratio < 0 ||
      spec_.delete_ratio > 1) {
    throw std::invalid_argument(
        "workload: events >= 0, keys > 0, partitions > 0, 0 <= deletes <= 1");
  }
  delete_threshold_ = static_cast<uint32_t>(spec_.delete_ratio * 4294967295.0);
}

void Workload::event(int64_t index, WorkloadEvent& out) const {
  const uint64_t h = mix64(spec_.seed ^ mix64(static_cast<uint64_t>(index)));
  const uint64_t key_index =
      spec_.unique_keys ? static_cast<uint64_t>(index) : (h >> 32) % spec_.keys;
  out.is_delete = static_cast<uint32_t>(h) < delete_threshold_;
  char key[32];
  const int n =
      std::snprintf(key, sizeof(key), "key-%07llu", static_cast<unsigned long long>(key_index));
  out.key.assign(key, static_cast<size_t>(n));
  out.value.clear();
  if (out.is_delete) return;
  out.value.resize(spec_.value_bytes);
  uint64_t state = h;
  for (size_t i = 0; i < spec_.value_bytes; i += 8) {
    state = mix64(state);
    for (size_t j = 0; j < 8 && i + j < spec_.value_bytes; ++j) {
      out.value[i + j] = static_cast<char>('0' + ((state >> (8 * j)) & 0xff) % 75);  // '0'..'z'
    }
  }
}

int32_t Workload::partition_of(std::string_view key) const {
  return partition_for_key(key, spec_.partitions);
}

std::vector<std::vector<schema::Event>> events_by_partition(const Workload& workload) {
  std::vector<std::vector<schema::Event>> out(static_cast<size_t>(workload.spec().partitions));
  WorkloadEvent e;
  for (int64_t i = 0; i < workload.spec().events; ++i) {
    workload.event(i, e);
    const int32_t p = workload.partition_of(e.key);
    auto& events = out[static_cast<size_t>(p)];
    schema::Event ev;
    ev.op = e.is_delete ? schema::Op::kDelete : schema::Op::kPut;
    ev.key = e.key;
    ev.value = std::move(e.value);
    ev.position = Position{p, static_cast<int64_t>(events.size())};
    events.push_back(std::move(ev));
  }
  return out;
}

void stamp_value(std::string& value, int64_t ms) {
  char stamp[32];
  const int n = std::snprintf(stamp, sizeof(stamp), "ts=%lld;", static_cast<long long>(ms));
  if (n <= 0 || static_cast<size_t>(n) > value.size()) {
    throw std::invalid_argument("stamp_value: the value is too short for a timestamp");
  }
  value.replace(0, static_cast<size_t>(n), stamp, static_cast<size_t>(n));
}

}  // namespace kvstream::bench
