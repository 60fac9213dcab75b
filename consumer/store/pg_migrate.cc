#include "store/pg_migrate.h"

#include <spdlog/spdlog.h>

#include <chrono>
#include <thread>

#include "common/backoff.h"
#include "common/error.h"

namespace kvstream::store {

schema::MigrateResult migrate_database(const PgSettings& pg, const std::function<bool()>& give_up) {
  Backoff backoff(std::chrono::milliseconds(200), std::chrono::seconds(5));
  for (;;) {
    try {
      auto conn = connect(pg, "kvstream-migrate");
      return schema::migrate(*conn, schema::load_migrations(schema::embedded_migrations()));
    } catch (const Error& e) {
      if (!e.retryable() || give_up()) throw;
      auto delay = backoff.next();
      spdlog::warn("{}; retrying in {} ms", e.what(), delay.count());
      std::this_thread::sleep_for(delay);
    }
  }
}

}  // namespace kvstream::store
