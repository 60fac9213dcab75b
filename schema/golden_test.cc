// The golden vectors of schema/testdata/decode_vectors.json (format in
// schema/README.md): each record decodes to its expected event or reason
// code, every valid event survives encode -> decode unchanged, and together
// the vectors produce every reason code.
#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>
#include <tuple>

#include "schema/codec.h"

namespace kvstream::schema {
namespace {

using nlohmann::json;

const std::string kSchemaDir = KVSTREAM_SCHEMA_DIR;

std::string base64_decode(const std::string& text) {
  static const std::string kAlphabet =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  uint32_t bits = 0;
  int count = 0;
  for (char c : text) {
    if (c == '=') break;
    const auto index = kAlphabet.find(c);
    if (index == std::string::npos) throw std::runtime_error("not base64: " + text);
    bits = (bits << 6) | static_cast<uint32_t>(index);
    count += 6;
    if (count >= 8) {
      count -= 8;
      out.push_back(static_cast<char>((bits >> count) & 0xff));
    }
  }
  return out;
}

// A byte field: a string, null, {"base64": ...} or {"repeat": s, "times": n}.
std::optional<std::string> bytes_of(const json& field) {
  if (field.is_null()) return std::nullopt;
  if (field.is_string()) return field.get<std::string>();
  if (field.contains("base64")) return base64_decode(field.at("base64").get<std::string>());
  if (field.contains("repeat")) {
    std::string out;
    const auto unit = field.at("repeat").get<std::string>();
    for (int i = 0; i < field.at("times").get<int>(); ++i) out += unit;
    return out;
  }
  throw std::runtime_error("not a byte field: " + field.dump());
}

struct Vector {
  std::string name;
  Record record;
  Limits limits;
  json expected;  // {"op": ...} event or a reason code string
};

struct VectorFile {
  std::vector<Vector> vectors;
  std::string error;  // why loading failed, if it did
};

VectorFile load(const std::string& path) {
  VectorFile file;
  try {
    std::ifstream in(path);
    if (!in) throw std::runtime_error("cannot open " + path);
    const json doc = json::parse(in);
    for (const json& v : doc.at("vectors")) {
      Vector vec;
      vec.name = v.at("name").get<std::string>();
      const json& r = v.at("record");
      vec.record.topic = "kv-events";
      vec.record.key = bytes_of(r.at("key"));
      vec.record.value = bytes_of(r.at("value"));
      for (const json& h : r.at("headers")) {
        vec.record.headers.push_back({h.at(0).get<std::string>(), bytes_of(h.at(1))});
      }
      vec.record.partition = r.value("partition", 0);
      vec.record.offset = r.value("offset", int64_t{0});
      vec.record.timestamp_ms = r.value("timestamp_ms", int64_t{-1});
      if (v.contains("limits")) {
        const json& l = v.at("limits");
        vec.limits.max_key_bytes = l.value("max_key_bytes", vec.limits.max_key_bytes);
        vec.limits.max_value_bytes = l.value("max_value_bytes", vec.limits.max_value_bytes);
        vec.limits.max_header_bytes = l.value("max_header_bytes", vec.limits.max_header_bytes);
      }
      vec.expected = v.contains("event") ? v.at("event") : v.at("reason");
      file.vectors.push_back(std::move(vec));
    }
  } catch (const std::exception& e) {
    file.error = path + ": " + e.what();
    file.vectors.clear();
  }
  return file;
}

const VectorFile& golden() {
  static const VectorFile file = load(kSchemaDir + "/testdata/decode_vectors.json");
  return file;
}

// The reason code, or "event" for a decoded event.
std::string describe(const DecodeResult& result) {
  if (const auto* e = std::get_if<ValidationError>(&result)) return reason_code(e->reason);
  return "event";
}

// What encoding carries: everything but the position.
auto contents(const Event& ev) {
  return std::make_tuple(std::string(to_string(ev.op)), ev.key, ev.value, ev.content_type,
                         ev.traceparent);
}

class GoldenVector : public ::testing::TestWithParam<size_t> {};

TEST_P(GoldenVector, DecodesAsExpectedAndRoundTrips) {
  const Vector& v = golden().vectors.at(GetParam());
  const DecodeResult result = decode(v.record, v.limits);
  if (v.expected.is_string()) {
    EXPECT_EQ(describe(result), v.expected.get<std::string>());
    return;
  }
  ASSERT_TRUE(std::holds_alternative<Event>(result)) << describe(result);
  const Event& ev = std::get<Event>(result);
  EXPECT_EQ(to_string(ev.op), v.expected.at("op").get<std::string>());
  EXPECT_EQ(ev.key, bytes_of(v.expected.at("key")));
  EXPECT_EQ(ev.value, bytes_of(v.expected.at("value")));
  EXPECT_EQ(ev.content_type, v.expected.at("content_type").get<std::string>());
  EXPECT_EQ(ev.traceparent, v.expected.at("traceparent").get<std::string>());
  EXPECT_EQ(ev.position, (Position{v.record.partition, v.record.offset}));
  EXPECT_EQ(ev.timestamp_ms, v.record.timestamp_ms);

  // Encoding the event (with and without the kv-op header) and decoding the
  // record gives the same event back.
  for (bool explicit_op : {false, true}) {
    SCOPED_TRACE(explicit_op ? "with kv-op" : "without kv-op");
    const EncodeOptions options{ev.content_type, ev.traceparent, explicit_op};
    EncodeResult encoded = ev.op == Op::kPut ? encode_put(ev.key, ev.value, options, v.limits)
                                             : encode_delete(ev.key, options, v.limits);
    ASSERT_TRUE(std::holds_alternative<Record>(encoded))
        << reason_code(std::get<ValidationError>(encoded).reason);
    const DecodeResult again = decode(std::get<Record>(encoded), v.limits);
    ASSERT_TRUE(std::holds_alternative<Event>(again)) << describe(again);
    EXPECT_EQ(contents(std::get<Event>(again)), contents(ev));
  }
}

INSTANTIATE_TEST_SUITE_P(Golden, GoldenVector, ::testing::Range(size_t{0}, golden().vectors.size()),
                         [](const ::testing::TestParamInfo<size_t>& param) {
                           return golden().vectors[param.param].name;
                         });

TEST(GoldenVectors, FileLoads) {
  EXPECT_EQ(golden().error, "");
  EXPECT_FALSE(golden().vectors.empty());
}

TEST(GoldenVectors, NamesAreUnique) {
  std::set<std::string> names;
  for (const Vector& v : golden().vectors) EXPECT_TRUE(names.insert(v.name).second) << v.name;
}

TEST(GoldenVectors, EveryReasonCodeIsProducedByAVector) {
  std::set<std::string> produced;
  for (const Vector& v : golden().vectors) {
    const DecodeResult result = decode(v.record, v.limits);
    if (const auto* e = std::get_if<ValidationError>(&result))
      produced.insert(reason_code(e->reason));
  }
  size_t n = 0;
  const Reason* all = all_reasons(&n);
  for (size_t i = 0; i < n; ++i)
    EXPECT_EQ(produced.count(reason_code(all[i])), 1u) << reason_code(all[i]);
}

TEST(SchemaReadme, DocumentsEveryReasonCode) {
  std::ifstream in(kSchemaDir + "/README.md");
  ASSERT_TRUE(in) << "schema/README.md is missing";
  std::stringstream text;
  text << in.rdbuf();
  size_t n = 0;
  const Reason* all = all_reasons(&n);
  for (size_t i = 0; i < n; ++i) {
    const std::string code = std::string("`") + reason_code(all[i]) + "`";
    EXPECT_NE(text.str().find(code), std::string::npos) << code << " is not in schema/README.md";
  }
}

}  // namespace
}  // namespace kvstream::schema
