#include "store/socket_deadline.h"

#include <gtest/gtest.h>
#include <sys/socket.h>
#include <unistd.h>

#include <thread>

#include "store/pg_store.h"

namespace kvstream::store {
namespace {

using namespace std::chrono_literals;

struct SocketPair {
  int fds[2] = {-1, -1};
  SocketPair() { EXPECT_EQ(::socketpair(AF_UNIX, SOCK_STREAM, 0, fds), 0); }
  ~SocketPair() {
    ::close(fds[0]);
    ::close(fds[1]);
  }
};

TEST(SocketDeadline, AReadThatNothingAnswersEndsAtTheDeadline) {
  SocketPair link;  // the other end stays open and silent: half-open
  const auto start = SocketDeadline::Clock::now();
  SocketDeadline deadline(link.fds[0], start + 100ms);
  char byte;
  // Blocks until the watchdog shuts the socket down: then end of stream.
  EXPECT_EQ(::recv(link.fds[0], &byte, 1, 0), 0);
  EXPECT_GE(SocketDeadline::Clock::now() - start, 100ms);
  EXPECT_TRUE(deadline.fired());
}

TEST(SocketDeadline, ADisarmedDeadlineLeavesTheSocketAlone) {
  SocketPair link;
  { SocketDeadline deadline(link.fds[0], SocketDeadline::Clock::now() + 20ms); }
  std::this_thread::sleep_for(100ms);
  ASSERT_EQ(::send(link.fds[1], "x", 1, 0), 1);
  char byte = 0;
  EXPECT_EQ(::recv(link.fds[0], &byte, 1, 0), 1);
  EXPECT_EQ(byte, 'x');
}

TEST(SocketDeadline, DisarmingTheDeadlineTheWatchdogWaitsOnLeavesTheOthersOnTime) {
  SocketPair first;
  SocketPair second;
  const auto start = SocketDeadline::Clock::now();
  {
    SocketDeadline earliest(first.fds[0], start + 10s);
    std::this_thread::sleep_for(50ms);  // the watchdog now waits on it
  }
  // Wakes the watchdog, whose earliest entry is gone (use after free under
  // ASan if it kept a reference to it).
  SocketDeadline later(second.fds[0], SocketDeadline::Clock::now() + 100ms);
  char byte;
  EXPECT_EQ(::recv(second.fds[0], &byte, 1, 0), 0);
  EXPECT_TRUE(later.fired());
  EXPECT_LT(SocketDeadline::Clock::now() - start, 5s);
}

TEST(SocketDeadline, AnAnsweredCallDoesNotFire) {
  SocketPair link;
  SocketDeadline deadline(link.fds[0], SocketDeadline::Clock::now() + 10s);
  ASSERT_EQ(::send(link.fds[1], "y", 1, 0), 1);
  char byte = 0;
  EXPECT_EQ(::recv(link.fds[0], &byte, 1, 0), 1);
  EXPECT_FALSE(deadline.fired());
}

TEST(WithConnectTimeout, AddsItInTheFormOfTheConnectionString) {
  EXPECT_EQ(with_connect_timeout("postgresql://u@h:5432/db", 10000ms),
            "postgresql://u@h:5432/db?connect_timeout=10");
  EXPECT_EQ(with_connect_timeout("postgres://h/db?sslmode=require", 2500ms),
            "postgres://h/db?sslmode=require&connect_timeout=3");
  EXPECT_EQ(with_connect_timeout("host=h dbname=db", 500ms), "host=h dbname=db connect_timeout=2");
  EXPECT_EQ(with_connect_timeout("", 10000ms), "connect_timeout=10");
}

TEST(WithConnectTimeout, KeepsTheOneTheUserSet) {
  EXPECT_EQ(with_connect_timeout("postgresql://h/db?connect_timeout=30", 10000ms),
            "postgresql://h/db?connect_timeout=30");
  EXPECT_EQ(with_connect_timeout("host=h connect_timeout=1", 10000ms), "host=h connect_timeout=1");
}

}  // namespace
}  // namespace kvstream::store
