#include "tests/support/poison.h"

#include <optional>
#include <utility>
#include <vector>

namespace kvstream::testing {

namespace {

schema::Record record(std::optional<std::string> key, std::optional<std::string> value,
                      std::vector<schema::Header> headers = {}) {
  schema::Record r;
  r.key = std::move(key);
  r.value = std::move(value);
  r.headers = std::move(headers);
  return r;
}

}  // namespace

PoisonRecord poison_record(size_t n, const std::string& valid_key) {
  const std::string tag = std::to_string(n);
  switch (n % kPoisonKinds) {
    case 0:
      return {"key_too_long", record(std::string(1025, 'k') + tag, "too-long-" + tag)};
    case 1:
      return {"key_not_utf8", record("bad\xff\xfe" + tag, "not-utf8-" + tag)};
    case 2:
      return {"put_without_value", record(valid_key, std::nullopt, {{"kv-op", "put"}})};
    case 3:
      return {"malformed_traceparent",
              record(valid_key, "trace-" + tag, {{"traceparent", "00-not-a-trace-" + tag}})};
    case 4:
      return {"key_contains_nul", record(std::string("nul\0", 4) + tag, "nul-" + tag)};
    case 5:
      return {"empty_key", record(std::string(), "empty-key-" + tag)};
    case 6:
      return {"missing_key", record(std::nullopt, "no-key-" + tag)};
    case 7:
      return {"unknown_op", record(valid_key, "op-" + tag, {{"kv-op", "upsert"}})};
    case 8:
      return {"malformed_content_type",
              record(valid_key, "ct-" + tag, {{"content-type", "text/\x01plain"}})};
    default:
      return {"header_too_large",
              record(valid_key, "big-header-" + tag, {{"x-big", std::string(5000, 'h')}})};
  }
}

}  // namespace kvstream::testing
