// What the parts of the chaos driver (chaos.h) share: the run's topics,
// group and partitions, the clock, the formatting of figures and offsets,
// and Abort. Internal to the driver.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <stdexcept>
#include <string>

namespace kvstream::chaos::detail {

using Clock = std::chrono::steady_clock;

const std::string kTopic = "chaos";
const std::string kDlqTopic = "chaos.dlq";
const std::string kGroup = "chaos";
constexpr int kPartitions = 6;

double seconds(Clock::duration d);

// `value` with `decimals` digits after the point.
std::string fixed(double value, int decimals);

using Offsets = std::map<int32_t, int64_t>;

Offsets dense(Offsets sparse);

int64_t total(const Offsets& offsets);

std::string show(const Offsets& offsets);

std::string printable(const std::optional<std::string>& s, size_t max = 60);

// Thrown when a server the run needs cannot be brought back: the run stops
// there (the report says why).
struct Abort : std::runtime_error {
  using std::runtime_error::runtime_error;
};

}  // namespace kvstream::chaos::detail
