#include "store/pg_async_reader.h"

#include <libpq-fe.h>

#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/post.hpp>
#include <cstdint>
#include <cstring>
#include <utility>

#include "store/pg_errors.h"

namespace kvstream::store {

namespace {

constexpr const char* kGetStatement = "kvstream_get";
constexpr const char* kGetSql =
    "SELECT value, content_type, src_partition, src_offset FROM kv WHERE key = $1";

struct PgConnDeleter {
  void operator()(PGconn* c) const { PQfinish(c); }
};
using PgConnPtr = std::unique_ptr<PGconn, PgConnDeleter>;

struct PgResultDeleter {
  void operator()(PGresult* r) const { PQclear(r); }
};
using PgResultPtr = std::unique_ptr<PGresult, PgResultDeleter>;

// libpq's last message on `c`, without its trailing newline.
std::string message_of(const PGconn* c) {
  std::string m = PQerrorMessage(c);
  while (!m.empty() && (m.back() == '\n' || m.back() == ' ')) m.pop_back();
  return m;
}

// A result that is not what was asked for, as an Error (transient for the
// SQLSTATEs a retry may cure).
Error result_error(const PGresult* r, const std::string& context) {
  const char* state = PQresultErrorField(r, PG_DIAG_SQLSTATE);
  std::string message = PQresultErrorMessage(r);
  while (!message.empty() && (message.back() == '\n' || message.back() == ' ')) message.pop_back();
  if (state == nullptr) {
    return Error(ErrorKind::kTransient, context + ": " + message);
  }
  const ErrorKind kind = is_transient_sqlstate(state) ? ErrorKind::kTransient : ErrorKind::kFatal;
  return Error(kind, context + ": " + message + " (SQLSTATE " + state + ")");
}

void exec_setup(PGconn* c, const std::string& sql) {
  PgResultPtr r(PQexec(c, sql.c_str()));
  if (!r || PQresultStatus(r.get()) != PGRES_COMMAND_OK) {
    throw r ? result_error(r.get(), "preparing a read connection")
            : Error(ErrorKind::kTransient, "preparing a read connection: " + message_of(c));
  }
}

// Big-endian integers of libpq's binary format.
uint64_t big_endian(const char* p, size_t n) {
  uint64_t v = 0;
  for (size_t i = 0; i < n; ++i) v = v << 8 | static_cast<unsigned char>(p[i]);
  return v;
}

}  // namespace

struct PgAsyncReader::Connection {
  Connection(boost::asio::io_context& ioc, PgConnPtr conn) : pg(std::move(conn)), socket(ioc) {}
  ~Connection() {
    // The socket belongs to libpq: asio forgets it, PQfinish closes it.
    if (socket.is_open()) socket.release();
  }

  PgConnPtr pg;
  boost::asio::posix::stream_descriptor socket;
  // The read in progress.
  Done done;
  std::optional<StoredRow> row;
  std::optional<Error> error;
};

PgAsyncReader::PgAsyncReader(boost::asio::io_context& ioc,
                             boost::asio::any_io_executor connect_executor, PgSettings settings,
                             size_t max_connections, std::chrono::milliseconds acquire_timeout)
    : ioc_(ioc),
      connect_executor_(std::move(connect_executor)),
      settings_(std::move(settings)),
      max_connections_(max_connections > 0 ? max_connections : 1),
      acquire_timeout_(acquire_timeout),
      timer_(ioc) {}

PgAsyncReader::~PgAsyncReader() {
  std::vector<Waiting> waiting;
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopped_ = true;
    waiting.assign(std::make_move_iterator(waiting_.begin()),
                   std::make_move_iterator(waiting_.end()));
    waiting_.clear();
    idle_.clear();
    connections_.clear();
  }
  fail_all(waiting, Error(ErrorKind::kTransient, "the replica is shutting down"));
}

size_t PgAsyncReader::open_connections() const {
  std::lock_guard<std::mutex> lock(mu_);
  return connections_.size();
}

void PgAsyncReader::get(std::string key, Done done) {
  Connection* c = nullptr;
  bool stopped = false;
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopped = stopped_;
    if (stopped) {
      // Answered below, without the lock.
    } else if (!idle_.empty()) {
      c = idle_.back();
      idle_.pop_back();
    } else {
      waiting_.push_back(Waiting{std::move(key), std::move(done), Clock::now() + acquire_timeout_});
      arm_timer();
      if (connections_.size() + connecting_ < max_connections_) {
        ++connecting_;
        boost::asio::post(connect_executor_, [this] { open_connection(); });
      }
      return;
    }
  }
  if (stopped) {
    const Error error(ErrorKind::kTransient, "the replica is shutting down");
    return done(std::nullopt, &error);
  }
  start(c, std::move(key), std::move(done));
}

