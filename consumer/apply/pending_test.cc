#include "apply/pending.h"

#include <gtest/gtest.h>

#include <map>
#include <string>

#include "tests/fakes/events.h"

namespace kvstream::apply {
namespace {

schema::Event ev(schema::Op op, std::string key, int64_t offset, std::string value = "") {
  schema::Event e = op == schema::Op::kPut ? fakes::put(0, offset, std::move(key), std::move(value))
                                           : fakes::del(0, offset, std::move(key));
  e.timestamp_ms = 1000 + offset;
  return e;
}

TEST(PendingEvents, KeepsTheLastEventOfEachKeyAndHandsBackTheOthers) {
  using schema::Op;
  PendingEvents pending;
  schema::Event replaced;
  EXPECT_FALSE(pending.add(ev(Op::kPut, "a", 1, "a1"), replaced));
  EXPECT_FALSE(pending.add(ev(Op::kPut, "b", 2, "b1"), replaced));
  EXPECT_TRUE(pending.add(ev(Op::kPut, "a", 3, "a2"), replaced));
  EXPECT_EQ(replaced.value, "a1");
  EXPECT_TRUE(pending.add(ev(Op::kDelete, "b", 4), replaced));  // DELETE after PUT wins
  EXPECT_EQ(replaced.position.offset, 2);
  EXPECT_FALSE(pending.add(ev(Op::kDelete, "c", 5), replaced));
  EXPECT_TRUE(pending.add(ev(Op::kPut, "c", 6, "c1"), replaced));  // PUT after DELETE wins
  EXPECT_EQ(pending.size(), 3u);
  EXPECT_EQ(pending.events_in(), 6u);
  EXPECT_EQ(pending.first_timestamp_ms(), 1001);

  std::map<std::string, schema::Event> by_key;
  for (auto& e : pending.take()) by_key[e.key] = std::move(e);
  ASSERT_EQ(by_key.size(), 3u);
  EXPECT_EQ(by_key["a"].value, "a2");
  EXPECT_EQ(by_key["a"].position.offset, 3);
  EXPECT_EQ(by_key["b"].op, Op::kDelete);
  EXPECT_EQ(by_key["c"].op, Op::kPut);
  EXPECT_EQ(by_key["c"].value, "c1");
  EXPECT_TRUE(pending.empty());
  EXPECT_EQ(pending.events_in(), 0u);
  EXPECT_EQ(pending.first_timestamp_ms(), -1);
}

TEST(PendingEvents, StaysCorrectAcrossGrowthAndTake) {
  PendingEvents pending;
  schema::Event replaced;
  // Many distinct keys (the events move as the vector grows), each twice.
  for (int round = 0; round < 2; ++round) {
    for (int k = 0; k < 5000; ++k) {
      pending.add(
          ev(schema::Op::kPut, "key-" + std::to_string(k), round * 5000 + k, std::to_string(round)),
          replaced);
    }
  }
  EXPECT_EQ(pending.size(), 5000u);
  auto events = pending.take();
  for (const auto& e : events) EXPECT_EQ(e.value, "1") << e.key;
  // Usable again after take().
  EXPECT_FALSE(pending.add(ev(schema::Op::kPut, "key-1", 20000, "x"), replaced));
  EXPECT_TRUE(pending.add(ev(schema::Op::kPut, "key-1", 20001, "y"), replaced));
  EXPECT_EQ(pending.take().front().value, "y");
}

}  // namespace
}  // namespace kvstream::apply
