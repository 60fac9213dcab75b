#include "common/kafka_partitioner.h"

namespace kvstream {

int32_t murmur2(std::string_view bytes) {
  // Unsigned arithmetic throughout: the Java original relies on 32-bit
  // wrap-around, which signed C++ integers do not have.
  constexpr uint32_t kSeed = 0x9747b28cU;
  constexpr uint32_t kMultiplier = 0x5bd1e995U;
  constexpr unsigned kShift = 24;
  const auto* data = reinterpret_cast<const unsigned char*>(bytes.data());
  const size_t length = bytes.size();
  uint32_t h = kSeed ^ static_cast<uint32_t>(length);
  const size_t whole = length / 4 * 4;
  for (size_t i = 0; i < whole; i += 4) {
    uint32_t k = uint32_t{data[i]} | uint32_t{data[i + 1]} << 8 | uint32_t{data[i + 2]} << 16 |
                 uint32_t{data[i + 3]} << 24;
    k *= kMultiplier;
    k ^= k >> kShift;
    k *= kMultiplier;
    h *= kMultiplier;
    h ^= k;
  }
  switch (length % 4) {
    case 3:
      h ^= uint32_t{data[whole + 2]} << 16;
      [[fallthrough]];
    case 2:
      h ^= uint32_t{data[whole + 1]} << 8;
      [[fallthrough]];
    case 1:
      h ^= uint32_t{data[whole]};
      h *= kMultiplier;
      break;
    default:
      break;
  }
  h ^= h >> 13;
  h *= kMultiplier;
  h ^= h >> 15;
  return static_cast<int32_t>(h);
}

int32_t partition_for_key(std::string_view key, int32_t partition_count) {
  if (partition_count <= 0) return -1;
  const auto positive = static_cast<uint32_t>(murmur2(key)) & 0x7fffffffU;
  return static_cast<int32_t>(positive % static_cast<uint32_t>(partition_count));
}

}  // namespace kvstream
