#include "producer/load.h"

#include <gtest/gtest.h>

#include <set>

namespace kvstream::producer {
namespace {

using schema::Op;

struct Drawn {
  Op op;
  std::string key, value;
  bool operator==(const Drawn& o) const { return op == o.op && key == o.key && value == o.value; }
};

std::vector<Drawn> draw(const LoadSettings& s, int n) {
  LoadGenerator gen(s);
  std::vector<Drawn> out;
  for (int i = 0; i < n; ++i) {
    const LoadEvent e = gen.next();
    out.push_back({e.op, std::string(e.key), std::string(e.value)});
  }
  return out;
}

TEST(LoadGenerator, SameSeedSameSequenceOtherSeedOther) {
  LoadSettings s;
  s.delete_ratio = 0.3;
  const auto a = draw(s, 1000);
  EXPECT_EQ(a, draw(s, 1000));
  s.seed = 2;
  EXPECT_NE(a, draw(s, 1000));
}

TEST(LoadGenerator, StaysInTheKeySpaceAndUsesAllOfIt) {
  LoadSettings s;
  s.keys = 50;
  s.key_prefix = "user:";
  std::set<std::string> keys;
  for (const Drawn& d : draw(s, 5000)) keys.insert(d.key);
  std::set<std::string> expected;
  for (int i = 0; i < 50; ++i) expected.insert("user:" + std::to_string(i));
  EXPECT_EQ(keys, expected);
}

TEST(LoadGenerator, ValuesHaveTheSizeAndArePrintable) {
  LoadSettings s;
  s.value_size = 333;
  for (const Drawn& d : draw(s, 200)) {
    ASSERT_EQ(d.op, Op::kPut);
    ASSERT_EQ(d.value.size(), 333u);
    for (char c : d.value) ASSERT_TRUE(c >= '!' && c <= '~') << int(c);
  }
  s.value_size = 0;
  EXPECT_EQ(draw(s, 1)[0].value, "");
}

TEST(LoadGenerator, DeleteRatioIsHeld) {
  LoadSettings s;
  s.delete_ratio = 0.25;
  int deletes = 0;
  for (const Drawn& d : draw(s, 20000)) {
    if (d.op == Op::kDelete) {
      ++deletes;
      EXPECT_TRUE(d.value.empty());
    }
  }
  EXPECT_NEAR(deletes / 20000.0, 0.25, 0.02);
  s.delete_ratio = 1;
  for (const Drawn& d : draw(s, 100)) EXPECT_EQ(d.op, Op::kDelete);
}

TEST(LoadPacing, SpacesEventsByTheRate) {
  using std::chrono::nanoseconds;
  EXPECT_EQ(due_after(0, 1000), nanoseconds(0));
  EXPECT_EQ(due_after(1000, 1000), std::chrono::seconds(1));
  EXPECT_EQ(due_after(5, 2), nanoseconds(2500000000));
  EXPECT_EQ(due_after(123456, 0), nanoseconds(0));  // unlimited
}

}  // namespace
}  // namespace kvstream::producer
