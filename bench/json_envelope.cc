#include "bench/json_envelope.h"

#include <cstdio>
#include <stdexcept>

namespace kvstream::bench {

std::string base64(std::string_view bytes) {
  static constexpr char kAlphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  out.reserve((bytes.size() + 2) / 3 * 4);
  size_t i = 0;
  for (; i + 3 <= bytes.size(); i += 3) {
    const uint32_t n = static_cast<uint32_t>(static_cast<unsigned char>(bytes[i])) << 16 |
                       static_cast<uint32_t>(static_cast<unsigned char>(bytes[i + 1])) << 8 |
                       static_cast<uint32_t>(static_cast<unsigned char>(bytes[i + 2]));
    out += kAlphabet[(n >> 18) & 63];
    out += kAlphabet[(n >> 12) & 63];
    out += kAlphabet[(n >> 6) & 63];
    out += kAlphabet[n & 63];
  }
  const size_t rest = bytes.size() - i;
  if (rest > 0) {
    uint32_t n = static_cast<uint32_t>(static_cast<unsigned char>(bytes[i])) << 16;
    if (rest == 2) n |= static_cast<uint32_t>(static_cast<unsigned char>(bytes[i + 1])) << 8;
    out += kAlphabet[(n >> 18) & 63];
    out += kAlphabet[(n >> 12) & 63];
    out += rest == 2 ? kAlphabet[(n >> 6) & 63] : '=';
    out += '=';
  }
  return out;
}

std::string json_string(std::string_view s) {
  std::string out;
  out.reserve(s.size() + 2);
  out += '"';
  for (const char c : s) {
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) {
          char esc[8];
          std::snprintf(esc, sizeof(esc), "\\u%04x", static_cast<unsigned>(c));
          out += esc;
        } else {
          out += c;
        }
    }
  }
  out += '"';
  return out;
}

std::string envelope_key(std::string_view key) {
  return R"({"schema":{"type":"struct","name":"kvstream.bench.Key","optional":false,)"
         R"("fields":[{"field":"key","type":"string","optional":false}]},"payload":{"key":)" +
         json_string(key) + "}}";
}

ValueType parse_value_type(const std::string& name) {
  if (name == "bytes") return ValueType::kBytes;
  if (name == "string") return ValueType::kString;
  throw std::invalid_argument("value type must be bytes or string, not " + name);
}

namespace {

const char* type_name(ValueType type) { return type == ValueType::kBytes ? "bytes" : "string"; }

std::string payload(std::string_view value, ValueType type) {
  return type == ValueType::kBytes ? "\"" + base64(value) + "\"" : json_string(value);
}

}  // namespace

std::string envelope_value(std::string_view value, ValueType type) {
  return std::string(R"({"schema":{"type":"struct","name":"kvstream.bench.Value","optional":false,)"
                     R"("fields":[{"field":"value","type":")") +
         type_name(type) + R"(","optional":false}]},"payload":{"value":)" + payload(value, type) +
         "}}";
}

std::string envelope_value_seq(std::string_view value, ValueType type, int32_t part, int64_t seq) {
  return std::string(
             R"({"schema":{"type":"struct","name":"kvstream.bench.LatencyValue","optional":false,)"
             R"("fields":[{"field":"value","type":")") +
         type_name(type) +
         R"(","optional":false},{"field":"part","type":"int32","optional":false},)"
         R"({"field":"seq","type":"int64","optional":false}]},"payload":{"value":)" +
         payload(value, type) + ",\"part\":" + std::to_string(part) +
         ",\"seq\":" + std::to_string(seq) + "}}";
}

}  // namespace kvstream::bench
