// Request-target parsing for the HTTP API: path and query split, strict
// percent-decoding.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <string_view>

namespace kvstream::http {

// Decodes %XX escapes. nullopt when an escape is malformed (not two hex
// digits). '+' is kept as '+' (paths and our query values are not forms).
std::optional<std::string> percent_decode(std::string_view s);

struct Target {
  std::string path;                          // still percent-encoded
  std::map<std::string, std::string> query;  // decoded; the last of duplicates wins
};

// Splits "/v1/kv/a%2Fb?limit=10" into path and decoded query parameters.
// nullopt when a query escape is malformed.
std::optional<Target> parse_target(std::string_view target);

// Standard base64 (RFC 4648, with padding): values that are not UTF-8 in
// JSON answers.
std::string base64(std::string_view bytes);

}  // namespace kvstream::http
