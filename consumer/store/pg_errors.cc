#include "store/pg_errors.h"

#include <pqxx/pqxx>

namespace kvstream::store {

bool is_transient_sqlstate(std::string_view state) {
  if (state.size() != 5) return false;
  const std::string_view cls = state.substr(0, 2);
  return cls == "08"           // connection exception
         || cls == "40"        // transaction rollback: serialization, deadlock
         || cls == "53"        // insufficient resources
         || cls == "57"        // operator intervention: query canceled (statement timeout),
                               // admin shutdown, cannot connect now
         || state == "55P03";  // lock not available
}

void rethrow_as_error(const std::string& context) {
  try {
    throw;
  } catch (const Error&) {
    throw;
  } catch (const pqxx::broken_connection& e) {
    throw Error(ErrorKind::kTransient, context + ": connection lost: " + e.what());
  } catch (const pqxx::in_doubt_error& e) {
    throw Error(ErrorKind::kTransient, context + ": commit outcome unknown: " + e.what());
  } catch (const pqxx::sql_error& e) {
    const ErrorKind kind =
        is_transient_sqlstate(e.sqlstate()) ? ErrorKind::kTransient : ErrorKind::kFatal;
    throw Error(kind, context + ": " + e.what() + " (SQLSTATE " + e.sqlstate() + ")");
  } catch (const std::exception& e) {
    throw Error(ErrorKind::kFatal, context + ": " + e.what());
  }
}

}  // namespace kvstream::store
