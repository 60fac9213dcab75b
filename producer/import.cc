#include "producer/import.h"

#include <algorithm>
#include <boost/archive/iterators/binary_from_base64.hpp>
#include <boost/archive/iterators/transform_width.hpp>
#include <cctype>
#include <cstring>
#include <nlohmann/json.hpp>

namespace kvstream::producer {

namespace {

constexpr size_t kReadChunk = 256 * 1024;

bool is_blank(std::string_view line) {
  return line.find_first_not_of(" \t\r") == std::string_view::npos;
}

std::string lower(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

bool ends_with(std::string_view s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
}

BadLine bad(std::string reason) { return BadLine{std::move(reason)}; }

std::string shown(std::string_view s) {
  constexpr size_t kMax = 40;
  std::string out = "\"" + std::string(s.substr(0, kMax));
  return out + (s.size() > kMax ? "...\"" : "\"");
}

}  // namespace

std::optional<ImportFormat> parse_format_name(std::string_view name) {
  if (name == "ndjson") return ImportFormat::kNdjson;
  if (name == "tsv") return ImportFormat::kTsv;
  return std::nullopt;
}

std::optional<ImportFormat> format_for_path(std::string_view path) {
  const std::string p = lower(path);
  if (ends_with(p, ".ndjson") || ends_with(p, ".jsonl")) return ImportFormat::kNdjson;
  if (ends_with(p, ".tsv") || ends_with(p, ".log")) return ImportFormat::kTsv;
  return std::nullopt;
}

ParsedLine parse_ndjson_line(std::string_view line) {
  if (is_blank(line)) return std::monostate{};
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(line.begin(), line.end());
  } catch (const nlohmann::json::parse_error& e) {
    return bad("not valid JSON (at byte " + std::to_string(e.byte) + ")");
  } catch (const nlohmann::json::exception& e) {
    // Valid syntax the parser cannot hold, e.g. a number out of range.
    return bad(std::string("not usable JSON: ") + e.what());
  }
  if (!j.is_object()) return bad("not a JSON object");

  std::optional<std::string> op, key, value, value_b64, content_type;
  for (const auto& item : j.items()) {
    std::optional<std::string>* field = nullptr;
    if (item.key() == "op") {
      field = &op;
    } else if (item.key() == "key") {
      field = &key;
    } else if (item.key() == "value") {
      field = &value;
    } else if (item.key() == "value_b64") {
      field = &value_b64;
    } else if (item.key() == "content_type") {
      field = &content_type;
    } else {
      return bad("unknown field " + shown(item.key()));
    }
    if (!item.value().is_string()) return bad("\"" + item.key() + "\" must be a string");
    *field = item.value().get<std::string>();
  }

