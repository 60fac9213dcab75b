// A Kafka record as kvstream sees it, independent of any client library: the
// input of the decoder, the output of the encoder.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace kvstream::schema {

struct Header {
  std::string name;
  std::optional<std::string> value;  // Kafka allows a null header value
};

struct Record {
  std::string topic;
  int32_t partition = -1;
  int64_t offset = -1;
  int64_t timestamp_ms = -1;         // -1 when the record carries none
  std::optional<std::string> key;    // nullopt: the record has no key
  std::optional<std::string> value;  // nullopt: a tombstone (DELETE)
  std::vector<Header> headers;

  // The value of the last header named `name`, if any (Kafka allows
  // duplicates; the last one wins, as in librdkafka's header_get_last).
  const Header* last_header(std::string_view name) const;
};

}  // namespace kvstream::schema
