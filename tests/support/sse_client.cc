#include "tests/support/sse_client.h"

#include <sys/socket.h>

#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

namespace kvstream::testing {

namespace beast = boost::beast;
namespace http = beast::http;
using tcp = boost::asio::ip::tcp;

SseClient::SseClient(uint16_t port, std::string target)
    : SseClient(port, std::move(target), Options{}) {}

SseClient::SseClient(uint16_t port, std::string target, Options options)
    : port_(port), target_(std::move(target)), options_(std::move(options)) {
  reading_ = options_.read;
  thread_ = std::thread([this] { run(); });
}

SseClient::~SseClient() {
  close();
  if (thread_.joinable()) thread_.join();
}

void SseClient::start_reading() {
  std::lock_guard<std::mutex> lock(mu_);
  reading_ = true;
  cv_.notify_all();
}

void SseClient::close() {
  std::lock_guard<std::mutex> lock(mu_);
  closing_ = true;
  if (fd_ >= 0) ::shutdown(fd_, SHUT_RDWR);
  cv_.notify_all();
}

int SseClient::status(std::chrono::milliseconds timeout) {
  std::unique_lock<std::mutex> lock(mu_);
  cv_.wait_for(lock, timeout, [&] { return status_ != 0 || ended_; });
  return status_;
}

std::string SseClient::body() {
  std::lock_guard<std::mutex> lock(mu_);
  return body_;
}

std::vector<SseEvent> SseClient::events() {
  std::lock_guard<std::mutex> lock(mu_);
  return events_;
}

size_t SseClient::count() {
  std::lock_guard<std::mutex> lock(mu_);
  return events_.size();
}

std::string SseClient::last_id() {
  std::lock_guard<std::mutex> lock(mu_);
  return last_id_;
}

bool SseClient::ended() {
  std::lock_guard<std::mutex> lock(mu_);
  return ended_;
}

size_t parse_sse(const std::string& text, size_t from, std::string& last_id,
                 std::vector<SseEvent>& out) {
  // Whole blocks only: a block ends with an empty line.
  while (true) {
    const size_t end = text.find("\n\n", from);
    if (end == std::string::npos) return from;
    SseEvent e;
    bool data = false;
    for (size_t line = from; line < end;) {
      size_t eol = text.find('\n', line);
      if (eol == std::string::npos || eol > end) eol = end;
      const std::string l = text.substr(line, eol - line);
      if (l.rfind("event: ", 0) == 0) e.type = l.substr(7);
      if (l.rfind("id: ", 0) == 0) last_id = l.substr(4);
      if (l.rfind("data: ", 0) == 0) {
        e.data = l.substr(6);
        data = true;
      }
      line = eol + 1;
    }
    if (data) {
      e.id = last_id;
      out.push_back(std::move(e));
    }
    from = end + 2;
  }
}

void SseClient::run() {
  try {
    boost::asio::io_context ioc;
    tcp::socket socket(ioc);
    socket.open(tcp::v4());
    if (options_.receive_buffer > 0) {
      socket.set_option(boost::asio::socket_base::receive_buffer_size(options_.receive_buffer));
    }
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (closing_) throw std::runtime_error("closed");
      fd_ = socket.native_handle();
    }
    socket.connect(tcp::endpoint(boost::asio::ip::make_address("127.0.0.1"), port_));
    http::request<http::empty_body> req{http::verb::get, target_, 11};
    req.set(http::field::host, "127.0.0.1");
    req.set(http::field::accept, "text/event-stream");
    for (const auto& [name, value] : options_.headers) req.set(name, value);
    http::write(socket, req);
    {
      std::unique_lock<std::mutex> lock(mu_);
      cv_.wait(lock, [&] { return reading_ || closing_; });
    }
    beast::flat_buffer buffer;
    http::response_parser<http::string_body> parser;
    parser.body_limit(boost::none);
    http::read_header(socket, buffer, parser);
    {
      std::lock_guard<std::mutex> lock(mu_);
      status_ = parser.get().result_int();
      cv_.notify_all();
    }
    beast::error_code ec;
    while (!parser.is_done()) {
      http::read_some(socket, buffer, parser, ec);
      std::lock_guard<std::mutex> lock(mu_);
      std::string& body = parser.get().body();
      if (status_ == 200) {
        // Events are kept; the text they came in is dropped.
        body.erase(0, parse_sse(body, 0, last_id_, events_));
      } else {
        body_ = body;
      }
      if (ec) break;
    }
  } catch (const std::exception&) {
    // The connection failed or was closed: what was read is kept.
  }
  std::lock_guard<std::mutex> lock(mu_);
  ended_ = true;
  fd_ = -1;
  cv_.notify_all();
}

}  // namespace kvstream::testing
