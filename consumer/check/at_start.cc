#include "check/at_start.h"

#include <spdlog/spdlog.h>

#include "check/gather.h"
#include "common/error.h"

namespace kvstream::check {

void check_at_start(const StartCheck& what) {
  Facts facts;
  try {
    KafkaGather gather;
    gather.dlq_topic = what.expect.dlq_topic;
    gather.timeout = what.kafka_timeout;
    facts.kafka = gather_kafka(what.kafka, gather);
  } catch (const Error& e) {
    spdlog::warn("topic checks skipped: {}", e.what());
    return;
  }
  if (what.read_database) {
    try {
      facts.database = gather_database(what.pg, what.kafka.topic, /*schema_version=*/false);
    } catch (const Error& e) {
      spdlog::warn("partitions not compared with kv_offsets: {}", e.what());
    }
  }
  const std::vector<Finding> findings = evaluate(facts, what.expect);
  size_t warnings = 0;
  for (const Finding& f : findings) {
    if (f.severity == Severity::kRefuse) throw Error(ErrorKind::kFatal, f.line);
    if (f.severity == Severity::kWarn) {
      ++warnings;
      spdlog::warn("check {}: {}", f.check, f.line);
    }
  }
  spdlog::info("deployment checks: {} ok, {} warning(s) (kvstream-consumer check shows them all)",
               findings.size() - warnings, warnings);
}

}  // namespace kvstream::check
