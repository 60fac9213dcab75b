#include "tests/support/pg_server.h"

#include <stdlib.h>

#include <pqxx/pqxx>
#include <stdexcept>

#include "tests/support/process.h"
#include "tests/support/small_disk.h"
#include "tests/support/test_database.h"
#include "tests/support/test_env.h"

namespace kvstream::testing {

namespace {

std::string pg_env(const std::string& action, const std::string& dir) {
  auto r =
      run_command({source_dir() + "/tests/env/pg-env", action, dir}, {}, std::chrono::seconds(120));
  if (r.exit_code != 0) {
    throw std::runtime_error("pg-env " + action + " " + dir + " exited " +
                             std::to_string(r.exit_code) + ": " + r.out);
  }
  while (!r.out.empty() && (r.out.back() == '\n' || r.out.back() == '\r')) r.out.pop_back();
  return r.out;
}

}  // namespace

PgServer::PgServer() {
  // Directly under /tmp: as root, pg-env hands the folder to `nobody`, who
  // must be able to reach it.
  char dir[] = "/tmp/kvstream-pg-XXXXXX";
  if (mkdtemp(dir) == nullptr) throw std::runtime_error("mkdtemp failed");
  dir_ = dir;
  url_ = pg_env("start", dir_);
  // pg-env prints progress lines before the URL on first start, if any.
  const auto nl = url_.rfind('\n');
  if (nl != std::string::npos) url_ = url_.substr(nl + 1);
}

PgServer::~PgServer() {
  try {
    pg_env("destroy", dir_);
  } catch (...) {
    // Best effort: the folder is under /tmp.
  }
}

std::string PgServer::create_database(const std::string& name, const SmallDisk* disk) {
  pqxx::connection admin(url_);
  pqxx::nontransaction tx(admin);
  if (disk == nullptr) {
    tx.exec("CREATE DATABASE " + name);
  } else {
    disk->chown_like(tx.exec1("SHOW data_directory")[0].as<std::string>());
    tx.exec("CREATE TABLESPACE " + name + "_space LOCATION " + tx.quote(disk->dir()));
    tx.exec("CREATE DATABASE " + name + " TABLESPACE " + name + "_space");
  }
  return with_database(url_, name);
}

void PgServer::stop() { pg_env("stop", dir_); }

void PgServer::start() { pg_env("start", dir_); }

}  // namespace kvstream::testing
