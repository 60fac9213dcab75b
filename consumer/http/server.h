// An asynchronous HTTP/1.1 server on Boost.Beast: keep-alive, limits on
// header and body size, a read timeout per request and an idle timeout
// between requests, and a cap on open connections.
//
// The handler is asynchronous: it receives the request and a Responder, and
// may answer later from any thread (no I/O thread waits meanwhile). It must
// call the Responder exactly once.
//
// Per request, on a kept-alive connection, the server does what the request
// needs and little more: a request that arrived whole is parsed from the
// connection's buffer at once (Beast's asynchronous reads only take over
// when more bytes are needed), an answer given on the connection's own
// thread (a cache hit) is written there without a hand-off, and the answer
// goes out in one gather write of its header, serialized by Beast into the
// connection's reused buffer, and its body.
//
// Threads: `threads` I/O threads run the io_context, started by start() and
// joined by stop(). Each connection runs on a strand; sessions are owned by
// their pending operations and by the Responders not yet called.
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

// The body of a response sent over time (Server-Sent Events): its header is
// written at once, then what is sent, in order, as it comes. Thread-safe;
// holds the connection open while it lives and is not finished.
class EventStream {
 public:
  virtual ~EventStream() = default;
  // Queues `bytes` after what is queued; false once the connection is closed
  // (the client went away, a write failed, or finish() was called).
  virtual bool send(std::string bytes) = 0;
  // Ends the response after the write in progress with `last` (what is
  // queued and not yet being written is dropped: a client too slow to read
  // it gets `last` sooner), then closes the connection.
  virtual void finish(std::string last) = 0;
  // Bytes queued or being written, not yet written.
  virtual size_t pending_bytes() const = 0;
  virtual bool closed() const = 0;
};

namespace detail {
// Where a Responder delivers: a connection of the server.
class ResponseSink {
 public:
  virtual ~ResponseSink() = default;
  virtual void respond(Response res) = 0;
  virtual std::shared_ptr<EventStream> stream(Response header) = 0;
};
}  // namespace detail

// Sends the answer to one request: call it exactly once, from any thread.
// Copies share the request (call only one of them). Holds the connection
// open until called or destroyed. Cheap: one shared pointer, no allocation.
class Responder {
 public:
  Responder() = default;
  explicit Responder(std::shared_ptr<detail::ResponseSink> sink) : sink_(std::move(sink)) {}

  void operator()(Response res) const { sink_->respond(std::move(res)); }
  // Answers with `header` (its body is ignored) and a body sent over time:
  // chunked for HTTP/1.1, until the connection closes for HTTP/1.0. The
  // connection serves no other request after it.
  std::shared_ptr<EventStream> stream(Response header) const {
    return sink_->stream(std::move(header));
  }
  explicit operator bool() const { return sink_ != nullptr; }

 private:
  std::shared_ptr<detail::ResponseSink> sink_;
};
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

// The status line and header fields of `res` as HTTP/1.1 sends them, ending
// with the empty line, into `out` (replacing what it held): what Beast's
// serializer writes before the body, at a tenth of its cost for a
// response of a few fields (the server sends the body after it, as it is).
void serialize_header(const Response& res, std::string& out);

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
  // The I/O threads' context: what else runs on them (the asynchronous
  // database reads of cache misses) uses it. Outlives stop().
  boost::asio::io_context& context() { return ioc_; }
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
