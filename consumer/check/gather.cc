#include "check/gather.h"

#include <algorithm>
#include <stdexcept>

#include "common/error.h"
#include "common/kafka_admin.h"
#include "schema/migrations.h"
#include "store/pg_errors.h"

namespace kvstream::check {

namespace {

using Clock = std::chrono::steady_clock;

std::chrono::milliseconds left(Clock::time_point deadline) {
  return std::max(std::chrono::milliseconds(1),
                  std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()));
}

}  // namespace

KafkaFacts gather_kafka(const KafkaSettings& kafka, const KafkaGather& what) {
  const auto deadline = Clock::now() + what.timeout;
  KafkaFacts facts;
  try {
    kafka::HandlePtr rk = kafka::read_only_admin_client(kafka, "kvstream-check");
    facts.partitions = kafka::describe_partition_count(rk.get(), kafka.topic, left(deadline));
    if (facts.partitions >= 0) {
      facts.config = kafka::describe_topic_config(rk.get(), kafka.topic, left(deadline));
      if (what.logs) {
        std::map<int32_t, LogRange> logs;
        for (const auto& [p, w] :
             kafka::watermarks(rk.get(), kafka.topic, facts.partitions, left(deadline))) {
          logs[p] = LogRange{w.low, w.high};
        }
        facts.logs = std::move(logs);
      }
    }
    facts.dlq_exists =
        kafka::describe_partition_count(rk.get(), what.dlq_topic, left(deadline)) >= 0;
  } catch (const Error&) {
    throw;
  } catch (const std::exception& e) {
    throw Error(ErrorKind::kTransient, std::string("asking Kafka: ") + e.what());
  }
  return facts;
}

DatabaseFacts gather_database(const store::PgSettings& pg, const std::string& topic,
                              bool schema_version) {
  DatabaseFacts facts;
  auto conn = store::connect(pg, "kvstream-check");
  try {
    pqxx::nontransaction tx(*conn);
    if (!tx.exec1("SELECT to_regclass('kv_offsets') IS NULL")[0].as<bool>()) {
      for (const auto& row : tx.exec_params(
               "SELECT partition, next_offset FROM kv_offsets WHERE topic = $1", topic)) {
        facts.applied[row[0].as<int32_t>()] = row[1].as<int64_t>();
      }
    }
  } catch (...) {
    store::rethrow_as_error("reading kv_offsets");
  }
  if (schema_version) {
    try {
      const std::vector<int> versions = schema::applied_versions(*conn);
      facts.schema_version = versions.empty() ? 0 : versions.back();
    } catch (...) {
      store::rethrow_as_error("reading the schema version");
    }
  }
  return facts;
}

}  // namespace kvstream::check
