#include "dlq/selection.h"

#include <gtest/gtest.h>

#include <stdexcept>

namespace kvstream::dlq {
namespace {

constexpr int64_t kNow = 1796617860000;  // 2026-12-07T04:31:00Z

DeadLetter letter(int32_t partition, int64_t offset, std::string reason = "value_too_large",
                  size_t value_bytes = 2000, int64_t time_ms = kNow) {
  DeadLetter d;
  d.at = Position{0, offset};
  d.time_ms = time_ms;
  d.origin = Origin{"kv-events", partition, offset};
  d.reason = std::move(reason);
  d.key = "key:" + std::to_string(offset);
  d.value = std::string(value_bytes, 'v');
  return d;
}

TEST(DlqFilter, TakesEverythingWhenEmpty) { EXPECT_TRUE(Filter{}.matches(letter(0, 1))); }

TEST(DlqFilter, SelectsByReasonPartitionAndTime) {
  Filter f;
  f.reasons = {"value_too_large", "empty_key"};
  f.partitions = {1, 2};
  f.since_ms = kNow - 1000;
  f.until_ms = kNow + 1000;
  EXPECT_TRUE(f.matches(letter(1, 5)));
  EXPECT_FALSE(f.matches(letter(1, 5, "unknown_op")));
  EXPECT_FALSE(f.matches(letter(3, 5)));
  EXPECT_TRUE(f.matches(letter(2, 5, "empty_key", 1, kNow - 1000)));  // since: inclusive
  EXPECT_FALSE(f.matches(letter(2, 5, "empty_key", 1, kNow - 1001)));
  EXPECT_FALSE(f.matches(letter(2, 5, "empty_key", 1, kNow + 1000)));  // until: exclusive
}

TEST(DlqFilter, AnUnknownReasonCodeListsTheValidOnes) {
  EXPECT_EQ(parse_reasons({"value_too_large", "missing_key"}),
            (std::set<std::string>{"missing_key", "value_too_large"}));
  try {
    parse_reasons({"value_too_large", "too_big"});
    FAIL() << "accepted an unknown code";
  } catch (const std::invalid_argument& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find("unknown reason code 'too_big'"), std::string::npos) << what;
    EXPECT_NE(what.find("missing_key, empty_key, key_too_long"), std::string::npos) << what;
    EXPECT_NE(what.find("header_too_large"), std::string::npos) << what;
  }
}

TEST(DlqFilter, ParsesTimes) {
  EXPECT_EQ(parse_time("2026-12-07T04:31:00Z", 0), kNow);
  EXPECT_EQ(parse_time("2026-12-07t04:31:00.25z", 0), kNow + 250);
  EXPECT_EQ(parse_time("2026-12-07T05:31:00+01:00", 0), kNow);
  EXPECT_EQ(parse_time("2026-12-07T03:01:00-01:30", 0), kNow);
  EXPECT_EQ(parse_time("2026-12-07", 0), kNow - (4 * 60 + 31) * 60 * 1000);
  EXPECT_EQ(parse_time("1796617860000", 0), kNow);
  EXPECT_EQ(parse_time("90s", kNow), kNow - 90000);
  EXPECT_EQ(parse_time("30m", kNow), kNow - 30 * 60000);
  EXPECT_EQ(parse_time("2h", kNow), kNow - 2 * 3600000);
  EXPECT_EQ(parse_time("7d", kNow), kNow - 7 * 86400000LL);
  for (const char* bad : {"", "yesterday", "2026-12-07T04:31:00", "2026-13-07", "2h30m", "-5m",
                          "2026-12-07T25:00:00Z", "99999999999d"}) {
    EXPECT_THROW(parse_time(bad, kNow), std::invalid_argument) << bad;
  }
}

TEST(DlqReplayPlan, SendsEachOriginOnceInOriginalOrder) {
  std::vector<DeadLetter> selected{letter(1, 9), letter(0, 7), letter(1, 3)};
  DeadLetter again = letter(0, 7);  // dead-lettered twice (a replica's crash, a rebuild)
  again.at = Position{1, 99};
  selected.push_back(again);
  const ReplayPlan plan = plan_replay(selected, {}, "kv-events", {});
  EXPECT_EQ(plan.selected, 4u);
  EXPECT_EQ(plan.to_send, 3u);
  EXPECT_EQ(plan.duplicates, 1u);
  ASSERT_EQ(plan.items.size(), 4u);
  EXPECT_EQ(to_string(plan.items[0].letter.origin), "kv-events/0:7");
  EXPECT_EQ(plan.items[0].verdict, Verdict::kSend);
  EXPECT_EQ(plan.items[0].letter.at, (Position{0, 7}));  // the first dead-lettered is sent
  EXPECT_EQ(plan.items[1].verdict, Verdict::kDuplicate);
  EXPECT_EQ(to_string(plan.items[2].letter.origin), "kv-events/1:3");
  EXPECT_EQ(to_string(plan.items[3].letter.origin), "kv-events/1:9");
}

TEST(DlqReplayPlan, SkipsWhatAReplayMarkSaysWasSent) {
  const std::map<Origin, Position> marks{{Origin{"kv-events", 0, 7}, Position{2, 500}}};
  const ReplayPlan plan = plan_replay({letter(0, 7), letter(0, 8)}, marks, "kv-events", {});
  EXPECT_EQ(plan.already_replayed, 1u);
  EXPECT_EQ(plan.to_send, 1u);
  EXPECT_EQ(plan.items[0].verdict, Verdict::kAlreadyReplayed);
  EXPECT_EQ(plan.items[0].replayed_to, (Position{2, 500}));
  EXPECT_EQ(plan.items[1].verdict, Verdict::kSend);
}

TEST(DlqReplayPlan, RefusesALostValue) {
  DeadLetter lost = letter(0, 7);
  lost.value.reset();
  lost.value_omitted = 2000;
  const ReplayPlan plan = plan_replay({lost}, {}, "kv-events", {});
  EXPECT_EQ(plan.refused, 1u);
  EXPECT_EQ(plan.to_send, 0u);
  EXPECT_EQ(plan.items[0].verdict, Verdict::kRefused);
  EXPECT_EQ(plan.items[0].why.rfind("value_omitted: ", 0), 0u) << plan.items[0].why;
}

TEST(DlqReplayPlan, ACopyWithItsValueIsPreferredToOneWithout) {
  DeadLetter lost = letter(0, 7);
  lost.value.reset();
  lost.value_omitted = 2000;
  const ReplayPlan plan = plan_replay({lost, letter(0, 7)}, {}, "kv-events", {});
  EXPECT_EQ(plan.to_send, 1u);
  EXPECT_EQ(plan.duplicates, 1u);
  EXPECT_TRUE(plan.items[0].letter.value);
}

TEST(DlqReplayPlan, RefusesWhatWouldStillBreakTheContract) {
  schema::Limits small;
  small.max_value_bytes = 1000;
  const ReplayPlan refused = plan_replay({letter(0, 7)}, {}, "kv-events", small);
  EXPECT_EQ(refused.refused, 1u);
  EXPECT_EQ(refused.items[0].why.rfind("still_invalid: value_too_large: ", 0), 0u)
      << refused.items[0].why;
  // Once the limit is raised, it goes.
  schema::Limits raised;
  raised.max_value_bytes = 4000;
  EXPECT_EQ(plan_replay({letter(0, 7)}, {}, "kv-events", raised).to_send, 1u);

  DeadLetter no_key = letter(0, 8, "missing_key");
  no_key.key.reset();
  EXPECT_EQ(plan_replay({no_key}, {}, "kv-events", {})
                .items[0]
                .why.rfind("still_invalid: missing_key: ", 0),
            0u);
}

TEST(DlqReplayPlan, ABadHeaderCanBeDropped) {
  DeadLetter d = letter(0, 7, "malformed_content_type", 10);
  d.original_headers = {{"content-type", std::string("bad\x01type")}};
  EXPECT_EQ(plan_replay({d}, {}, "kv-events", {}).refused, 1u);
  EXPECT_EQ(plan_replay({d}, {}, "kv-events", {}, {"content-type"}).to_send, 1u);
}

TEST(DlqReplayPlan, RefusesAnotherTopicsDeadLetter) {
  DeadLetter d = letter(0, 7);
  d.origin.topic = "other";
  const ReplayPlan plan = plan_replay({d}, {}, "kv-events", {});
  EXPECT_EQ(plan.refused, 1u);
  EXPECT_EQ(plan.items[0].why, "other_topic: it came from topic other, not kv-events");
}

}  // namespace
}  // namespace kvstream::dlq
