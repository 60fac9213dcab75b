// The watch hub on a fake topic and fake applied positions: events wait for
// the apply, carry resume tokens that resume exactly, honour the prefix and
// ?values=false; a start before the log is 410, beyond the limit 429; a
// watcher that does not read is cut with its error event; idle watchers get
// heartbeats.
#include "watch/hub.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <condition_variable>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <vector>

#include "common/error.h"
#include "http/request.h"
#include "tests/support/sse_client.h"
#include "tests/support/wait.h"

namespace kvstream::watch {
namespace {

using namespace std::chrono_literals;
using kvstream::testing::eventually;
using nlohmann::json;
using Clock = std::chrono::steady_clock;

// A topic in memory: every partition's records from offset `low`.
class FakeChanges : public ChangeSource {
 public:
  explicit FakeChanges(int32_t partitions) : logs_(static_cast<size_t>(partitions)) {}

  void append(int32_t p, const std::string& key, std::optional<std::string> value) {
    std::lock_guard<std::mutex> lock(mu_);
    auto& log = logs_[static_cast<size_t>(p)];
    Change c;
    c.partition = p;
    c.offset = static_cast<int64_t>(log.size());
    c.timestamp_ms = 0;
    c.key = key;
    c.op = value ? schema::Op::kPut : schema::Op::kDelete;
    c.value = value.value_or("");
    log.push_back(c);
    wake_ = true;
    cv_.notify_all();
  }
  void set_low(int32_t p, int64_t low) {
    std::lock_guard<std::mutex> lock(mu_);
    low_[p] = low;
  }
  size_t reads() {
    std::lock_guard<std::mutex> lock(mu_);
    return reads_;
  }

  int32_t partitions() override { return static_cast<int32_t>(logs_.size()); }
  std::map<int32_t, Range> watermarks() override {
    std::lock_guard<std::mutex> lock(mu_);
    std::map<int32_t, Range> out;
    for (size_t p = 0; p < logs_.size(); ++p) {
      out[static_cast<int32_t>(p)] =
          Range{low_[static_cast<int32_t>(p)], static_cast<int64_t>(logs_[p].size())};
    }
    return out;
  }
  void read(const std::map<int32_t, int64_t>& from) override {
    std::lock_guard<std::mutex> lock(mu_);
    ++reads_;
    next_ = from;
  }
  void pause(int32_t p) override {
    std::lock_guard<std::mutex> lock(mu_);
    paused_.insert(p);
  }
  void resume(int32_t p) override {
    std::lock_guard<std::mutex> lock(mu_);
    paused_.erase(p);
  }
  void poll(std::chrono::milliseconds wait, std::vector<Item>& out) override {
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait_for(lock, wait, [&] { return wake_ || available(); });
    wake_ = false;
    for (auto& [p, next] : next_) {
      if (paused_.count(p)) continue;
      const auto& log = logs_[static_cast<size_t>(p)];
      if (next < low_[p]) {
        Item gone;
        gone.kind = Item::Kind::kGone;
        gone.change.partition = p;
        gone.change.offset = next;
        out.push_back(gone);
        continue;
      }
      // At most 100 a poll, as a client's fetches come in parts.
      for (int n = 0; n < 100 && next < static_cast<int64_t>(log.size()); ++n) {
        Item item;
        item.change = log[static_cast<size_t>(next++)];
        out.push_back(item);
      }
    }
  }
  void wake() override {
    std::lock_guard<std::mutex> lock(mu_);
    wake_ = true;
    cv_.notify_all();
  }

