#include "producer/load.h"

#include <charconv>

namespace kvstream::producer {

namespace {

// Values are windows at random offsets of a buffer this much longer.
constexpr size_t kValueOffsets = 4096;

}  // namespace

LoadGenerator::LoadGenerator(const LoadSettings& settings)
    : settings_(settings), rng_(settings.seed) {
  values_.resize(settings_.value_size + kValueOffsets);
  for (char& c : values_) c = static_cast<char>('!' + rng_() % 94);  // printable ASCII
  key_.reserve(settings_.key_prefix.size() + 20);
}

double LoadGenerator::uniform() { return static_cast<double>(rng_() >> 11) * 0x1.0p-53; }

LoadEvent LoadGenerator::next() {
  const uint64_t k = settings_.keys > 0 ? rng_() % settings_.keys : 0;
  char digits[24];
  const auto end = std::to_chars(digits, digits + sizeof(digits), k).ptr;
  key_.assign(settings_.key_prefix);
  key_.append(digits, end);
  if (settings_.delete_ratio > 0 && uniform() < settings_.delete_ratio) {
    return {schema::Op::kDelete, key_, {}};
  }
  const size_t offset = rng_() % kValueOffsets;
  return {schema::Op::kPut, key_, std::string_view(values_).substr(offset, settings_.value_size)};
}

std::chrono::nanoseconds due_after(uint64_t n, double rate) {
  if (rate <= 0) return std::chrono::nanoseconds(0);
  return std::chrono::nanoseconds(static_cast<int64_t>(static_cast<double>(n) * 1e9 / rate));
}

}  // namespace kvstream::producer
