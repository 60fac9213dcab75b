#include "http/request.h"

#include <algorithm>
#include <charconv>

namespace kvstream::http {

namespace {
constexpr size_t kMaxRequestIdBytes = 128;
}

const std::vector<RouteSpec>& api_routes() {
  static const std::vector<RouteSpec> routes = {
      {"/v1/kv/{key}", {"GET", "HEAD", "PUT", "DELETE"}},
      {"/v1/kv", {"GET", "HEAD"}},
      {"/v1/watch", {"GET"}},
      {"/v1/status", {"GET", "HEAD"}},
      {"/healthz", {"GET", "HEAD"}},
      {"/readyz", {"GET", "HEAD"}},
      {"/metrics", {"GET", "HEAD"}},
  };
  return routes;
}

const RouteSpec* match_route(std::string_view path) {
  const auto& routes = api_routes();
  if (path.substr(0, kKeyRoutePrefix.size()) == kKeyRoutePrefix) return &routes[0];
  auto it = std::find_if(routes.begin() + 1, routes.end(),
                         [&](const RouteSpec& r) { return r.path == path; });
  return it == routes.end() ? nullptr : &*it;
}

std::optional<uint64_t> parse_count(std::string_view text) {
  uint64_t v = 0;
  if (text.empty()) return std::nullopt;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc() || end != text.data() + text.size()) return std::nullopt;
  return v;
}

std::optional<std::vector<Position>> parse_positions(std::string_view text) {
  std::vector<Position> out;
  for (;;) {
    const auto comma = text.find(',');
    auto p = parse_position(text.substr(0, comma));
    if (!p) return std::nullopt;
    out.push_back(*p);
    if (comma == std::string_view::npos) return out;
    text = text.substr(comma + 1);
  }
}

std::string format_position_vector(const std::vector<int64_t>& next) {
  std::string out;
  out.reserve(next.size() * 12);
  char buf[24];
  for (size_t p = 0; p < next.size(); ++p) {
    if (p > 0) out.push_back(',');
    out.append(buf, std::to_chars(buf, buf + sizeof buf, p).ptr);
    out.push_back(':');
    out.append(buf, std::to_chars(buf, buf + sizeof buf, next[p] - 1).ptr);
  }
  return out;
}

std::optional<std::map<int32_t, int64_t>> parse_position_vector(std::string_view text) {
  std::map<int32_t, int64_t> out;
  for (;;) {
    const auto comma = text.find(',');
    std::string_view item = text.substr(0, comma);
    // "-1" is the one negative offset: nothing of the partition covered.
    const auto colon = item.find(':');
    std::optional<Position> p;
    if (colon != std::string_view::npos && item.substr(colon + 1) == "-1") {
      p = parse_position(std::string(item.substr(0, colon)) + ":0");
      if (p) p->offset = -1;
    } else {
      p = parse_position(item);
    }
    if (!p || !out.emplace(p->partition, p->offset).second) return std::nullopt;
    if (comma == std::string_view::npos) return out;
    text = text.substr(comma + 1);
  }
}

bool etag_matches(std::string_view if_none_match, std::string_view etag) {
  for (;;) {
    const auto comma = if_none_match.find(',');
    std::string_view tag = if_none_match.substr(0, comma);
    while (!tag.empty() && (tag.front() == ' ' || tag.front() == '\t')) tag.remove_prefix(1);
    while (!tag.empty() && (tag.back() == ' ' || tag.back() == '\t')) tag.remove_suffix(1);
    if (tag.substr(0, 2) == "W/") tag.remove_prefix(2);
    if (!tag.empty() && (tag == "*" || tag == etag)) return true;
    if (comma == std::string_view::npos) return false;
    if_none_match.remove_prefix(comma + 1);
  }
}

bool sane_request_id(std::string_view id) {
  if (id.empty() || id.size() > kMaxRequestIdBytes) return false;
  return std::all_of(id.begin(), id.end(), [](char c) { return c >= 0x21 && c <= 0x7e; });
}

}  // namespace kvstream::http
