#include "store/pg_binary_array.h"

#include <stdexcept>

namespace kvstream::store {

namespace {

// The header: ndim, has-nulls, element type, then (ndim 1) length and lower
// bound. finish() writes the fields that depend on the elements.
constexpr size_t kHeaderBytes = 5 * 4;

void store32(char* at, uint32_t v) {
  at[0] = static_cast<char>(v >> 24);
  at[1] = static_cast<char>(v >> 16);
  at[2] = static_cast<char>(v >> 8);
  at[3] = static_cast<char>(v);
}

}  // namespace

PgBinaryArray::PgBinaryArray(ElementType type) : type_(type) { clear(); }

void PgBinaryArray::clear() {
  out_.assign(kHeaderBytes, '\0');
  count_ = 0;
  has_nulls_ = false;
}

void PgBinaryArray::put32(uint32_t v) {
  char b[4];
  store32(b, v);
  out_.append(b, 4);
}

void PgBinaryArray::put64(uint64_t v) {
  put32(static_cast<uint32_t>(v >> 32));
  put32(static_cast<uint32_t>(v));
}

void PgBinaryArray::add(std::string_view bytes) {
  if (bytes.size() > INT32_MAX) throw std::length_error("array element over 2 GiB");
  put32(static_cast<uint32_t>(bytes.size()));
  out_.append(bytes.data(), bytes.size());
  ++count_;
}

void PgBinaryArray::add_int8(int64_t v) {
  put32(8);
  put64(static_cast<uint64_t>(v));
  ++count_;
}

void PgBinaryArray::add_int4(int32_t v) {
  put32(4);
  put32(static_cast<uint32_t>(v));
  ++count_;
}

void PgBinaryArray::add_null() {
  put32(0xffffffffu);  // length -1
  has_nulls_ = true;
  ++count_;
}

std::string_view PgBinaryArray::finish() {
  if (count_ > INT32_MAX) throw std::length_error("array of over 2^31 elements");
  if (count_ == 0) {
    // An empty array has no dimensions: ndim 0, flags 0, the type, nothing else.
    store32(&out_[0], 0);
    store32(&out_[4], 0);
    store32(&out_[8], type_);
    return std::string_view(out_.data(), 12);
  }
  store32(&out_[0], 1);
  store32(&out_[4], has_nulls_ ? 1 : 0);
  store32(&out_[8], type_);
  store32(&out_[12], static_cast<uint32_t>(count_));
  store32(&out_[16], 1);
  return out_;
}

}  // namespace kvstream::store
