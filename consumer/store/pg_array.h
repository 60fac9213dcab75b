// Postgres array literals for batched statements (`unnest($1::text[], ...)`):
// one parameter carries a whole column, so a batch is one statement.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace kvstream::store {

// Builds one array literal, element by element: {"a","b\"c",NULL}.
class PgArrayBuilder {
 public:
  PgArrayBuilder() { out_.push_back('{'); }

  // A quoted text element (backslashes and quotes escaped).
  void add_text(std::string_view s);
  // A bytea element in hex form (\x...), quoted.
  void add_bytea(std::string_view bytes);
  void add_int(int64_t v);
  void add_null();

  // The literal; the builder is spent afterwards.
  std::string finish();

 private:
  void separator();
  std::string out_;
  bool first_ = true;
};

}  // namespace kvstream::store
