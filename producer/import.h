// The file formats `kvstream-producer import` reads, one event per line
// (producer/README.md has the full description):
//
//   NDJSON (.ndjson, .jsonl): one JSON object a line
//     {"op":"put","key":"user:1","value":"Ada"}
//     {"op":"put","key":"blob","value_b64":"AAEC","content_type":"application/octet-stream"}
//     {"op":"delete","key":"user:1"}
//
//   TSV, a transaction log (.tsv, .log): sequence, type, key, value
//     1<TAB>PUT<TAB>user:1<TAB>Ada
//     2<TAB>delete<TAB>user:1
//   with the escapes \t, \n and \\ in keys and values.
//
// Blank lines are skipped in both. Parsing is pure: the contract rules (key
// length, UTF-8, value size) are the producer's to check.
#pragma once

#include <cstdint>
#include <istream>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "schema/event.h"

namespace kvstream::producer {

enum class ImportFormat { kNdjson, kTsv };

// "ndjson" or "tsv"; nullopt for anything else.
std::optional<ImportFormat> parse_format_name(std::string_view name);
// By extension: .ndjson and .jsonl are NDJSON, .tsv and .log are TSV.
std::optional<ImportFormat> format_for_path(std::string_view path);

struct ImportEvent {
  schema::Op op = schema::Op::kPut;
  std::string key;
  std::string value;         // PUT only
  std::string content_type;  // empty: none (NDJSON only)

  friend bool operator==(const ImportEvent& a, const ImportEvent& b) {
    return a.op == b.op && a.key == b.key && a.value == b.value && a.content_type == b.content_type;
  }
};

struct BadLine {
  std::string reason;  // human-readable, e.g. "unknown type \"UPSERT\""
};

// A blank line (monostate), an event, or why the line is bad.
using ParsedLine = std::variant<std::monostate, ImportEvent, BadLine>;

ParsedLine parse_ndjson_line(std::string_view line);
ParsedLine parse_tsv_line(std::string_view line);
ParsedLine parse_line(ImportFormat format, std::string_view line);

// The TSV escapes: "\t" tab, "\n" newline, "\\" backslash; any other
// backslash sequence is an error (nullopt).
std::optional<std::string> unescape_tsv(std::string_view field);
std::string escape_tsv(std::string_view raw);

// Standard base64 (RFC 4648 alphabet, '=' padding optional, no
// whitespace); nullopt if malformed.
std::optional<std::string> decode_base64(std::string_view text);

// Splits a stream into lines ('\n'-terminated; the last may lack it).
// A line longer than `max_line_bytes` is returned empty with too_long set.
class LineReader {
 public:
  LineReader(std::istream& in, size_t max_line_bytes);

  // The next line, without its '\n'; false at the end of the input. The
  // view stays valid until the next call.
  bool next(std::string_view& line, bool& too_long);
  // 1-based number of the line last returned.
  uint64_t line_number() const { return line_number_; }
  // Bytes of input consumed so far (for progress).
  uint64_t bytes_read() const { return bytes_read_; }

 private:
  bool fill();

  std::istream& in_;
  const size_t max_line_bytes_;
  std::vector<char> buffer_;
  size_t begin_ = 0, end_ = 0;  // unread bytes: buffer_[begin_, end_)
  std::string line_;            // a line that spans buffer refills
  uint64_t line_number_ = 0;
  uint64_t bytes_read_ = 0;
};

}  // namespace kvstream::producer
