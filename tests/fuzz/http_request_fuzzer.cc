// libFuzzer target for reading HTTP API requests: Beast's parser with the
// server's limits, then everything the API derives from a request before it
// touches a database (http/url.h, http/request.h, the key rules).
//
// Besides crashes and sanitizer reports, it checks invariants: a decoded key
// re-encodes and decodes to itself; parsed positions and position vectors
// (a watch's from and Last-Event-ID) print and parse back to themselves;
// an accepted request id is printable and bounded; every
// route match is a route the server lists.
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "http/request.h"
#include "http/url.h"
#include "schema/codec.h"

namespace {

namespace bhttp = boost::beast::http;
using kvstream::Position;
namespace schema = kvstream::schema;

void check(bool ok, const char* what) {
  if (!ok) {
    std::fprintf(stderr, "invariant broken: %s\n", what);
    std::abort();
  }
}

std::string encode_all(const std::string& raw) {
  static const char* hex = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : raw) {
    out += '%';
    out += hex[c >> 4];
    out += hex[c & 15];
  }
  return out;
}

void check_positions(const std::string& text) {
  auto positions = kvstream::http::parse_positions(text);
  if (!positions) return;
  check(!positions->empty(), "parsed positions are never empty");
  std::string printed;
  for (const Position& p : *positions) {
    check(p.partition >= 0 && p.offset >= 0, "positions are non-negative");
    printed += (printed.empty() ? "" : ",") + kvstream::to_string(p);
  }
  auto again = kvstream::http::parse_positions(printed);
  check(again && *again == *positions, "positions print and parse back");
}

// A watch's from or Last-Event-ID: a vector that parses prints (for its
// partitions 0..n-1, the others at -1) and parses back to the same offsets.
void check_vector(const std::string& text) {
  auto vector = kvstream::http::parse_position_vector(text);
  if (!vector) return;
  check(!vector->empty(), "parsed vectors are never empty");
  int32_t last = -1;
  for (const auto& [p, o] : *vector) {
    check(p >= 0 && o >= -1, "vector offsets are -1 or more");
    last = p;
  }
  if (last > 4096) return;  // printing names every partition up to it
  std::vector<int64_t> next(static_cast<size_t>(last) + 1, 0);
  for (const auto& [p, o] : *vector) next[static_cast<size_t>(p)] = o + 1;
  auto again = kvstream::http::parse_position_vector(kvstream::http::format_position_vector(next));
  check(again.has_value(), "a printed vector parses");
  for (const auto& [p, o] : *again) {
    auto it = vector->find(p);
    check(it == vector->end() ? o == -1 : it->second == o, "vectors print and parse back");
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  bhttp::request_parser<bhttp::string_body> parser;
  parser.header_limit(16 * 1024);
  parser.body_limit(64 * 1024);
  parser.eager(true);
  boost::beast::error_code ec;
  parser.put(boost::asio::buffer(data, size), ec);
  if (ec || !parser.is_header_done()) return 0;
  const auto& req = parser.get();

  auto target =
      kvstream::http::parse_target(std::string_view(req.target().data(), req.target().size()));
  if (!target) return 0;
  const auto* route = kvstream::http::match_route(target->path);
  if (route != nullptr) {
    bool listed = false;
    for (const auto& r : kvstream::http::api_routes()) listed = listed || &r == route;
    check(listed, "a matched route is a listed route");
  }
  if (route != nullptr && route->path == "/v1/kv/{key}") {
    auto key = kvstream::http::percent_decode(
        std::string_view(target->path).substr(kvstream::http::kKeyRoutePrefix.size()));
    if (key) {
      auto again = kvstream::http::percent_decode(encode_all(*key));
      check(again && *again == *key, "a key re-encodes and decodes to itself");
      if (!schema::validate_key(*key)) {
        check(!key->empty() && schema::is_valid_utf8(*key), "a valid key is non-empty UTF-8");
      }
    }
  }
  for (const auto& [name, value] : target->query) {
    if (name == "min_position") check_positions(value);
    if (name == "from") check_vector(value);
    if (name == "limit" || name == "timeout_ms") kvstream::http::parse_count(value);
  }
  check_positions(std::string(req["X-KV-Min-Position"]));
  check_vector(std::string(req["Last-Event-ID"]));
  const std::string id(req["X-Request-ID"]);
  if (kvstream::http::sane_request_id(id)) {
    check(!id.empty() && id.size() <= 128, "a request id is 1..128 bytes");
    for (char c : id) check(c > 0x20 && c < 0x7f, "a request id is printable ASCII");
  }
  const std::string inm(req[bhttp::field::if_none_match]);
  check(kvstream::http::etag_matches("*", "\"0:0\""), "* matches");
  kvstream::http::etag_matches(inm, "\"0:0\"");
  return 0;
}