void PgAsyncReader::open_connection() {
  std::unique_ptr<Connection> c;
  std::optional<Error> failed;
  try {
    PgConnPtr pg(PQconnectdb(settings_.url.c_str()));
    if (!pg || PQstatus(pg.get()) != CONNECTION_OK) {
      throw Error(ErrorKind::kTransient,
                  "connecting to Postgres: " + (pg ? message_of(pg.get()) : "out of memory"));
    }
    const std::string timeout = std::to_string(settings_.statement_timeout.count());
    exec_setup(pg.get(), "SET statement_timeout = " + timeout);
    exec_setup(pg.get(), "SET idle_in_transaction_session_timeout = " + timeout);
    exec_setup(pg.get(), "SET application_name = 'kvstream-read'");
    PgResultPtr prepared(PQprepare(pg.get(), kGetStatement, kGetSql, 0, nullptr));
    if (!prepared || PQresultStatus(prepared.get()) != PGRES_COMMAND_OK) {
      throw prepared
          ? result_error(prepared.get(), "preparing a read connection")
          : Error(ErrorKind::kTransient, "preparing a read connection: " + message_of(pg.get()));
    }
    if (PQsetnonblocking(pg.get(), 1) != 0) {
      throw Error(ErrorKind::kTransient, "preparing a read connection: " + message_of(pg.get()));
    }
    const int fd = PQsocket(pg.get());
    c = std::make_unique<Connection>(ioc_, std::move(pg));
    boost::system::error_code ec;
    c->socket.assign(fd, ec);
    if (ec) throw Error(ErrorKind::kTransient, "watching a read connection: " + ec.message());
  } catch (const Error& e) {
    failed = e;
  }

  std::vector<Waiting> refused;
  Connection* ready = nullptr;
  {
    std::lock_guard<std::mutex> lock(mu_);
    --connecting_;
    if (stopped_) return;
    if (failed) {
      // Nothing else would serve them while no connection is open: the
      // database is unreachable now, they hear it now (the circuit breaker
      // of the caller takes it from there).
      if (connections_.empty() && connecting_ == 0) {
        refused.assign(std::make_move_iterator(waiting_.begin()),
                       std::make_move_iterator(waiting_.end()));
        waiting_.clear();
      } else if (!waiting_.empty()) {
        refused.push_back(std::move(waiting_.front()));
        waiting_.pop_front();
      }
    } else {
      ready = c.get();
      connections_.push_back(std::move(c));
    }
  }
  if (failed) return fail_all(refused, *failed);
  release(ready);
}

void PgAsyncReader::release(Connection* c) {
  std::vector<Waiting> expired;
  std::optional<Waiting> next;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (stopped_) return;
    const auto now = Clock::now();
    while (!waiting_.empty() && waiting_.front().deadline <= now) {
      expired.push_back(std::move(waiting_.front()));
      waiting_.pop_front();
    }
    if (!waiting_.empty()) {
      next = std::move(waiting_.front());
      waiting_.pop_front();
    } else {
      idle_.push_back(c);
    }
  }
  fail_all(expired,
           Error(ErrorKind::kTransient, "no Postgres read connection free within " +
                                            std::to_string(acquire_timeout_.count()) + " ms"));
  if (next) start(c, std::move(next->key), std::move(next->done));
}

void PgAsyncReader::start(Connection* c, std::string key, Done done) {
  c->done = std::move(done);
  c->row.reset();
  c->error.reset();
  // The key as a binary text parameter (its bytes, no terminator needed);
  // the row in binary format.
  const char* values[1] = {key.data()};
  const int lengths[1] = {static_cast<int>(key.size())};
  const int formats[1] = {1};
  if (PQsendQueryPrepared(c->pg.get(), kGetStatement, 1, values, lengths, formats, 1) != 1) {
    return fail(c, Error(ErrorKind::kTransient, "reading a key: " + message_of(c->pg.get())));
  }
  flush(c);
}

void PgAsyncReader::flush(Connection* c) {
  const int pending = PQflush(c->pg.get());
  if (pending < 0) {
    return fail(c, Error(ErrorKind::kTransient, "reading a key: " + message_of(c->pg.get())));
  }
  if (pending == 0) return wait_readable(c);
  // The socket's send buffer is full (a long key): wait until it drains.
  c->socket.async_wait(boost::asio::posix::stream_descriptor::wait_write,
                       [this, c](const boost::system::error_code& ec) {
                         if (ec) {
                           return fail(
                               c, Error(ErrorKind::kTransient, "reading a key: " + ec.message()));
                         }
                         flush(c);
                       });
}

