// The deployment checks as a replica runs them at start, after its
// migrations: the same facts and findings as `kvstream-consumer check`
// (checks.h), less two that other mechanisms own: the schema version (the
// migrations, or the version check of a replica that does not migrate,
// refuse a newer schema first) and each partition's position against its
// log (checked when the partition is assigned: source/kafka_source.h,
// check_positions).
//
// A warning is logged once (warn level); a refusing finding throws. A check
// that cannot run (Kafka unreachable within the bound, the database not
// answering) is logged and skipped: the replica starts as it would without
// it.
#pragma once

#include <chrono>

#include "check/checks.h"
#include "common/kafka_settings.h"
#include "store/pg_store.h"

namespace kvstream::check {

struct StartCheck {
  KafkaSettings kafka;  // the event topic is kafka.topic
  store::PgSettings pg;
  Expectations expect;
  // Whether kv_offsets is read (false when the database was not reachable
  // a moment ago: the start does not wait for it here).
  bool read_database = true;
  // For the Kafka requests together: what an unreachable broker adds to
  // the start.
  std::chrono::milliseconds kafka_timeout{5000};
};

// Runs the checks; throws kvstream::Error (fatal) with the refusing
// finding's line when one refuses.
void check_at_start(const StartCheck& what);

}  // namespace kvstream::check
