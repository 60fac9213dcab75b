// The record contract, in code: decoding a Kafka record into an Event (or a
// validation error with a stable reason code), and encoding an event into a
// record for producers, checked by the same rules. The contract is written
// for other teams in schema/README.md; the two must agree.
//
//   Record{key="user:1", value="{...}"}           -> Event{kPut, "user:1", "{...}"}
//   Record{key="user:1", value=nullopt}           -> Event{kDelete, "user:1"}
//   Record{key="user:1", value="", kv-op=delete}  -> Event{kDelete, "user:1"}
//   Record{key=""}                                -> ValidationError{kEmptyKey}
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <variant>

#include "schema/event.h"
#include "schema/record.h"

namespace kvstream::schema {

// Limits of the contract. The defaults are the documented contract; an
// operator may lower or raise them (both ends must agree).
struct Limits {
  size_t max_key_bytes = 1024;
  size_t max_value_bytes = 1024 * 1024;
  size_t max_header_bytes = 4096;  // per header value
};

// Why a record breaks the contract. The codes (reason_code) are stable: they
// appear in DLQ headers, HTTP errors and metrics. Never renumber or rename;
// only add.
enum class Reason {
  kMissingKey,            // the record has no key
  kEmptyKey,              // the key is zero bytes
  kKeyTooLong,            // more than max_key_bytes
  kKeyNotUtf8,            // not valid UTF-8
  kKeyContainsNul,        // a NUL byte in the key
  kValueTooLarge,         // more than max_value_bytes
  kUnknownOp,             // a kv-op header other than put/delete
  kPutWithoutValue,       // kv-op: put on a null value
  kMalformedTraceparent,  // traceparent not W3C trace-context
  kMalformedContentType,  // content-type not printable ASCII
  kHeaderTooLarge,        // a header value over max_header_bytes
};

// "missing_key", "empty_key", "key_too_long", ... (snake_case of the name).
const char* reason_code(Reason reason);
// All reasons, for documentation checks and tests.
const Reason* all_reasons(size_t* count);

struct ValidationError {
  Reason reason;
  std::string message;  // human-readable detail; not stable
};

using DecodeResult = std::variant<Event, ValidationError>;

DecodeResult decode(const Record& record, const Limits& limits = {});

// The same rules, on a view, into an event the caller owns: `out` is
// overwritten field by field (its strings keep their buffers, so decoding
// into a reused event allocates nothing once they have grown). Returns the
// error when the record breaks the contract; `out` is then unspecified.
std::optional<ValidationError> decode_into(const RecordView& record, const Limits& limits,
                                           Event& out);

// The key rules alone (HTTP paths and producers validate keys up front).
std::optional<ValidationError> validate_key(std::string_view key, const Limits& limits = {});

// What a producer asks to send.
struct EncodeOptions {
  std::string content_type;  // empty: no header
  std::string traceparent;   // empty: no header
  // Also set the kv-op header (for consumers that want it explicit); the
  // null value alone already means DELETE.
  bool explicit_op = false;
};

using EncodeResult = std::variant<Record, ValidationError>;

// PUT of exactly `value` / DELETE as a tombstone, validated by the rules
// decode applies. The result carries key, value and headers; topic,
// partition and offset are left for the producer.
EncodeResult encode_put(std::string_view key, std::string_view value,
                        const EncodeOptions& options = {}, const Limits& limits = {});
EncodeResult encode_delete(std::string_view key, const EncodeOptions& options = {},
                           const Limits& limits = {});

// Header names of the contract.
inline constexpr std::string_view kContentTypeHeader = "content-type";
inline constexpr std::string_view kTraceparentHeader = "traceparent";
inline constexpr std::string_view kOpHeader = "kv-op";

// The trace id of a W3C `traceparent` (its 32 hex digits), or empty when
// `traceparent` is not one. Logs carry it as `trace_id`.
std::string_view trace_id_of(std::string_view traceparent);

// True when `s` is well-formed UTF-8 (no overlong forms, no surrogates,
// nothing above U+10FFFF).
bool is_valid_utf8(std::string_view s);

}  // namespace kvstream::schema
