// The HTTP server under concurrency (also run under ThreadSanitizer): many
// clients on kept-alive connections, a handler that answers later from other
// threads, and limits enforced per connection.
#include "http/server.h"

#include <gtest/gtest.h>

#include <boost/asio/connect.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <condition_variable>
#include <mutex>
#include <sstream>
#include <thread>

namespace kvstream::http {
namespace {

namespace beast = boost::beast;
using tcp = boost::asio::ip::tcp;

ServerSettings loopback() {
  ServerSettings s;
  s.address = "127.0.0.1";
  s.port = 0;
  s.threads = 2;
  return s;
}

// A kept-alive client: sends `n` requests on one connection, checks each
// answer echoes its target.
void client(uint16_t port, int id, int n, std::atomic<int>& ok) {
  boost::asio::io_context ioc;
  beast::tcp_stream stream(ioc);
  stream.expires_after(std::chrono::seconds(30));
  stream.connect(tcp::endpoint(boost::asio::ip::make_address("127.0.0.1"), port));
  beast::flat_buffer buffer;
  for (int i = 0; i < n; ++i) {
    const std::string target = "/echo/" + std::to_string(id) + "/" + std::to_string(i);
    beast_http::request<beast_http::string_body> req{beast_http::verb::get, target, 11};
    req.set(beast_http::field::host, "127.0.0.1");
    beast_http::write(stream, req);
    beast_http::response<beast_http::string_body> res;
    beast_http::read(stream, buffer, res);
    if (res.result() == beast_http::status::ok && res.body() == target) ok.fetch_add(1);
  }
}

TEST(HttpServer, ManyKeptAliveClientsAnsweredFromOtherThreads) {
  boost::asio::thread_pool workers(3);
  std::atomic<int> handled{0};
  HttpServer server(loopback(), [&](Request&& req, const std::string& peer, Responder respond) {
    EXPECT_EQ(peer, "127.0.0.1");
    handled.fetch_add(1);
    boost::asio::post(workers, [target = std::string(req.target()), respond] {
      Response res{beast_http::status::ok, 11};
      res.body() = target;
      respond(std::move(res));
    });
  });
  server.start();
  constexpr int kClients = 8, kRequests = 200;
  std::atomic<int> ok{0};
  std::vector<std::thread> clients;
  for (int c = 0; c < kClients; ++c) {
    clients.emplace_back([&, c] { client(server.port(), c, kRequests, ok); });
  }
  for (auto& t : clients) t.join();
  EXPECT_EQ(ok.load(), kClients * kRequests);
  EXPECT_EQ(handled.load(), kClients * kRequests);
  server.stop();
  workers.join();
}

TEST(HttpServer, ATricklingClientIsCutOffByTheReadTimeout) {
  ServerSettings settings = loopback();
  settings.read_timeout = std::chrono::milliseconds(300);
  HttpServer server(settings, [](Request&&, const std::string&, Responder respond) {
    respond(Response{beast_http::status::ok, 11});
  });
  server.start();
  boost::asio::io_context ioc;
  tcp::socket s(ioc);
  s.connect(tcp::endpoint(boost::asio::ip::make_address("127.0.0.1"), server.port()));
  const std::string head = "GET / HTTP/1.1\r\nHost: x\r\n";
  boost::system::error_code ec;
  for (size_t i = 0; i < head.size() && !ec; ++i) {
    boost::asio::write(s, boost::asio::buffer(&head[i], 1), ec);
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  // The server gave up on the request and closed: reading sees the end.
  char b;
  s.read_some(boost::asio::buffer(&b, 1), ec);
  EXPECT_TRUE(ec == boost::asio::error::eof || ec == boost::asio::error::connection_reset)
      << ec.message();
  server.stop();
}

TEST(HttpServer, RefusesConnectionsBeyondTheCapAndServesAgainWhenTheyClose) {
  ServerSettings settings = loopback();
  settings.max_connections = 2;
  HttpServer server(settings, [](Request&&, const std::string&, Responder respond) {
    respond(Response{beast_http::status::no_content, 11});
  });
  server.start();
  boost::asio::io_context ioc;
  auto connect = [&] {
    tcp::socket s(ioc);
    s.connect(tcp::endpoint(boost::asio::ip::make_address("127.0.0.1"), server.port()));
    return s;
  };
  auto get = [&](tcp::socket& s) {
    beast_http::request<beast_http::empty_body> req{beast_http::verb::get, "/", 11};
    beast_http::write(s, req);
    beast::flat_buffer buffer;
    beast_http::response<beast_http::string_body> res;
    beast_http::read(s, buffer, res);
    return res.result_int();
  };
  auto a = connect();
  auto b = connect();
  EXPECT_EQ(get(a), 204);  // both accepted before the third arrives
  EXPECT_EQ(get(b), 204);
  auto c = connect();
  EXPECT_EQ(get(c), 503);
  a.close();
  b.close();
  bool served = false;
  for (int i = 0; i < 100 && !served; ++i) {
    auto d = connect();
    served = get(d) == 204;
    if (!served) std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  EXPECT_TRUE(served);
  EXPECT_LE(server.open_connections(), 2u);
  server.stop();
}

// What Beast's serializer writes before a body, for the header of `res`.
std::string beast_header(const Response& res) {
  std::ostringstream out;
  out << res.base();
  return out.str();
}

TEST(SerializeHeader, WritesWhatBeastsSerializerWrites) {
  std::vector<Response> responses;
  Response ok{beast_http::status::ok, 11};
  ok.set(beast_http::field::content_type, "application/octet-stream");
  ok.set(beast_http::field::etag, "\"3:17\"");
  ok.set("X-KV-Position", "3:17");
  ok.set("X-KV-Cache", "hit");
  ok.body() = "value";
  ok.prepare_payload();
  responses.push_back(ok);
  Response not_modified{beast_http::status::not_modified, 11};
  not_modified.set(beast_http::field::etag, "\"3:17\"");
  responses.push_back(not_modified);
  Response closing{beast_http::status::service_unavailable, 10};
  closing.keep_alive(true);
  closing.set(beast_http::field::retry_after, "1");
  responses.push_back(closing);
  Response head{beast_http::status::not_found, 11};
  head.content_length(55);
  head.keep_alive(false);
  responses.push_back(head);
  Response custom{beast_http::status::ok, 11};
  custom.reason("Fine");
  custom.set("X-Empty", "");
  responses.push_back(custom);
  std::string out = "left over from an earlier, longer response header of this connection";
  for (const Response& res : responses) {
    serialize_header(res, out);
    EXPECT_EQ(out, beast_header(res));
  }
}

// Writes `raw` on a new connection in the given pieces (a short pause
// between them, so that the server sees them arrive apart) and reads
// `answers` responses.
std::vector<beast_http::response<beast_http::string_body>> exchange(
    uint16_t port, const std::vector<std::string>& pieces, size_t answers) {
  boost::asio::io_context ioc;
  beast::tcp_stream stream(ioc);
  stream.expires_after(std::chrono::seconds(30));
  stream.connect(tcp::endpoint(boost::asio::ip::make_address("127.0.0.1"), port));
  for (size_t i = 0; i < pieces.size(); ++i) {
    if (i > 0) std::this_thread::sleep_for(std::chrono::milliseconds(30));
    boost::asio::write(stream, boost::asio::buffer(pieces[i]));
  }
  beast::flat_buffer buffer;
  std::vector<beast_http::response<beast_http::string_body>> out(answers);
  for (auto& res : out) beast_http::read(stream, buffer, res);
  return out;
}

// A handler that answers on the I/O thread with the method, target and body.
HttpServer echo_server() {
  return HttpServer(loopback(), [](Request&& req, const std::string&, Responder respond) {
    Response res{beast_http::status::ok, 11};
    res.body() =
        std::string(req.method_string()) + " " + std::string(req.target()) + " " + req.body();
    respond(std::move(res));
  });
}

TEST(HttpServer, AnswersPipelinedRequestsInOrder) {
  HttpServer server = echo_server();
  server.start();
  const std::string two =
      "GET /a HTTP/1.1\r\nHost: x\r\n\r\n"
      "PUT /b HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc"
      "GET /c HTTP/1.1\r\nHost: x\r\n\r\n";
  auto answers = exchange(server.port(), {two}, 3);
  EXPECT_EQ(answers[0].body(), "GET /a ");
  EXPECT_EQ(answers[1].body(), "PUT /b abc");
  EXPECT_EQ(answers[2].body(), "GET /c ");
  server.stop();
}

TEST(HttpServer, AnswersARequestThatArrivesInPieces) {
  HttpServer server = echo_server();
  server.start();
  // The header in three pieces, then the body in two.
  auto answers = exchange(
      server.port(),
      {"PUT /split HTTP/1.1\r\nHo", "st: x\r\nContent-Len", "gth: 6\r\n\r\nab", "cdef"}, 1);
  EXPECT_EQ(answers[0].result(), beast_http::status::ok);
  EXPECT_EQ(answers[0].body(), "PUT /split abcdef");
  server.stop();
}

TEST(HttpServer, SendsContinueToAClientThatWaitsForIt) {
  HttpServer server = echo_server();
  server.start();
  boost::asio::io_context ioc;
  beast::tcp_stream stream(ioc);
  stream.expires_after(std::chrono::seconds(30));
  stream.connect(tcp::endpoint(boost::asio::ip::make_address("127.0.0.1"), server.port()));
  const std::string head =
      "PUT /big HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 4\r\n\r\n";
  boost::asio::write(stream, boost::asio::buffer(head));
  beast::flat_buffer buffer;
  beast_http::response<beast_http::empty_body> proceed;
  beast_http::read(stream, buffer, proceed);
  EXPECT_EQ(proceed.result(), beast_http::status::continue_);
  boost::asio::write(stream, boost::asio::buffer(std::string("wxyz")));
  beast_http::response<beast_http::string_body> res;
  beast_http::read(stream, buffer, res);
  EXPECT_EQ(res.body(), "PUT /big wxyz");
  server.stop();
}

TEST(HttpServer, AnswersAMalformedRequestWith400AndCloses) {
  HttpServer server = echo_server();
  server.start();
  auto answers = exchange(server.port(), {"GET / HTTP/1.1\r\nHost x\r\n\r\n"}, 1);
  EXPECT_EQ(answers[0].result(), beast_http::status::bad_request);
  EXPECT_FALSE(answers[0].keep_alive());
  server.stop();
}

// A streamed answer: its header at once, then what is sent from another
// thread, chunked; finish() ends it; a client that goes away closes it.
TEST(HttpServer, AStreamedAnswerSendsChunksAsTheyComeAndNoticesAClientThatLeft) {
  std::mutex mu;
  std::condition_variable cv;
  std::vector<std::shared_ptr<EventStream>> streams;
  HttpServer server(loopback(), [&](Request&&, const std::string&, Responder respond) {
    Response header{beast_http::status::ok, 11};
    header.set(beast_http::field::content_type, "text/event-stream");
    auto stream = respond.stream(std::move(header));
    std::lock_guard<std::mutex> lock(mu);
    streams.push_back(stream);
    cv.notify_all();
  });
  server.start();
  auto connect = [&](beast::tcp_stream& stream) {
    stream.expires_after(std::chrono::seconds(10));
    stream.connect(tcp::endpoint(boost::asio::ip::make_address("127.0.0.1"), server.port()));
    beast_http::request<beast_http::string_body> req{beast_http::verb::get, "/watch", 11};
    beast_http::write(stream, req);
  };
  auto nth_stream = [&](size_t n) {
    std::unique_lock<std::mutex> lock(mu);
    EXPECT_TRUE(cv.wait_for(lock, std::chrono::seconds(10), [&] { return streams.size() > n; }));
    return streams[n];
  };

  boost::asio::io_context ioc;
  beast::tcp_stream first(ioc);
  connect(first);
  auto stream = nth_stream(0);
  beast::flat_buffer buffer;
  beast_http::response_parser<beast_http::string_body> parser;
  beast_http::read_header(first, buffer, parser);
  EXPECT_EQ(parser.get()[beast_http::field::content_type], "text/event-stream");
  EXPECT_TRUE(parser.get().chunked());
  EXPECT_TRUE(stream->send("data: 1\n\n"));
  EXPECT_TRUE(stream->send("data: 2\n\n"));
  while (parser.get().body().size() < 18) beast_http::read_some(first, buffer, parser);
  EXPECT_EQ(parser.get().body(), "data: 1\n\ndata: 2\n\n");
  // finish() drops what is queued and not yet written; `last` goes out.
  stream->finish("data: last\n\n");
  EXPECT_FALSE(stream->send("data: late\n\n"));
  beast_http::read(first, buffer, parser);
  EXPECT_EQ(parser.get().body(), "data: 1\n\ndata: 2\n\ndata: last\n\n");
  for (int i = 0; i < 1000 && !stream->closed(); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_TRUE(stream->closed());
  EXPECT_EQ(stream->pending_bytes(), 0U);

  beast::tcp_stream second(ioc);
  connect(second);
  auto left = nth_stream(1);
  EXPECT_FALSE(left->closed());
  second.close();
  for (int i = 0; i < 1000 && !left->closed(); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_TRUE(left->closed());
  EXPECT_FALSE(left->send("data: nobody\n\n"));
  server.stop();
  // A stream is its connection: it goes before the server's io_context.
  stream.reset();
  left.reset();
  streams.clear();
}

}  // namespace
}  // namespace kvstream::http