void PgAsyncReader::wait_readable(Connection* c) {
  c->socket.async_wait(boost::asio::posix::stream_descriptor::wait_read,
                       [this, c](const boost::system::error_code& ec) {
                         if (ec) {
                           return fail(
                               c, Error(ErrorKind::kTransient, "reading a key: " + ec.message()));
                         }
                         on_readable(c);
                       });
}

void PgAsyncReader::on_readable(Connection* c) {
  PGconn* pg = c->pg.get();
  if (PQconsumeInput(pg) != 1) {
    return fail(c,
                Error(ErrorKind::kTransient, "reading a key: connection lost: " + message_of(pg)));
  }
  while (PQisBusy(pg) == 0) {
    PgResultPtr r(PQgetResult(pg));
    if (!r) return finish(c);  // every result of the statement is in
    if (c->error) continue;    // keep draining after an error
    if (PQresultStatus(r.get()) != PGRES_TUPLES_OK) {
      c->error = result_error(r.get(), "reading a key");
      continue;
    }
    if (PQntuples(r.get()) == 0) continue;
    const PGresult* res = r.get();
    if (PQnfields(res) != 4 || PQgetlength(res, 0, 2) != 4 || PQgetlength(res, 0, 3) != 8) {
      c->error = Error(ErrorKind::kFatal, "reading a key: the row has an unexpected shape");
      continue;
    }
    StoredRow row;
    if (!PQgetisnull(res, 0, 0)) {
      row.value.emplace(PQgetvalue(res, 0, 0), static_cast<size_t>(PQgetlength(res, 0, 0)));
    }
    if (!PQgetisnull(res, 0, 1)) {
      row.content_type.assign(PQgetvalue(res, 0, 1), static_cast<size_t>(PQgetlength(res, 0, 1)));
    }
    row.position.partition =
        static_cast<int32_t>(static_cast<uint32_t>(big_endian(PQgetvalue(res, 0, 2), 4)));
    row.position.offset = static_cast<int64_t>(big_endian(PQgetvalue(res, 0, 3), 8));
    c->row = std::move(row);
  }
  wait_readable(c);
}

void PgAsyncReader::finish(Connection* c) {
  Done done = std::move(c->done);
  std::optional<StoredRow> row = std::move(c->row);
  std::optional<Error> error = std::move(c->error);
  // Serve the next read first: the callback may take long.
  if (PQstatus(c->pg.get()) == CONNECTION_OK) {
    release(c);
  } else {
    fail(c, Error(ErrorKind::kTransient, "reading a key: connection lost"));
  }
  done(error ? std::nullopt : std::move(row), error ? &*error : nullptr);
}

void PgAsyncReader::fail(Connection* c, const Error& error) {
  Done done = std::move(c->done);
  std::unique_ptr<Connection> dropped;
  bool reopen = false;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (stopped_) return;
    for (auto it = connections_.begin(); it != connections_.end(); ++it) {
      if (it->get() == c) {
        dropped = std::move(*it);
        connections_.erase(it);
        break;
      }
    }
    // Reads that wait for a connection get a new one.
    if (!waiting_.empty() && connections_.size() + connecting_ < max_connections_) {
      ++connecting_;
      reopen = true;
    }
  }
  if (reopen) boost::asio::post(connect_executor_, [this] { open_connection(); });
  // Destroyed on the thread of its own handler, none other pending.
  dropped.reset();
  if (done) done(std::nullopt, &error);
}

void PgAsyncReader::fail_all(std::vector<Waiting>& reads, const Error& error) {
  for (auto& w : reads) w.done(std::nullopt, &error);
  reads.clear();
}

void PgAsyncReader::arm_timer() {
  if (timer_armed_ || waiting_.empty()) return;
  timer_armed_ = true;
  timer_.expires_at(waiting_.front().deadline);
  timer_.async_wait([this](const boost::system::error_code&) { on_timer(); });
}

void PgAsyncReader::on_timer() {
  std::vector<Waiting> expired;
  {
    std::lock_guard<std::mutex> lock(mu_);
    timer_armed_ = false;
    if (stopped_) return;
    const auto now = Clock::now();
    while (!waiting_.empty() && waiting_.front().deadline <= now) {
      expired.push_back(std::move(waiting_.front()));
      waiting_.pop_front();
    }
    arm_timer();
  }
  fail_all(expired,
           Error(ErrorKind::kTransient, "no Postgres read connection free within " +
                                            std::to_string(acquire_timeout_.count()) + " ms"));
}

}  // namespace kvstream::store
