#include "http/server.h"

#include <spdlog/spdlog.h>

#include <boost/asio/dispatch.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/strand.hpp>
#include <boost/beast/core.hpp>
#include <nlohmann/json.hpp>
#include <optional>

namespace kvstream::http {

namespace asio = boost::asio;
namespace beast = boost::beast;
using tcp = asio::ip::tcp;

Response json_error(beast_http::status status, const std::string& code, const std::string& message,
                    unsigned version, bool keep_alive) {
  Response res{status, version};
  res.set(beast_http::field::content_type, "application/json");
  res.keep_alive(keep_alive);
  res.body() = nlohmann::json{{"error", code}, {"message", message}}.dump();
  res.prepare_payload();
  return res;
}

namespace {

// One connection. Owned by shared_ptrs held by its pending operations.
class Session : public std::enable_shared_from_this<Session> {
 public:
  Session(tcp::socket socket, const ServerSettings& settings, const Handler& handler,
          std::shared_ptr<std::atomic<size_t>> connections)
      : stream_(std::move(socket)),
        settings_(settings),
        handler_(handler),
        connections_(std::move(connections)) {
    beast::error_code ec;
    const auto endpoint = stream_.socket().remote_endpoint(ec);
    if (!ec) peer_ = endpoint.address().to_string();
  }

  ~Session() { connections_->fetch_sub(1); }

  void run() {
    asio::dispatch(stream_.get_executor(),
                   beast::bind_front_handler(&Session::read, shared_from_this(), true));
  }

  // Answers one response and closes: used beyond the connection cap.
  void refuse() {
    auto self = shared_from_this();
    response_ = std::make_shared<Response>(
        json_error(beast_http::status::service_unavailable, "too_many_connections",
                   "the server is at its connection limit; retry shortly", 11, false));
    stream_.expires_after(std::chrono::seconds(5));
    beast_http::async_write(stream_, *response_,
                            [self](beast::error_code, std::size_t) { self->close(); });
  }

 private:
  void read(bool first) {
    parser_.emplace();
    parser_->header_limit(static_cast<std::uint32_t>(settings_.header_limit));
    parser_->body_limit(settings_.body_limit);
    if (first || buffer_.size() > 0) return read_request();
    // Kept alive: wait (idle timeout) for the next request to begin; from its
    // first byte, the read timeout bounds the whole request.
    stream_.expires_after(settings_.idle_timeout);
    stream_.async_read_some(
        buffer_.prepare(4096),
        beast::bind_front_handler(&Session::on_first_bytes, shared_from_this()));
  }

  void on_first_bytes(beast::error_code ec, std::size_t n) {
    if (ec) return on_read_error(ec);
    buffer_.commit(n);
    read_request();
  }

  void read_request() {
    stream_.expires_after(settings_.read_timeout);
    beast_http::async_read_header(
        stream_, buffer_, *parser_,
        beast::bind_front_handler(&Session::on_header, shared_from_this()));
  }

  void on_header(beast::error_code ec, std::size_t) {
    if (ec) return on_read_error(ec);
    // A client that waits for "100 Continue" before sending its body (curl
    // does for large bodies) gets it; the same deadline still runs.
    const auto& req = parser_->get();
    if (beast::iequals(req[beast_http::field::expect], "100-continue") && !parser_->is_done()) {
      auto proceed = std::make_shared<beast_http::response<beast_http::empty_body>>(
          beast_http::status::continue_, req.version());
      beast_http::async_write(
          stream_, *proceed,
          [self = shared_from_this(), proceed](beast::error_code wec, std::size_t) {
            if (wec) return self->on_read_error(wec);
            self->read_body();
          });
      return;
    }
    read_body();
  }

  void read_body() {
    // A request without a body (most GETs) is complete with its header.
    if (parser_->is_done()) return on_read({}, 0);
    beast_http::async_read(stream_, buffer_, *parser_,
                           beast::bind_front_handler(&Session::on_read, shared_from_this()));
  }

  void on_read_error(beast::error_code ec) {
    if (ec == beast_http::error::end_of_stream || ec == beast::error::timeout ||
        ec == asio::error::operation_aborted || ec == asio::error::connection_reset ||
        ec == asio::error::eof) {
      return close();
    }
    if (ec == beast_http::error::body_limit) {
      return write_final(
          json_error(beast_http::status::payload_too_large, "body_too_large",
                     "the request body exceeds " + std::to_string(settings_.body_limit) + " bytes",
                     11, false));
    }
    if (ec == beast_http::error::header_limit) {
      return write_final(json_error(
          beast_http::status::request_header_fields_too_large, "headers_too_large",
          "the request headers exceed " + std::to_string(settings_.header_limit) + " bytes", 11,
          false));
    }
    write_final(json_error(beast_http::status::bad_request, "bad_request",
                           "malformed HTTP request: " + ec.message(), 11, false));
  }

