// The pure parts of reading an HTTP API request: which route a path is, and
// the parameters and headers the routes take. No I/O, no state: the fuzzers
// (tests/fuzz/http_request_fuzzer.cc) drive them with arbitrary input.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/position.h"

namespace kvstream::http {

// A route the server answers: its path template and methods. The OpenAPI
// document must describe each (checked by a test).
struct RouteSpec {
  std::string path;
  std::vector<std::string> methods;
};
const std::vector<RouteSpec>& api_routes();

// The route of a (still percent-encoded) path, or nullptr for none.
// "/v1/kv/<anything>" is the key route, even when the key is invalid.
const RouteSpec* match_route(std::string_view path);

// The key route's prefix: the key is the rest of the path.
inline constexpr std::string_view kKeyRoutePrefix = "/v1/kv/";

// A non-negative decimal integer; nullopt for anything else (sign, spaces,
// overflow).
std::optional<uint64_t> parse_count(std::string_view text);

// "p:o[,p:o...]" (min_position); nullopt if malformed or empty.
std::optional<std::vector<Position>> parse_positions(std::string_view text);

// A position vector: where a listing is consistent, where a watch starts or
// resumes (its token). Per partition p, "p:o": every change at offsets up
// to o is covered (-1: none of the partition's). Formatted from the next
// offsets of partitions 0..n-1 (the next offset less one each):
// {5, 0, 12} -> "0:4,1:-1,2:11".
std::string format_position_vector(const std::vector<int64_t>& next);
// "p:o[,p:o...]" with o >= -1, a partition at most once, as partition ->
// o; nullopt if malformed or empty.
std::optional<std::map<int32_t, int64_t>> parse_position_vector(std::string_view text);

// Whether an If-None-Match value (a list of entity tags, or "*") matches
// `etag` (weak comparison, as for GET).
bool etag_matches(std::string_view if_none_match, std::string_view etag);

// A client's X-Request-ID we can echo into headers and logs: 1 to 128
// printable ASCII characters, no spaces.
bool sane_request_id(std::string_view id);

}  // namespace kvstream::http
