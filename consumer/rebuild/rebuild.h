// `kvstream-consumer rebuild`: the view built again from the topic into a
// schema beside the one served (same database), while the replicas go on
// serving and applying to theirs; verified against the served view; then,
// with --switch, moved in its place in one transaction.
//
//   1. Checks: a partition whose log no longer starts where the rebuild
//      would start (records deleted by retention or deleteRecords) refuses
//      the rebuild, naming the partitions: the keys written only there
//      would be missing.
//   2. Build: the migrations in the rebuild schema, then every partition
//      applied from the rebuild's own kv_offsets (a second run resumes) to
//      the end offsets the topic had at the start, by the replica's apply
//      engine and workers. Records that break the contract are skipped (the
//      serving replicas dead-lettered them already).
//   3. Verify: every row of the served view not changed since the rebuild's
//      positions (its source offset below the rebuild's position of its
//      partition, in partitions the served view has applied at least as far)
//      must equal the rebuild's row for its key, a tombstone counting as no
//      row. Differences are listed, and refuse the switch unless accepted.
//   4. Switch: the served kv and kv_offsets locked (ACCESS EXCLUSIVE, waiting
//      at most the switch timeout), the rebuild brought to the served
//      positions or beyond, then the served tables moved to a schema of
//      their own (kvstream_replaced_<time>, kept for a rollback) and the
//      rebuilt ones into the served schema, and NOTIFY kvstream_view with the
//      schema's name, all in the transaction that holds the locks. Replicas
//      block on the locks meanwhile (their statements resolve the table
//      names again once it commits); on the notification each forgets its
//      cache, and a replica whose position is now behind the table's is
//      fenced at its next batch and continues from the table's.
//
// Exit codes: 0 built (and switched, with --switch); 1 refused (deleted
// records, differences, or a switch that could not catch up) or failed;
// 2 bad settings or a server that cannot be reached.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <ostream>
#include <string>
#include <vector>

#include "apply/engine.h"
#include "common/kafka_settings.h"
#include "schema/codec.h"
#include "store/pg_store.h"

namespace kvstream::rebuild {

struct RebuildSettings {
  KafkaSettings kafka;   // brokers, the event topic, passed-through properties
  store::PgSettings pg;  // the served view's database; its schema is the connection's
  schema::Limits limits;
  apply::BatchLimits batch;
  size_t apply_workers = 4;
  std::string schema = "kvstream_rebuild";  // where the view is built
  bool switch_view = false;                 // --switch
  bool accept_differences = false;          // switch even if verification found some
  // The longest the served tables stay locked for a switch attempt.
  std::chrono::milliseconds switch_timeout{5000};
  int switch_attempts = 5;
  std::string binary;  // "kvstream-consumer <version>", for the migrations' applied_by
};

struct RebuildIo {
  std::ostream& out;  // the result lines
  std::ostream& err;  // progress and errors
  bool terminal;      // progress rewrites one line when true, else a line every 5 s
  std::function<bool()> cancelled = [] { return false; };
};

int run_rebuild(const RebuildSettings& settings, const RebuildIo& io);

// The partitions a rebuild would start below their log start: their
// records from `next` (kNoOffset: 0) up to the log start were deleted and
// were never applied to the rebuild. Pure, for the refusal's message.
struct DeletedRange {
  int32_t partition;
  int64_t from;  // the first offset missing
  int64_t to;    // the last offset missing
};
std::vector<DeletedRange> deleted_before_start(const std::map<int32_t, int64_t>& next,
                                               const std::map<int32_t, int64_t>& log_start);

// "1,234,567 of 2,000,000 offsets (61.7%), 145,200/s, about 5 s left" (pure).
std::string progress_line(int64_t done, int64_t total, double per_second);

}  // namespace kvstream::rebuild
