#include "producer/import.h"

#include <gtest/gtest.h>

#include <sstream>

namespace kvstream::producer {
namespace {

using schema::Op;

ImportEvent event(Op op, std::string key, std::string value = "", std::string content_type = "") {
  return ImportEvent{op, std::move(key), std::move(value), std::move(content_type)};
}

// The event of a good line; fails the test on anything else.
ImportEvent good(const ParsedLine& parsed) {
  if (auto* bad = std::get_if<BadLine>(&parsed)) {
    ADD_FAILURE() << "bad line: " << bad->reason;
  } else if (std::holds_alternative<std::monostate>(parsed)) {
    ADD_FAILURE() << "blank line";
  } else {
    return std::get<ImportEvent>(parsed);
  }
  return {};
}

// The reason of a bad line; empty (and a failure) if the line was good.
std::string bad(const ParsedLine& parsed) {
  if (auto* b = std::get_if<BadLine>(&parsed)) return b->reason;
  ADD_FAILURE() << "the line was accepted";
  return "";
}

TEST(ImportFormat, ChosenByNameOrExtension) {
  EXPECT_EQ(parse_format_name("ndjson"), ImportFormat::kNdjson);
  EXPECT_EQ(parse_format_name("tsv"), ImportFormat::kTsv);
  EXPECT_EQ(parse_format_name("csv"), std::nullopt);
  EXPECT_EQ(format_for_path("data/events.ndjson"), ImportFormat::kNdjson);
  EXPECT_EQ(format_for_path("EVENTS.JSONL"), ImportFormat::kNdjson);
  EXPECT_EQ(format_for_path("/var/tx.log"), ImportFormat::kTsv);
  EXPECT_EQ(format_for_path("dump.tsv"), ImportFormat::kTsv);
  EXPECT_EQ(format_for_path("dump.json"), std::nullopt);
  EXPECT_EQ(format_for_path("-"), std::nullopt);
}

TEST(NdjsonImport, ParsesPutsAndDeletes) {
  EXPECT_EQ(good(parse_ndjson_line(R"({"op":"put","key":"user:1","value":"Ada"})")),
            event(Op::kPut, "user:1", "Ada"));
  EXPECT_EQ(good(parse_ndjson_line(R"({"op":"delete","key":"user:1"})")),
            event(Op::kDelete, "user:1"));
  EXPECT_EQ(
      good(parse_ndjson_line(R"( {"key":"k","op":"put","value":"","content_type":"text/plain"} )")),
      event(Op::kPut, "k", "", "text/plain"));
}

TEST(NdjsonImport, DecodesJsonEscapesToUtf8) {
  EXPECT_EQ(good(parse_ndjson_line(R"({"op":"put","key":"caf\u00e9","value":"a\tb\n\"c\""})")),
            event(Op::kPut, "caf\xc3\xa9", "a\tb\n\"c\""));
}

TEST(NdjsonImport, DecodesBase64Values) {
  EXPECT_EQ(good(parse_ndjson_line(R"({"op":"put","key":"bin","value_b64":"AAH/"})")),
            event(Op::kPut, "bin", std::string("\x00\x01\xff", 3)));
  EXPECT_EQ(good(parse_ndjson_line(R"({"op":"put","key":"empty","value_b64":""})")),
            event(Op::kPut, "empty", ""));
}

TEST(NdjsonImport, BlankLinesAreSkipped) {
  EXPECT_TRUE(std::holds_alternative<std::monostate>(parse_ndjson_line("")));
  EXPECT_TRUE(std::holds_alternative<std::monostate>(parse_ndjson_line(" \t\r")));
}

TEST(NdjsonImport, RejectsMalformedLinesWithAReason) {
  EXPECT_NE(bad(parse_ndjson_line(R"({"op":"put","key":"k","value":"v")")).find("not valid JSON"),
            std::string::npos);
  EXPECT_EQ(bad(parse_ndjson_line(R"(["put","k","v"])")), "not a JSON object");
  // Valid syntax the parser cannot hold (found by the import fuzzer): a bad
  // line, not a crash of the whole import.
  EXPECT_NE(bad(parse_ndjson_line(R"({"op":"put","key":"k","value":"v","n":2e2028400})"))
                .find("not usable JSON"),
            std::string::npos);
  EXPECT_EQ(bad(parse_ndjson_line(R"({"key":"k","value":"v"})")), "missing \"op\"");
  EXPECT_EQ(bad(parse_ndjson_line(R"({"op":"put","value":"v"})")), "missing \"key\"");
  EXPECT_EQ(bad(parse_ndjson_line(R"({"op":"upsert","key":"k","value":"v"})")),
            "\"op\" must be \"put\" or \"delete\", not \"upsert\"");
  EXPECT_EQ(bad(parse_ndjson_line(R"({"op":"put","key":"k","vaule":"v"})")),
            "unknown field \"vaule\"");
  EXPECT_EQ(bad(parse_ndjson_line(R"({"op":"put","key":7,"value":"v"})")),
            "\"key\" must be a string");
  EXPECT_EQ(bad(parse_ndjson_line(R"({"op":"put","key":"k","value":null})")),
            "\"value\" must be a string");
  EXPECT_EQ(bad(parse_ndjson_line(R"({"op":"put","key":"k"})")),
            "a put needs \"value\" or \"value_b64\"");
  EXPECT_EQ(bad(parse_ndjson_line(R"({"op":"put","key":"k","value":"v","value_b64":"dg=="})")),
            "both \"value\" and \"value_b64\"");
  EXPECT_EQ(bad(parse_ndjson_line(R"({"op":"delete","key":"k","value":"v"})")),
            "a delete carries no value");
  EXPECT_EQ(bad(parse_ndjson_line(R"({"op":"put","key":"k","value_b64":"d*=="})")),
            "\"value_b64\" is not valid base64");
}

TEST(TsvImport, ParsesTheTransactionLog) {
  EXPECT_EQ(good(parse_tsv_line("1\tPUT\tuser:1\tAda")), event(Op::kPut, "user:1", "Ada"));
  EXPECT_EQ(good(parse_tsv_line("2\tdelete\tuser:1")), event(Op::kDelete, "user:1"));
  EXPECT_EQ(good(parse_tsv_line("3\tDelete\tuser:1\t")), event(Op::kDelete, "user:1"));
  EXPECT_EQ(good(parse_tsv_line("4\tPut\tk\t")), event(Op::kPut, "k", ""));
  EXPECT_EQ(good(parse_tsv_line("5\tput\tk\tspaces stay \r")),
            event(Op::kPut, "k", "spaces stay \r"));
}

TEST(TsvImport, UnescapesTabsNewlinesAndBackslashes) {
  EXPECT_EQ(good(parse_tsv_line("7\tPUT\ta\\tkey\tline1\\nline2\\\\n\\\\")),
            event(Op::kPut, "a\tkey", "line1\nline2\\n\\"));
}

TEST(TsvImport, RejectsMalformedLinesWithAReason) {
  EXPECT_EQ(bad(parse_tsv_line("x\tPUT\tk\tv")), "sequence \"x\" is not a non-negative integer");
  EXPECT_EQ(bad(parse_tsv_line("-1\tPUT\tk\tv")), "sequence \"-1\" is not a non-negative integer");
  EXPECT_EQ(bad(parse_tsv_line("\tPUT\tk\tv")), "sequence \"\" is not a non-negative integer");
  EXPECT_EQ(bad(parse_tsv_line("1\tPUT")),
            "expected 4 tab-separated fields (sequence, type, key, value), found 2");
  EXPECT_EQ(bad(parse_tsv_line("1\tPUT\tk\tv\textra")),
            "expected 4 tab-separated fields (sequence, type, key, value), found 5");
  EXPECT_EQ(bad(parse_tsv_line("1\tPUT\tk")), "a PUT needs a value field");
  EXPECT_EQ(bad(parse_tsv_line("1\tUPSERT\tk\tv")), "unknown type \"UPSERT\" (PUT or DELETE)");
  EXPECT_EQ(bad(parse_tsv_line("1\tDELETE\tk\tv")), "a DELETE carries no value");
  EXPECT_NE(bad(parse_tsv_line("1\tPUT\tk\ta\\rb")).find("bad escape in the value"),
            std::string::npos);
  EXPECT_NE(bad(parse_tsv_line("1\tPUT\tk\\\tv")).find("bad escape in the key"), std::string::npos);
}

TEST(TsvImport, EscapeAndUnescapeRoundTrip) {
  const std::string raw = "a\tb\nc\\d\\t\r\x01";
  EXPECT_EQ(escape_tsv(raw), "a\\tb\\nc\\\\d\\\\t\r\x01");
  EXPECT_EQ(unescape_tsv(escape_tsv(raw)), raw);
  EXPECT_EQ(unescape_tsv("trailing\\"), std::nullopt);
}

TEST(Base64, DecodesRfc4648Vectors) {
  EXPECT_EQ(decode_base64(""), "");
  EXPECT_EQ(decode_base64("Zg=="), "f");
  EXPECT_EQ(decode_base64("Zm8="), "fo");
  EXPECT_EQ(decode_base64("Zm9v"), "foo");
  EXPECT_EQ(decode_base64("Zm9vYg=="), "foob");
  EXPECT_EQ(decode_base64("Zm9vYmE="), "fooba");
  EXPECT_EQ(decode_base64("Zm9vYmFy"), "foobar");
  EXPECT_EQ(decode_base64("Zm9vYg"), "foob");  // padding optional
  EXPECT_EQ(decode_base64("+/+/"), "\xfb\xff\xbf");
}

TEST(Base64, RejectsMalformedText) {
  EXPECT_EQ(decode_base64("Zg="), std::nullopt);    // padded, but not a multiple of 4
  EXPECT_EQ(decode_base64("Z"), std::nullopt);      // 6 bits end no byte
  EXPECT_EQ(decode_base64("Zm9v!"), std::nullopt);  // outside the alphabet
  EXPECT_EQ(decode_base64("Zg==Zg=="), std::nullopt);
  EXPECT_EQ(decode_base64("Z==="), std::nullopt);
  EXPECT_EQ(decode_base64("Zm9 v"), std::nullopt);
  EXPECT_EQ(decode_base64("Zm9v\n"), std::nullopt);
}

// What `import` reports for a file: the numbers of its bad lines and the
// events of its good ones.
struct Read {
  std::vector<ImportEvent> events;
  std::vector<uint64_t> bad_lines;
};

Read read_all(const std::string& text, ImportFormat format, size_t max_line = 1 << 20) {
  std::istringstream in(text);
  LineReader reader(in, max_line);
  Read out;
  std::string_view line;
  bool too_long = false;
  while (reader.next(line, too_long)) {
    if (too_long) {
      out.bad_lines.push_back(reader.line_number());
      continue;
    }
    ParsedLine parsed = parse_line(format, line);
    if (auto* e = std::get_if<ImportEvent>(&parsed)) out.events.push_back(*e);
    if (std::holds_alternative<BadLine>(parsed)) out.bad_lines.push_back(reader.line_number());
  }
  EXPECT_EQ(reader.bytes_read(), text.size());
  return out;
}

TEST(LineReader, NumbersBadLinesAcrossBlankOnesAndAFinalLineWithoutNewline) {
  const Read r = read_all(
      "{\"op\":\"put\",\"key\":\"a\",\"value\":\"1\"}\n"
      "\n"
      "{\"op\":\"put\",\"key\":\"b\"}\n"
      "{\"op\":\"delete\",\"key\":\"a\"}\n"
      "not json\n"
      "{\"op\":\"put\",\"key\":\"c\",\"value\":\"3\"}",
      ImportFormat::kNdjson);
  EXPECT_EQ(r.bad_lines, (std::vector<uint64_t>{3, 5}));
  EXPECT_EQ(r.events, (std::vector<ImportEvent>{event(Op::kPut, "a", "1"), event(Op::kDelete, "a"),
                                                event(Op::kPut, "c", "3")}));
}

TEST(LineReader, ReadsLinesLongerThanItsBuffer) {
  const std::string big(700 * 1024, 'v');  // spans several 256 KiB reads
  const Read r = read_all("1\tPUT\tsmall\tx\n2\tPUT\tbig\t" + big + "\n3\tDELETE\tsmall\n",
                          ImportFormat::kTsv);
  EXPECT_TRUE(r.bad_lines.empty());
  ASSERT_EQ(r.events.size(), 3u);
  EXPECT_EQ(r.events[1], event(Op::kPut, "big", big));
  EXPECT_EQ(r.events[2], event(Op::kDelete, "small"));
}

TEST(LineReader, FlagsTooLongLinesAndGoesOn) {
  const std::string big(600 * 1024, 'v');
  const Read r =
      read_all("1\tPUT\ta\t1\n2\tPUT\tb\t" + big + "\n3\tPUT\tc\t3\n", ImportFormat::kTsv, 1000);
  EXPECT_EQ(r.bad_lines, (std::vector<uint64_t>{2}));
  EXPECT_EQ(r.events,
            (std::vector<ImportEvent>{event(Op::kPut, "a", "1"), event(Op::kPut, "c", "3")}));
}

TEST(LineReader, EmptyInputHasNoLines) {
  const Read r = read_all("", ImportFormat::kTsv);
  EXPECT_TRUE(r.events.empty());
  EXPECT_TRUE(r.bad_lines.empty());
}

}  // namespace
}  // namespace kvstream::producer
