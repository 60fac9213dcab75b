#include "store/pg_reader.h"

#include "store/pg_errors.h"

namespace kvstream::store {

namespace {

constexpr const char* kGetSql =
    "SELECT value, content_type, src_partition, src_offset FROM kv WHERE key = $1";
// A page of live keys in [max(prefix, after+), prefix's successor): both lower
// bounds and the upper bound are index conditions on the primary key.
constexpr const char* kListColumns =
    "SELECT key, value, content_type, src_partition, src_offset, "
    "to_char(updated_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"') FROM kv ";
constexpr const char* kListTail = " AND value IS NOT NULL ORDER BY key LIMIT ";
constexpr const char* kNextOffsetsSql =
    "SELECT partition, next_offset FROM kv_offsets WHERE topic = $1";

// The smallest string greater than every string that starts with `prefix`,
// in bytewise (= code point) order: the prefix with its last code point
// incremented (dropping trailing U+10FFFF). nullopt if there is none (empty
// prefix, or only U+10FFFF). `prefix` is valid UTF-8 (a validated key).
std::optional<std::string> prefix_successor(std::string prefix) {
  while (!prefix.empty()) {
    size_t start = prefix.size() - 1;
    while (start > 0 && (static_cast<unsigned char>(prefix[start]) & 0xC0) == 0x80) --start;
    const auto* bytes = reinterpret_cast<const unsigned char*>(prefix.data()) + start;
    const size_t len = prefix.size() - start;
    uint32_t cp = len == 1   ? bytes[0]
                  : len == 2 ? (bytes[0] & 0x1Fu) << 6 | (bytes[1] & 0x3Fu)
                  : len == 3
                      ? (bytes[0] & 0x0Fu) << 12 | (bytes[1] & 0x3Fu) << 6 | (bytes[2] & 0x3Fu)
                      : (bytes[0] & 0x07u) << 18 | (bytes[1] & 0x3Fu) << 12 |
                            (bytes[2] & 0x3Fu) << 6 | (bytes[3] & 0x3Fu);
    prefix.resize(start);
    if (cp >= 0x10FFFF) continue;
    ++cp;
    if (cp == 0xD800) cp = 0xE000;  // no surrogates in UTF-8
    if (cp < 0x80) {
      prefix.push_back(static_cast<char>(cp));
    } else if (cp < 0x800) {
      prefix.push_back(static_cast<char>(0xC0 | cp >> 6));
      prefix.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    } else if (cp < 0x10000) {
      prefix.push_back(static_cast<char>(0xE0 | cp >> 12));
      prefix.push_back(static_cast<char>(0x80 | (cp >> 6 & 0x3F)));
      prefix.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    } else {
      prefix.push_back(static_cast<char>(0xF0 | cp >> 18));
      prefix.push_back(static_cast<char>(0x80 | (cp >> 12 & 0x3F)));
      prefix.push_back(static_cast<char>(0x80 | (cp >> 6 & 0x3F)));
      prefix.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    }
    return prefix;
  }
  return std::nullopt;
}

}  // namespace

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
    c->prepare("list_bounded", std::string(kListColumns) +
                                   "WHERE key >= $1 AND key > $2 AND key < $3" + kListTail + "$4");
    c->prepare("list_open",
               std::string(kListColumns) + "WHERE key >= $1 AND key > $2" + kListTail + "$3");
    c->prepare("next_offsets", kNextOffsetsSql);
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

view::Listing PgReadPool::list(const std::string& topic, const std::string& prefix,
                               const std::string& after, size_t limit) {
  const std::optional<std::string> upper = prefix_successor(prefix);
  auto conn = acquire();
  view::Listing listing;
  auto& out = listing.rows;
  try {
    // One snapshot for the positions and the rows: an apply commits both
    // together, so the rows are the view at exactly these positions.
    pqxx::transaction<pqxx::isolation_level::repeatable_read, pqxx::readwrite_policy::read_only> tx(
        *conn);
    for (const auto& row : tx.exec_prepared("next_offsets", topic)) {
      listing.next_offsets[row[0].as<int32_t>()] = row[1].as<int64_t>();
    }
    const auto n = static_cast<int64_t>(limit);
    pqxx::result result = upper ? tx.exec_prepared("list_bounded", prefix, after, *upper, n)
                                : tx.exec_prepared("list_open", prefix, after, n);
    out.reserve(result.size());
    for (const auto& row : result) {
      ListedRow r;
      r.key = row[0].as<std::string>();
      r.value = pqxx::binarystring(row[1]).str();
      if (!row[2].is_null()) r.content_type = row[2].as<std::string>();
      r.position = Position{row[3].as<int32_t>(), row[4].as<int64_t>()};
      r.updated_at = row[5].as<std::string>();
      out.push_back(std::move(r));
    }
    tx.commit();
  } catch (...) {
    release(std::move(conn));
    rethrow_as_error("listing keys");
  }
  release(std::move(conn));
  return listing;
}

std::map<int32_t, int64_t> PgReadPool::next_offsets(const std::string& topic) {
  auto conn = acquire();
  std::map<int32_t, int64_t> out;
  try {
    pqxx::nontransaction tx(*conn);
    for (const auto& row : tx.exec_prepared("next_offsets", topic)) {
      out[row[0].as<int32_t>()] = row[1].as<int64_t>();
    }
  } catch (...) {
    release(std::move(conn));
    rethrow_as_error("reading applied positions");
  }
  release(std::move(conn));
  return out;
}

}  // namespace kvstream::store
