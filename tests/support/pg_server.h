// A Postgres server of a test's own (tests/env/pg-env in a temporary
// folder), for tests that stop and restart the database. Never the shared
// server at KVSTREAM_TEST_PG_URL, which other tests use at the same time.
//
//   PgServer pg;                       // initdb + start (a few seconds)
//   std::string url = pg.create_database("kv");
//   pg.stop();  ...;  pg.start();      // same port, same data
#pragma once

#include <string>

namespace kvstream::testing {

class SmallDisk;

class PgServer {
 public:
  PgServer();   // throws std::runtime_error if the server does not start
  ~PgServer();  // stops it and removes its folder
  PgServer(const PgServer&) = delete;
  PgServer& operator=(const PgServer&) = delete;

  const std::string& server_url() const { return url_; }
  // Creates a database; returns its URL. With `disk`, the database lives in
  // a tablespace of its own on that disk (which can then be filled).
  std::string create_database(const std::string& name, const SmallDisk* disk = nullptr);

  void stop();   // fast shutdown: open connections are cut
  void start();  // again, on the same port

 private:
  std::string dir_;
  std::string url_;
};

}  // namespace kvstream::testing
