#include "tests/support/pg_faults.h"

#include <pqxx/pqxx>
#include <thread>

namespace kvstream::testing {

size_t terminate_backends(const std::string& db_url, const std::string& application_prefix) {
  pqxx::connection conn(db_url);
  pqxx::nontransaction tx(conn);
  size_t n = 0;
  for (const auto& r :
       tx.exec_params("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                      "WHERE datname = current_database() AND pid <> pg_backend_pid() "
                      "AND starts_with(application_name, $1)",
                      application_prefix)) {
    if (r[0].as<bool>()) ++n;
  }
  return n;
}

TableLockResult hold_table_lock(const std::string& db_url, const std::string& table,
                                const std::string& mode, std::chrono::milliseconds hold,
                                std::chrono::milliseconds acquire_timeout) {
  using Clock = std::chrono::steady_clock;
  TableLockResult result;
  const auto start = Clock::now();
  auto held_from = start;
  auto since = [](Clock::time_point t) {
    return std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - t);
  };
  try {
    pqxx::connection conn(db_url);
    pqxx::work tx(conn);
    tx.exec("SET LOCAL lock_timeout = " + std::to_string(acquire_timeout.count()));
    tx.exec("LOCK TABLE " + tx.quote_name(table) + " IN " + mode + " MODE");
    result.acquired = true;
    result.waited = since(start);
    held_from = Clock::now();
    std::this_thread::sleep_for(hold);
    // A query at the end: fails if the server cut the session meanwhile.
    tx.exec("SELECT 1");
    result.held = since(held_from);
    tx.abort();
  } catch (const std::exception& e) {
    result.error = e.what();
    if (result.acquired) {
      result.held = since(held_from);
    } else {
      result.waited = since(start);
    }
  }
  return result;
}

}  // namespace kvstream::testing
