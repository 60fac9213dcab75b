#include "schema/codec.h"

#include <iterator>

namespace kvstream::schema {

const Header* Record::last_header(std::string_view name) const {
  for (auto it = headers.rbegin(); it != headers.rend(); ++it) {
    if (it->name == name) return &*it;
  }
  return nullptr;
}

const HeaderView* RecordView::last_header(std::string_view name) const {
  for (size_t i = header_count; i > 0; --i) {
    if (headers[i - 1].name == name) return &headers[i - 1];
  }
  return nullptr;
}

Record RecordView::to_record() const {
  Record r;
  r.topic = std::string(topic);
  r.partition = partition;
  r.offset = offset;
  r.timestamp_ms = timestamp_ms;
  if (key) r.key.emplace(*key);
  if (value) r.value.emplace(*value);
  r.headers.reserve(header_count);
  for (size_t i = 0; i < header_count; ++i) {
    Header h;
    h.name = std::string(headers[i].name);
    if (headers[i].value) h.value.emplace(*headers[i].value);
    r.headers.push_back(std::move(h));
  }
  return r;
}

RecordView view_of(const Record& record, std::vector<HeaderView>& headers) {
  headers.clear();
  for (const Header& h : record.headers) {
    HeaderView v;
    v.name = h.name;
    if (h.value) v.value = std::string_view(*h.value);
    headers.push_back(v);
  }
  RecordView view;
  view.topic = record.topic;
  view.partition = record.partition;
  view.offset = record.offset;
  view.timestamp_ms = record.timestamp_ms;
  if (record.key) view.key = std::string_view(*record.key);
  if (record.value) view.value = std::string_view(*record.value);
  view.headers = headers.data();
  view.header_count = headers.size();
  return view;
}

const char* to_string(Op op) { return op == Op::kPut ? "put" : "delete"; }

namespace {

constexpr Reason kAllReasons[] = {
    Reason::kMissingKey,
    Reason::kEmptyKey,
    Reason::kKeyTooLong,
    Reason::kKeyNotUtf8,
    Reason::kKeyContainsNul,
    Reason::kValueTooLarge,
    Reason::kUnknownOp,
    Reason::kPutWithoutValue,
    Reason::kMalformedTraceparent,
    Reason::kMalformedContentType,
    Reason::kHeaderTooLarge,
};

ValidationError error(Reason r, std::string message) { return {r, std::move(message)}; }

bool is_lower_hex(std::string_view s) {
  for (char c : s) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

bool all_zero(std::string_view s) { return s.find_first_not_of('0') == std::string_view::npos; }

// W3C trace-context `traceparent`: version-traceid-parentid-flags, lower-case
// hex. Version ff is invalid; version 00 has exactly these four fields; later
// versions may append "-..." fields, which are ignored.
bool is_valid_traceparent(std::string_view s) {
  if (s.size() < 55) return false;
  if (s[2] != '-' || s[35] != '-' || s[52] != '-') return false;
  std::string_view version = s.substr(0, 2), trace_id = s.substr(3, 32),
                   parent_id = s.substr(36, 16), flags = s.substr(53, 2);
  if (!is_lower_hex(version) || !is_lower_hex(trace_id) || !is_lower_hex(parent_id) ||
      !is_lower_hex(flags)) {
    return false;
  }
  if (version == "ff" || all_zero(trace_id) || all_zero(parent_id)) return false;
  if (version == "00") return s.size() == 55;
  return s.size() == 55 || s[55] == '-';
}

}  // namespace

std::string_view trace_id_of(std::string_view traceparent) {
  return is_valid_traceparent(traceparent) ? traceparent.substr(3, 32) : std::string_view();
}

namespace {

// A media type as sent in HTTP: printable ASCII, 1..255 bytes.
bool is_valid_content_type(std::string_view s) {
  if (s.empty() || s.size() > 255) return false;
  for (unsigned char c : s) {
    if (c < 0x20 || c > 0x7e) return false;
  }
  return true;
}

std::optional<ValidationError> validate_value(std::optional<std::string_view> value,
                                              const Limits& limits) {
  if (value && value->size() > limits.max_value_bytes) {
    return error(Reason::kValueTooLarge, "value is " + std::to_string(value->size()) +
                                             " bytes; the limit is " +
                                             std::to_string(limits.max_value_bytes));
  }
  return std::nullopt;
}

std::optional<ValidationError> validate_content_type(std::string_view ct) {
  if (!is_valid_content_type(ct)) {
    return error(Reason::kMalformedContentType,
                 "content-type must be 1 to 255 printable ASCII characters");
  }
  return std::nullopt;
}

std::optional<ValidationError> validate_traceparent(std::string_view tp) {
  if (!is_valid_traceparent(tp)) {
    return error(Reason::kMalformedTraceparent,
                 "traceparent is not W3C trace-context (00-<32 hex>-<16 hex>-<2 hex>)");
  }
  return std::nullopt;
}

std::optional<ValidationError> validate_header_size(std::string_view name, std::string_view value,
                                                    const Limits& limits) {
  if (value.size() > limits.max_header_bytes) {
    return error(Reason::kHeaderTooLarge, "header " + std::string(name.substr(0, 64)) + " is " +
                                              std::to_string(value.size()) +
                                              " bytes; the limit is " +
                                              std::to_string(limits.max_header_bytes));
  }
  return std::nullopt;
}

// The rules in the order decode applies them, so that both report the same
// reason for the same record.
EncodeResult encode(Op op, std::string_view key, const std::optional<std::string>& value,
                    const EncodeOptions& options, const Limits& limits) {
  if (auto e = validate_key(key, limits)) return *e;
  if (auto e = validate_header_size(kContentTypeHeader, options.content_type, limits)) return *e;
  if (auto e = validate_header_size(kTraceparentHeader, options.traceparent, limits)) return *e;
  if (options.explicit_op) {
    if (auto e = validate_header_size(kOpHeader, to_string(op), limits)) return *e;
  }
  if (auto e = validate_value(value, limits)) return *e;
  Record r;
  r.key = std::string(key);
  r.value = value;
  if (!options.content_type.empty()) {
    if (auto e = validate_content_type(options.content_type)) return *e;
    r.headers.push_back({std::string(kContentTypeHeader), options.content_type});
  }
  if (!options.traceparent.empty()) {
    if (auto e = validate_traceparent(options.traceparent)) return *e;
    r.headers.push_back({std::string(kTraceparentHeader), options.traceparent});
  }
  if (options.explicit_op) r.headers.push_back({std::string(kOpHeader), to_string(op)});
  return r;
}

}  // namespace

const char* reason_code(Reason reason) {
  switch (reason) {
    case Reason::kMissingKey:
      return "missing_key";
    case Reason::kEmptyKey:
      return "empty_key";
    case Reason::kKeyTooLong:
      return "key_too_long";
    case Reason::kKeyNotUtf8:
      return "key_not_utf8";
    case Reason::kKeyContainsNul:
      return "key_contains_nul";
    case Reason::kValueTooLarge:
      return "value_too_large";
    case Reason::kUnknownOp:
      return "unknown_op";
    case Reason::kPutWithoutValue:
      return "put_without_value";
    case Reason::kMalformedTraceparent:
      return "malformed_traceparent";
    case Reason::kMalformedContentType:
      return "malformed_content_type";
    case Reason::kHeaderTooLarge:
      return "header_too_large";
  }
  return "unknown";
}

const Reason* all_reasons(size_t* count) {
  *count = std::size(kAllReasons);
  return kAllReasons;
}

bool is_valid_utf8(std::string_view s) {
  size_t i = 0;
  const size_t n = s.size();
  while (i < n) {
    auto c = static_cast<unsigned char>(s[i]);
    if (c < 0x80) {
      ++i;
      continue;
    }
    size_t len;
    uint32_t cp;
    if (c >= 0xc2 && c <= 0xdf) {
      len = 2;
      cp = c & 0x1f;
    } else if (c >= 0xe0 && c <= 0xef) {
      len = 3;
      cp = c & 0x0f;
    } else if (c >= 0xf0 && c <= 0xf4) {
      len = 4;
      cp = c & 0x07;
    } else {
      return false;  // continuation byte, overlong lead (c0, c1) or > f4
    }
    if (n - i < len) return false;
    for (size_t k = 1; k < len; ++k) {
      auto cc = static_cast<unsigned char>(s[i + k]);
      if ((cc & 0xc0) != 0x80) return false;
      cp = (cp << 6) | (cc & 0x3f);
    }
    if ((len == 3 && cp < 0x800) || (len == 4 && (cp < 0x10000 || cp > 0x10ffff))) return false;
    if (cp >= 0xd800 && cp <= 0xdfff) return false;
    i += len;
  }
  return true;
}

std::optional<ValidationError> validate_key(std::string_view key, const Limits& limits) {
  if (key.empty()) return error(Reason::kEmptyKey, "key is empty");
  if (key.size() > limits.max_key_bytes) {
    return error(Reason::kKeyTooLong, "key is " + std::to_string(key.size()) +
                                          " bytes; the limit is " +
                                          std::to_string(limits.max_key_bytes));
  }
  if (key.find('\0') != std::string_view::npos) {
    return error(Reason::kKeyContainsNul, "key contains a NUL byte");
  }
  if (!is_valid_utf8(key)) return error(Reason::kKeyNotUtf8, "key is not valid UTF-8");
  return std::nullopt;
}

std::optional<ValidationError> decode_into(const RecordView& record, const Limits& limits,
                                           Event& ev) {
  if (!record.key) return error(Reason::kMissingKey, "record has no key");
  if (auto e = validate_key(*record.key, limits)) return *e;
  for (size_t i = 0; i < record.header_count; ++i) {
    const HeaderView& h = record.headers[i];
    if (!h.value) continue;
    if (auto e = validate_header_size(h.name, *h.value, limits)) return *e;
  }

  ev.op = record.value ? Op::kPut : Op::kDelete;
  if (const HeaderView* h = record.last_header(kOpHeader)) {
    std::string_view op = h->value.value_or(std::string_view());
    if (op == "put") {
      if (!record.value) {
        return error(Reason::kPutWithoutValue, "kv-op is put but the value is null");
      }
      ev.op = Op::kPut;
    } else if (op == "delete") {
      ev.op = Op::kDelete;
    } else {
      return error(Reason::kUnknownOp, "kv-op must be put or delete");
    }
  }
  if (ev.op == Op::kPut) {
    if (auto e = validate_value(record.value, limits)) return *e;
    ev.value.assign(record.value->data(), record.value->size());
  } else {
    ev.value.clear();
  }
  ev.content_type.clear();
  if (const HeaderView* h = record.last_header(kContentTypeHeader); h && h->value) {
    if (auto e = validate_content_type(*h->value)) return *e;
    ev.content_type.assign(h->value->data(), h->value->size());
  }
  ev.traceparent.clear();
  if (const HeaderView* h = record.last_header(kTraceparentHeader); h && h->value) {
    if (auto e = validate_traceparent(*h->value)) return *e;
    ev.traceparent.assign(h->value->data(), h->value->size());
  }
  ev.key.assign(record.key->data(), record.key->size());
  ev.position = Position{record.partition, record.offset};
  ev.timestamp_ms = record.timestamp_ms;
  return std::nullopt;
}

DecodeResult decode(const Record& record, const Limits& limits) {
  std::vector<HeaderView> headers;
  Event ev;
  if (auto e = decode_into(view_of(record, headers), limits, ev)) return *e;
  return ev;
}

EncodeResult encode_put(std::string_view key, std::string_view value, const EncodeOptions& options,
                        const Limits& limits) {
  return encode(Op::kPut, key, std::string(value), options, limits);
}

EncodeResult encode_delete(std::string_view key, const EncodeOptions& options,
                           const Limits& limits) {
  return encode(Op::kDelete, key, std::nullopt, options, limits);
}

}  // namespace kvstream::schema
