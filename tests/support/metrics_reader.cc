#include "tests/support/metrics_reader.h"

#include <algorithm>
#include <exception>
#include <sstream>

#include "tests/support/http_client.h"

namespace kvstream::testing {

std::map<std::string, double> metric_series(uint16_t port, const std::string& name) {
  std::map<std::string, double> out;
  HttpResult m;
  try {
    m = http_get(port, "/metrics");
  } catch (const std::exception&) {
    return out;
  }
  if (m.status != 200) return out;
  std::istringstream lines(m.body);
  std::string line;
  while (std::getline(lines, line)) {
    if (line.compare(0, name.size(), name) != 0 || line.size() == name.size()) continue;
    const char next = line[name.size()];
    if (next != '{' && next != ' ') continue;
    const size_t space = line.rfind(' ');
    try {
      out[line.substr(name.size(), space - name.size())] = std::stod(line.substr(space + 1));
    } catch (const std::exception&) {
      // not a sample line
    }
  }
  return out;
}

double metric_value(uint16_t port, const std::string& name) {
  const std::map<std::string, double> s = metric_series(port, name);
  auto it = s.find("");
  return it == s.end() ? -1.0 : it->second;
}

double series_sum(const std::map<std::string, double>& series) {
  double total = 0;
  for (const auto& [labels, v] : series) total += v;
  return total;
}

double series_max(const std::map<std::string, double>& series) {
  double m = 0;
  for (const auto& [labels, v] : series) m = std::max(m, v);
  return m;
}

std::string show_series(const std::map<std::string, double>& series) {
  std::string out;
  for (const auto& [labels, v] : series) out += " " + labels + "=" + std::to_string(v);
  return out;
}

}  // namespace kvstream::testing
