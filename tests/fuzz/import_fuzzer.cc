// libFuzzer target for the import file formats of kvstream-producer
// (producer/import.h): NDJSON and TSV lines, the TSV escapes and base64.
//
// Invariants: TSV escaping round-trips any bytes; an escaped field holds no
// raw tab or newline; a parsed event's key and value survive a TSV round
// trip (escape, build a line, parse it again).
#include <cstdio>
#include <cstdlib>
#include <string>

#include "producer/import.h"

namespace {

using namespace kvstream::producer;

void check(bool ok, const char* what) {
  if (!ok) {
    std::fprintf(stderr, "invariant broken: %s\n", what);
    std::abort();
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string input(reinterpret_cast<const char*>(data), size);

  const std::string escaped = escape_tsv(input);
  check(escaped.find('\t') == std::string::npos && escaped.find('\n') == std::string::npos,
        "an escaped field has no raw tab or newline");
  auto unescaped = unescape_tsv(escaped);
  check(unescaped && *unescaped == input, "TSV escaping round-trips");
  unescape_tsv(input);
  decode_base64(input);

  for (ImportFormat format : {ImportFormat::kNdjson, ImportFormat::kTsv}) {
    ParsedLine parsed = parse_line(format, input);
    const auto* event = std::get_if<ImportEvent>(&parsed);
    if (event == nullptr) continue;
    const std::string type = event->op == kvstream::schema::Op::kPut ? "PUT" : "DELETE";
    std::string line = "1\t" + type + "\t" + escape_tsv(event->key);
    if (event->op == kvstream::schema::Op::kPut) line += "\t" + escape_tsv(event->value);
    ParsedLine again = parse_tsv_line(line);
    const auto* round = std::get_if<ImportEvent>(&again);
    check(round != nullptr, "a parsed event is a valid TSV line");
    check(round->op == event->op && round->key == event->key && round->value == event->value,
          "a parsed event survives a TSV round trip");
  }
  return 0;
}
