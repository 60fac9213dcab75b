// Database faults a test injects from the outside, as an operator (or an
// accident) could: cutting the sessions of kvstream, and holding a table lock
// (a slow database). Stopping and restarting the server is PgServer's.
#pragma once

#include <chrono>
#include <cstddef>
#include <string>

namespace kvstream::testing {

// pg_terminate_backend for every session of the database at `db_url` whose
// application_name starts with `application_prefix` (kvstream names its
// connections kvstream-apply, kvstream-read, ...), except the caller's own.
// Returns how many were terminated. Throws pqxx exceptions.
size_t terminate_backends(const std::string& db_url,
                          const std::string& application_prefix = "kvstream");

// What hold_table_lock did.
struct TableLockResult {
  bool acquired = false;
  std::chrono::milliseconds waited{0};  // to acquire it
  std::chrono::milliseconds held{0};
  std::string error;  // why it was not acquired or was cut short
};

// Takes `LOCK TABLE <table> IN <mode> MODE` in a transaction of its own and
// holds it for `hold`, then rolls back. Waits at most `acquire_timeout` for
// the lock (lock_timeout). Blocking; never throws (errors are in the result).
TableLockResult hold_table_lock(
    const std::string& db_url, const std::string& table, const std::string& mode,
    std::chrono::milliseconds hold,
    std::chrono::milliseconds acquire_timeout = std::chrono::seconds(10));

}  // namespace kvstream::testing
