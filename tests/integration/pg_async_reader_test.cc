// PgAsyncReader against a real Postgres server: what it reads equals what
// the blocking read pool reads, reads beyond its connections wait their
// turn, and a database that is down, slow or drops the connection gives
// transient errors, never a hang; a dropped connection is replaced.
#include "store/pg_async_reader.h"

#include <gtest/gtest.h>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/thread_pool.hpp>
#include <future>
#include <thread>

#include "schema/migrations.h"
#include "store/pg_reader.h"
#include "store/pg_store.h"
#include "tests/support/test_database.h"

namespace kvstream::testing {
namespace {

using namespace std::chrono_literals;
using store::PgAsyncReader;
using store::StoredRow;

schema::Event put(int64_t offset, std::string key, std::string value,
                  std::string content_type = "") {
  schema::Event e;
  e.op = schema::Op::kPut;
  e.key = std::move(key);
  e.value = std::move(value);
  e.content_type = std::move(content_type);
  e.position = Position{2, offset};
  return e;
}

// What one read heard.
struct Outcome {
  std::optional<StoredRow> row;
  std::optional<Error> error;
};

class PgAsyncReaderTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto conn = db_.connect();
    schema::migrate(*conn, schema::load_migrations(schema::embedded_migrations()));
    store::PartitionBatch b;
    b.topic = "events";
    b.partition = 2;
    b.expected_next_offset = store::kNoOffset;
    b.new_next_offset = 5;
    schema::Event gone;
    gone.op = schema::Op::kDelete;
    gone.key = "gone";
    gone.position = Position{2, 3};
    b.events = {put(0, "bin", std::string("\0\xff\x01", 3), "application/x"), put(1, "empty", ""),
                put(2, "text", std::string(5000, 'v'), "text/plain"), gone, put(4, "ünï", "ok")};
    store::PgStore store({db_.url()});
    ASSERT_EQ(store.apply(b), store::ApplyOutcome::kApplied);
  }

  void TearDown() override { stop(); }

  // A reader on an io_context run by one thread, as the HTTP server's.
  void start(store::PgSettings settings, size_t connections,
             std::chrono::milliseconds acquire_timeout = 2s) {
    io_thread_ = std::thread([this] { ioc_.run(); });
    reader_ = std::make_unique<PgAsyncReader>(ioc_, connect_.get_executor(), std::move(settings),
                                              connections, acquire_timeout);
  }

  void stop() {
    if (!io_thread_.joinable()) return;
    work_.reset();
    ioc_.stop();
    io_thread_.join();
    connect_.join();
    reader_.reset();
  }

  std::future<Outcome> read(const std::string& key) {
    auto promise = std::make_shared<std::promise<Outcome>>();
    auto f = promise->get_future();
    reader_->get(key, [promise](std::optional<StoredRow> row, const Error* error) {
      Outcome o;
      o.row = std::move(row);
      if (error != nullptr) o.error = *error;
      promise->set_value(std::move(o));
    });
    return f;
  }

  static Outcome wait(std::future<Outcome>& f) {
    if (f.wait_for(60s) != std::future_status::ready) {
      ADD_FAILURE() << "a read never finished";
      return {};
    }
    return f.get();
  }

  TestDatabase db_;
  boost::asio::io_context ioc_;
  boost::asio::executor_work_guard<boost::asio::io_context::executor_type> work_{
      ioc_.get_executor()};
  boost::asio::thread_pool connect_{1};
  std::thread io_thread_;
  std::unique_ptr<PgAsyncReader> reader_;
};

TEST_F(PgAsyncReaderTest, ReadsWhatTheBlockingPoolReads) {
  start({db_.url()}, 2);
  store::PgReadPool pool({db_.url()}, 1, 2s);
  for (const std::string key : {"bin", "empty", "text", "gone", "ünï", "never"}) {
    auto f = read(key);
    Outcome o = wait(f);
    ASSERT_FALSE(o.error) << key << ": " << o.error->what();
    const auto expected = pool.get(key);
    ASSERT_EQ(o.row.has_value(), expected.has_value()) << key;
    if (!expected) continue;
    EXPECT_EQ(o.row->value, expected->value) << key;
    EXPECT_EQ(o.row->content_type, expected->content_type) << key;
    EXPECT_EQ(o.row->position, expected->position) << key;
  }
  auto bin = read("bin");
  EXPECT_EQ(wait(bin).row->value, std::string("\0\xff\x01", 3));
  auto gone = read("gone");
  Outcome tombstone = wait(gone);
  ASSERT_TRUE(tombstone.row);
  EXPECT_FALSE(tombstone.row->value);  // a tombstone row
  EXPECT_EQ(tombstone.row->position, (Position{2, 3}));
}

