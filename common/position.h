// A position in the event log: the Kafka partition and offset of one record.
//
// Every applied row, cache entry and HTTP answer carries the position of the
// event it reflects; a producer gets the same pair back for its write, which
// is what read-your-writes waits for. Textual form: "partition:offset", e.g.
// "3:1042".
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace kvstream {

struct Position {
  int32_t partition = -1;
  int64_t offset = -1;

  friend bool operator==(const Position& a, const Position& b) {
    return a.partition == b.partition && a.offset == b.offset;
  }
  friend bool operator!=(const Position& a, const Position& b) { return !(a == b); }
};

// "partition:offset".
std::string to_string(const Position& p);

// Parses "partition:offset" (both non-negative decimal, partition < 2^31,
// offset < 2^63); nullopt for anything else.
std::optional<Position> parse_position(std::string_view text);

}  // namespace kvstream
