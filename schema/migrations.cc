#include "schema/migrations.h"

#include <algorithm>
#include <cstdio>
#include <map>
#include <optional>
#include <thread>

#include "common/backoff.h"
#include "common/error.h"

namespace kvstream::schema {

namespace {

// Attempts of a migration that times out waiting for a table lock.
constexpr int kLockAttempts = 10;

// pg_advisory_lock key shared by every kvstream process ("kvstream" in ASCII).
constexpr long long kMigrationLockKey = 0x6b7673747265616dLL;

// FNV-1a, 64 bit, as 16 hex digits: a stable fingerprint of a migration text.
std::string checksum(const std::string& text) {
  uint64_t h = 0xcbf29ce484222325ULL;
  for (unsigned char c : text) {
    h ^= c;
    h *= 0x100000001b3ULL;
  }
  char buf[17];
  std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(h));
  return buf;
}

// Releases the advisory lock when the scope ends, whatever happened.
class AdvisoryLock {
 public:
  // Waits as long as another runner holds the lock, whatever the session's
  // statement_timeout: a session-level lock taken in a transaction outlives
  // it, and SET LOCAL lifts the timeout for this wait only.
  explicit AdvisoryLock(pqxx::connection& conn) : conn_(conn) {
    pqxx::work tx(conn_);
    tx.exec("SET LOCAL statement_timeout = 0");
    tx.exec("SELECT pg_advisory_lock(" + std::to_string(kMigrationLockKey) + ")");
    tx.commit();
  }
  ~AdvisoryLock() {
    try {
      pqxx::nontransaction(conn_).exec("SELECT pg_advisory_unlock(" +
                                       std::to_string(kMigrationLockKey) + ")");
    } catch (...) {
      // A broken connection releases the session lock by itself.
    }
  }
  AdvisoryLock(const AdvisoryLock&) = delete;
  AdvisoryLock& operator=(const AdvisoryLock&) = delete;

 private:
  pqxx::connection& conn_;
};

// Whether the bookkeeping table has its `applied_by` column yet (a table
// created before version 3 gets it from migration 0003).
bool has_applied_by(pqxx::transaction_base& tx) {
  return tx
      .exec(
          "SELECT EXISTS (SELECT 1 FROM pg_attribute WHERE attrelid = "
          "'kvstream_migrations'::regclass AND attname = 'applied_by' AND NOT attisdropped)")[0][0]
      .as<bool>();
}

}  // namespace

std::vector<Migration> load_migrations(const std::vector<EmbeddedMigration>& files) {
  std::vector<Migration> out;
  for (const auto& f : files) {
    std::string file = f.file;
    auto underscore = file.find('_');
    auto dot = file.rfind(".sql");
    if (underscore == std::string::npos || dot == std::string::npos || underscore == 0 ||
        underscore > 9 || dot < underscore || file.find_first_not_of("0123456789") != underscore) {
      throw Error(ErrorKind::kFatal, "migration file name must be NNNN_name.sql: " + file);
    }
    Migration m;
    m.version = std::stoi(file.substr(0, underscore));
    m.name = file.substr(underscore + 1, dot - underscore - 1);
    m.sql = f.sql;
    out.push_back(std::move(m));
  }
  std::sort(out.begin(), out.end(),
            [](const Migration& a, const Migration& b) { return a.version < b.version; });
  for (size_t i = 1; i < out.size(); ++i) {
    if (out[i].version == out[i - 1].version) {
      throw Error(ErrorKind::kFatal,
                  "two migrations share version " + std::to_string(out[i].version));
    }
  }
  return out;
}

std::vector<int> applied_versions(pqxx::connection& conn) {
  pqxx::nontransaction tx(conn);
  auto exists = tx.exec("SELECT to_regclass('kvstream_migrations') IS NOT NULL");
  std::vector<int> versions;
  if (!exists[0][0].as<bool>()) return versions;
  for (const auto& row : tx.exec("SELECT version FROM kvstream_migrations ORDER BY version")) {
    versions.push_back(row[0].as<int>());
  }
  return versions;
}

int newest_version(const std::vector<Migration>& migrations) {
  int newest = 0;
  for (const Migration& m : migrations) newest = std::max(newest, m.version);
  return newest;
}

std::string newer_schema_refusal(int database_version, int known_version,
                                 const std::string& binary) {
  if (database_version <= known_version) return {};
  return "the database schema is at version " + std::to_string(database_version) +
         " but this binary" + (binary.empty() ? "" : " (" + binary + ")") +
         " knows migrations up to version " + std::to_string(known_version) +
         ": upgrade the binary, or restore the database from a backup taken before the newer "
         "migrations";
}

