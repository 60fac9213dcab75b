// The schema's migrations (schema/sql) applied to the database, at a
// replica's start and by `kvstream-consumer migrate`.
#pragma once

#include <functional>

#include "schema/migrations.h"
#include "store/pg_store.h"

namespace kvstream::store {

// Applies the pending migrations, retrying transient failures (the database
// not up yet, a table lock not granted in time) with backoff until
// `give_up` says so (always: one attempt). Throws kvstream::Error.
schema::MigrateResult migrate_database(const PgSettings& pg, const std::function<bool()>& give_up);

}  // namespace kvstream::store
