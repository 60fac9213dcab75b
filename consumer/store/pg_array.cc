#include "store/pg_array.h"

namespace kvstream::store {

void PgArrayBuilder::separator() {
  if (!first_) out_.push_back(',');
  first_ = false;
}

void PgArrayBuilder::add_text(std::string_view s) {
  separator();
  out_.push_back('"');
  for (char c : s) {
    if (c == '"' || c == '\\') out_.push_back('\\');
    out_.push_back(c);
  }
  out_.push_back('"');
}

void PgArrayBuilder::add_bytea(std::string_view bytes) {
  static constexpr char kHex[] = "0123456789abcdef";
  separator();
  out_.reserve(out_.size() + 2 * bytes.size() + 5);
  out_.append("\"\\\\x");  // "\\x : the array parser turns \\ into \ .
  for (unsigned char c : bytes) {
    out_.push_back(kHex[c >> 4]);
    out_.push_back(kHex[c & 0xf]);
  }
  out_.push_back('"');
}

void PgArrayBuilder::add_int(int64_t v) {
  separator();
  out_.append(std::to_string(v));
}

void PgArrayBuilder::add_null() {
  separator();
  out_.append("NULL");
}

std::string PgArrayBuilder::finish() {
  out_.push_back('}');
  return std::move(out_);
}

}  // namespace kvstream::store