int check_schema_version(pqxx::connection& conn, const std::vector<Migration>& migrations,
                         const std::string& binary) {
  int database_version = 0;
  try {
    const std::vector<int> versions = applied_versions(conn);
    if (!versions.empty()) database_version = versions.back();
  } catch (const pqxx::broken_connection& e) {
    throw Error(ErrorKind::kTransient,
                std::string("database connection lost reading the schema version: ") + e.what());
  } catch (const std::exception& e) {
    throw Error(ErrorKind::kFatal, std::string("reading the schema version: ") + e.what());
  }
  const std::string refusal =
      newer_schema_refusal(database_version, newest_version(migrations), binary);
  if (!refusal.empty()) throw SchemaTooNew(refusal);
  return database_version;
}

MigrateResult migrate(pqxx::connection& conn, const std::vector<Migration>& migrations,
                      const std::string& applied_by) {
  MigrateResult result;
  try {
    AdvisoryLock lock(conn);
    // The bookkeeping table in its current shape. A table created by a binary
    // before version 3 lacks `applied_by` until migration 0003 adds it.
    pqxx::nontransaction(conn).exec(
        "CREATE TABLE IF NOT EXISTS kvstream_migrations ("
        " version integer PRIMARY KEY,"
        " name text NOT NULL,"
        " checksum text NOT NULL,"
        " applied_at timestamptz NOT NULL DEFAULT now(),"
        " applied_by text)");

    std::map<int, std::string> applied;
    {
      pqxx::nontransaction tx(conn);
      for (const auto& row : tx.exec("SELECT version, checksum FROM kvstream_migrations")) {
        applied[row[0].as<int>()] = row[1].as<std::string>();
      }
    }
    // Under the lock: a newer binary that migrated while this one waited is
    // seen here, before anything is applied.
    if (!applied.empty()) {
      const std::string refusal =
          newer_schema_refusal(applied.rbegin()->first, newest_version(migrations), applied_by);
      if (!refusal.empty()) throw SchemaTooNew(refusal);
    }
    for (const Migration& m : migrations) {
      const std::string sum = checksum(m.sql);
      auto it = applied.find(m.version);
      if (it != applied.end()) {
        if (it->second != sum) {
          throw Error(ErrorKind::kFatal, "migration " + std::to_string(m.version) + "_" + m.name +
                                             " was applied with different text (checksum " +
                                             it->second + ", now " + sum +
                                             "); add a new migration instead of editing one");
        }
        continue;
      }
      // A migration that cannot get a table's lock within its lock_timeout
      // (a live table busy with the apply path) changes nothing and is tried
      // again, a few times.
      Backoff backoff(std::chrono::milliseconds(200), std::chrono::seconds(2));
      for (int attempt = 1;; ++attempt) {
        try {
          pqxx::work tx(conn);
          // A migration may take longer than the caller's statement timeout.
          tx.exec("SET LOCAL statement_timeout = 0");
          tx.exec(m.sql);
          if (has_applied_by(tx)) {
            tx.exec_params(
                "INSERT INTO kvstream_migrations (version, name, checksum, applied_by) "
                "VALUES ($1, $2, $3, $4)",
                m.version, m.name, sum,
                applied_by.empty() ? std::optional<std::string>() : applied_by);
          } else {
            tx.exec_params(
                "INSERT INTO kvstream_migrations (version, name, checksum) VALUES ($1, $2, $3)",
                m.version, m.name, sum);
          }
          tx.commit();
          break;
        } catch (const pqxx::broken_connection&) {
          throw;
        } catch (const pqxx::sql_error& e) {
          const std::string what = "migration " + std::to_string(m.version) + "_" + m.name;
          if (e.sqlstate() != "55P03") {
            throw Error(ErrorKind::kFatal, what + " failed and was rolled back: " + e.what());
          }
          if (attempt == kLockAttempts) {
            throw Error(ErrorKind::kTransient,
                        what + " could not lock a table in use within its lock timeout (" +
                            std::to_string(kLockAttempts) + " attempts); nothing was changed");
          }
          std::this_thread::sleep_for(backoff.next());
        } catch (const std::exception& e) {
          throw Error(ErrorKind::kFatal, "migration " + std::to_string(m.version) + "_" + m.name +
                                             " failed and was rolled back: " + e.what());
        }
      }
      result.applied.push_back(m.version);
    }
    for (const auto& [version, sum] : applied)
      result.current_version = std::max(result.current_version, version);
    for (int v : result.applied) result.current_version = std::max(result.current_version, v);
  } catch (const Error&) {
    throw;
  } catch (const pqxx::broken_connection& e) {
    throw Error(ErrorKind::kTransient,
                std::string("database connection lost during migration: ") + e.what());
  } catch (const std::exception& e) {
    // The lock or the bookkeeping table failed (permissions, a cancelled
    // statement): nothing was applied by this statement.
    throw Error(ErrorKind::kFatal, std::string("migrating the database: ") + e.what());
  }
  return result;
}

}  // namespace kvstream::schema
