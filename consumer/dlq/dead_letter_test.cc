#include "dlq/dead_letter.h"

#include <gtest/gtest.h>

#include "schema/dlq.h"

namespace kvstream::dlq {
namespace {

// A dead letter as a replica writes it (schema::make_dlq_record), read back
// at partition 2, offset 40 of the dead-letter topic.
schema::Record dead_letter_record(const schema::Record& original, schema::Reason reason) {
  schema::Record r = schema::make_dlq_record(original, {reason, "why it was refused"});
  r.partition = 2;
  r.offset = 40;
  r.timestamp_ms = 1796099460123;
  return r;
}

schema::Record original_record() {
  schema::Record o;
  o.topic = "kv-events";
  o.partition = 3;
  o.offset = 1042;
  o.timestamp_ms = 1796099460000;
  o.key = "user:1";
  o.value = std::string(2000, 'v');
  o.headers = {{"content-type", "application/json"}, {"x-trace", std::nullopt}};
  return o;
}

// The dead letter `record` is (a copy: the entry is a temporary).
DeadLetter letter_of(const schema::Record& record) {
  return std::get<DeadLetter>(parse_dlq_record(record));
}

TEST(DeadLetter, ReadsWhatAReplicaWrites) {
  const DlqEntry entry =
      parse_dlq_record(dead_letter_record(original_record(), schema::Reason::kValueTooLarge));
  ASSERT_TRUE(std::holds_alternative<DeadLetter>(entry));
  const auto& d = std::get<DeadLetter>(entry);
  EXPECT_EQ(d.at, (Position{2, 40}));
  EXPECT_EQ(d.time_ms, 1796099460123);
  EXPECT_EQ(to_string(d.origin), "kv-events/3:1042");
  EXPECT_EQ(d.original_time_ms, 1796099460000);
  EXPECT_EQ(d.reason, "value_too_large");
  EXPECT_EQ(d.message, "why it was refused");
  EXPECT_EQ(d.key, "user:1");
  EXPECT_EQ(d.value_size(), 2000u);
  EXPECT_FALSE(d.value_omitted);
  // The original headers only, in order, a null value kept.
  ASSERT_EQ(d.original_headers.size(), 2u);
  EXPECT_EQ(d.original_headers[0].name, "content-type");
  EXPECT_EQ(d.original_headers[0].value, "application/json");
  EXPECT_EQ(d.original_headers[1].name, "x-trace");
  EXPECT_FALSE(d.original_headers[1].value);
}

TEST(DeadLetter, AnOmittedValueIsLostButItsSizeKnown) {
  schema::Record r = dead_letter_record(original_record(), schema::Reason::kValueTooLarge);
  r.value.reset();
  r.headers.push_back({std::string(schema::kDlqValueOmittedHeader), "2000"});
  const DeadLetter d = letter_of(r);
  EXPECT_EQ(d.value_omitted, 2000u);
  EXPECT_EQ(d.value_size(), 2000u);
  EXPECT_FALSE(d.value);
}

TEST(DeadLetter, ADeleteHasNoValueSize) {
  schema::Record o = original_record();
  o.key = "";
  o.value.reset();
  const DeadLetter d = letter_of(dead_letter_record(o, schema::Reason::kEmptyKey));
  EXPECT_FALSE(d.value_size());
  EXPECT_EQ(d.key, "");
}

TEST(DeadLetter, ReplayCarriesTheOriginalAndWhereItCameFrom) {
  const DeadLetter d =
      letter_of(dead_letter_record(original_record(), schema::Reason::kValueTooLarge));
  const schema::Record r = replay_record(d);
  EXPECT_EQ(r.key, "user:1");
  EXPECT_EQ(r.value, std::string(2000, 'v'));
  ASSERT_EQ(r.headers.size(), 3u);
  EXPECT_EQ(r.headers[0].name, "content-type");
  EXPECT_EQ(r.headers[1].name, "x-trace");
  EXPECT_EQ(r.headers[2].name, "kv-dlq-replayed-from");
  EXPECT_EQ(r.headers[2].value, "kv-events/3:1042");
  for (const schema::Header& h : r.headers) {
    EXPECT_NE(h.name, "kv-dlq-reason");
    EXPECT_NE(h.name, "kv-dlq-offset");
  }
  const schema::Record without = replay_record(d, {"content-type"});
  ASSERT_EQ(without.headers.size(), 2u);
  EXPECT_EQ(without.headers[0].name, "x-trace");
}

TEST(DeadLetter, AReplayedRecordDeadLetteredAgainReplaysFromItsNewOrigin) {
  const DeadLetter first =
      letter_of(dead_letter_record(original_record(), schema::Reason::kValueTooLarge));
  schema::Record replayed = replay_record(first);
  replayed.topic = "kv-events";
  replayed.partition = 3;
  replayed.offset = 5000;
  const DeadLetter again = letter_of(dead_letter_record(replayed, schema::Reason::kValueTooLarge));
  EXPECT_EQ(to_string(again.origin), "kv-events/3:5000");
  // The earlier kv-dlq-replayed-from is not an original header.
  EXPECT_EQ(again.original_headers.size(), 2u);
  const schema::Record r = replay_record(again);
  EXPECT_EQ(r.last_header("kv-dlq-replayed-from")->value, "kv-events/3:5000");
  size_t from = 0;
  for (const schema::Header& h : r.headers) from += h.name == "kv-dlq-replayed-from";
  EXPECT_EQ(from, 1u);
}

TEST(DeadLetter, AReplayMarkReadsBack) {
  const DeadLetter d =
      letter_of(dead_letter_record(original_record(), schema::Reason::kValueTooLarge));
  schema::Record mark = replay_mark_record(d, Position{3, 5000});
  EXPECT_EQ(mark.key, "user:1");
  EXPECT_FALSE(mark.value);
  mark.partition = 2;
  mark.offset = 41;
  const DlqEntry entry = parse_dlq_record(mark);
  ASSERT_TRUE(std::holds_alternative<ReplayMark>(entry));
  const auto& m = std::get<ReplayMark>(entry);
  EXPECT_EQ(m.origin, d.origin);
  EXPECT_EQ(m.replayed_to, (Position{3, 5000}));
  EXPECT_EQ(m.at, (Position{2, 41}));
}

TEST(DeadLetter, ARecordWithoutTheHeadersIsUnreadable) {
  schema::Record r;
  r.partition = 0;
  r.offset = 7;
  r.key = "k";
  r.value = "v";
  const DlqEntry none = parse_dlq_record(r);
  ASSERT_TRUE(std::holds_alternative<Unreadable>(none));
  EXPECT_EQ(std::get<Unreadable>(none).why, "not a dead letter: no kv-dlq-topic");

  r.headers = {{"kv-dlq-topic", "kv-events"}, {"kv-dlq-partition", "x"}, {"kv-dlq-offset", "1"}};
  EXPECT_EQ(std::get<Unreadable>(parse_dlq_record(r)).why,
            "not a dead letter: no valid kv-dlq-partition");
  r.headers[1].value = "1";
  EXPECT_EQ(std::get<Unreadable>(parse_dlq_record(r)).why,
            "not a dead letter: no kv-dlq-reason nor a valid kv-dlq-replayed-to");
}

TEST(DeadLetter, EscapesBytesForALine) {
  EXPECT_EQ(escape_bytes("user:1"), "user:1");
  EXPECT_EQ(escape_bytes("a\"b\\c"), "a\\\"b\\\\c");
  EXPECT_EQ(escape_bytes(std::string("a\0b\n\x7f", 5)), "a\\x00b\\n\\x7f");
  EXPECT_EQ(escape_bytes("caf\xc3\xa9"), "caf\xc3\xa9");  // é kept
  EXPECT_EQ(escape_bytes("\xc3\x28"), "\\xc3(");          // not UTF-8
  EXPECT_EQ(escape_bytes("\xc2\x85"), "\\xc2\\x85");      // a C1 control
  EXPECT_EQ(escape_bytes("\xe2\x82"), "\\xe2\\x82");      // cut short
  EXPECT_EQ(escape_bytes(std::string(10, 'k'), 4), "kkkk...");
  EXPECT_EQ(escape_bytes("kkkk", 4), "kkkk");
}

TEST(DeadLetter, FormatsTimesAsRfc3339Utc) {
  EXPECT_EQ(format_time(1796099460123), "2026-12-01T04:31:00.123Z");
  EXPECT_EQ(format_time(0), "1970-01-01T00:00:00.000Z");
  EXPECT_EQ(format_time(-1), "-");
}

}  // namespace
}  // namespace kvstream::dlq
