#include "tests/support/replica.h"

#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <stdexcept>

#include "tests/support/http_client.h"
#include "tests/support/test_env.h"
#include "tests/support/wait.h"

namespace kvstream::testing {

namespace {

std::map<std::string, std::string> environment(const ReplicaConfig& config) {
  std::map<std::string, std::string> env{{"KVSTREAM_BROKERS", config.brokers},
                                         {"KVSTREAM_TOPIC", config.topic},
                                         {"KVSTREAM_GROUP", config.group},
                                         {"KVSTREAM_PG_URL", config.pg_url}};
  for (const auto& [k, v] : config.env) env[k] = v;
  return env;
}

}  // namespace

uint16_t free_port() {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) throw std::runtime_error("socket() failed");
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  socklen_t len = sizeof(addr);
  if (bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 ||
      getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    close(fd);
    throw std::runtime_error("cannot bind a free port");
  }
  close(fd);
  return ntohs(addr.sin_port);
}

void run_migrations(const ReplicaConfig& config) {
  auto r = run_command({bin_dir() + "/kvstream-consumer", "migrate"}, environment(config),
                       std::chrono::seconds(60));
  if (r.exit_code != 0) {
    throw std::runtime_error("kvstream-consumer migrate exited " + std::to_string(r.exit_code) +
                             ": " + r.out);
  }
}

Replica::Replica(const ReplicaConfig& config, const std::string& name) : name_(name) {
  port_ = free_port();
  auto env = environment(config);
  env["KVSTREAM_HTTP_ADDR"] = "127.0.0.1:" + std::to_string(port_);
  process_ = std::make_unique<ChildProcess>(
      std::vector<std::string>{bin_dir() + "/kvstream-consumer"}, env,
      (config.log_dir.empty() ? "/tmp" : config.log_dir) + "/" + config.topic + "-" + name +
          ".log");
}

Replica::~Replica() = default;

int Replica::readyz() {
  try {
    return http_request(port_, "GET", "/readyz", "", {}, std::chrono::seconds(2)).status;
  } catch (const std::exception&) {
    return 0;
  }
}

bool Replica::wait_ready(std::chrono::milliseconds timeout) {
  return eventually([&] { return running() && readyz() == 200; }, timeout) && running();
}

std::optional<int> Replica::terminate(std::chrono::milliseconds timeout) {
  process_->signal(SIGTERM);
  return process_->wait(timeout);
}

void Replica::kill() {
  process_->signal(SIGKILL);
  process_->wait(std::chrono::seconds(30));
}

std::string Replica::log_tail(size_t bytes) const {
  const std::string all = process_->log();
  const std::string tail = all.size() > bytes ? "..." + all.substr(all.size() - bytes) : all;
  return "--- log of replica " + name_ + " (" + process_->log_path() + ") ---\n" + tail;
}

}  // namespace kvstream::testing
