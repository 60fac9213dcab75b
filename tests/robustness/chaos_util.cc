#include "tests/robustness/chaos_util.h"

#include <cstdio>

namespace kvstream::chaos::detail {

double seconds(Clock::duration d) { return std::chrono::duration<double>(d).count(); }

std::string fixed(double value, int decimals) {
  char buf[64];
  std::snprintf(buf, sizeof(buf), "%.*f", decimals, value);
  return buf;
}

Offsets dense(Offsets sparse) {
  for (int32_t p = 0; p < kPartitions; ++p) sparse.emplace(p, 0);
  return sparse;
}

int64_t total(const Offsets& offsets) {
  int64_t sum = 0;
  for (const auto& [p, o] : offsets) sum += o;
  return sum;
}

std::string show(const Offsets& offsets) {
  std::string out;
  for (const auto& [p, o] : offsets) {
    if (!out.empty()) out += " ";
    out += "p" + std::to_string(p) + "=" + std::to_string(o);
  }
  return out.empty() ? "(none)" : out;
}

std::string printable(const std::optional<std::string>& s, size_t max) {
  if (!s) return "<null>";
  std::string out;
  for (unsigned char c : s->substr(0, max)) {
    if (c >= 0x20 && c < 0x7f) {
      out += static_cast<char>(c);
    } else {
      char hex[8];
      std::snprintf(hex, sizeof(hex), "\\x%02x", c);
      out += hex;
    }
  }
  if (s->size() > max) out += "...(" + std::to_string(s->size()) + " bytes)";
  return out;
}

}  // namespace kvstream::chaos::detail
