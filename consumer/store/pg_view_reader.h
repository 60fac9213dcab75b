// PgViewReader: the view's reader seam (view/view_reader.h) on Postgres:
// point reads on the asynchronous connections of the HTTP I/O threads
// (PgAsyncReader), listings and applied positions on the blocking pool
// (PgReadPool). It owns neither.
//
// Thread-safe, as both readers are.
#pragma once

#include <string>

#include "store/pg_async_reader.h"
#include "store/pg_reader.h"
#include "view/view_reader.h"

namespace kvstream::store {

class PgViewReader : public view::ViewReader {
 public:
  // `topic`: whose applied positions applied_positions() reads.
  PgViewReader(PgReadPool& pool, PgAsyncReader& keys, std::string topic)
      : pool_(pool), keys_(keys), topic_(std::move(topic)) {}

  void get(std::string key, GetDone done) override { keys_.get(std::move(key), std::move(done)); }
  view::Listing list(const std::string& prefix, const std::string& after, size_t limit) override {
    return pool_.list(topic_, prefix, after, limit);
  }
  std::map<int32_t, int64_t> applied_positions() override { return pool_.next_offsets(topic_); }

 private:
  PgReadPool& pool_;
  PgAsyncReader& keys_;
  const std::string topic_;
};

}  // namespace kvstream::store
