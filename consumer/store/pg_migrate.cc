#include "store/pg_migrate.h"

#include <spdlog/spdlog.h>

#include <chrono>
#include <thread>

#include "common/backoff.h"
#include "common/error.h"

namespace kvstream::store {

namespace {

// `step` on a new connection, again after a transient failure until
// `give_up` says so.
template <typename Step>
auto with_retries(const PgSettings& pg, const std::function<bool()>& give_up, Step step) {
  Backoff backoff(std::chrono::milliseconds(200), std::chrono::seconds(5));
  for (;;) {
    try {
      auto conn = connect(pg, "kvstream-migrate");
      return step(*conn, schema::load_migrations(schema::embedded_migrations()));
    } catch (const Error& e) {
      if (!e.retryable() || give_up()) throw;
      auto delay = backoff.next();
      spdlog::warn("{}; retrying in {} ms", e.what(), delay.count());
      std::this_thread::sleep_for(delay);
    }
  }
}

}  // namespace

schema::MigrateResult migrate_database(const PgSettings& pg, const std::string& binary,
                                       const std::function<bool()>& give_up) {
  return with_retries(pg, give_up,
                      [&](pqxx::connection& conn, const std::vector<schema::Migration>& all) {
                        return schema::migrate(conn, all, binary);
                      });
}

int check_database_schema(const PgSettings& pg, const std::string& binary,
                          const std::function<bool()>& give_up) {
  return with_retries(pg, give_up,
                      [&](pqxx::connection& conn, const std::vector<schema::Migration>& all) {
                        return schema::check_schema_version(conn, all, binary);
                      });
}

}  // namespace kvstream::store
