#include "common/position.h"

#include <charconv>

namespace kvstream {

std::string to_string(const Position& p) {
  return std::to_string(p.partition) + ":" + std::to_string(p.offset);
}

namespace {

template <class T>
bool parse_non_negative(std::string_view s, T& out) {
  if (s.empty() || s.size() > 19) return false;
  for (char c : s) {
    if (c < '0' || c > '9') return false;
  }
  auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
  return ec == std::errc() && ptr == s.data() + s.size() && out >= 0;
}

}  // namespace

std::optional<Position> parse_position(std::string_view text) {
  auto colon = text.find(':');
  if (colon == std::string_view::npos) return std::nullopt;
  Position p;
  if (!parse_non_negative(text.substr(0, colon), p.partition)) return std::nullopt;
  if (!parse_non_negative(text.substr(colon + 1), p.offset)) return std::nullopt;
  return p;
}

}  // namespace kvstream
