// Versioned Postgres migrations (schema/sql/NNNN_name.sql), applied in order.
//
// `migrate` takes a session-level advisory lock, so replicas that start
// together apply each migration exactly once; each migration runs in its own
// transaction and is recorded in `kvstream_migrations` with a checksum. Re-
// running is a no-op. A migration that fails rolls back and leaves the
// database as it was before that migration. An applied migration whose text
// changed is refused (edit by adding a new migration, never in place).
// Waiting for the lock and running a migration are exempt from the
// connection's statement_timeout, so a replica waits out another's long
// migration instead of failing.
#pragma once

#include <pqxx/pqxx>
#include <string>
#include <vector>

namespace kvstream::schema {

struct EmbeddedMigration {
  const char* file;  // "0001_init.sql"
  const char* sql;
};

// The migrations compiled into this binary, in order.
const std::vector<EmbeddedMigration>& embedded_migrations();

struct Migration {
  int version;       // from the file name's number
  std::string name;  // the file name without number and extension
  std::string sql;
};

// Parses the embedded list (or a test's own list).
std::vector<Migration> load_migrations(const std::vector<EmbeddedMigration>& files);

struct MigrateResult {
  std::vector<int> applied;  // versions applied by this call
  int current_version = 0;   // highest version now in the database
};

// Applies pending migrations. Throws kvstream::Error: transient for a broken
// connection, fatal for anything else (a failed migration, a checksum
// mismatch, a refused lock or bookkeeping statement).
MigrateResult migrate(pqxx::connection& conn, const std::vector<Migration>& migrations);

// Versions recorded in the database (empty if it was never migrated).
std::vector<int> applied_versions(pqxx::connection& conn);

}  // namespace kvstream::schema
