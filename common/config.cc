#include "common/config.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <fstream>
#include <set>
#include <sstream>

extern char** environ;

namespace kvstream {

std::string check_topic_name(const std::string& name) {
  // Kafka's own rule (the broker refuses other names).
  if (name.empty() || name.size() > 249) return "a topic name has 1 to 249 characters";
  if (name == "." || name == "..") return "a topic name cannot be \".\" or \"..\"";
  for (char c : name) {
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '.' && c != '_' && c != '-') {
      return "a topic name has only ASCII letters, digits, '.', '_' and '-' (not '" +
             std::string(1, c) + "')";
    }
  }
  return {};
}

CLI::Validator topic_name_validator() {
  return CLI::Validator(check_topic_name, "TOPIC", "kafka topic name");
}

void add_kafka_options(CLI::App& app, KafkaSettings& kafka) {
  app.add_option("--brokers", kafka.brokers, "Kafka bootstrap servers, host:port[,host:port]")
      ->envname("KVSTREAM_BROKERS")
      ->required();
  app.add_option("--topic", kafka.topic, "Topic of the key-value events")
      ->envname("KVSTREAM_TOPIC")
      ->check(topic_name_validator())
      ->capture_default_str();
}

void add_log_options(CLI::App& app, LogSettings& log) {
  app.add_option("--log-level", log.level, "trace, debug, info, warn or error")
      ->envname("KVSTREAM_LOG_LEVEL")
      ->check(CLI::IsMember({"trace", "debug", "info", "warn", "error"}))
      ->capture_default_str();
  app.add_option("--log-format", log.format, "text, or json (one object a line)")
      ->envname("KVSTREAM_LOG_FORMAT")
      ->check(CLI::IsMember({"text", "json"}))
      ->capture_default_str();
}

void read_kafka_passthrough(KafkaSettings& kafka) {
  static constexpr std::string_view kPrefix = "KVSTREAM_KAFKA_";
  for (char** e = environ; e != nullptr && *e != nullptr; ++e) {
    std::string_view entry(*e);
    if (entry.substr(0, kPrefix.size()) != kPrefix) continue;
    auto eq = entry.find('=');
    if (eq == std::string_view::npos) continue;
    std::string name(entry.substr(kPrefix.size(), eq - kPrefix.size()));
    std::transform(name.begin(), name.end(), name.begin(), [](unsigned char c) {
      return c == '_' ? '.' : static_cast<char>(std::tolower(c));
    });
    kafka.properties[name] = std::string(entry.substr(eq + 1));
  }
}

namespace {

bool is_secret_name(std::string name) {
  std::transform(name.begin(), name.end(), name.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  for (const char* word : {"password", "secret", "token", "credential", "key.pem"}) {
    if (name.find(word) != std::string::npos) return true;
  }
  return false;
}

void collect_envnames(const CLI::App& app, std::set<std::string>& out) {
  for (const CLI::Option* opt : app.get_options()) {
    if (!opt->get_envname().empty()) out.insert(opt->get_envname());
  }
  for (const CLI::App* sub : app.get_subcommands([](const CLI::App*) { return true; })) {
    collect_envnames(*sub, out);
  }
}

}  // namespace

}  // namespace kvstream

namespace kvstream {

void read_env_files(const CLI::App& app) {
  std::set<std::string> names;
  collect_envnames(app, names);
  for (const std::string& name : names) {
    const char* file = std::getenv((name + "_FILE").c_str());
    if (file == nullptr || std::getenv(name.c_str()) != nullptr) continue;
    std::ifstream in(file);
    if (!in) throw std::runtime_error(name + "_FILE: cannot read " + file);
    std::stringstream ss;
    ss << in.rdbuf();
    std::string value = ss.str();
    while (!value.empty() && (value.back() == '\n' || value.back() == '\r')) value.pop_back();
    setenv(name.c_str(), value.c_str(), 0);
  }
}

std::vector<std::string> unknown_env(const CLI::App& app) {
  std::set<std::string> known;
  collect_envnames(app, known);
  std::vector<std::string> out;
  for (char** e = environ; e != nullptr && *e != nullptr; ++e) {
    std::string_view entry(*e);
    const std::string name(entry.substr(0, entry.find('=')));
    if (name.rfind("KVSTREAM_", 0) != 0 || name.rfind("KVSTREAM_KAFKA_", 0) == 0) continue;
    if (name.rfind("KVSTREAM_TEST_", 0) == 0) continue;  // the test environment's
    std::string base = name;
    if (base.size() > 5 && base.compare(base.size() - 5, 5, "_FILE") == 0) {
      base.resize(base.size() - 5);
    }
    if (!known.count(base)) out.push_back(name);
  }
  return out;
}

std::string mask_uri_password(const std::string& uri) {
  const auto scheme = uri.find("://");
  std::string out = uri;
  if (scheme != std::string::npos) {
    const auto at = out.find('@', scheme + 3);
    const auto colon = out.find(':', scheme + 3);
    if (at != std::string::npos && colon != std::string::npos && colon < at) {
      out.replace(colon + 1, at - colon - 1, "***");
    }
  }
  // key=value form and URI parameters: password=...
  for (size_t pos = out.find("password="); pos != std::string::npos;
       pos = out.find("password=", pos + 1)) {
    const size_t start = pos + 9;
    const size_t end = out.find_first_of("& ", start);
    out.replace(start, (end == std::string::npos ? out.size() : end) - start, "***");
  }
  return out;
}

std::string describe_config(const CLI::App& app, const KafkaSettings& kafka) {
  std::ostringstream out;
  for (const CLI::Option* opt : app.get_options()) {
    if (opt->get_lnames().empty()) continue;
    const std::string& name = opt->get_lnames().front();
    if (name == "help" || name == "print-config") continue;
    std::string value = opt->count() > 0 ? opt->as<std::string>() : opt->get_default_str();
    if (value.empty() && opt->count() == 0) value = "(unset)";
    if (is_secret_name(name)) {
      value = value.empty() ? "" : "***";
    } else if (value.find("://") != std::string::npos ||
               value.find("password=") != std::string::npos) {
      value = mask_uri_password(value);
    }
    out << name << " = " << value;
    if (!opt->get_envname().empty()) out << "    # " << opt->get_envname();
    out << "\n";
  }
  for (const auto& [name, value] : kafka.properties) {
    out << "kafka." << name << " = " << (is_secret_name(name) ? "***" : value) << "\n";
  }
  return out.str();
}

}  // namespace kvstream
