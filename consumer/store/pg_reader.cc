#include "store/pg_reader.h"

#include "store/pg_errors.h"

namespace kvstream::store {

namespace {
constexpr const char* kGetSql =
    "SELECT value, content_type, src_partition, src_offset FROM kv WHERE key = $1";
}

PgReadPool::PgReadPool(PgSettings settings, size_t max_connections,
                       std::chrono::milliseconds acquire_timeout)
    : settings_(std::move(settings)),
      max_connections_(max_connections),
      acquire_timeout_(acquire_timeout) {}

std::unique_ptr<pqxx::connection> PgReadPool::acquire() {
  std::unique_lock<std::mutex> lock(mu_);
  if (!available_.wait_for(lock, acquire_timeout_,
                           [&] { return !idle_.empty() || open_ < max_connections_; })) {
    throw Error(ErrorKind::kTransient, "no Postgres read connection free within " +
                                           std::to_string(acquire_timeout_.count()) + " ms");
  }
  if (!idle_.empty()) {
    auto c = std::move(idle_.back());
    idle_.pop_back();
    return c;
  }
  ++open_;
  lock.unlock();
  try {
    auto c = connect(settings_, "kvstream-read");
    c->prepare("get", kGetSql);
    return c;
  } catch (...) {
    release(nullptr);
    throw;
  }
}

void PgReadPool::release(std::unique_ptr<pqxx::connection> conn) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (conn && conn->is_open()) {
      idle_.push_back(std::move(conn));
    } else {
      --open_;
    }
  }
  available_.notify_one();
}

std::optional<StoredRow> PgReadPool::get(const std::string& key) {
  auto conn = acquire();
  std::optional<StoredRow> out;
  try {
    pqxx::nontransaction tx(*conn);
    auto result = tx.exec_prepared("get", key);
    if (!result.empty()) {
      const auto& row = result[0];
      StoredRow r;
      if (!row[0].is_null()) r.value = pqxx::binarystring(row[0]).str();
      if (!row[1].is_null()) r.content_type = row[1].as<std::string>();
      r.position = Position{row[2].as<int32_t>(), row[3].as<int64_t>()};
      out = std::move(r);
    }
  } catch (...) {
    release(std::move(conn));
    rethrow_as_error("reading a key");
  }
  release(std::move(conn));
  return out;
}

}  // namespace kvstream::store