  void on_read(beast::error_code ec, std::size_t) {
    if (ec) return on_read_error(ec);
    stream_.expires_never();
    Request req = parser_->release();
    const unsigned version = req.version();
    const bool keep_alive = req.keep_alive();
    auto self = shared_from_this();
    auto executor = stream_.get_executor();
    handler_(std::move(req), peer_, [self, executor, version, keep_alive](Response res) {
      res.version(version);
      res.keep_alive(keep_alive && res.keep_alive());
      // Inline when answered on the connection's strand (a cache hit), else
      // queued to it.
      asio::dispatch(executor,
                     [self, res = std::move(res)]() mutable { self->write(std::move(res)); });
    });
  }

  void write(Response res) {
    response_ = std::make_shared<Response>(std::move(res));
    // A HEAD answer carries the length of the body it omits; keep it.
    if (!response_->has_content_length()) response_->prepare_payload();
    stream_.expires_after(settings_.read_timeout);
    beast_http::async_write(stream_, *response_,
                            beast::bind_front_handler(&Session::on_write, shared_from_this()));
  }

  void write_final(Response res) {
    res.keep_alive(false);
    write(std::move(res));
  }

  void on_write(beast::error_code ec, std::size_t) {
    if (ec) return close();
    if (!response_->keep_alive()) return drain_and_close();
    response_.reset();
    read(false);
  }

  // After a final answer the client may still be sending (an oversized body):
  // closing with unread data would reset the connection, and the client could
  // lose the answer. Stop sending, read and discard for a short while, close.
  void drain_and_close() {
    beast::error_code ec;
    stream_.socket().shutdown(tcp::socket::shutdown_send, ec);
    stream_.expires_after(std::chrono::seconds(2));
    drain_bytes_ = 0;
    drain();
  }

  void drain() {
    buffer_.clear();
    stream_.async_read_some(buffer_.prepare(64 * 1024),
                            [self = shared_from_this()](beast::error_code ec, std::size_t n) {
                              self->drain_bytes_ += n;
                              if (ec || self->drain_bytes_ > kMaxDrainBytes) return self->close();
                              self->drain();
                            });
  }

  void close() {
    beast::error_code ec;
    stream_.socket().shutdown(tcp::socket::shutdown_send, ec);
    stream_.close();
  }

  static constexpr size_t kMaxDrainBytes = 8 * 1024 * 1024;
  size_t drain_bytes_ = 0;

  beast::tcp_stream stream_;
  beast::flat_buffer buffer_;
  const ServerSettings& settings_;
  const Handler& handler_;
  std::shared_ptr<std::atomic<size_t>> connections_;
  std::optional<beast_http::request_parser<beast_http::string_body>> parser_;
  std::shared_ptr<Response> response_;
  std::string peer_;
};

}  // namespace

HttpServer::HttpServer(ServerSettings settings, Handler handler)
    : settings_(std::move(settings)),
      handler_(std::move(handler)),
      ioc_(settings_.threads),
      acceptor_(ioc_),
      connections_(std::make_shared<std::atomic<size_t>>(0)) {}

HttpServer::~HttpServer() { stop(); }

void HttpServer::start() {
  beast::error_code ec;
  const auto address = asio::ip::make_address(settings_.address, ec);
  if (ec) throw std::runtime_error("invalid HTTP address " + settings_.address);
  tcp::endpoint endpoint{address, settings_.port};
  acceptor_.open(endpoint.protocol(), ec);
  if (!ec) acceptor_.set_option(asio::socket_base::reuse_address(true), ec);
  if (!ec) acceptor_.bind(endpoint, ec);
  if (!ec) acceptor_.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) {
    throw std::runtime_error("cannot listen on " + settings_.address + ":" +
                             std::to_string(settings_.port) + ": " + ec.message());
  }
  bound_port_ = acceptor_.local_endpoint().port();
  accept();
  started_ = true;
  for (int i = 0; i < settings_.threads; ++i) threads_.emplace_back([this] { ioc_.run(); });
}

void HttpServer::accept() {
  acceptor_.async_accept(asio::make_strand(ioc_), [this](beast::error_code ec, tcp::socket socket) {
    if (ec) {
      if (ec == asio::error::operation_aborted) return;
      spdlog::warn("HTTP accept: {}", ec.message());
    } else {
      const size_t open = connections_->fetch_add(1) + 1;
      auto session =
          std::make_shared<Session>(std::move(socket), settings_, handler_, connections_);
      if (open > settings_.max_connections) {
        session->refuse();
      } else {
        session->run();
      }
    }
    accept();
  });
}

void HttpServer::stop() {
  if (!started_) return;
  started_ = false;
  asio::post(ioc_, [this] {
    beast::error_code ec;
    acceptor_.close(ec);
  });
  ioc_.stop();
  for (auto& t : threads_) t.join();
  threads_.clear();
}

}  // namespace kvstream::http
