#include "schema/codec.h"

#include <gtest/gtest.h>

#include <set>

#include "schema/dlq.h"

namespace kvstream::schema {
namespace {

Record put_record(std::string key, std::string value) {
  Record r;
  r.topic = "t";
  r.partition = 2;
  r.offset = 7;
  r.timestamp_ms = 1700000000000;
  r.key = std::move(key);
  r.value = std::move(value);
  return r;
}

std::optional<Reason> reason_of(const DecodeResult& r) {
  if (auto* e = std::get_if<ValidationError>(&r)) return e->reason;
  return std::nullopt;
}

TEST(Codec, DecodesPutWithExactBytes) {
  auto r = put_record("user:1", std::string("a\0b", 3));
  auto ev = std::get<Event>(decode(r));
  EXPECT_EQ(ev.op, Op::kPut);
  EXPECT_EQ(ev.key, "user:1");
  EXPECT_EQ(ev.value, std::string("a\0b", 3));
  EXPECT_EQ(ev.position, (Position{2, 7}));
  EXPECT_EQ(ev.timestamp_ms, 1700000000000);
}

TEST(Codec, EmptyValueIsAPut) {
  auto ev = std::get<Event>(decode(put_record("k", "")));
  EXPECT_EQ(ev.op, Op::kPut);
  EXPECT_EQ(ev.value, "");
}

TEST(Codec, NullValueIsADelete) {
  auto r = put_record("k", "");
  r.value.reset();
  EXPECT_EQ(std::get<Event>(decode(r)).op, Op::kDelete);
}

TEST(Codec, KvOpHeaderSelectsTheOperation) {
  auto r = put_record("k", "ignored");
  r.headers.push_back({"kv-op", "delete"});
  EXPECT_EQ(std::get<Event>(decode(r)).op, Op::kDelete);

  r.headers.push_back({"kv-op", "put"});  // the last header wins
  EXPECT_EQ(std::get<Event>(decode(r)).op, Op::kPut);

  r.value.reset();
  EXPECT_EQ(reason_of(decode(r)), Reason::kPutWithoutValue);

  r = put_record("k", "v");
  r.headers.push_back({"kv-op", "upsert"});
  EXPECT_EQ(reason_of(decode(r)), Reason::kUnknownOp);
}

TEST(Codec, KeyRules) {
  Record r = put_record("", "v");
  EXPECT_EQ(reason_of(decode(r)), Reason::kEmptyKey);
  r.key.reset();
  EXPECT_EQ(reason_of(decode(r)), Reason::kMissingKey);
  EXPECT_EQ(reason_of(decode(put_record(std::string(1025, 'k'), "v"))), Reason::kKeyTooLong);
  EXPECT_TRUE(std::holds_alternative<Event>(decode(put_record(std::string(1024, 'k'), "v"))));
  EXPECT_EQ(reason_of(decode(put_record(std::string("a\0b", 3), "v"))), Reason::kKeyContainsNul);
  EXPECT_EQ(reason_of(decode(put_record("\xff", "v"))), Reason::kKeyNotUtf8);
  EXPECT_EQ(reason_of(decode(put_record("\xc0\xaf", "v"))), Reason::kKeyNotUtf8);      // overlong
  EXPECT_EQ(reason_of(decode(put_record("\xed\xa0\x80", "v"))), Reason::kKeyNotUtf8);  // surrogate
  EXPECT_TRUE(
      std::holds_alternative<Event>(decode(put_record("caf\xc3\xa9 \xf0\x9f\x98\x80", "v"))));
}

TEST(Codec, ValueLimit) {
  Limits limits;
  limits.max_value_bytes = 4;
  EXPECT_TRUE(std::holds_alternative<Event>(decode(put_record("k", "1234"), limits)));
  EXPECT_EQ(reason_of(decode(put_record("k", "12345"), limits)), Reason::kValueTooLarge);
}

TEST(Codec, HeadersAreValidated) {
  auto r = put_record("k", "v");
  r.headers.push_back({"content-type", "application/json"});
  r.headers.push_back({"traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"});
  auto ev = std::get<Event>(decode(r));
  EXPECT_EQ(ev.content_type, "application/json");
  EXPECT_EQ(ev.traceparent, "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01");

  r.headers.push_back({"traceparent", "00-00000000000000000000000000000000-00f067aa0ba902b7-01"});
  EXPECT_EQ(reason_of(decode(r)), Reason::kMalformedTraceparent);

  r = put_record("k", "v");
  r.headers.push_back({"content-type", "text/plain\n"});
  EXPECT_EQ(reason_of(decode(r)), Reason::kMalformedContentType);

  r = put_record("k", "v");
  r.headers.push_back({"x-anything", std::string(4097, 'x')});
  EXPECT_EQ(reason_of(decode(r)), Reason::kHeaderTooLarge);
}

TEST(Codec, EncodeValidatesLikeDecode) {
  auto put = std::get<Record>(encode_put("k", "v", {"text/plain", "", true}));
  EXPECT_EQ(put.key, "k");
  EXPECT_EQ(put.value, "v");
  auto ev = std::get<Event>(decode(put));
  EXPECT_EQ(ev.op, Op::kPut);
  EXPECT_EQ(ev.content_type, "text/plain");

  auto del = std::get<Record>(encode_delete("k"));
  EXPECT_FALSE(del.value.has_value());
  EXPECT_EQ(std::get<Event>(decode(del)).op, Op::kDelete);

  EXPECT_EQ(std::get<ValidationError>(encode_put("", "v")).reason, Reason::kEmptyKey);
}

TEST(Codec, EncodeRefusesHeadersThatDecodeWouldRefuse) {
  // A later traceparent version may carry more fields, but not past the
  // header limit: what encode sends, decode must accept.
  const std::string long_traceparent =
      "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-" + std::string(4096, 'x');
  EXPECT_EQ(std::get<ValidationError>(encode_put("k", "v", {"", long_traceparent, false})).reason,
            Reason::kHeaderTooLarge);
  Limits limits;
  limits.max_header_bytes = 8;
  EXPECT_EQ(
      std::get<ValidationError>(encode_delete("k", {"application/json", "", false}, limits)).reason,
      Reason::kHeaderTooLarge);
  limits.max_header_bytes = 4;
  EXPECT_EQ(std::get<ValidationError>(encode_delete("k", {"", "", true}, limits)).reason,
            Reason::kHeaderTooLarge);
  EXPECT_TRUE(std::holds_alternative<Record>(encode_delete("k", {"", "", false}, limits)));
}

TEST(Codec, ReasonCodesAreDistinct) {
  size_t n = 0;
  const Reason* all = all_reasons(&n);
  std::set<std::string> codes;
  for (size_t i = 0; i < n; ++i) codes.insert(reason_code(all[i]));
  EXPECT_EQ(codes.size(), n);
  EXPECT_EQ(codes.count("unknown"), 0u);
}

TEST(Dlq, KeepsTheRecordAndSaysWhy) {
  auto r = put_record("\xff", "payload");
  r.headers.push_back({"content-type", "text/plain"});
  auto err = std::get<ValidationError>(decode(r));
  Record dlq = make_dlq_record(r, err);
  EXPECT_EQ(dlq.key, r.key);
  EXPECT_EQ(dlq.value, r.value);
  EXPECT_EQ(dlq.last_header("kv-dlq-reason")->value, "key_not_utf8");
  EXPECT_EQ(dlq.last_header("kv-dlq-topic")->value, "t");
  EXPECT_EQ(dlq.last_header("kv-dlq-partition")->value, "2");
  EXPECT_EQ(dlq.last_header("kv-dlq-offset")->value, "7");
  EXPECT_EQ(dlq.last_header("kv-dlq-timestamp")->value, "1700000000000");
  EXPECT_EQ(dlq.last_header("content-type")->value, "text/plain");
}

TEST(Codec, TraceIdOfAValidTraceparentOnly) {
  EXPECT_EQ(trace_id_of("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"),
            "4bf92f3577b34da6a3ce929d0e0e4736");
  // A later version with more fields.
  EXPECT_EQ(trace_id_of("01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra"),
            "4bf92f3577b34da6a3ce929d0e0e4736");
  EXPECT_EQ(trace_id_of(""), "");
  EXPECT_EQ(trace_id_of("00-00000000000000000000000000000000-00f067aa0ba902b7-01"), "");
  EXPECT_EQ(trace_id_of("00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01"), "");
  EXPECT_EQ(trace_id_of("ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"), "");
  EXPECT_EQ(trace_id_of("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-x"), "");
}

}  // namespace
}  // namespace kvstream::schema