 private:
  bool available() const {
    for (const auto& [p, next] : next_) {
      if (!paused_.count(p) && next < static_cast<int64_t>(logs_[static_cast<size_t>(p)].size()))
        return true;
    }
    return false;
  }

  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<std::vector<Change>> logs_;
  std::map<int32_t, int64_t> low_;
  std::map<int32_t, int64_t> next_;
  std::set<int32_t> paused_;
  bool wake_ = false;
  size_t reads_ = 0;
};

// The view's applied positions, moved by the test.
class FakeApplied {
 public:
  std::map<int32_t, int64_t> get() {
    std::lock_guard<std::mutex> lock(mu_);
    return next_;
  }
  void set(int32_t p, int64_t next) {
    std::vector<std::function<void(bool)>> done;
    {
      std::lock_guard<std::mutex> lock(mu_);
      next_[p] = next;
      for (auto it = waits_.begin(); it != waits_.end();) {
        if (next > it->first.offset && it->first.partition == p) {
          done.push_back(std::move(it->second));
          it = waits_.erase(it);
        } else {
          ++it;
        }
      }
    }
    for (auto& d : done) d(true);
  }
  void wait(Position pos, std::function<void(bool)> done) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      auto it = next_.find(pos.partition);
      if (it == next_.end() || it->second <= pos.offset) {
        waits_.emplace_back(pos, std::move(done));
        return;
      }
    }
    done(true);
  }

 private:
  std::mutex mu_;
  std::map<int32_t, int64_t> next_;
  std::vector<std::pair<Position, std::function<void(bool)>>> waits_;
};

class Stream : public http::EventStream {
 public:
  bool send(std::string bytes) override {
    std::lock_guard<std::mutex> lock(mu_);
    if (finished_) return false;
    sent_ += bytes;
    return true;
  }
  void finish(std::string last) override {
    std::lock_guard<std::mutex> lock(mu_);
    if (finished_) return;
    sent_ += last;
    finished_ = true;
  }
  size_t pending_bytes() const override { return pending.load(); }
  bool closed() const override {
    std::lock_guard<std::mutex> lock(mu_);
    return finished_;
  }
  std::string sent() const {
    std::lock_guard<std::mutex> lock(mu_);
    return sent_;
  }
  // The client went away.
  void close() {
    std::lock_guard<std::mutex> lock(mu_);
    finished_ = true;
  }

  std::atomic<size_t> pending{0};

 private:
  mutable std::mutex mu_;
  std::string sent_;
  bool finished_ = false;
};

// How a watch was answered.
struct Answer {
  std::mutex mu;
  std::optional<http::Response> response;
  std::shared_ptr<Stream> stream;

  bool answered() {
    std::lock_guard<std::mutex> lock(mu);
    return response.has_value();
  }
};

class Reply : public http::WatchReply {
 public:
  explicit Reply(std::shared_ptr<Answer> answer) : answer_(std::move(answer)) {}
  void answer(http::Response res) override {
    std::lock_guard<std::mutex> lock(answer_->mu);
    answer_->response = std::move(res);
  }
  std::shared_ptr<http::EventStream> stream(http::Response header) override {
    std::lock_guard<std::mutex> lock(answer_->mu);
    answer_->stream = std::make_shared<Stream>();
    answer_->response = std::move(header);
    return answer_->stream;
  }

 private:
  std::shared_ptr<Answer> answer_;
};

// The events of an SSE text: (type, id, data), as tests/support reads them.
struct Event {
  std::string type, id;
  json data;
};
std::vector<Event> events_of(const std::string& text) {
  std::vector<kvstream::testing::SseEvent> parsed;
  std::string last_id;
  kvstream::testing::parse_sse(text, 0, last_id, parsed);
  std::vector<Event> out;
  for (const auto& e : parsed) out.push_back(Event{e.type, e.id, json::parse(e.data)});
  return out;
}

class HubTest : public ::testing::Test {
 protected:
  static constexpr int32_t kPartitions = 2;

  HubTest() : changes(kPartitions) {
    for (int32_t p = 0; p < kPartitions; ++p) applied.set(p, 0);
  }
  ~HubTest() override {
    if (hub) hub->stop();
  }

  WatchHub& the_hub() {
    if (!hub) {
      HubDeps deps{changes, [this] { return applied.get(); },
                   [this](Position pos, Clock::time_point, std::function<void(bool)> done) {
                     applied.wait(pos, std::move(done));
                   },
                   [this] { return applied.get(); }, nullptr};
      hub = std::make_unique<WatchHub>(settings, std::move(deps));
    }
    return *hub;
  }

