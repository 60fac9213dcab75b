// KafkaSource against the real broker, in the group situations the service
// meets: a member that commits on revoke, is slow there and is dropped from
// the group while other members take its partitions over.
#include "source/kafka_source.h"

#include <gtest/gtest.h>

#include <atomic>
#include <condition_variable>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "tests/support/group.h"
#include "tests/support/kafka_util.h"
#include "tests/support/test_env.h"
#include "tests/support/wait.h"

namespace kvstream::testing {
namespace {

using namespace std::chrono_literals;

// A group member driven as the service drives its KafkaSource, on a poll
// thread of its own: on assignment it commits `assign_commit` for each new
// partition (the service commits the applied positions it takes over), on
// revoke it commits `revoke_commit` (unless negative) for each revoked one (the service
// commits what it applied before letting go). Its first revoke can be held
// until release(), as a slow revoke (a batch finishing) would hold it.
class Member : public source::KafkaSource::Listener {
 public:
  Member(source::SourceSettings settings, int64_t assign_commit, int64_t revoke_commit,
         bool hold_first_revoke = false)
      : assign_commit_(assign_commit),
        revoke_commit_(revoke_commit),
        hold_revoke_(hold_first_revoke),
        source_(std::make_unique<source::KafkaSource>(std::move(settings), *this)) {
    thread_ = std::thread([this] { run(); });
  }

  ~Member() {
    release();
    stop_.store(true);
    thread_.join();
  }

  std::map<int32_t, int64_t> on_assign(const std::vector<int32_t>& partitions) override {
    std::map<int32_t, int64_t> commit;
    for (int32_t p : partitions) commit[p] = assign_commit_;
    source_->commit(commit);
    std::lock_guard<std::mutex> lock(mu_);
    owned_.insert(partitions.begin(), partitions.end());
    ++assignments_;
    return {};
  }

  void on_revoke(const std::vector<int32_t>& partitions) override {
    {
      std::unique_lock<std::mutex> lock(mu_);
      if (hold_revoke_) {
        hold_revoke_ = false;
        held_ = true;
        cv_.wait_for(lock, 120s, [&] { return released_; });
        held_ = false;
      }
      for (int32_t p : partitions) owned_.erase(p);
    }
    if (revoke_commit_ < 0) return;
    std::map<int32_t, int64_t> commit;
    for (int32_t p : partitions) commit[p] = revoke_commit_;
    source_->commit(commit);
  }

  // True while the first revoke is held.
  bool held() {
    std::lock_guard<std::mutex> lock(mu_);
    return held_;
  }
  void release() {
    std::lock_guard<std::mutex> lock(mu_);
    released_ = true;
    cv_.notify_all();
  }
  std::set<int32_t> owned() {
    std::lock_guard<std::mutex> lock(mu_);
    return owned_;
  }
  int assignments() {
    std::lock_guard<std::mutex> lock(mu_);
    return assignments_;
  }
  // Runs `task` on the poll thread (where every KafkaSource call belongs).
  void post(std::function<void(source::KafkaSource&)> task) {
    std::lock_guard<std::mutex> lock(mu_);
    tasks_.push_back(std::move(task));
  }

 private:
  void run() {
    try {
      source_->subscribe();
      while (!stop_.load()) {
        source_->poll(50ms);
        std::deque<std::function<void(source::KafkaSource&)>> tasks;
        {
          std::lock_guard<std::mutex> lock(mu_);
          tasks.swap(tasks_);
        }
        for (auto& task : tasks) task(*source_);
      }
      source_->close();
    } catch (const std::exception& e) {
      ADD_FAILURE() << "member failed: " << e.what();
    }
  }

