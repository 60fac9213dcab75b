#include "bench/ceiling_writers.h"

#include <libpq-fe.h>

#include <pqxx/pqxx>
#include <stdexcept>

#include "store/pg_binary_array.h"
#include "store/pg_store.h"

namespace kvstream::bench {

namespace {

constexpr const char* kFenceFirst =
    "INSERT INTO kv_offsets (topic, partition, next_offset, updated_at) "
    "VALUES ($1, $2, $3, now()) ON CONFLICT (topic, partition) DO NOTHING";
constexpr const char* kFence =
    "UPDATE kv_offsets SET next_offset = $3, updated_at = now() "
    "WHERE topic = $1 AND partition = $2 AND next_offset = $4";
constexpr const char* kGuardedSet =
    "ON CONFLICT (key) DO UPDATE "
    "SET value = EXCLUDED.value, content_type = EXCLUDED.content_type, "
    "    src_partition = EXCLUDED.src_partition, src_offset = EXCLUDED.src_offset, "
    "    updated_at = EXCLUDED.updated_at "
    "WHERE t.src_partition <> EXCLUDED.src_partition OR t.src_offset < EXCLUDED.src_offset";

void fenced(const store::PartitionBatch& b) {
  throw std::runtime_error("partition " + std::to_string(b.partition) + " fenced");
}

class KvstreamWriter : public BatchWriter {
 public:
  explicit KvstreamWriter(const std::string& url) : store_(store::PgSettings{url}) {
    store_.ping();
  }
  void apply(const store::PartitionBatch& b) override {
    if (store_.apply(b) != store::ApplyOutcome::kApplied) fenced(b);
  }

 private:
  store::PgStore store_;
};

// Array literals, as kvstream built them before its binary arrays.
class ArrayLiteral {
 public:
  ArrayLiteral() { out_.push_back('{'); }
  void text(std::string_view s) {
    sep();
    out_.push_back('"');
    for (char c : s) {
      if (c == '"' || c == '\\') out_.push_back('\\');
      out_.push_back(c);
    }
    out_.push_back('"');
  }
  void bytea(std::string_view bytes) {
    static constexpr char kHex[] = "0123456789abcdef";
    sep();
    out_.append("\"\\\\x");
    for (unsigned char c : bytes) {
      out_.push_back(kHex[c >> 4]);
      out_.push_back(kHex[c & 0xf]);
    }
    out_.push_back('"');
  }
  void integer(int64_t v) {
    sep();
    out_.append(std::to_string(v));
  }
  void null() {
    sep();
    out_.append("NULL");
  }
  std::string finish() {
    out_.push_back('}');
    return std::move(out_);
  }

 private:
  void sep() {
    if (!first_) out_.push_back(',');
    first_ = false;
  }
  std::string out_;
  bool first_ = true;
};

class UnnestTextWriter : public BatchWriter {
 public:
  explicit UnnestTextWriter(const std::string& url) : conn_(url) {
    conn_.prepare("fence_first", kFenceFirst);
    conn_.prepare("fence", kFence);
    conn_.prepare("upsert",
                  std::string("INSERT INTO kv AS t (key, value, content_type, src_partition, "
                              "src_offset, updated_at) "
                              "SELECT u.key, u.value, u.content_type, $5, u.src_offset, now() "
                              "FROM unnest($1::text[], $2::bytea[], $3::text[], $4::bigint[]) "
                              "AS u(key, value, content_type, src_offset) ") +
                      kGuardedSet);
  }
  void apply(const store::PartitionBatch& b) override {
    pqxx::work tx(conn_);
    auto r = b.expected_next_offset == store::kNoOffset
                 ? tx.exec_prepared("fence_first", b.topic, b.partition, b.new_next_offset)
                 : tx.exec_prepared("fence", b.topic, b.partition, b.new_next_offset,
                                    b.expected_next_offset);
    if (r.affected_rows() != 1) fenced(b);
    ArrayLiteral keys, values, types, offsets;
    for (const schema::Event& e : b.events) {
      keys.text(e.key);
      if (e.op == schema::Op::kPut) {
        values.bytea(e.value);
      } else {
        values.null();
      }
      if (e.content_type.empty() || e.op == schema::Op::kDelete) {
        types.null();
      } else {
        types.text(e.content_type);
      }
      offsets.integer(e.position.offset);
    }
    tx.exec_prepared("upsert", keys.finish(), values.finish(), types.finish(), offsets.finish(),
                     b.partition);
    tx.commit();
  }

