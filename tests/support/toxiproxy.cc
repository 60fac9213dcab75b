#include "tests/support/toxiproxy.h"

#include <chrono>
#include <stdexcept>
#include <thread>

#include "tests/support/http_client.h"
#include "tests/support/replica.h"
#include "tests/support/test_env.h"

namespace kvstream::testing {

namespace {

struct UrlParts {
  size_t host = 0, colon = 0, slash = 0;  // host start, the ':' before the port, the '/' after
};

UrlParts parse_pg_url(const std::string& url) {
  UrlParts p;
  const size_t at = url.find('@');
  p.colon = url.find(':', at == std::string::npos ? url.find("//") + 2 : at);
  p.slash = url.find('/', p.colon == std::string::npos ? 0 : p.colon);
  if (at == std::string::npos || p.colon == std::string::npos || p.slash == std::string::npos) {
    throw std::invalid_argument("not a postgresql://user@host:port/db URL: " + url);
  }
  p.host = at + 1;
  return p;
}

}  // namespace

std::string pg_url_host_port(const std::string& url) {
  const UrlParts p = parse_pg_url(url);
  return url.substr(p.host, p.slash - p.host);
}

std::string pg_url_with_port(const std::string& url, uint16_t port) {
  const UrlParts p = parse_pg_url(url);
  return url.substr(0, p.colon + 1) + std::to_string(port) + url.substr(p.slash);
}

Toxiproxy::Toxiproxy(const std::string& log_dir) {
  port_ = free_port();
  process_ = std::make_unique<ChildProcess>(
      std::vector<std::string>{source_dir() + "/scripts/toxiproxy", "-host", "127.0.0.1", "-port",
                               std::to_string(port_)},
      std::map<std::string, std::string>{},
      log_dir + "/toxiproxy-" + std::to_string(port_) + ".log");
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(120);
  while (true) {
    try {
      if (http_request(port_, "GET", "/version", "", {}, std::chrono::seconds(2)).status == 200) {
        return;
      }
    } catch (const std::exception&) {
      // Not listening yet.
    }
    if (!process_->running()) {
      throw std::runtime_error("toxiproxy exited at start: " + process_->log());
    }
    if (std::chrono::steady_clock::now() >= deadline) {
      throw std::runtime_error("toxiproxy did not answer within 120 s: " + process_->log());
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
}

Toxiproxy::~Toxiproxy() = default;  // ChildProcess kills and reaps it

nlohmann::json Toxiproxy::call(const std::string& method, const std::string& target,
                               const nlohmann::json& body, int want_status) {
  const HttpResult r = http_request(port_, method, target, body.is_null() ? "" : body.dump(),
                                    {{"Content-Type", "application/json"}});
  if (r.status != want_status) {
    throw std::runtime_error("toxiproxy " + method + " " + target + ": " +
                             std::to_string(r.status) + " " + r.body);
  }
  return r.body.empty() ? nlohmann::json() : nlohmann::json::parse(r.body);
}

uint16_t Toxiproxy::add_proxy(const std::string& name, const std::string& upstream) {
  const nlohmann::json created = call(
      "POST", "/proxies", {{"name", name}, {"listen", "127.0.0.1:0"}, {"upstream", upstream}}, 201);
  const std::string listen = created.at("listen").get<std::string>();
  return static_cast<uint16_t>(std::stoi(listen.substr(listen.rfind(':') + 1)));
}

void Toxiproxy::add_toxic(const std::string& proxy, const std::string& name,
                          const std::string& type, const std::string& stream,
                          const nlohmann::json& attributes) {
  call("POST", "/proxies/" + proxy + "/toxics",
       {{"name", name},
        {"type", type},
        {"stream", stream},
        {"toxicity", 1.0},
        {"attributes", attributes}},
       200);
}

void Toxiproxy::remove_toxic(const std::string& proxy, const std::string& name) {
  call("DELETE", "/proxies/" + proxy + "/toxics/" + name, nullptr, 204);
}

void Toxiproxy::set_enabled(const std::string& proxy, bool enabled) {
  call("POST", "/proxies/" + proxy, {{"enabled", enabled}}, 200);
}

}  // namespace kvstream::testing
