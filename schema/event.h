// A decoded, validated key-value event: what the consumer applies.
#pragma once

#include <cstdint>
#include <string>

#include "common/position.h"

namespace kvstream::schema {

enum class Op { kPut, kDelete };

const char* to_string(Op op);

struct Event {
  Op op = Op::kPut;
  std::string key;           // valid UTF-8, 1..max_key_bytes, no NUL
  std::string value;         // PUT: exactly the record's bytes (may be empty)
  std::string content_type;  // from the `content-type` header, empty if none
  std::string traceparent;   // W3C trace context, empty if none
  Position position;         // where the record was in the topic
  int64_t timestamp_ms = -1;
};

}  // namespace kvstream::schema
