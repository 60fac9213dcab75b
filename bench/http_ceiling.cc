// http_ceiling: the ceiling of the HTTP stack for bench/http_bench (issue 6,
// bench/README.md "The HTTP benchmark").
//
//   http_ceiling [--addr 127.0.0.1] [--port P] [--threads N] [--body-bytes B]
//
// A minimal asynchronous Boost.Beast HTTP/1.1 server: every request, whatever
// its method and target, gets 200 with the same fixed body (100 bytes by
// default), keep-alive unless the client asks to close. It does nothing a
// server could skip: no routing, no lookup, no allocation beyond Beast's own.
// It runs the same number of I/O threads as kvstream's HTTP server (the
// default of http::ServerSettings::threads), each on one io_context, and like
// it gives each connection a strand and a deadline. So what separates the
// two is the work kvstream does per request, not the stack.
//
// Prints `port=<port>` on stdout once it listens (the bound port, useful
// with --port 0); runs until SIGTERM or SIGINT, then prints
// `requests=<count>` and exits 0.
#include <atomic>
#include <boost/asio/dispatch.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/strand.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <chrono>
#include <cstdlib>
#include <iostream>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "http/server.h"

namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

std::atomic<unsigned long long> g_requests{0};

class Session : public std::enable_shared_from_this<Session> {
 public:
  Session(tcp::socket socket, const std::string& body) : stream_(std::move(socket)), body_(body) {}

  void run() {
    asio::dispatch(stream_.get_executor(),
                   beast::bind_front_handler(&Session::read, shared_from_this()));
  }

 private:
  void read() {
    request_ = {};
    stream_.expires_after(std::chrono::seconds(60));
    http::async_read(stream_, buffer_, request_,
                     beast::bind_front_handler(&Session::on_read, shared_from_this()));
  }

  void on_read(beast::error_code ec, std::size_t) {
    if (ec) return close();
    g_requests.fetch_add(1, std::memory_order_relaxed);
    response_.emplace(http::status::ok, request_.version());
    response_->set(http::field::content_type, "application/octet-stream");
    response_->keep_alive(request_.keep_alive());
    response_->body() = body_;
    response_->prepare_payload();
    stream_.expires_after(std::chrono::seconds(10));
    http::async_write(stream_, *response_,
                      beast::bind_front_handler(&Session::on_write, shared_from_this()));
  }

  void on_write(beast::error_code ec, std::size_t) {
    if (ec || !response_->keep_alive()) return close();
    read();
  }

  void close() {
    beast::error_code ec;
    stream_.socket().shutdown(tcp::socket::shutdown_send, ec);
    stream_.close();
  }

  beast::tcp_stream stream_;
  beast::flat_buffer buffer_;
  const std::string& body_;
  http::request<http::string_body> request_;
  std::optional<http::response<http::string_body>> response_;
};

class Listener {
 public:
  Listener(asio::io_context& ioc, tcp::endpoint endpoint, const std::string& body)
      : ioc_(ioc), acceptor_(ioc), body_(body) {
    acceptor_.open(endpoint.protocol());
    acceptor_.set_option(asio::socket_base::reuse_address(true));
    acceptor_.bind(endpoint);
    acceptor_.listen(asio::socket_base::max_listen_connections);
  }

  uint16_t port() const { return acceptor_.local_endpoint().port(); }

  void accept() {
    acceptor_.async_accept(asio::make_strand(ioc_), [this](beast::error_code ec, tcp::socket s) {
      if (ec == asio::error::operation_aborted) return;
      if (!ec) std::make_shared<Session>(std::move(s), body_)->run();
      accept();
    });
  }

  void close() {
    beast::error_code ec;
    acceptor_.close(ec);
  }

 private:
  asio::io_context& ioc_;
  tcp::acceptor acceptor_;
  const std::string& body_;
};

[[noreturn]] void usage(int code) {
  (code == 0 ? std::cout : std::cerr)
      << "usage: http_ceiling [--addr 127.0.0.1] [--port 0] [--threads N] [--body-bytes 100]\n"
         "  --threads defaults to kvstream's HTTP server threads ("
      << kvstream::http::ServerSettings{}.threads << ")\n";
  std::exit(code);
}

}  // namespace

int main(int argc, char** argv) {
  std::string addr = "127.0.0.1";
  long port = 0;
  long threads = kvstream::http::ServerSettings{}.threads;
  long body_bytes = 100;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "-h" || arg == "--help") usage(0);
    if (i + 1 >= argc) usage(2);
    const std::string value = argv[++i];
    char* end = nullptr;
    const long n = std::strtol(value.c_str(), &end, 10);
    const bool numeric = !value.empty() && *end == '\0';
    if (arg == "--addr") {
      addr = value;
    } else if (arg == "--port" && numeric && n >= 0 && n <= 65535) {
      port = n;
    } else if (arg == "--threads" && numeric && n >= 1 && n <= 256) {
      threads = n;
    } else if (arg == "--body-bytes" && numeric && n >= 0 && n <= (1 << 20)) {
      body_bytes = n;
    } else {
      usage(2);
    }
  }

  // Printable bytes, like the benchmark's values.
  std::string body;
  for (long i = 0; i < body_bytes; ++i) body.push_back(static_cast<char>('a' + i % 26));

  try {
    asio::io_context ioc(static_cast<int>(threads));
    boost::system::error_code ec;
    const auto address = asio::ip::make_address(addr, ec);
    if (ec) {
      std::cerr << "http_ceiling: invalid address " << addr << "\n";
      return 2;
    }
    Listener listener(ioc, tcp::endpoint{address, static_cast<uint16_t>(port)}, body);
    listener.accept();

    asio::signal_set signals(ioc, SIGINT, SIGTERM);
    signals.async_wait([&](beast::error_code, int) {
      listener.close();
      ioc.stop();
    });

    std::cout << "port=" << listener.port() << std::endl;
    std::cerr << "http_ceiling: " << threads << " thread(s), " << body_bytes << "-byte body, on "
              << addr << ":" << listener.port() << std::endl;

    std::vector<std::thread> pool;
    for (long i = 1; i < threads; ++i) pool.emplace_back([&ioc] { ioc.run(); });
    ioc.run();
    for (auto& t : pool) t.join();
  } catch (const std::exception& e) {
    std::cerr << "http_ceiling: " << e.what() << "\n";
    return 1;
  }
  std::cout << "requests=" << g_requests.load() << std::endl;
  return 0;
}
