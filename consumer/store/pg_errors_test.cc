#include "store/pg_errors.h"

#include <gtest/gtest.h>

#include <pqxx/pqxx>

namespace kvstream::store {
namespace {

ErrorKind kind_of(const std::function<void()>& thrower) {
  try {
    try {
      thrower();
    } catch (...) {
      rethrow_as_error("test");
    }
  } catch (const Error& e) {
    return e.kind();
  }
  ADD_FAILURE() << "nothing was thrown";
  return ErrorKind::kFatal;
}

TEST(PgErrors, ConnectionLossAndUnknownCommitsAreTransient) {
  EXPECT_EQ(kind_of([] { throw pqxx::broken_connection("gone"); }), ErrorKind::kTransient);
  EXPECT_EQ(kind_of([] { throw pqxx::in_doubt_error("unknown"); }), ErrorKind::kTransient);
}

TEST(PgErrors, RetryableSqlStatesAreTransient) {
  for (const char* state : {"40001", "40P01", "57014", "57P01", "08006", "53300", "55P03"}) {
    EXPECT_EQ(kind_of([&] { throw pqxx::sql_error("x", "SELECT 1", state); }),
              ErrorKind::kTransient)
        << state;
  }
}

TEST(PgErrors, OtherDatabaseErrorsAreFatal) {
  for (const char* state : {"42P01", "23505", "22P02", "42703"}) {
    EXPECT_EQ(kind_of([&] { throw pqxx::sql_error("x", "SELECT 1", state); }), ErrorKind::kFatal)
        << state;
  }
  EXPECT_EQ(kind_of([] { throw std::runtime_error("bug"); }), ErrorKind::kFatal);
}

TEST(PgErrors, KvstreamErrorsPassThrough) {
  EXPECT_EQ(kind_of([] { throw Error(ErrorKind::kPermanent, "bad record"); }),
            ErrorKind::kPermanent);
}

}  // namespace
}  // namespace kvstream::store
