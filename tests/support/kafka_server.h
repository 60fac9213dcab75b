// A Kafka broker of a test's own (tests/env/kafka-env in a temporary
// folder), for tests that crash and restart the broker. Never the shared
// broker at KVSTREAM_TEST_BROKERS, which other tests use at the same time.
//
//   KafkaServer kafka;                 // format + start (10-60 s)
//   create_topic(kafka.brokers(), "t", 6);
//   kafka.kill();  ...;  kafka.start(); // kill -9, then the same port and data
//
// Not thread-safe: one thread drives it.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <map>
#include <string>

namespace kvstream::testing {

// Makes kafka-env and pg-env pick the ports of new servers outside the
// kernel's ephemeral port range (KVTEST_ENV_PORTS, tests/env/lib.sh),
// unless it is set already: while a server is down, its clients' reconnects
// cannot then take its port (a TCP self-connect) and keep it from starting
// again on it. Sets an environment variable: call it before any thread runs.
void avoid_ephemeral_ports();

class KafkaServer {
 public:
  // Starts a broker in a new folder under /tmp. Throws std::runtime_error if
  // it does not start. With `proxied_listen_port` and `proxied_advertised_port`
  // set (non-zero), the broker has a second listener on the first that
  // advertises the second (kafka-env, KVTEST_KAFKA_PROXIED): a fault proxy
  // on the advertised port that forwards to the listener carries all the
  // traffic of the clients that bootstrap through it.
  KafkaServer();
  KafkaServer(uint16_t proxied_listen_port, uint16_t proxied_advertised_port);
  ~KafkaServer();  // stops it (by its pid) and removes its folder
  KafkaServer(const KafkaServer&) = delete;
  KafkaServer& operator=(const KafkaServer&) = delete;

  // The bootstrap address, 127.0.0.1:PORT; the same across restarts.
  const std::string& brokers() const { return brokers_; }
  const std::string& dir() const { return dir_; }
  // The running broker's pid, or -1 when none runs.
  pid_t pid() const;
  bool running() const { return pid() > 0; }

  // kill -9 (a crash: nothing is flushed, no controlled shutdown); returns
  // once the process is gone.
  void kill();
  // A clean stop (SIGTERM, SIGKILL after 30 s).
  void stop();
  // Starts it again on the same ports and data; returns once it answers
  // metadata requests. Throws std::runtime_error if it does not.
  void start();

 private:
  std::string kafka_env(const std::string& action,
                        const std::map<std::string, std::string>& env = {});

  std::string dir_;
  std::string brokers_;
};

}  // namespace kvstream::testing
