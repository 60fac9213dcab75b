#include "store/pg_binary_array.h"

#include <gtest/gtest.h>

namespace kvstream::store {
namespace {

std::string be32(uint32_t v) {
  return {static_cast<char>(v >> 24), static_cast<char>(v >> 16), static_cast<char>(v >> 8),
          static_cast<char>(v)};
}

TEST(PgBinaryArray, EncodesOneDimensionWithLengthsAndBytes) {
  PgBinaryArray a(PgBinaryArray::kBytea);
  a.add(std::string("\0\xff", 2));
  a.add("");
  const std::string expected = be32(1) + be32(0) + be32(17) + be32(2) + be32(1) +  // header
                               be32(2) + std::string("\0\xff", 2) +                // element 1
                               be32(0);                                            // element 2
  EXPECT_EQ(std::string(a.finish()), expected);
  EXPECT_EQ(a.size(), 2u);
}

TEST(PgBinaryArray, MarksNullsInTheHeader) {
  PgBinaryArray a(PgBinaryArray::kText);
  a.add("k");
  a.add_null();
  const std::string expected =
      be32(1) + be32(1) + be32(25) + be32(2) + be32(1) + be32(1) + "k" + be32(0xffffffffu);
  EXPECT_EQ(std::string(a.finish()), expected);
}

TEST(PgBinaryArray, WritesIntegersBigEndian) {
  PgBinaryArray a(PgBinaryArray::kInt8);
  a.add_int8(-2);
  PgBinaryArray b(PgBinaryArray::kInt4);
  b.add_int4(258);
  EXPECT_EQ(std::string(a.finish()), be32(1) + be32(0) + be32(20) + be32(1) + be32(1) + be32(8) +
                                         be32(0xffffffffu) + be32(0xfffffffeu));
  EXPECT_EQ(std::string(b.finish()),
            be32(1) + be32(0) + be32(23) + be32(1) + be32(1) + be32(4) + be32(258));
}

TEST(PgBinaryArray, AnEmptyArrayHasNoDimensions) {
  PgBinaryArray a(PgBinaryArray::kText);
  EXPECT_EQ(std::string(a.finish()), be32(0) + be32(0) + be32(25));
}

TEST(PgBinaryArray, ClearKeepsNothingButTheBuffer) {
  PgBinaryArray a(PgBinaryArray::kText);
  a.add_null();
  a.finish();
  a.clear();
  a.add("x");
  EXPECT_EQ(std::string(a.finish()),
            be32(1) + be32(0) + be32(25) + be32(1) + be32(1) + be32(1) + "x");
}

}  // namespace
}  // namespace kvstream::store
