// A Server-Sent Events client for tests (GET /v1/watch): connects, reads the
// answer on a thread of its own, and keeps every event it received, as an
// EventSource would dispatch them (a block without data moves the last id
// only).
//
//   SseClient watch(replica.port(), "/v1/watch?prefix=user:");
//   ASSERT_EQ(watch.status(10s), 200);
//   ASSERT_TRUE(eventually([&] { return watch.count() >= 3; }, 30s));
//   for (const SseEvent& e : watch.events()) ...
#pragma once

#include <chrono>
#include <condition_variable>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace kvstream::testing {

struct SseEvent {
  std::string type;  // "put", "delete", "error"
  std::string id;    // the last id when it was dispatched
  std::string data;
};

// Parses the whole blocks of `text` from `from` on: each with data into
// `out`, each id into `last_id` (also a block without data, as an
// EventSource does). Returns where the first incomplete block begins.
size_t parse_sse(const std::string& text, size_t from, std::string& last_id,
                 std::vector<SseEvent>& out);

class SseClient {
 public:
  struct Options {
    std::map<std::string, std::string> headers;  // e.g. Last-Event-ID
    // The socket's receive buffer (SO_RCVBUF) when not 0: a small one makes
    // a client that does not read fill up quickly.
    int receive_buffer = 0;
    // false: connect and send the request, but read nothing until
    // start_reading().
    bool read = true;
  };

  SseClient(uint16_t port, std::string target);
  SseClient(uint16_t port, std::string target, Options options);
  ~SseClient();  // closes
  SseClient(const SseClient&) = delete;
  SseClient& operator=(const SseClient&) = delete;

  void start_reading();
  // The answer's status, waiting up to `timeout` for it (0: none came).
  int status(std::chrono::milliseconds timeout);
  // The body of an answer that is not a stream (an error), once read whole.
  std::string body();
  std::vector<SseEvent> events();
  size_t count();
  std::string last_id();
  // Whether the server ended the answer (or the connection).
  bool ended();
  // Closes the connection (the client leaves).
  void close();

 private:
  void run();

  const uint16_t port_;
  const std::string target_;
  const Options options_;
  std::mutex mu_;
  std::condition_variable cv_;
  int status_ = 0;                // guarded by mu_
  bool ended_ = false;            // guarded by mu_
  bool reading_ = false;          // guarded by mu_
  bool closing_ = false;          // guarded by mu_
  int fd_ = -1;                   // guarded by mu_
  std::string body_;              // guarded by mu_
  std::vector<SseEvent> events_;  // guarded by mu_
  std::string last_id_;           // guarded by mu_
  std::thread thread_;
};

}  // namespace kvstream::testing
