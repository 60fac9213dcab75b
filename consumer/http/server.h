// An asynchronous HTTP/1.1 server on Boost.Beast: keep-alive, limits on
// header and body size, a read timeout per request and an idle timeout
// between requests, and a cap on open connections.
//
// The handler is asynchronous: it receives the request and a Responder, and
// may answer later from any thread (no I/O thread waits meanwhile). It must
// call the Responder exactly once.
//
// Threads: `threads` I/O threads run the io_context, started by start() and
// joined by stop(). Sessions are owned by their pending operations.
#pragma once

#include <atomic>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/http.hpp>
#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

namespace kvstream::http {

namespace beast_http = boost::beast::http;
using Request = beast_http::request<beast_http::string_body>;
using Response = beast_http::response<beast_http::string_body>;
using Responder = std::function<void(Response)>;
// The request, the client's address (for per-client limits and logs), and
// where to send the answer.
using Handler = std::function<void(Request&&, const std::string& peer, Responder)>;

struct ServerSettings {
  std::string address = "0.0.0.0";
  uint16_t port = 8080;  // 0: any free port (see HttpServer::port())
  int threads = 2;
  size_t header_limit = 16 * 1024;
  size_t body_limit = 1024 * 1024 + 64 * 1024;
  // To receive one whole request, from its first byte: a client that trickles
  // its request is cut off by it.
  std::chrono::milliseconds read_timeout{10000};
  // How long a kept-alive connection may wait for the first byte of its next
  // request.
  std::chrono::milliseconds idle_timeout{60000};
  size_t max_connections = 1024;
};

// A JSON error body, {"error":code,"message":message}, with the status.
Response json_error(beast_http::status status, const std::string& code, const std::string& message,
                    unsigned version = 11, bool keep_alive = true);

class HttpServer {
 public:
  HttpServer(ServerSettings settings, Handler handler);
  ~HttpServer();

  // Binds and starts serving; throws std::runtime_error with the address if
  // it cannot bind.
  void start();
  // Stops accepting, closes connections, joins the I/O threads.
  void stop();

  uint16_t port() const { return bound_port_; }
  size_t open_connections() const { return connections_->load(); }

 private:
  void accept();

  const ServerSettings settings_;
  const Handler handler_;
  boost::asio::io_context ioc_;
  boost::asio::ip::tcp::acceptor acceptor_;
  std::vector<std::thread> threads_;
  std::shared_ptr<std::atomic<size_t>> connections_;
  uint16_t bound_port_ = 0;
  bool started_ = false;
};

}  // namespace kvstream::http
