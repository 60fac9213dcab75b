#include "tests/support/kv_table.h"

#include <pqxx/pqxx>
#include <stdexcept>

namespace kvstream::testing {

namespace {

std::string from_hex(const std::string& hex) {
  auto nibble = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    throw std::runtime_error("bad hex digit from Postgres");
  };
  std::string out;
  out.reserve(hex.size() / 2);
  for (size_t i = 0; i + 1 < hex.size(); i += 2) {
    out += static_cast<char>(nibble(hex[i]) * 16 + nibble(hex[i + 1]));
  }
  return out;
}

}  // namespace

KvTable read_kv_table(const std::string& pg_url) {
  pqxx::connection conn(pg_url);
  pqxx::nontransaction tx(conn);
  KvTable out;
  // Values as hex: byte-exact whatever the client library's bytea handling.
  const auto rows = tx.exec(
      "SELECT key, encode(value, 'hex'), value IS NULL, content_type, src_partition, "
      "src_offset, updated_at::text FROM kv");
  for (const auto& r : rows) {
    KvRow row;
    if (!r[2].as<bool>()) row.value = from_hex(r[1].as<std::string>());
    if (!r[3].is_null()) row.content_type = r[3].as<std::string>();
    row.position = Position{r[4].as<int32_t>(), r[5].as<int64_t>()};
    row.updated_at = r[6].as<std::string>();
    out.emplace(r[0].as<std::string>(), std::move(row));
  }
  return out;
}

std::map<int32_t, int64_t> read_applied_offsets(const std::string& pg_url,
                                                const std::string& topic) {
  pqxx::connection conn(pg_url);
  pqxx::nontransaction tx(conn);
  std::map<int32_t, int64_t> out;
  for (const auto& r :
       tx.exec_params("SELECT partition, next_offset FROM kv_offsets WHERE topic = $1", topic)) {
    out[r[0].as<int32_t>()] = r[1].as<int64_t>();
  }
  return out;
}

void install_audit(const std::string& pg_url) {
  pqxx::connection conn(pg_url);
  pqxx::work tx(conn);
  tx.exec(
      "CREATE TABLE kvtest_offsets_audit ("
      "  seq bigserial PRIMARY KEY, topic text NOT NULL, partition integer NOT NULL,"
      "  old_next bigint, new_next bigint NOT NULL,"
      "  at timestamptz NOT NULL DEFAULT clock_timestamp())");
  tx.exec(
      "CREATE FUNCTION kvtest_offsets_audit_fn() RETURNS trigger LANGUAGE plpgsql AS $$ "
      "BEGIN "
      "  IF TG_OP = 'INSERT' THEN "
      "    INSERT INTO kvtest_offsets_audit (topic, partition, old_next, new_next) "
      "    VALUES (NEW.topic, NEW.partition, NULL, NEW.next_offset); "
      "  ELSIF NEW.next_offset IS DISTINCT FROM OLD.next_offset THEN "
      "    INSERT INTO kvtest_offsets_audit (topic, partition, old_next, new_next) "
      "    VALUES (NEW.topic, NEW.partition, OLD.next_offset, NEW.next_offset); "
      "  END IF; "
      "  RETURN NULL; "
      "END $$");
  tx.exec(
      "CREATE TRIGGER kvtest_offsets_audit_trg AFTER INSERT OR UPDATE ON kv_offsets "
      "FOR EACH ROW EXECUTE FUNCTION kvtest_offsets_audit_fn()");
  tx.exec(
      "CREATE TABLE kvtest_rows_audit ("
      "  seq bigserial PRIMARY KEY, key text NOT NULL, src_partition integer NOT NULL,"
      "  old_offset bigint NOT NULL, new_offset bigint NOT NULL,"
      "  at timestamptz NOT NULL DEFAULT clock_timestamp())");
  tx.exec(
      "CREATE FUNCTION kvtest_rows_audit_fn() RETURNS trigger LANGUAGE plpgsql AS $$ "
      "BEGIN "
      "  IF NEW.src_partition = OLD.src_partition AND NEW.src_offset < OLD.src_offset THEN "
      "    INSERT INTO kvtest_rows_audit (key, src_partition, old_offset, new_offset) "
      "    VALUES (NEW.key, NEW.src_partition, OLD.src_offset, NEW.src_offset); "
      "  END IF; "
      "  RETURN NULL; "
      "END $$");
  tx.exec(
      "CREATE TRIGGER kvtest_rows_audit_trg AFTER UPDATE ON kv "
      "FOR EACH ROW EXECUTE FUNCTION kvtest_rows_audit_fn()");
  tx.commit();
}

