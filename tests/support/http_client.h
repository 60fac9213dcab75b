// A blocking HTTP/1.1 client for tests (Boost.Beast), one request per
// connection, with a deadline.
#pragma once

#include <chrono>
#include <map>
#include <string>

namespace kvstream::testing {

struct HttpResult {
  int status = 0;
  std::map<std::string, std::string> headers;  // names lower-cased
  std::string body;
  std::string header(const std::string& name) const;
};

// Throws boost::system::system_error when the connection fails, or when the
// whole exchange takes longer than `timeout` (boost::beast::error::timeout).
HttpResult http_request(uint16_t port, const std::string& method, const std::string& target,
                        const std::string& body = "",
                        const std::map<std::string, std::string>& headers = {},
                        std::chrono::milliseconds timeout = std::chrono::seconds(10));

inline HttpResult http_get(uint16_t port, const std::string& target) {
  return http_request(port, "GET", target);
}

}  // namespace kvstream::testing
