// Point reads of the view (GET /v1/kv/{key} on a cache miss) without a
// thread of their own: up to `max_connections` libpq connections in
// non-blocking mode, driven by the threads that run an io_context (the HTTP
// server's). A read sends its prepared statement and returns; the
// io_context's reactor resumes it when the answer arrives, and its callback
// runs on that thread. So a miss costs no hand-off to another thread and
// back, and no thread sits blocked in a read.
//
//   PgAsyncReader reader(ioc, connect_executor, settings, 4, 2000ms);
//   reader.get("user:1", [](std::optional<StoredRow> row, const Error* error) { ... });
//
// Connections are opened on `connect_executor` (opening blocks in libpq),
// when a read finds none idle and fewer than max_connections are open, and
// kept; a connection that fails is dropped and a later read opens another.
// A read that finds every connection busy waits, in arrival order, at most
// `acquire_timeout`. Each connection has the statement timeout of
// PgSettings. The statement and the row are exchanged in libpq's binary
// format (the value's bytes as they are, no hex).
//
// Lifecycle: construct, read from any thread; stop the io_context's threads
// (and drain connect_executor) before destroying it: callbacks of reads
// still in flight then never run.
//
// Thread-safe: `mu_` guards the idle connections, the count of open ones,
// the waiting reads and their timer; a connection belongs to one read at a
// time, and only that read's handlers touch it.
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "common/error.h"
#include "store/pg_reader.h"
#include "store/pg_store.h"

namespace kvstream::store {

class PgAsyncReader {
 public:
  using Clock = std::chrono::steady_clock;
  // Exactly once per read: the row (nullopt: the key was never written), or
  // an error (transient: the database is down or slow, no connection came
  // free within the acquire timeout). `error` lives only during the call.
  using Done = std::function<void(std::optional<StoredRow> row, const Error* error)>;

  PgAsyncReader(boost::asio::io_context& ioc, boost::asio::any_io_executor connect_executor,
                PgSettings settings, size_t max_connections,
                std::chrono::milliseconds acquire_timeout);
  ~PgAsyncReader();
  PgAsyncReader(const PgAsyncReader&) = delete;
  PgAsyncReader& operator=(const PgAsyncReader&) = delete;

  void get(std::string key, Done done);

  // Connections open now (idle or busy).
  size_t open_connections() const;

 private:
  struct Connection;
  struct Waiting {
    std::string key;
    Done done;
    Clock::time_point deadline;
  };

  void open_connection();
  // Serves the oldest waiting read with `c`, or keeps it idle.
  void release(Connection* c);
  void start(Connection* c, std::string key, Done done);
  void flush(Connection* c);
  void wait_readable(Connection* c);
  void on_readable(Connection* c);
  void finish(Connection* c);
  // Drops a connection that failed, and fails its read.
  void fail(Connection* c, const Error& error);
  // Fails `reads` with `error` (mu_ not held).
  static void fail_all(std::vector<Waiting>& reads, const Error& error);
  void arm_timer();  // mu_ held
  void on_timer();

  boost::asio::io_context& ioc_;
  const boost::asio::any_io_executor connect_executor_;
  const PgSettings settings_;
  const size_t max_connections_;
  const std::chrono::milliseconds acquire_timeout_;

  mutable std::mutex mu_;
  std::vector<std::unique_ptr<Connection>> connections_;  // guarded by mu_; open ones
  std::vector<Connection*> idle_;                         // guarded by mu_
  size_t connecting_ = 0;                                 // guarded by mu_
  std::deque<Waiting> waiting_;                           // guarded by mu_
  boost::asio::steady_timer timer_;                       // guarded by mu_
  bool timer_armed_ = false;                              // guarded by mu_
  bool stopped_ = false;                                  // guarded by mu_
};

}  // namespace kvstream::store