  if (!op) return bad("missing \"op\"");
  if (!key) return bad("missing \"key\"");
  ImportEvent ev;
  ev.key = std::move(*key);
  if (content_type) ev.content_type = std::move(*content_type);
  if (*op == "delete") {
    if (value || value_b64) return bad("a delete carries no value");
    ev.op = schema::Op::kDelete;
    return ev;
  }
  if (*op != "put") return bad("\"op\" must be \"put\" or \"delete\", not " + shown(*op));
  if (value && value_b64) return bad("both \"value\" and \"value_b64\"");
  if (value) {
    ev.value = std::move(*value);
  } else if (value_b64) {
    auto decoded = decode_base64(*value_b64);
    if (!decoded) return bad("\"value_b64\" is not valid base64");
    ev.value = std::move(*decoded);
  } else {
    return bad("a put needs \"value\" or \"value_b64\"");
  }
  return ev;
}

ParsedLine parse_tsv_line(std::string_view line) {
  if (is_blank(line)) return std::monostate{};
  std::vector<std::string_view> fields;
  for (size_t start = 0;;) {
    const size_t tab = line.find('\t', start);
    fields.push_back(line.substr(start, tab == std::string_view::npos ? tab : tab - start));
    if (tab == std::string_view::npos) break;
    start = tab + 1;
  }
  if (fields.size() < 3 || fields.size() > 4) {
    return bad("expected 4 tab-separated fields (sequence, type, key, value), found " +
               std::to_string(fields.size()));
  }
  const std::string_view sequence = fields[0];
  if (sequence.empty() || sequence.find_first_not_of("0123456789") != std::string_view::npos) {
    return bad("sequence " + shown(sequence) + " is not a non-negative integer");
  }
  ImportEvent ev;
  const std::string type = lower(fields[1]);
  if (type == "put") {
    if (fields.size() != 4) return bad("a PUT needs a value field");
    auto value = unescape_tsv(fields[3]);
    if (!value) return bad("bad escape in the value (only \\t, \\n and \\\\ are known)");
    ev.value = std::move(*value);
  } else if (type == "delete") {
    if (fields.size() == 4 && !fields[3].empty()) return bad("a DELETE carries no value");
    ev.op = schema::Op::kDelete;
  } else {
    return bad("unknown type " + shown(fields[1]) + " (PUT or DELETE)");
  }
  auto key = unescape_tsv(fields[2]);
  if (!key) return bad("bad escape in the key (only \\t, \\n and \\\\ are known)");
  ev.key = std::move(*key);
  return ev;
}

ParsedLine parse_line(ImportFormat format, std::string_view line) {
  return format == ImportFormat::kNdjson ? parse_ndjson_line(line) : parse_tsv_line(line);
}

std::optional<std::string> unescape_tsv(std::string_view field) {
  std::string out;
  out.reserve(field.size());
  for (size_t i = 0; i < field.size(); ++i) {
    if (field[i] != '\\') {
      out.push_back(field[i]);
      continue;
    }
    if (++i == field.size()) return std::nullopt;
    switch (field[i]) {
      case 't':
        out.push_back('\t');
        break;
      case 'n':
        out.push_back('\n');
        break;
      case '\\':
        out.push_back('\\');
        break;
      default:
        return std::nullopt;
    }
  }
  return out;
}

std::string escape_tsv(std::string_view raw) {
  std::string out;
  out.reserve(raw.size());
  for (char c : raw) {
    if (c == '\t') {
      out += "\\t";
    } else if (c == '\n') {
      out += "\\n";
    } else if (c == '\\') {
      out += "\\\\";
    } else {
      out.push_back(c);
    }
  }
  return out;
}

std::optional<std::string> decode_base64(std::string_view text) {
  size_t n = text.size();
  size_t padding = 0;
  while (n > 0 && text[n - 1] == '=' && padding < 2) {
    --n;
    ++padding;
  }
  if (padding > 0 && text.size() % 4 != 0) return std::nullopt;
  if (n % 4 == 1) return std::nullopt;  // 6 bits cannot end a byte
  const std::string_view digits = text.substr(0, n);
  if (digits.find('=') != std::string_view::npos) return std::nullopt;
  using Decoder = boost::archive::iterators::transform_width<
      boost::archive::iterators::binary_from_base64<std::string_view::const_iterator>, 8, 6>;
  try {
    // Throws on a character outside the alphabet.
    return std::string(Decoder(digits.begin()), Decoder(digits.end()));
  } catch (const std::exception&) {
    return std::nullopt;
  }
}

LineReader::LineReader(std::istream& in, size_t max_line_bytes)
    : in_(in), max_line_bytes_(max_line_bytes), buffer_(kReadChunk) {}

bool LineReader::fill() {
  if (!in_) return false;
  in_.read(buffer_.data(), static_cast<std::streamsize>(buffer_.size()));
  begin_ = 0;
  end_ = static_cast<size_t>(in_.gcount());
  return end_ > 0;
}

bool LineReader::next(std::string_view& line, bool& too_long) {
  line_.clear();
  too_long = false;
  bool started = false;
  for (;;) {
    if (begin_ == end_ && !fill()) {
      if (!started) return false;
      // The last line, without a '\n'.
      ++line_number_;
      line = too_long ? std::string_view() : std::string_view(line_);
      return true;
    }
    started = true;
    const char* start = buffer_.data() + begin_;
    const size_t available = end_ - begin_;
    const char* newline = static_cast<const char*>(std::memchr(start, '\n', available));
    const size_t n = newline ? static_cast<size_t>(newline - start) : available;
    begin_ += n + (newline ? 1 : 0);
    bytes_read_ += n + (newline ? 1 : 0);
    if (!too_long && line_.size() + n > max_line_bytes_) {
      too_long = true;
      std::string().swap(line_);
    }
    if (newline) {
      ++line_number_;
      if (too_long) {
        line = std::string_view();
      } else if (line_.empty()) {
        line = std::string_view(start, n);  // within the buffer: no copy
      } else {
        line_.append(start, n);
        line = line_;
      }
      return true;
    }
    if (!too_long) line_.append(start, n);
  }
}

}  // namespace kvstream::producer
