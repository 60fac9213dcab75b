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

// A record as the consumer reads it: views into bytes another object owns
// (the client library's message, or a Record), so that decoding copies
// nothing it does not keep. Valid as long as the owner is.
struct HeaderView {
  std::string_view name;
  std::optional<std::string_view> value;  // nullopt: a null header value
};

struct RecordView {
  std::string_view topic;
  int32_t partition = -1;
  int64_t offset = -1;
  int64_t timestamp_ms = -1;
  std::optional<std::string_view> key;    // nullopt: the record has no key
  std::optional<std::string_view> value;  // nullopt: a tombstone (DELETE)
  const HeaderView* headers = nullptr;    // header_count of them, in order
  size_t header_count = 0;

  // As Record::last_header.
  const HeaderView* last_header(std::string_view name) const;
  // An owning copy (for a dead letter).
  Record to_record() const;
};

// A view of `record`; `headers` is the storage for the header views (reused
// by the caller, refilled here).
RecordView view_of(const Record& record, std::vector<HeaderView>& headers);

}  // namespace kvstream::schema