TEST_F(PgAsyncReaderTest, ManyReadsShareFewConnections) {
  start({db_.url()}, 2);
  std::vector<std::future<Outcome>> reads;
  for (int i = 0; i < 300; ++i) reads.push_back(read(i % 2 == 0 ? "text" : "never"));
  for (size_t i = 0; i < reads.size(); ++i) {
    Outcome o = wait(reads[i]);
    ASSERT_FALSE(o.error) << o.error->what();
    EXPECT_EQ(o.row.has_value(), i % 2 == 0);
  }
  EXPECT_LE(reader_->open_connections(), 2u);
  EXPECT_GE(reader_->open_connections(), 1u);
}

TEST_F(PgAsyncReaderTest, ADatabaseThatIsDownFailsReadsWithATransientError) {
  start({"postgresql://postgres@127.0.0.1:1/none?connect_timeout=5"}, 2);
  std::vector<std::future<Outcome>> reads;
  for (int i = 0; i < 5; ++i) reads.push_back(read("text"));
  for (auto& f : reads) {
    Outcome o = wait(f);
    ASSERT_TRUE(o.error);
    EXPECT_TRUE(o.error->retryable()) << o.error->what();
    EXPECT_FALSE(o.row);
  }
  EXPECT_EQ(reader_->open_connections(), 0u);
}

TEST_F(PgAsyncReaderTest, ASlowStatementTimesOutAndAReadWaitingForTheConnectionGivesUp) {
  store::PgSettings settings{db_.url()};
  settings.statement_timeout = 1500ms;
  start(settings, 1, 300ms);
  auto warm = read("bin");  // the connection is open (preparing needs the table too)
  ASSERT_FALSE(wait(warm).error);
  // Another session holds a lock that the reader's SELECT waits for.
  auto locker = db_.connect();
  pqxx::work lock(*locker);
  lock.exec("LOCK TABLE kv IN ACCESS EXCLUSIVE MODE");
  auto slow = read("text");
  auto waiting = read("bin");
  Outcome gave_up = wait(waiting);
  ASSERT_TRUE(gave_up.error);
  EXPECT_TRUE(gave_up.error->retryable());
  EXPECT_NE(std::string(gave_up.error->what()).find("no Postgres read connection free"),
            std::string::npos)
      << gave_up.error->what();
  Outcome timed_out = wait(slow);
  ASSERT_TRUE(timed_out.error);
  EXPECT_TRUE(timed_out.error->retryable()) << timed_out.error->what();
  EXPECT_NE(std::string(timed_out.error->what()).find("57014"), std::string::npos)
      << timed_out.error->what();
  lock.abort();
  // The connection serves again.
  auto after = read("bin");
  Outcome ok = wait(after);
  ASSERT_FALSE(ok.error) << ok.error->what();
  EXPECT_EQ(ok.row->value, std::string("\0\xff\x01", 3));
}

TEST_F(PgAsyncReaderTest, AConnectionTheServerDropsIsReplaced) {
  start({db_.url()}, 1);
  auto first = read("text");
  ASSERT_FALSE(wait(first).error);
  auto admin = db_.connect();
  pqxx::nontransaction(*admin).exec(
      "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = "
      "'kvstream-read' AND datname = current_database()");
  // The next read may find the dropped connection (a transient error) or
  // already a new one; a read after it is answered.
  bool answered = false;
  for (int attempt = 0; attempt < 3 && !answered; ++attempt) {
    auto f = read("text");
    Outcome o = wait(f);
    if (o.error) {
      EXPECT_TRUE(o.error->retryable()) << o.error->what();
    } else {
      EXPECT_EQ(o.row->value->size(), 5000u);
      answered = true;
    }
  }
  EXPECT_TRUE(answered);
}

}  // namespace
}  // namespace kvstream::testing
