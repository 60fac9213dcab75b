#include "tests/support/test_database.h"

#include "tests/support/test_env.h"

namespace kvstream::testing {

std::string with_database(const std::string& url, const std::string& database) {
  const auto scheme = url.find("://");
  const auto path = url.find('/', scheme == std::string::npos ? 0 : scheme + 3);
  const auto query = url.find('?');
  std::string out = path == std::string::npos ? url.substr(0, query) : url.substr(0, path);
  out += "/" + database;
  if (query != std::string::npos) out += url.substr(query);
  return out;
}

TestDatabase::TestDatabase() : name_(unique_name("kvt")) {
  const std::string server = test_pg_url();
  pqxx::connection admin(server);
  pqxx::nontransaction(admin).exec("CREATE DATABASE " + name_);
  url_ = with_database(server, name_);
}

TestDatabase::~TestDatabase() {
  try {
    pqxx::connection admin(test_pg_url());
    pqxx::nontransaction(admin).exec("DROP DATABASE IF EXISTS " + name_ + " WITH (FORCE)");
  } catch (...) {
    // The server goes away with the test run anyway.
  }
}

std::unique_ptr<pqxx::connection> TestDatabase::connect() const {
  return std::make_unique<pqxx::connection>(url_);
}

}  // namespace kvstream::testing
