#include "apply/coalesce.h"

#include <gtest/gtest.h>

#include <set>
#include <string>
#include <utility>

#include "tests/fakes/events.h"

namespace kvstream::apply {
namespace {

schema::Event ev(schema::Op op, std::string key, int64_t offset, std::string value = "") {
  return op == schema::Op::kPut ? fakes::put(0, offset, std::move(key), std::move(value))
                                : fakes::del(0, offset, std::move(key));
}

std::vector<schema::Event> coalesced(std::vector<schema::Event> events,
                                     std::vector<schema::Event>* dropped = nullptr) {
  std::vector<schema::Event> scratch;
  coalesce(events, dropped ? *dropped : scratch);
  return events;
}

TEST(Coalesce, KeepsTheLastEventOfEachKey) {
  using schema::Op;
  std::vector<schema::Event> dropped;
  auto out =
      coalesced({ev(Op::kPut, "a", 1, "a1"), ev(Op::kPut, "b", 2, "b1"), ev(Op::kPut, "a", 3, "a2"),
                 ev(Op::kDelete, "b", 4), ev(Op::kDelete, "c", 5), ev(Op::kPut, "c", 6, "c1")},
                &dropped);
  ASSERT_EQ(out.size(), 3u);
  EXPECT_EQ(out[0].key, "a");
  EXPECT_EQ(out[0].value, "a2");
  EXPECT_EQ(out[0].position.offset, 3);
  EXPECT_EQ(out[1].key, "b");  // DELETE after PUT wins
  EXPECT_EQ(out[1].op, Op::kDelete);
  EXPECT_EQ(out[2].key, "c");  // PUT after DELETE wins
  EXPECT_EQ(out[2].op, Op::kPut);
  EXPECT_EQ(out[2].value, "c1");
  // The others are handed back, whole.
  ASSERT_EQ(dropped.size(), 3u);
  std::multiset<std::pair<std::string, int64_t>> gone;
  for (const auto& e : dropped) gone.insert({e.key, e.position.offset});
  EXPECT_EQ(gone, (std::multiset<std::pair<std::string, int64_t>>{{"a", 1}, {"b", 2}, {"c", 5}}));
}

TEST(Coalesce, LeavesDistinctKeysAlone) {
  using schema::Op;
  std::vector<schema::Event> dropped;
  auto out = coalesced({ev(Op::kPut, "a", 1), ev(Op::kPut, "b", 2)}, &dropped);
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(out[0].key, "a");
  EXPECT_EQ(out[1].key, "b");
  EXPECT_TRUE(dropped.empty());
  EXPECT_TRUE(coalesced({}).empty());
}

}  // namespace
}  // namespace kvstream::apply
