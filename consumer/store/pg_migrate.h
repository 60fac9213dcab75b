// The schema's migrations (schema/sql) applied to the database, at a
// replica's start and by `kvstream-consumer migrate`, and the schema version
// check of a replica that does not migrate.
#pragma once

#include <functional>

#include "schema/migrations.h"
#include "store/pg_store.h"

namespace kvstream::store {

// Applies the pending migrations, recorded as applied by `binary` (the
// program and its version, "kvstream-consumer 0.1.0"), retrying transient
// failures (the database not up yet, a table lock not granted in time) with
// backoff until `give_up` says so (always: one attempt). Throws
// kvstream::Error; schema::SchemaTooNew if the database's schema is newer
// than the binary's migrations.
schema::MigrateResult migrate_database(const PgSettings& pg, const std::string& binary,
                                       const std::function<bool()>& give_up);

// Without migrating: throws schema::SchemaTooNew if the database's schema is
// newer than the binary's migrations, retrying transient failures like
// `migrate_database`. Returns the database's schema version.
int check_database_schema(const PgSettings& pg, const std::string& binary,
                          const std::function<bool()>& give_up);

}  // namespace kvstream::store
