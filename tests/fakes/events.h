// Events for tests of the apply path, as the decoder would make them.
//
//   fakes::put(0, 7, "k", "v")          // PUT of k at partition 0, offset 7
//   fakes::put(0, 7, "k", "v", "text/plain")
//   fakes::del(0, 8, "k")               // DELETE of k
#pragma once

#include <cstdint>
#include <string>

#include "schema/event.h"

namespace kvstream::fakes {

inline schema::Event put(int32_t partition, int64_t offset, std::string key, std::string value,
                         std::string content_type = "") {
  schema::Event e;
  e.op = schema::Op::kPut;
  e.key = std::move(key);
  e.value = std::move(value);
  e.content_type = std::move(content_type);
  e.position = Position{partition, offset};
  return e;
}

inline schema::Event del(int32_t partition, int64_t offset, std::string key) {
  schema::Event e;
  e.op = schema::Op::kDelete;
  e.key = std::move(key);
  e.position = Position{partition, offset};
  return e;
}

}  // namespace kvstream::fakes
