// A replica's /metrics (Prometheus text format) as the tests read it.
#pragma once

#include <cstdint>
#include <map>
#include <string>

namespace kvstream::testing {

// Every series of the metric `name`, by its labels (`{partition="0"}`, ""
// for none); empty when the replica does not answer.
std::map<std::string, double> metric_series(uint16_t port, const std::string& name);

// The series of `name` without labels, or -1 when it is absent or the
// replica does not answer.
double metric_value(uint16_t port, const std::string& name);

double series_sum(const std::map<std::string, double>& series);
double series_max(const std::map<std::string, double>& series);  // 0 when empty
std::string show_series(const std::map<std::string, double>& series);

}  // namespace kvstream::testing
