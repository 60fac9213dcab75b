// The ways the database ceiling writes a partition batch: the same final
// table and the same guarantees (the fenced position and the rows in one
// transaction, an older offset never overwriting a newer one), different
// SQL. The ceiling reports each, and the best is what kvstream is measured
// against.
//
//   kvstream     store::PgStore, the replica's own statement: fence and
//                upsert as CTEs of one statement, columns as binary arrays
//   unnest-text  the statements of kvstream before it: BEGIN, the fence
//                UPDATE, the upsert from unnest() of array literals (values
//                hex-encoded), COMMIT
//   copy-binary  BEGIN, the fence, a binary COPY of the batch into a
//                temporary staging table, one INSERT ... SELECT ... ON
//                CONFLICT from it, COMMIT (libpq's COPY protocol)
//   merge        MERGE from unnest() of binary arrays (Postgres 15), in one
//                statement with the fence, like kvstream's
//
// Not thread-safe: one writer per connection.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "store/store.h"

namespace kvstream::bench {

class BatchWriter {
 public:
  virtual ~BatchWriter() = default;
  // Throws std::runtime_error when fenced or on an error.
  virtual void apply(const store::PartitionBatch& batch) = 0;
};

// The methods, by name, in the order the ceiling runs them.
const std::vector<std::string>& ceiling_methods();

// A writer of `method` on a new connection to `pg_url`; throws
// std::invalid_argument for an unknown method.
std::unique_ptr<BatchWriter> make_batch_writer(const std::string& method,
                                               const std::string& pg_url);

}  // namespace kvstream::bench
