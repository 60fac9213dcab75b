#include "dlq/dead_letter.h"

#include <charconv>
#include <cstdio>
#include <ctime>

#include "schema/codec.h"
#include "schema/dlq.h"

namespace kvstream::dlq {

namespace {

// A decimal integer, all of `text`.
template <class T>
std::optional<T> parse_decimal(std::string_view text) {
  T out{};
  if (text.empty()) return std::nullopt;
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), out);
  if (ec != std::errc() || ptr != text.data() + text.size()) return std::nullopt;
  return out;
}

// The value of the last header `name` of `record`, if it has one with a value.
std::optional<std::string_view> header(const schema::Record& record, std::string_view name) {
  const schema::Header* h = record.last_header(name);
  if (!h || !h->value) return std::nullopt;
  return std::string_view(*h->value);
}

// The origin headers of `record`, or why not.
std::variant<Origin, std::string> read_origin(const schema::Record& record) {
  Origin origin;
  const auto topic = header(record, schema::kDlqTopicHeader);
  if (!topic || topic->empty()) return std::string("no ") + std::string(schema::kDlqTopicHeader);
  origin.topic = std::string(*topic);
  const auto partition = header(record, schema::kDlqPartitionHeader);
  const auto p = partition ? parse_decimal<int32_t>(*partition) : std::nullopt;
  if (!p || *p < 0) return "no valid " + std::string(schema::kDlqPartitionHeader);
  origin.partition = *p;
  const auto offset = header(record, schema::kDlqOffsetHeader);
  const auto o = offset ? parse_decimal<int64_t>(*offset) : std::nullopt;
  if (!o || *o < 0) return "no valid " + std::string(schema::kDlqOffsetHeader);
  origin.offset = *o;
  return origin;
}

void append_hex(std::string& out, unsigned char c) {
  static constexpr char kHex[] = "0123456789abcdef";
  out += "\\x";
  out += kHex[c >> 4];
  out += kHex[c & 0xf];
}

// The length of the UTF-8 sequence a lead byte starts (0: not a lead byte).
size_t utf8_length(unsigned char c) {
  if (c >= 0xc2 && c <= 0xdf) return 2;
  if (c >= 0xe0 && c <= 0xef) return 3;
  if (c >= 0xf0 && c <= 0xf4) return 4;
  return 0;
}

}  // namespace

std::string to_string(const Origin& origin) {
  return origin.topic + "/" + std::to_string(origin.partition) + ":" +
         std::to_string(origin.offset);
}

std::optional<uint64_t> DeadLetter::value_size() const {
  if (value_omitted) return value_omitted;
  if (value) return value->size();
  return std::nullopt;
}

bool is_dlq_header(std::string_view name) {
  return name.substr(0, schema::kDlqHeaderPrefix.size()) == schema::kDlqHeaderPrefix;
}

DlqEntry parse_dlq_record(const schema::Record& record) {
  const Position at{record.partition, record.offset};
  auto origin = read_origin(record);
  if (const auto* why = std::get_if<std::string>(&origin)) {
    return Unreadable{at, record.timestamp_ms, "not a dead letter: " + *why};
  }
  const auto reason = header(record, schema::kDlqReasonHeader);
  if (!reason) {
    const auto to = header(record, schema::kDlqReplayedToHeader);
    const auto position = to ? parse_position(*to) : std::nullopt;
    if (!position) {
      return Unreadable{at, record.timestamp_ms,
                        "not a dead letter: no " + std::string(schema::kDlqReasonHeader) +
                            " nor a valid " + std::string(schema::kDlqReplayedToHeader)};
    }
    return ReplayMark{at, record.timestamp_ms, std::get<Origin>(std::move(origin)), *position};
  }
  DeadLetter d;
  d.at = at;
  d.time_ms = record.timestamp_ms;
  d.origin = std::get<Origin>(std::move(origin));
  d.reason = std::string(*reason);
  d.message = std::string(header(record, schema::kDlqMessageHeader).value_or(""));
  if (const auto t = header(record, schema::kDlqTimestampHeader)) {
    d.original_time_ms = parse_decimal<int64_t>(*t).value_or(-1);
  }
  if (const auto omitted = header(record, schema::kDlqValueOmittedHeader)) {
    d.value_omitted = parse_decimal<uint64_t>(*omitted).value_or(0);
  }
  d.key = record.key;
  d.value = record.value;
  for (const schema::Header& h : record.headers) {
    if (!is_dlq_header(h.name)) d.original_headers.push_back(h);
  }
  return d;
}

schema::Record replay_record(const DeadLetter& letter,
                             const std::vector<std::string>& drop_headers) {
  schema::Record r;
  r.key = letter.key;
  r.value = letter.value;
  for (const schema::Header& h : letter.original_headers) {
    bool dropped = false;
    for (const std::string& name : drop_headers) dropped = dropped || h.name == name;
    if (!dropped) r.headers.push_back(h);
  }
  r.headers.push_back({std::string(schema::kDlqReplayedFromHeader), to_string(letter.origin)});
  return r;
}

schema::Record replay_mark_record(const DeadLetter& letter, const Position& replayed_to) {
  schema::Record r;
  r.key = letter.key;
  r.headers.push_back({std::string(schema::kDlqTopicHeader), letter.origin.topic});
  r.headers.push_back(
      {std::string(schema::kDlqPartitionHeader), std::to_string(letter.origin.partition)});
  r.headers.push_back(
      {std::string(schema::kDlqOffsetHeader), std::to_string(letter.origin.offset)});
  r.headers.push_back({std::string(schema::kDlqReplayedToHeader), to_string(replayed_to)});
  return r;
}

std::string escape_bytes(std::string_view bytes, size_t max_bytes) {
  std::string out;
  const bool cut = max_bytes > 0 && bytes.size() > max_bytes;
  const std::string_view shown = cut ? bytes.substr(0, max_bytes) : bytes;
  for (size_t i = 0; i < shown.size();) {
    const auto c = static_cast<unsigned char>(shown[i]);
    if (c == '\\' || c == '"') {
      out += '\\';
      out += static_cast<char>(c);
    } else if (c == '\n') {
      out += "\\n";
    } else if (c == '\r') {
      out += "\\r";
    } else if (c == '\t') {
      out += "\\t";
    } else if (c >= 0x20 && c < 0x7f) {
      out += static_cast<char>(c);
    } else if (const size_t n = utf8_length(c);
               n > 0 && i + n <= shown.size() && schema::is_valid_utf8(shown.substr(i, n)) &&
               // Not a C1 control character (U+0080..U+009F: C2 80..C2 9F).
               !(c == 0xc2 && static_cast<unsigned char>(shown[i + 1]) < 0xa0)) {
      out.append(shown.substr(i, n));
      i += n;
      continue;
    } else {
      append_hex(out, c);
    }
    ++i;
  }
  if (cut) out += "...";
  return out;
}

std::string format_time(int64_t epoch_ms) {
  if (epoch_ms < 0) return "-";
  const time_t seconds = static_cast<time_t>(epoch_ms / 1000);
  std::tm tm{};
  gmtime_r(&seconds, &tm);
  char text[40];
  const size_t n = std::strftime(text, sizeof(text), "%Y-%m-%dT%H:%M:%S", &tm);
  char millis[8];
  std::snprintf(millis, sizeof(millis), ".%03dZ", static_cast<int>(epoch_ms % 1000));
  return std::string(text, n) + millis;
}

}  // namespace kvstream::dlq
