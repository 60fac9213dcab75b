// A database of its own for one test, on the shared throwaway Postgres
// server: created empty by the constructor, dropped by the destructor.
#pragma once

#include <memory>
#include <pqxx/pqxx>
#include <string>

namespace kvstream::testing {

// `url` with its database name replaced by `database`.
std::string with_database(const std::string& url, const std::string& database);

class TestDatabase {
 public:
  TestDatabase();
  ~TestDatabase();
  TestDatabase(const TestDatabase&) = delete;
  TestDatabase& operator=(const TestDatabase&) = delete;

  const std::string& name() const { return name_; }
  const std::string& url() const { return url_; }
  std::unique_ptr<pqxx::connection> connect() const;

 private:
  std::string name_;
  std::string url_;
};

}  // namespace kvstream::testing