 private:
  pqxx::connection conn_;
};

// libpq directly: libpqxx 6 has no binary COPY.
class CopyBinaryWriter : public BatchWriter {
 public:
  explicit CopyBinaryWriter(const std::string& url) : conn_(PQconnectdb(url.c_str())) {
    if (PQstatus(conn_.get()) != CONNECTION_OK) {
      throw std::runtime_error(std::string("connecting: ") + PQerrorMessage(conn_.get()));
    }
    run("CREATE TEMP TABLE kv_stage (key text COLLATE \"C\", value bytea, content_type text, "
        "src_offset bigint) ON COMMIT DELETE ROWS");
    prepare("fence_first", kFenceFirst);
    prepare("fence", kFence);
    prepare("upsert", std::string("INSERT INTO kv AS t (key, value, content_type, src_partition, "
                                  "src_offset, updated_at) "
                                  "SELECT key, value, content_type, $1::int4, src_offset, now() "
                                  "FROM kv_stage ") +
                          kGuardedSet);
  }

  void apply(const store::PartitionBatch& b) override {
    run("BEGIN");
    const std::string partition = std::to_string(b.partition);
    const std::string next = std::to_string(b.new_next_offset);
    const std::string expected = std::to_string(b.expected_next_offset);
    const bool first = b.expected_next_offset == store::kNoOffset;
    const char* params[4] = {b.topic.c_str(), partition.c_str(), next.c_str(), expected.c_str()};
    Result r(PQexecPrepared(conn_.get(), first ? "fence_first" : "fence", first ? 3 : 4, params,
                            nullptr, nullptr, 0));
    check(r.get(), PGRES_COMMAND_OK);
    if (std::string(PQcmdTuples(r.get())) != "1") {
      run("ROLLBACK");
      fenced(b);
    }
    copy_in(b);
    const char* upsert_params[1] = {partition.c_str()};
    Result u(PQexecPrepared(conn_.get(), "upsert", 1, upsert_params, nullptr, nullptr, 0));
    check(u.get(), PGRES_COMMAND_OK);
    run("COMMIT");
  }

 private:
  struct Clear {
    void operator()(PGresult* r) const { PQclear(r); }
  };
  using Result = std::unique_ptr<PGresult, Clear>;

  void check(PGresult* r, ExecStatusType want) {
    if (PQresultStatus(r) != want) {
      throw std::runtime_error(std::string("ceiling copy-binary: ") + PQerrorMessage(conn_.get()));
    }
  }
  void run(const char* sql) {
    Result r(PQexec(conn_.get(), sql));
    check(r.get(), PGRES_COMMAND_OK);
  }
  void prepare(const char* name, const std::string& sql) {
    Result r(PQprepare(conn_.get(), name, sql.c_str(), 0, nullptr));
    check(r.get(), PGRES_COMMAND_OK);
  }
  void put16(uint16_t v) {
    buf_.push_back(static_cast<char>(v >> 8));
    buf_.push_back(static_cast<char>(v));
  }
  void put32(uint32_t v) {
    put16(static_cast<uint16_t>(v >> 16));
    put16(static_cast<uint16_t>(v));
  }
  void field(std::string_view bytes) {
    put32(static_cast<uint32_t>(bytes.size()));
    buf_.append(bytes.data(), bytes.size());
  }
  void null() { put32(0xffffffffu); }

