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
//
// Each row of `kvstream_migrations` records who applied it (`applied_by`, the
// program and its version, NULL for rows written before version 3) and when
// (`applied_at`). A binary never runs on a schema newer than it knows: when
// the database holds a migration above the newest one of the binary,
// `migrate` and `check_schema_version` throw `SchemaTooNew` and change
// nothing. The schema is older-binary compatible by rule (schema/README.md),
// but the binary cannot know what a future migration did, so it refuses.
#pragma once

#include <pqxx/pqxx>
#include <string>
#include <vector>

#include "common/error.h"

namespace kvstream::schema {

// The database's schema is newer than the running binary knows (a fatal
// error: retrying cannot help; the binary must be upgraded or the database
// restored).
class SchemaTooNew : public Error {
 public:
  explicit SchemaTooNew(const std::string& message) : Error(ErrorKind::kFatal, message) {}
};

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

// The highest version of `migrations` (0 if there is none).
int newest_version(const std::vector<Migration>& migrations);

// Why a binary whose newest migration is `known_version` must not run on a
// database at `database_version`: one line naming both versions and what to
// do, or an empty string when it may run (the database is at that version
// or older). `binary` names the program and its version for the line, e.g.
// "kvstream-consumer 0.1.0" (empty: "this binary").
//
//   newer_schema_refusal(3, 2, "kvstream-consumer 0.1.0")
//   == "the database schema is at version 3 but this binary
//       (kvstream-consumer 0.1.0) knows migrations up to version 2: ..."
std::string newer_schema_refusal(int database_version, int known_version,
                                 const std::string& binary);

struct MigrateResult {
  std::vector<int> applied;  // versions applied by this call
  int current_version = 0;   // highest version now in the database
};

// Applies pending migrations, recording `applied_by` (the program and its
// version, e.g. "kvstream-consumer 0.1.0"; empty: NULL) with each. Throws
// kvstream::Error: transient for a broken connection, SchemaTooNew if the
// database holds a version above the newest of `migrations` (checked under
// the lock, before anything is applied), fatal for anything else (a failed
// migration, a checksum mismatch, a refused lock or bookkeeping statement).
MigrateResult migrate(pqxx::connection& conn, const std::vector<Migration>& migrations,
                      const std::string& applied_by = {});

// Versions recorded in the database (empty if it was never migrated).
std::vector<int> applied_versions(pqxx::connection& conn);

// For a binary that does not migrate (`--no-migrate`): throws SchemaTooNew if
// the database's schema is newer than the newest of `migrations`, and
// returns the database's version (0 if it was never migrated). A database
// behind the binary is not refused here. Reads only; takes no lock.
int check_schema_version(pqxx::connection& conn, const std::vector<Migration>& migrations,
                         const std::string& binary);

}  // namespace kvstream::schema
