#include "tests/support/kafka_server.h"

#include <signal.h>
#include <stdlib.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <stdexcept>

#include "tests/support/process.h"
#include "tests/support/test_env.h"

namespace kvstream::testing {

namespace {

std::string last_line(std::string out) {
  while (!out.empty() && (out.back() == '\n' || out.back() == '\r')) out.pop_back();
  const auto nl = out.rfind('\n');
  return nl == std::string::npos ? out : out.substr(nl + 1);
}

// The process exists and is not a zombie (the broker is not our child: it
// is reaped by whoever adopted it).
bool alive(pid_t pid) {
  std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
  std::string line;
  if (!std::getline(stat, line)) return false;
  const auto paren = line.rfind(')');
  if (paren == std::string::npos || paren + 2 >= line.size()) return false;
  const char state = line[paren + 2];
  return state != 'Z' && state != 'X';
}

}  // namespace

void avoid_ephemeral_ports() {
  if (const char* set = getenv("KVTEST_ENV_PORTS"); set != nullptr && *set != '\0') return;
  int low = 32768, high = 60999;
  std::ifstream range("/proc/sys/net/ipv4/ip_local_port_range");
  range >> low >> high;
  // Below the range (or above it, if the range starts low).
  const std::string ports =
      low > 12000 ? std::to_string(low - 10000) + "-" + std::to_string(low - 1)
                  : std::to_string(high + 1) + "-" + std::to_string(std::min(high + 10000, 65535));
  setenv("KVTEST_ENV_PORTS", ports.c_str(), 1);
}

KafkaServer::KafkaServer() : KafkaServer(0, 0) {}

KafkaServer::KafkaServer(uint16_t proxied_listen_port, uint16_t proxied_advertised_port) {
  char dir[] = "/tmp/kvstream-kafka-XXXXXX";
  if (mkdtemp(dir) == nullptr) throw std::runtime_error("mkdtemp failed");
  dir_ = dir;
  std::map<std::string, std::string> env;
  if (proxied_listen_port != 0 && proxied_advertised_port != 0) {
    env["KVTEST_KAFKA_PROXIED"] =
        std::to_string(proxied_listen_port) + ":" + std::to_string(proxied_advertised_port);
  }
  try {
    brokers_ = last_line(kafka_env("start", env));
  } catch (...) {
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
    throw;
  }
}

KafkaServer::~KafkaServer() {
  try {
    kafka_env("stop");
  } catch (...) {
    // Best effort: kafka-env stop ends with SIGKILL.
  }
  std::error_code ec;
  std::filesystem::remove_all(dir_, ec);
}

std::string KafkaServer::kafka_env(const std::string& action,
                                   const std::map<std::string, std::string>& env) {
  // kafka-env waits up to 60 s for a starting broker, and up to 30 s for a
  // stopping one; a Java start on a busy machine can take a while.
  auto r = run_command({source_dir() + "/tests/env/kafka-env", action, dir_}, env,
                       std::chrono::seconds(150));
  if (r.exit_code != 0) {
    throw std::runtime_error("kafka-env " + action + " " + dir_ + " exited " +
                             std::to_string(r.exit_code) + ": " + r.out);
  }
  return r.out;
}

pid_t KafkaServer::pid() const {
  std::ifstream in(dir_ + "/pid");
  long pid = -1;
  if (!(in >> pid) || pid <= 0) return -1;
  return alive(static_cast<pid_t>(pid)) ? static_cast<pid_t>(pid) : -1;
}

void KafkaServer::kill() { kafka_env("kill"); }

void KafkaServer::stop() { kafka_env("stop"); }

void KafkaServer::start() {
  const std::string out = last_line(kafka_env("start"));
  if (out != brokers_) {
    throw std::runtime_error("the broker came back at " + out + ", not at " + brokers_);
  }
}

}  // namespace kvstream::testing