  // The binary COPY format: signature, flags, extension length, then per
  // tuple a field count and the fields, then -1.
  void copy_in(const store::PartitionBatch& b) {
    Result r(PQexec(conn_.get(), "COPY kv_stage FROM STDIN (FORMAT binary)"));
    check(r.get(), PGRES_COPY_IN);
    buf_.assign("PGCOPY\n\377\r\n\0", 11);
    put32(0);
    put32(0);
    for (const schema::Event& e : b.events) {
      put16(4);
      field(e.key);
      if (e.op == schema::Op::kPut) {
        field(e.value);
      } else {
        null();
      }
      if (e.content_type.empty() || e.op == schema::Op::kDelete) {
        null();
      } else {
        field(e.content_type);
      }
      put32(8);
      const auto o = static_cast<uint64_t>(e.position.offset);
      put32(static_cast<uint32_t>(o >> 32));
      put32(static_cast<uint32_t>(o));
    }
    put16(0xffff);
    if (PQputCopyData(conn_.get(), buf_.data(), static_cast<int>(buf_.size())) != 1 ||
        PQputCopyEnd(conn_.get(), nullptr) != 1) {
      throw std::runtime_error(std::string("ceiling copy-binary: ") + PQerrorMessage(conn_.get()));
    }
    Result done(PQgetResult(conn_.get()));
    check(done.get(), PGRES_COMMAND_OK);
    while (PGresult* extra = PQgetResult(conn_.get())) PQclear(extra);
  }

  struct Finish {
    void operator()(PGconn* c) const { PQfinish(c); }
  };
  std::unique_ptr<PGconn, Finish> conn_;
  std::string buf_;
};

class MergeWriter : public BatchWriter {
 public:
  explicit MergeWriter(const std::string& url) : conn_(url) {
    conn_.prepare("fence_first", std::string(kFenceFirst));
    conn_.prepare("fence", std::string(kFence));
    conn_.prepare(
        "merge",
        "MERGE INTO kv AS t USING unnest($1::text[], $2::bytea[], $3::text[], $4::int8[]) "
        "AS u(key, value, content_type, src_offset) ON t.key = u.key "
        "WHEN MATCHED AND (t.src_partition <> $5::int4 OR t.src_offset < u.src_offset) THEN "
        "  UPDATE SET value = u.value, content_type = u.content_type, src_partition = $5::int4, "
        "  src_offset = u.src_offset, updated_at = now() "
        "WHEN NOT MATCHED THEN INSERT (key, value, content_type, src_partition, src_offset, "
        "  updated_at) VALUES (u.key, u.value, u.content_type, $5::int4, u.src_offset, now())");
  }
  void apply(const store::PartitionBatch& b) override {
    // MERGE is not allowed in a WITH clause: the fence is its own statement
    // in the same transaction.
    pqxx::work tx(conn_);
    auto r = b.expected_next_offset == store::kNoOffset
                 ? tx.exec_prepared("fence_first", b.topic, b.partition, b.new_next_offset)
                 : tx.exec_prepared("fence", b.topic, b.partition, b.new_next_offset,
                                    b.expected_next_offset);
    if (r.affected_rows() != 1) fenced(b);
    columns_.fill(b.events);
    auto bin = [](std::string_view s) { return pqxx::binarystring(s.data(), s.size()); };
    tx.exec_prepared("merge", bin(columns_.keys.finish()), bin(columns_.values.finish()),
                     bin(columns_.content_types.finish()), bin(columns_.offsets.finish()),
                     b.partition);
    tx.commit();
  }

 private:
  pqxx::connection conn_;
  store::BatchColumns columns_;
};

}  // namespace

const std::vector<std::string>& ceiling_methods() {
  static const std::vector<std::string> methods = {"kvstream", "unnest-text", "copy-binary",
                                                   "merge"};
  return methods;
}

std::unique_ptr<BatchWriter> make_batch_writer(const std::string& method,
                                               const std::string& pg_url) {
  if (method == "kvstream") return std::make_unique<KvstreamWriter>(pg_url);
  if (method == "unnest-text") return std::make_unique<UnnestTextWriter>(pg_url);
  if (method == "copy-binary") return std::make_unique<CopyBinaryWriter>(pg_url);
  if (method == "merge") return std::make_unique<MergeWriter>(pg_url);
  throw std::invalid_argument("unknown ceiling method '" + method + "'");
}

}  // namespace kvstream::bench
