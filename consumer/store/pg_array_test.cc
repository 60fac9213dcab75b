#include "store/pg_array.h"

#include <gtest/gtest.h>

namespace kvstream::store {
namespace {

TEST(PgArrayBuilder, QuotesAndEscapesText) {
  PgArrayBuilder b;
  b.add_text("plain");
  b.add_text("with \"quote\" and \\ backslash");
  b.add_text("");
  b.add_null();
  EXPECT_EQ(b.finish(), R"({"plain","with \"quote\" and \\ backslash","",NULL})");
}

TEST(PgArrayBuilder, EncodesByteaAsHex) {
  PgArrayBuilder b;
  b.add_bytea(
      std::string("\x00\xff"
                  "A",
                  3));
  b.add_bytea("");
  EXPECT_EQ(b.finish(), R"({"\\x00ff41","\\x"})");
}

TEST(PgArrayBuilder, WritesIntegers) {
  PgArrayBuilder b;
  b.add_int(0);
  b.add_int(-5);
  b.add_int(INT64_MAX);
  EXPECT_EQ(b.finish(), "{0,-5,9223372036854775807}");
  EXPECT_EQ(PgArrayBuilder().finish(), "{}");
}

}  // namespace
}  // namespace kvstream::store
