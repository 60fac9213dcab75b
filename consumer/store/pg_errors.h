// Converts what libpqxx throws into kvstream::Error, keeping the one bit that
// matters: can retrying help?
#pragma once

#include <string>
#include <string_view>

#include "common/error.h"

namespace kvstream::store {

// Call inside a catch block: rethrows the current exception as a
// kvstream::Error. Transient: broken connections, statement timeouts,
// serialization failures and deadlocks, a server shutting down, an unknown
// commit outcome (in doubt; the offset fence makes the retry safe). Anything
// else from the database is fatal (a bug or a schema mismatch).
[[noreturn]] void rethrow_as_error(const std::string& context);

// Whether an error with this SQLSTATE may go away on a retry (connection
// exceptions, serialization failures and deadlocks, insufficient
// resources, operator intervention such as a statement timeout, a lock not
// available).
bool is_transient_sqlstate(std::string_view state);

}  // namespace kvstream::store
