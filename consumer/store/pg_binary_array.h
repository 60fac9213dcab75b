// Postgres arrays in the binary wire format, for batched statements
// (`unnest($1::text[], $2::bytea[], ...)` with binary parameters): one
// parameter carries a whole column, no element is escaped or hex-encoded on
// either side, and the server parses no array literal.
//
// The layout (Postgres' array_recv): int32 number of dimensions (0 for an
// empty array, else 1), int32 has-nulls flag, uint32 element type OID, then
// per dimension int32 length and int32 lower bound (1), then per element an
// int32 byte length (-1 for NULL) and the element's binary form: text and
// bytea are their bytes, int4 and int8 big-endian integers. All integers are
// big-endian.
//
//   PgBinaryArray keys(PgBinaryArray::kText);
//   keys.add("a");
//   keys.add_null();
//   tx.exec_prepared("stmt", keys.finish());   // a pqxx::binarystring parameter
//
// A builder is reused batch after batch: clear() keeps its buffer, so
// building a batch's columns allocates nothing once the buffer has grown.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace kvstream::store {

class PgBinaryArray {
 public:
  // Element type OIDs (pg_type.dat): stable across Postgres versions.
  enum ElementType : uint32_t { kBytea = 17, kInt8 = 20, kInt4 = 23, kText = 25 };

  explicit PgBinaryArray(ElementType type);

  // An element of a text or bytea array: exactly these bytes. For text,
  // valid in the database's encoding (the server checks it).
  void add(std::string_view bytes);
  void add_int8(int64_t v);
  void add_int4(int32_t v);
  void add_null();

  size_t size() const { return count_; }

  // The encoded array; valid until the next call that changes the builder.
  std::string_view finish();
  // Empties the array, keeping the buffer.
  void clear();

 private:
  void put32(uint32_t v);
  void put64(uint64_t v);

  const ElementType type_;
  std::string out_;
  size_t count_ = 0;
  bool has_nulls_ = false;
};

}  // namespace kvstream::store
