// Which dead letters a `dlq list` or `dlq replay` takes (the filters of its
// command line), and what replay does with each (the plan: send, skip or
// refuse). Pure functions, no Kafka client: unit-tested in
// selection_test.cc.
//
//   Filter f;
//   f.reasons = parse_reasons({"value_too_large"});   // throws for an unknown code
//   f.since_ms = parse_time("2h", now_ms);            // two hours ago
//   if (f.matches(letter)) ...
//   ReplayPlan plan = plan_replay(selected, marks, "kv-events", limits);
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "dlq/dead_letter.h"
#include "schema/codec.h"

namespace kvstream::dlq {

// The selection: a dead letter is taken when it passes every filter set.
struct Filter {
  std::set<std::string> reasons;    // its reason code is one of these (empty: any)
  std::set<int32_t> partitions;     // its original partition is one of these (empty: any)
  std::optional<int64_t> since_ms;  // dead-lettered at or after (epoch ms)
  std::optional<int64_t> until_ms;  // dead-lettered before (epoch ms)

  bool matches(const DeadLetter& letter) const;
};

// The reason codes of `codes` as a set; throws std::invalid_argument, with
// the valid codes in its message, for a code schema/codec.h does not know.
std::set<std::string> parse_reasons(const std::vector<std::string>& codes);

// A point in time of --since/--until, in epoch milliseconds:
//   "2026-12-07T04:31:00Z", "2026-12-07T04:31:00.250+01:00"   RFC 3339
//   "2026-12-07"                                               midnight UTC
//   "1796099460000"                                            epoch ms
//   "90s", "30m", "2h", "7d"                                   that long before `now_ms`
// Throws std::invalid_argument saying which forms it takes.
int64_t parse_time(std::string_view text, int64_t now_ms);

// What replay does with one selected dead letter.
enum class Verdict {
  kSend,             // publish it again
  kDuplicate,        // its origin was dead-lettered more than once: sent once
  kAlreadyReplayed,  // a replay mark says a replay sent it before
  kRefused,          // cannot be sent; `why` says why
};

struct Planned {
  DeadLetter letter;
  Verdict verdict = Verdict::kSend;
  std::string why;                      // kRefused: why; empty otherwise
  std::optional<Position> replayed_to;  // kAlreadyReplayed: where it went
};

struct ReplayPlan {
  std::vector<Planned> items;  // by origin (topic, partition, offset)
  size_t selected = 0, to_send = 0, duplicates = 0, already_replayed = 0, refused = 0;
};

// The plan for `selected`, given the replay marks read from the dead-letter
// topic (origin -> where its replay landed). Each origin is sent once, in
// the order of the original records (so two of one key keep their order):
// a later copy of it is a duplicate; one a mark names was replayed already.
// Refused: a dead letter whose value was omitted (lost), one of another
// topic than `topic`, and one that, less `drop_headers`, still breaks the
// contract under `limits` (it would only be dead-lettered again).
ReplayPlan plan_replay(std::vector<DeadLetter> selected, const std::map<Origin, Position>& marks,
                       const std::string& topic, const schema::Limits& limits,
                       const std::vector<std::string>& drop_headers = {});

}  // namespace kvstream::dlq