  std::shared_ptr<Answer> watch(const std::string& prefix,
                                std::optional<std::map<int32_t, int64_t>> from = std::nullopt,
                                bool values = true) {
    http::WatchRequest req;
    req.prefix = prefix;
    req.from = std::move(from);
    req.values = values;
    auto answer = std::make_shared<Answer>();
    the_hub().open(req, std::make_unique<Reply>(answer));
    EXPECT_TRUE(eventually([&] { return answer->answered(); }, 5s, 1ms));
    return answer;
  }

  static std::vector<Event> received(const std::shared_ptr<Answer>& a) {
    return events_of(a->stream->sent());
  }

  HubSettings settings;
  FakeChanges changes;
  FakeApplied applied;
  std::unique_ptr<WatchHub> hub;
};

TEST_F(HubTest, EventsWaitForTheApplyAndCarryResumeTokens) {
  auto a = watch("");
  ASSERT_EQ(a->response->result_int(), 200U);
  EXPECT_EQ(a->response->at(http::beast_http::field::content_type), "text/event-stream");
  // The first id is where the watch starts.
  EXPECT_NE(a->stream->sent().find("id: 0:-1,1:-1\n"), std::string::npos);

  changes.append(0, "a", std::string("1"));
  changes.append(0, "b", std::string("\xff"));
  changes.append(0, "a", std::nullopt);
  changes.append(1, "c", std::string("3"));
  // Read, not applied: nothing.
  std::this_thread::sleep_for(50ms);
  EXPECT_TRUE(received(a).empty());

  applied.set(0, 2);
  ASSERT_TRUE(eventually([&] { return received(a).size() == 2; }, 5s, 1ms));
  auto events = received(a);
  EXPECT_EQ(events[0].type, "put");
  EXPECT_EQ(events[0].id, "0:0,1:-1");
  EXPECT_EQ(events[0].data, json({{"key", "a"},
                                  {"value", "1"},
                                  {"value_encoding", "utf-8"},
                                  {"content_type", "application/octet-stream"},
                                  {"position", "0:0"}}));
  EXPECT_EQ(events[1].data["value"], "/w==");
  EXPECT_EQ(events[1].data["value_encoding"], "base64");
  EXPECT_EQ(events[1].id, "0:1,1:-1");

  applied.set(1, 1);
  applied.set(0, 3);
  ASSERT_TRUE(eventually([&] { return received(a).size() == 4; }, 5s, 1ms));
  events = received(a);
  // Per partition in offset order; the two partitions in either order.
  std::vector<std::string> ids;
  for (const auto& e : events) ids.push_back(e.id);
  const auto del =
      std::find_if(events.begin(), events.end(), [](const Event& e) { return e.type == "delete"; });
  ASSERT_NE(del, events.end());
  EXPECT_EQ(del->data, json({{"key", "a"}, {"position", "0:2"}}));
  EXPECT_EQ(del->id.substr(0, 4), "0:2,");
}

TEST_F(HubTest, ResumingFromATokenGetsEveryLaterChangeOnce) {
  for (int i = 0; i < 10; ++i) changes.append(i % 2, "k" + std::to_string(i), std::to_string(i));
  applied.set(0, 5);
  applied.set(1, 5);
  auto all = watch("", std::map<int32_t, int64_t>{});  // from the beginning
  ASSERT_TRUE(eventually([&] { return received(all).size() == 10; }, 5s, 1ms));
  const auto events = received(all);
  for (size_t cut = 0; cut < events.size(); ++cut) {
    auto token = http::parse_position_vector(events[cut].id);
    ASSERT_TRUE(token);
    auto resumed = watch("", *token);
    const size_t expected = events.size() - cut - 1;
    ASSERT_TRUE(eventually([&] { return received(resumed).size() == expected; }, 5s, 1ms))
        << "after " << events[cut].id;
    std::set<std::string> rest, got;
    for (size_t i = cut + 1; i < events.size(); ++i) rest.insert(events[i].data["position"]);
    for (const auto& e : received(resumed)) got.insert(e.data["position"]);
    EXPECT_EQ(got, rest) << "after " << events[cut].id;
    resumed->stream->close();
  }
}

