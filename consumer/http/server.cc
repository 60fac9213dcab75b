#include "http/server.h"

#include <spdlog/spdlog.h>

#include <array>
#include <boost/asio/dispatch.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core.hpp>
#include <charconv>
#include <cstring>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>

namespace kvstream::http {

namespace asio = boost::asio;
namespace beast = boost::beast;
using tcp = asio::ip::tcp;

void serialize_header(const Response& res, std::string& out) {
  // "HTTP/1.1 200 OK\r\n", then "Name: value\r\n" per field, then "\r\n";
  // measured first, so the buffer grows at most once.
  const auto reason = res.reason();
  size_t size = 13 + reason.size() + 2 + 2;
  for (const auto& field : res) size += field.name_string().size() + 2 + field.value().size() + 2;
  out.resize(size);
  char* p = out.data();
  const auto put = [&p](const char* data, size_t n) {
    std::memcpy(p, data, n);
    p += n;
  };
  const auto digit = [](unsigned n) { return static_cast<char>('0' + n % 10); };
  const unsigned version = res.version();
  const unsigned code = res.result_int();
  put("HTTP/", 5);
  const char numbers[8] = {
      digit(version / 10), '.', digit(version), ' ', digit(code / 100), digit(code / 10),
      digit(code),         ' '};
  put(numbers, sizeof numbers);
  put(reason.data(), reason.size());
  put("\r\n", 2);
  for (const auto& field : res) {
    const auto name = field.name_string();
    const auto value = field.value();
    put(name.data(), name.size());
    put(": ", 2);
    put(value.data(), value.size());
    put("\r\n", 2);
  }
  put("\r\n", 2);
}

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

// Bytes read from the socket at a time while waiting for a request.
constexpr size_t kReadChunk = 4096;

// A connection runs on a strand of its own, and its stream and socket carry
// that strand in their type: Beast's and Asio's operations then track work
// on the strand itself. (beast::tcp_stream's type-erased any_io_executor
// allocates a copy of it for each such step, about 14 times per request.)
using Strand = asio::strand<asio::io_context::executor_type>;
using Stream = beast::basic_stream<tcp, Strand>;
using Socket = asio::basic_stream_socket<tcp, Strand>;

// One connection. Owned by shared_ptrs held by its pending operations and by
// the Responder of the request being handled.
class Session : public detail::ResponseSink,
                public EventStream,
                public std::enable_shared_from_this<Session> {
 public:
  Session(Socket socket, const ServerSettings& settings, const Handler& handler,
          std::shared_ptr<std::atomic<size_t>> connections)
      : strand_(socket.get_executor()),
        stream_(std::move(socket)),
        settings_(settings),
        handler_(handler),
        connections_(std::move(connections)) {
    beast::error_code ec;
    const auto endpoint = stream_.socket().remote_endpoint(ec);
    if (!ec) peer_ = endpoint.address().to_string();
  }

  ~Session() override { connections_->fetch_sub(1); }

  void run() {
    asio::dispatch(strand_, [self = shared_from_this()] { self->read(true); });
  }

  // Answers one response and closes: used beyond the connection cap.
  void refuse() {
    asio::dispatch(strand_, [self = shared_from_this()] {
      self->write_final(
          json_error(beast_http::status::service_unavailable, "too_many_connections",
                     "the server is at its connection limit; retry shortly", 11, false),
          std::chrono::seconds(5));
    });
  }

  // The handler's answer. On the connection's strand (an answer given while
  // handling, e.g. a cache hit) it is written at once; from another thread it
  // is queued to the strand.
  void respond(Response res) override {
    if (strand_.running_in_this_thread()) return answer(std::move(res));
    asio::post(strand_, [self = shared_from_this(), res = std::move(res)]() mutable {
      self->answer(std::move(res));
    });
  }

  // The answer is a stream: its header now (on the strand), then what
  // send() queues, one write at a time.
  std::shared_ptr<EventStream> stream(Response header) override {
    asio::dispatch(strand_, [self = shared_from_this(), header = std::move(header)]() mutable {
      self->start_stream(std::move(header));
    });
    return shared_from_this();
  }

  bool send(std::string bytes) override {
    std::lock_guard<std::mutex> lock(stream_mu_);
    if (stream_closed_.load() || finishing_) return false;
    stream_pending_ += bytes.size();
    if (stream_queue_.empty()) {
      stream_queue_ = std::move(bytes);
    } else {
      stream_queue_ += bytes;
    }
    kick();
    return true;
  }

  void finish(std::string last) override {
    std::lock_guard<std::mutex> lock(stream_mu_);
    if (stream_closed_.load() || finishing_) return;
    finishing_ = true;
    stream_pending_ -= stream_queue_.size();
    stream_pending_ += last.size();
    stream_queue_ = std::move(last);
    kick();
  }

  size_t pending_bytes() const override { return stream_pending_.load(); }
  bool closed() const override { return stream_closed_.load(); }

 private:
  void read(bool first) {
    parser_.emplace();
    parser_->header_limit(static_cast<std::uint32_t>(settings_.header_limit));
    parser_->body_limit(settings_.body_limit);
    // Parse a body that is already buffered along with the header.
    parser_->eager(true);
    if (buffer_.size() > 0) {
      // A pipelined request: its bytes are here already.
      stream_.expires_after(settings_.read_timeout);
      return parse_buffered();
    }
    // The first request of a connection has the read timeout from the
    // start; a kept-alive connection waits up to the idle timeout for the
    // next request to begin, and from its first byte the read timeout bounds
    // the whole request.
    stream_.expires_after(first ? settings_.read_timeout : settings_.idle_timeout);
    stream_.async_read_some(
        buffer_.prepare(kReadChunk),
        beast::bind_front_handler(&Session::on_bytes, shared_from_this(), first));
  }

  void on_bytes(bool first, beast::error_code ec, std::size_t n) {
    if (ec) return on_read_error(ec);
    buffer_.commit(n);
    // A kept-alive connection's idle timeout becomes the read timeout, if
    // more bytes are needed.
    parse_buffered(!first);
  }

  // Parses what the buffer holds; a request that arrived whole is handled at
  // once, otherwise Beast's asynchronous reads take over from the parser's
  // state (which keeps what was parsed), with the read timeout restarted if
  // `restart_timeout`.
  void parse_buffered(bool restart_timeout = false) {
    beast::error_code ec;
    while (buffer_.size() > 0 && !parser_->is_done()) {
      const size_t used = parser_->put(buffer_.data(), ec);
      buffer_.consume(used);
      if (ec == beast_http::error::need_more) {
        ec = {};
        break;
      }
      if (ec) return on_read_error(ec);
      if (used == 0) break;
    }
    if (parser_->is_done()) return on_read({}, 0);
    if (restart_timeout) stream_.expires_after(settings_.read_timeout);
    if (parser_->is_header_done()) return on_header({}, 0);
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
                     11, false),
          settings_.read_timeout);
    }
    if (ec == beast_http::error::header_limit) {
      return write_final(
          json_error(
              beast_http::status::request_header_fields_too_large, "headers_too_large",
              "the request headers exceed " + std::to_string(settings_.header_limit) + " bytes", 11,
              false),
          settings_.read_timeout);
    }
    write_final(json_error(beast_http::status::bad_request, "bad_request",
                           "malformed HTTP request: " + ec.message(), 11, false),
                settings_.read_timeout);
  }

  void on_read(beast::error_code ec, std::size_t) {
    if (ec) return on_read_error(ec);
    stream_.expires_never();
    Request req = parser_->release();
    version_ = req.version();
    keep_alive_ = req.keep_alive();
    handler_(std::move(req), peer_, Responder(shared_from_this()));
  }

  // The handler's answer to the request read last (on the strand).
  void answer(Response res) {
    res.version(version_);
    res.keep_alive(keep_alive_ && res.keep_alive());
    write(std::move(res), settings_.read_timeout);
  }

  void write_final(Response res, std::chrono::steady_clock::duration timeout) {
    res.keep_alive(false);
    write(std::move(res), timeout);
  }

  // Writes the header, serialized into header_ (its capacity is reused from
  // one response to the next), and the body in one gather write.
  void write(Response res, std::chrono::steady_clock::duration timeout) {
    response_ = std::move(res);
    // A HEAD answer carries the length of the body it omits; keep it.
    if (!response_.has_content_length()) response_.prepare_payload();
    serialize_header(response_, header_);
    const std::array<asio::const_buffer, 2> buffers{asio::buffer(header_),
                                                    asio::buffer(response_.body())};
    stream_.expires_after(timeout);
    asio::async_write(stream_, buffers,
                      beast::bind_front_handler(&Session::on_write, shared_from_this()));
  }

  void on_write(beast::error_code ec, std::size_t) {
    if (ec) return close();
    const bool keep_alive = response_.keep_alive();
    response_ = {};  // no body held while the connection idles
    if (!keep_alive) return drain_and_close();
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

  // The stream's steps, on the strand.
  void start_stream(Response header) {
    header.version(version_);
    chunked_ = version_ >= 11;
    header.keep_alive(false);
    if (chunked_) header.chunked(true);
    header.body().clear();
    serialize_header(header, stream_out_);
    {
      std::lock_guard<std::mutex> lock(stream_mu_);
      streaming_ = true;
      stream_writing_ = true;
      stream_payload_ = 0;
    }
    stream_.expires_after(settings_.read_timeout);
    asio::async_write(
        stream_, asio::buffer(stream_out_),
        beast::bind_front_handler(&Session::on_stream_written, shared_from_this(), false));
    // The client sends nothing more; a read ends when it goes away.
    watch_client();
  }

  void watch_client() {
    buffer_.clear();
    stream_.socket().async_read_some(
        buffer_.prepare(kReadChunk),
        [self = shared_from_this()](beast::error_code ec, std::size_t) {
          if (ec) return self->end_stream();
          self->watch_client();
        });
  }

  // Called with stream_mu_ held: the strand writes what is queued.
  void kick() {
    if (kicked_) return;
    kicked_ = true;
    asio::post(strand_, [self = shared_from_this()] { self->stream_write(); });
  }

  void stream_write() {
    std::string data;
    bool last = false;
    {
      std::lock_guard<std::mutex> lock(stream_mu_);
      kicked_ = false;
      if (!streaming_ || stream_writing_ || stream_closed_.load()) return;
      data.swap(stream_queue_);
      last = finishing_;
      if (data.empty() && !last) return;
      stream_writing_ = true;
      stream_payload_ = data.size();
    }
    // One gather write: the chunk's size line, the bytes as they were
    // queued (not copied again), its end, and the last chunk when ending.
    stream_data_ = std::move(data);
    stream_out_.clear();
    if (chunked_ && !stream_data_.empty()) {
      char size[20];
      const auto end = std::to_chars(size, size + sizeof size, stream_data_.size(), 16).ptr;
      stream_out_.append(size, end).append("\r\n");
    }
    const std::string_view chunk_end =
        !chunked_ || stream_data_.empty() ? "" : (last ? "\r\n0\r\n\r\n" : "\r\n");
    const std::string_view final_chunk =
        last && chunked_ && stream_data_.empty() ? "0\r\n\r\n" : "";
    const std::array<asio::const_buffer, 4> buffers{
        asio::buffer(stream_out_), asio::buffer(stream_data_),
        asio::buffer(chunk_end.data(), chunk_end.size()),
        asio::buffer(final_chunk.data(), final_chunk.size())};
    stream_.expires_after(settings_.read_timeout);
    asio::async_write(
        stream_, buffers,
        beast::bind_front_handler(&Session::on_stream_written, shared_from_this(), last));
  }

  void on_stream_written(bool last, beast::error_code ec, std::size_t) {
    bool more = false;
    {
      std::lock_guard<std::mutex> lock(stream_mu_);
      stream_writing_ = false;
      stream_pending_ -= stream_payload_;
      stream_payload_ = 0;
      more = !stream_queue_.empty() || (finishing_ && !last);
    }
    if (ec || last) return end_stream();
    stream_.expires_never();
    if (more) stream_write();
  }

  void end_stream() {
    stream_closed_.store(true);
    close();
  }

  void close() {
    beast::error_code ec;
    stream_.socket().shutdown(tcp::socket::shutdown_send, ec);
    stream_.close();
  }

  static constexpr size_t kMaxDrainBytes = 8 * 1024 * 1024;

  // A streamed answer (EventStream): the strand's state, then what other
  // threads queue under stream_mu_.
  bool chunked_ = true;
  std::string stream_out_;   // being written: the header, or a chunk's size line
  std::string stream_data_;  // being written: the bytes of the chunk
  std::mutex stream_mu_;
  bool streaming_ = false;       // the header is being written or was; guarded by stream_mu_
  std::string stream_queue_;     // guarded by stream_mu_
  bool stream_writing_ = false;  // guarded by stream_mu_
  bool kicked_ = false;          // a stream_write() is posted; guarded by stream_mu_
  bool finishing_ = false;       // guarded by stream_mu_
  size_t stream_payload_ = 0;    // bytes of the queue in the write; guarded by stream_mu_
  std::atomic<size_t> stream_pending_{0};
  std::atomic<bool> stream_closed_{false};
  size_t drain_bytes_ = 0;

  Strand strand_;
  Stream stream_;
  beast::flat_buffer buffer_;
  const ServerSettings& settings_;
  const Handler& handler_;
  std::shared_ptr<std::atomic<size_t>> connections_;
  std::optional<beast_http::request_parser<beast_http::string_body>> parser_;
  // The request being answered: its version and whether it keeps the
  // connection alive.
  unsigned version_ = 11;
  bool keep_alive_ = true;
  Response response_;   // being written
  std::string header_;  // response_'s serialized header
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
  acceptor_.async_accept(asio::make_strand(ioc_), [this](beast::error_code ec, Socket socket) {
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
