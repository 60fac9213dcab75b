#include "apply/coalesce.h"

#include <gtest/gtest.h>

namespace kvstream::apply {
namespace {

schema::Event ev(schema::Op op, std::string key, int64_t offset, std::string value = "") {
  schema::Event e;
  e.op = op;
  e.key = std::move(key);
  e.value = std::move(value);
  e.position = Position{0, offset};
  return e;
}

TEST(Coalesce, KeepsTheLastEventOfEachKey) {
  using schema::Op;
  auto out =
      coalesce({ev(Op::kPut, "a", 1, "a1"), ev(Op::kPut, "b", 2, "b1"), ev(Op::kPut, "a", 3, "a2"),
                ev(Op::kDelete, "b", 4), ev(Op::kDelete, "c", 5), ev(Op::kPut, "c", 6, "c1")});
  ASSERT_EQ(out.size(), 3u);
  EXPECT_EQ(out[0].key, "a");
  EXPECT_EQ(out[0].value, "a2");
  EXPECT_EQ(out[0].position.offset, 3);
  EXPECT_EQ(out[1].key, "b");  // DELETE after PUT wins
  EXPECT_EQ(out[1].op, Op::kDelete);
  EXPECT_EQ(out[2].key, "c");  // PUT after DELETE wins
  EXPECT_EQ(out[2].op, Op::kPut);
  EXPECT_EQ(out[2].value, "c1");
}

TEST(Coalesce, LeavesDistinctKeysAlone) {
  using schema::Op;
  auto out = coalesce({ev(Op::kPut, "a", 1), ev(Op::kPut, "b", 2)});
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(out[0].key, "a");
  EXPECT_EQ(out[1].key, "b");
  EXPECT_TRUE(coalesce({}).empty());
}

}  // namespace
}  // namespace kvstream::apply