TEST_F(HubTest, PrefixAndValuesFalse) {
  auto a = watch("user:", std::nullopt, false);
  changes.append(0, "user:1", std::string("x"));
  changes.append(0, "order:1", std::string("y"));
  changes.append(0, "user:2", std::string("z"));
  applied.set(0, 3);
  ASSERT_TRUE(eventually([&] { return received(a).size() == 2; }, 5s, 1ms));
  const auto events = received(a);
  EXPECT_EQ(
      events[0].data,
      json({{"key", "user:1"}, {"content_type", "application/octet-stream"}, {"position", "0:0"}}));
  EXPECT_EQ(events[1].data["key"], "user:2");
  // The skipped change still moved the token.
  EXPECT_EQ(events[1].id, "0:2,1:-1");
}

TEST_F(HubTest, AStartBeforeTheLogIsGoneAndPastItsEndToo) {
  for (int i = 0; i < 5; ++i) changes.append(0, "k", std::to_string(i));
  changes.set_low(0, 3);
  auto gone = watch("", std::map<int32_t, int64_t>{{0, 1}, {1, -1}});
  EXPECT_EQ(gone->response->result_int(), 410U);
  EXPECT_EQ(json::parse(gone->response->body())["error"], "gone");
  auto past = watch("", std::map<int32_t, int64_t>{{0, 9}});
  EXPECT_EQ(past->response->result_int(), 410U);
  auto fine = watch("", std::map<int32_t, int64_t>{{0, 2}});
  EXPECT_EQ(fine->response->result_int(), 200U);
}

TEST_F(HubTest, TheWatcherLimitAnswers429) {
  settings.max_watchers = 2;
  auto a = watch("");
  auto b = watch("");
  auto c = watch("");
  EXPECT_EQ(a->response->result_int(), 200U);
  EXPECT_EQ(b->response->result_int(), 200U);
  EXPECT_EQ(c->response->result_int(), 429U);
  EXPECT_EQ(json::parse(c->response->body())["error"], "too_many_watchers");
  // A watcher that leaves makes room.
  a->stream->close();
  ASSERT_TRUE(eventually([&] { return the_hub().watchers() == 1; }, 5s, 1ms));
  EXPECT_EQ(watch("")->response->result_int(), 200U);
}

TEST_F(HubTest, AWatcherThatDoesNotReadIsCutAndTheOthersGoOn) {
  settings.buffer_bytes = 4096;
  settings.history_bytes = 64 * 1024;
  auto slow = watch("");
  auto fast = watch("");
  slow->stream->pending = 5000;  // its client reads nothing
  constexpr int kChanges = 2000;
  for (int i = 0; i < kChanges; ++i) {
    changes.append(0, "k" + std::to_string(i), std::string(50, 'v'));
  }
  applied.set(0, kChanges);
  // The other one gets every change, in rounds of at most its buffer.
  ASSERT_TRUE(eventually([&] { return received(fast).size() == kChanges; }, 10s, 1ms));
  ASSERT_TRUE(eventually([&] { return slow->stream->closed(); }, 5s, 1ms));
  // Nothing was sent to it before it lost its place; then its error.
  const auto events = received(slow);
  ASSERT_EQ(events.size(), 1U);
  EXPECT_EQ(events.back().type, "error");
  EXPECT_EQ(events.back().data["error"], "too_slow");
  ASSERT_TRUE(eventually([&] { return the_hub().watchers() == 1; }, 5s, 1ms));
}

TEST_F(HubTest, IdleWatchersGetHeartbeatsWithTheirToken) {
  settings.heartbeat = 50ms;
  auto a = watch("user:");
  changes.append(1, "other", std::string("x"));
  applied.set(1, 1);
  ASSERT_TRUE(eventually(
      [&] { return a->stream->sent().find(": heartbeat\nid: 0:-1,1:0\n\n") != std::string::npos; },
      5s, 1ms));
}

TEST_F(HubTest, NothingIsReadWhileNoOneWatches) {
  the_hub();
  std::this_thread::sleep_for(50ms);
  EXPECT_EQ(changes.reads(), 0U);
  auto a = watch("");
  ASSERT_TRUE(eventually([&] { return changes.reads() == 1; }, 5s, 1ms));
  a->stream->close();
  // The last watcher gone: the hub stops reading (an empty read).
  ASSERT_TRUE(eventually([&] { return changes.reads() == 2; }, 5s, 1ms));
}

}  // namespace
}  // namespace kvstream::watch
