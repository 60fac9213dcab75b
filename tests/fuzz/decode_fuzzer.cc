// libFuzzer target for the record decoder (schema/codec.h).
//
// Input layout: one flags byte, then fields separated by 0x1e:
//   key, value, header name, header value, header name, header value, ...
//   flags bit 0  the record has a key (else the key field is ignored)
//   flags bit 1  the record has a value (else a tombstone)
//   flags bit 2  tiny limits (key 16, value 16, header 64 bytes), so the
//                size rules are reached by small inputs
//   flags bit 3  encode with the kv-op header
//   flags bits 4-7  headers 1-4 have a null value
//
// Besides crashes and sanitizer reports, it checks the contract's
// invariants: a decoded event has a valid key and the record's bytes; encode
// and decode agree on every input (same reason, or the same event).
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "schema/codec.h"

namespace {

using namespace kvstream::schema;

void check(bool ok, const char* what) {
  if (!ok) {
    std::fprintf(stderr, "invariant broken: %s\n", what);
    std::abort();
  }
}

std::vector<std::string> split(std::string_view data) {
  std::vector<std::string> fields;
  size_t start = 0;
  for (;;) {
    const size_t end = data.find('\x1e', start);
    fields.emplace_back(data.substr(start, end - start));
    if (end == std::string_view::npos) return fields;
    start = end + 1;
  }
}

bool same_contents(const Event& a, const Event& b) {
  return a.op == b.op && a.key == b.key && a.value == b.value && a.content_type == b.content_type &&
         a.traceparent == b.traceparent;
}

// The record encode builds for these arguments, built by hand: what decode
// says of it is what encode must say.
Record as_record(Op op, const std::string& key, const std::string& value,
                 const EncodeOptions& options) {
  Record r;
  r.key = key;
  if (op == Op::kPut) r.value = value;
  if (!options.content_type.empty()) r.headers.push_back({"content-type", options.content_type});
  if (!options.traceparent.empty()) r.headers.push_back({"traceparent", options.traceparent});
  if (options.explicit_op) r.headers.push_back({"kv-op", to_string(op)});
  return r;
}

void check_encode_agrees_with_decode(Op op, const std::string& key, const std::string& value,
                                     const EncodeOptions& options, const Limits& limits) {
  const EncodeResult encoded = op == Op::kPut ? encode_put(key, value, options, limits)
                                              : encode_delete(key, options, limits);
  const DecodeResult decoded = decode(as_record(op, key, value, options), limits);
  if (const auto* e = std::get_if<ValidationError>(&encoded)) {
    const auto* d = std::get_if<ValidationError>(&decoded);
    check(d != nullptr, "encode refused a record that decode accepts");
    check(d->reason == e->reason, "encode and decode refuse with different reasons");
    return;
  }
  check(std::holds_alternative<Event>(decoded), "decode refused a record that encode built");
  const DecodeResult again = decode(std::get<Record>(encoded), limits);
  check(std::holds_alternative<Event>(again), "decode refused what encode produced");
  check(same_contents(std::get<Event>(again), std::get<Event>(decoded)),
        "encode produced a different event than asked for");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const uint8_t flags = data[0];
  const std::vector<std::string> fields =
      split(std::string_view(reinterpret_cast<const char*>(data + 1), size - 1));

  Limits limits;
  if (flags & 0x04) limits = Limits{16, 16, 64};
  Record record;
  record.topic = "kv-events";
  record.partition = 1;
  record.offset = 42;
  if (flags & 0x01) record.key = fields[0];
  if ((flags & 0x02) && fields.size() > 1) record.value = fields[1];
  for (size_t i = 2; i + 1 < fields.size(); i += 2) {
    Header h{fields[i], fields[i + 1]};
    const size_t n = (i - 2) / 2;
    if (n < 4 && (flags & (0x10 << n))) h.value.reset();
    record.headers.push_back(std::move(h));
  }

  const DecodeResult result = decode(record, limits);
  if (const auto* e = std::get_if<ValidationError>(&result)) {
    check(std::string_view(reason_code(e->reason)) != "unknown", "reason without a code");
  } else {
    const Event& ev = std::get<Event>(result);
    check(record.key && ev.key == *record.key, "event key differs from the record key");
    check(!validate_key(ev.key, limits), "decoded key breaks the key rules");
    check(ev.op == Op::kDelete || (record.value && ev.value == *record.value),
          "put value differs from the record value");
    check(ev.op == Op::kDelete ? ev.value.empty() : ev.value.size() <= limits.max_value_bytes,
          "event value out of bounds");
    check(ev.position.partition == 1 && ev.position.offset == 42, "position not carried");
    // Re-encoding a decoded event gives the same event back.
    const EncodeOptions options{ev.content_type, ev.traceparent, (flags & 0x08) != 0};
    check_encode_agrees_with_decode(ev.op, ev.key, ev.value, options, limits);
  }

  // Encode and decode agree on arbitrary producer input too: the key, the
  // value and the first two header values as content type and traceparent.
  const std::string key = fields[0];
  const std::string value = fields.size() > 1 ? fields[1] : "";
  const EncodeOptions options{fields.size() > 3 ? fields[3] : "",
                              fields.size() > 5 ? fields[5] : "", (flags & 0x08) != 0};
  check_encode_agrees_with_decode((flags & 0x02) ? Op::kPut : Op::kDelete, key, value, options,
                                  limits);
  return 0;
}