  const int64_t assign_commit_;
  const int64_t revoke_commit_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool hold_revoke_;
  bool held_ = false;
  bool released_ = false;
  std::set<int32_t> owned_;
  int assignments_ = 0;
  std::deque<std::function<void(source::KafkaSource&)>> tasks_;
  std::unique_ptr<source::KafkaSource> source_;
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

std::string show(const std::map<int32_t, int64_t>& offsets) {
  std::string out;
  for (const auto& [p, o] : offsets) out += " p" + std::to_string(p) + "=" + std::to_string(o);
  return out;
}

// A member's revoke-time commit that the broker refuses (the member was
// dropped from the group meanwhile) must not be sent again at the member's
// next assignment: the partitions have other owners by then, which
// committed further, and the group's committed offsets would move back.
TEST(KafkaSource, ARefusedRevokeCommitIsNotSentAgainAfterThePartitionMoved) {
  const std::string brokers = test_brokers();
  const std::string topic = unique_name("revoke_commit");
  const std::string group = unique_name("revoke_commit_group");
  create_topic(brokers, topic, 4);
  auto settings_for = [&](const std::string& client_id) {
    source::SourceSettings s;
    s.kafka.brokers = brokers;
    s.kafka.topic = topic;
    s.group = group;
    s.session_timeout = 6000ms;
    // The rebalance timeout: a member that has not rejoined within it is
    // dropped from the group.
    s.kafka.properties = {{"max.poll.interval.ms", "6000"}, {"client.id", client_id}};
    return s;
  };
  auto committed = [&] {
    try {
      return committed_offsets(brokers, group, topic);
    } catch (const std::exception&) {
      return std::map<int32_t, int64_t>{};
    }
  };
  auto describe = [&]() -> GroupDescription {
    try {
      return describe_group(brokers, group, topic);
    } catch (const std::exception&) {
      return {};
    }
  };
  auto all = [](int64_t offset) {
    std::map<int32_t, int64_t> m;
    for (int32_t p = 0; p < 4; ++p) m[p] = offset;
    return m;
  };

  // A owns every partition, applied up to 10 and committed that.
  Member a(settings_for("kvtest-a"), 10, 10, /*hold_first_revoke=*/true);
  ASSERT_TRUE(eventually([&] { return a.owned().size() == 4; }, 60s));
  ASSERT_TRUE(eventually([&] { return committed() == all(10); }, 30s)) << show(committed());

  // B joins; A is asked to give up two partitions and is slow about it.
  // Meanwhile C joins, and the group drops A (it did not rejoin within the
  // rebalance timeout): B and C own every partition and commit 100.
  auto b = std::make_unique<Member>(settings_for("kvtest-b"), 100, -1);
  ASSERT_TRUE(eventually([&] { return a.held(); }, 60s));
  auto c = std::make_unique<Member>(settings_for("kvtest-c"), 100, -1);
  GroupDescription g;
  ASSERT_TRUE(eventually(
      [&] {
        g = describe();
        if (g.state != "Stable" || g.members.size() != 2 || g.assigned().size() != 4) return false;
        for (const GroupMember& m : g.members) {
          if (m.client_id == "kvtest-a") return false;
        }
        return true;
      },
      60s, 250ms))
      << g.summary();
  ASSERT_TRUE(eventually([&] { return committed() == all(100); }, 30s)) << show(committed());

  // A's revoke ends: its commit of 10 is refused (it is no member any
  // more). A joins again and gets a partition back.
  const int before = a.assignments();
  a.release();
  ASSERT_TRUE(eventually(
      [&] {
        g = describe();
        return a.assignments() > before && !a.owned().empty() && g.state == "Stable" &&
               g.members.size() == 3 && g.assigned().size() == 4;
      },
      90s, 250ms))
      << g.summary();

  // A commits a mark for a partition it owns now. Its commits go out in
  // order on one connection, so once the mark is there, anything A sent at
  // its assignment has reached the broker too.
  const int32_t mine = *a.owned().begin();
  a.post([&](source::KafkaSource& s) { s.commit({{mine, 1000}}); });
  std::map<int32_t, int64_t> now;
  ASSERT_TRUE(eventually(
      [&] {
        now = committed();
        return now.count(mine) && now[mine] == 1000;
      },
      30s))
      << show(now);

  // No partition's committed offset went back below what its new owner
  // committed.
  for (int32_t p = 0; p < 4; ++p) {
    if (p == mine) continue;
    EXPECT_EQ(now[p], 100) << "partition " << p << ": committed offsets" << show(now);
  }
  c.reset();
  b.reset();
}

}  // namespace
}  // namespace kvstream::testing
