// A client-side deadline for a blocking libpq (libpqxx) call.
//
// Postgres ends a statement that runs too long itself (statement_timeout),
// but only one that reached it. When the link is half-open (a middlebox or
// a frozen server keeps the connection open and answers nothing), a
// blocking call would wait forever: the apply worker stalls its partitions
// without a word. Armed around such a call, a SocketDeadline shuts the
// connection's socket down once the deadline passes; the call then fails as
// a lost connection (transient), the caller drops the connection and the
// batch is retried on a new one (whose start is bounded by libpq's
// connect_timeout).
//
// One watchdog thread serves every deadline of the process; it starts with
// the first one and lives as long as the process.
#pragma once

#include <chrono>
#include <cstdint>

namespace kvstream::store {

class SocketDeadline {
 public:
  using Clock = std::chrono::steady_clock;

  // Arms the deadline for the socket `fd` (a negative fd arms nothing).
  SocketDeadline(int fd, Clock::time_point deadline);
  // Disarms it: call (destroy) before the socket can be closed.
  ~SocketDeadline();
  SocketDeadline(const SocketDeadline&) = delete;
  SocketDeadline& operator=(const SocketDeadline&) = delete;

  // Whether the deadline passed and the socket was shut down.
  bool fired() const;

 private:
  uint64_t id_ = 0;  // 0: nothing armed
};

}  // namespace kvstream::store
