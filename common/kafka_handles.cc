#include "common/kafka_handles.h"

#include <spdlog/spdlog.h>

#include <cstdio>
#include <cstdlib>
#include <map>
#include <sstream>

#include "common/error.h"

namespace kvstream::kafka {

void set_conf(rd_kafka_conf_t* conf, const std::string& name, const std::string& value) {
  char err[512];
  if (rd_kafka_conf_set(conf, name.c_str(), value.c_str(), err, sizeof(err)) != RD_KAFKA_CONF_OK) {
    throw Error(ErrorKind::kFatal, "Kafka property " + name + ": " + err);
  }
}

namespace {

// librdkafka's property table (rd_kafka_conf_properties_show): "name | C/P |
// range | default | importance | description", C/P being C (consumer
// only), P (producer only) or * (both).
std::map<std::string, char> property_scopes() {
  std::map<std::string, char> scopes;
  char* text = nullptr;
  size_t size = 0;
  FILE* out = open_memstream(&text, &size);
  if (out == nullptr) return scopes;
  rd_kafka_conf_properties_show(out);
  std::fclose(out);
  std::istringstream lines(std::string(text, size));
  std::free(text);
  auto trim = [](std::string s) {
    const auto b = s.find_first_not_of(' ');
    const auto e = s.find_last_not_of(' ');
    return b == std::string::npos ? std::string() : s.substr(b, e - b + 1);
  };
  for (std::string line; std::getline(lines, line);) {
    const auto bar1 = line.find('|');
    if (bar1 == std::string::npos) continue;
    const auto bar2 = line.find('|', bar1 + 1);
    if (bar2 == std::string::npos) continue;
    const std::string scope = trim(line.substr(bar1 + 1, bar2 - bar1 - 1));
    if (scope.size() == 1) scopes[trim(line.substr(0, bar1))] = scope[0];
  }
  return scopes;
}

}  // namespace

bool property_applies(const std::string& name, rd_kafka_type_t type) {
  static const std::map<std::string, char> scopes = property_scopes();
  auto it = scopes.find(name);
  if (it == scopes.end()) return true;
  return !(it->second == 'C' && type == RD_KAFKA_PRODUCER) &&
         !(it->second == 'P' && type == RD_KAFKA_CONSUMER);
}

namespace {

void kafka_log(const rd_kafka_t*, int level, const char* facility, const char* message) {
  // syslog levels: 0 emerg .. 7 debug
  const auto lvl = level <= 3   ? spdlog::level::err
                   : level == 4 ? spdlog::level::warn
                   : level <= 6 ? spdlog::level::info
                                : spdlog::level::debug;
  spdlog::log(lvl, "kafka {}: {}", facility, message);
}

}  // namespace

void route_kafka_logs(rd_kafka_conf_t* conf) { rd_kafka_conf_set_log_cb(conf, &kafka_log); }

}  // namespace kvstream::kafka
