// Toxiproxy (scripts/toxiproxy) for tests: a TCP proxy between a replica and
// a server whose link can be made slow, narrow, cut or half-open, through
// its HTTP API. One server per object, on loopback.
//
//   Toxiproxy proxy(log_dir);
//   uint16_t port = proxy.add_proxy("pg", "127.0.0.1:5432");  // connect here
//   proxy.add_toxic("pg", "slow", "latency", "downstream", {{"latency", 200}});
//   proxy.remove_toxic("pg", "slow");
//   proxy.set_enabled("pg", false);  // cuts every connection, refuses new ones
#pragma once

#include <cstdint>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>

#include "tests/support/process.h"

namespace kvstream::testing {

// For a proxy in front of Postgres: the host:port of a URL of the form
// postgresql://user@host:port/db, and the same URL with another port.
// Throw std::invalid_argument for a URL of another form.
std::string pg_url_host_port(const std::string& url);
std::string pg_url_with_port(const std::string& url, uint16_t port);

class Toxiproxy {
 public:
  // Starts the server (building it on first use); throws std::runtime_error
  // if it does not answer within 120 s.
  explicit Toxiproxy(const std::string& log_dir);
  ~Toxiproxy();  // stops the server
  Toxiproxy(const Toxiproxy&) = delete;
  Toxiproxy& operator=(const Toxiproxy&) = delete;

  // A proxy to `upstream` (host:port) on a free loopback port; returns it.
  uint16_t add_proxy(const std::string& name, const std::string& upstream);
  // A toxic (Toxiproxy's names: latency, bandwidth, timeout, reset_peer,
  // slow_close, limit_data, slicer) on `stream` (upstream or downstream).
  void add_toxic(const std::string& proxy, const std::string& name, const std::string& type,
                 const std::string& stream, const nlohmann::json& attributes);
  void remove_toxic(const std::string& proxy, const std::string& name);
  // Disabled: every connection is closed and new ones are refused.
  void set_enabled(const std::string& proxy, bool enabled);

 private:
  nlohmann::json call(const std::string& method, const std::string& target,
                      const nlohmann::json& body, int want_status);

  uint16_t port_ = 0;
  std::unique_ptr<ChildProcess> process_;
};

}  // namespace kvstream::testing