std::vector<std::string> audit_violations(const std::string& pg_url) {
  pqxx::connection conn(pg_url);
  pqxx::nontransaction tx(conn);
  std::vector<std::string> out;
  for (const auto& r :
       tx.exec("SELECT partition, old_next, new_next, at::text FROM kvtest_offsets_audit "
               "WHERE old_next IS NOT NULL AND new_next <= old_next ORDER BY seq")) {
    out.push_back("kv_offsets partition " + r[0].as<std::string>() + ": " + r[1].as<std::string>() +
                  " -> " + r[2].as<std::string>() + " at " + r[3].as<std::string>());
  }
  for (const auto& r :
       tx.exec("SELECT key, src_partition, old_offset, new_offset, at::text FROM kvtest_rows_audit "
               "ORDER BY seq")) {
    const std::string p = r[1].as<std::string>();
    out.push_back("kv key " + r[0].as<std::string>().substr(0, 80) + ": " + p + ":" +
                  r[2].as<std::string>() + " -> " + p + ":" + r[3].as<std::string>() + " at " +
                  r[4].as<std::string>());
  }
  return out;
}

void clear_audit(const std::string& pg_url) {
  pqxx::connection conn(pg_url);
  pqxx::nontransaction(conn).exec("TRUNCATE kvtest_offsets_audit, kvtest_rows_audit");
}

size_t audited_offset_changes(const std::string& pg_url) {
  pqxx::connection conn(pg_url);
  pqxx::nontransaction tx(conn);
  return tx.exec("SELECT count(*) FROM kvtest_offsets_audit")[0][0].as<size_t>();
}

std::map<int32_t, int64_t> audited_offsets_at(const std::string& pg_url, const std::string& topic,
                                              std::chrono::system_clock::time_point when) {
  const double epoch = std::chrono::duration<double>(when.time_since_epoch()).count();
  pqxx::connection conn(pg_url);
  pqxx::nontransaction tx(conn);
  std::map<int32_t, int64_t> out;
  for (const auto& r : tx.exec_params(
           "SELECT DISTINCT ON (partition) partition, new_next FROM kvtest_offsets_audit "
           "WHERE topic = $1 AND at < to_timestamp($2) ORDER BY partition, seq DESC",
           topic, epoch)) {
    out[r[0].as<int32_t>()] = r[1].as<int64_t>();
  }
  return out;
}

size_t stalled_transactions(const std::string& pg_url, std::chrono::milliseconds for_at_least) {
  pqxx::connection conn(pg_url);
  pqxx::nontransaction tx(conn);
  return tx
      .exec_params(
          "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
          "AND pid <> pg_backend_pid() AND state LIKE 'idle in transaction%' "
          "AND state_change < clock_timestamp() - make_interval(secs => $1)",
          static_cast<double>(for_at_least.count()) / 1000.0)[0][0]
      .as<size_t>();
}

size_t lock_waiters(const std::string& pg_url) {
  pqxx::connection conn(pg_url);
  pqxx::nontransaction tx(conn);
  return tx
      .exec(
          "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
          "AND pid <> pg_backend_pid() AND wait_event_type = 'Lock'")[0][0]
      .as<size_t>();
}

}  // namespace kvstream::testing
