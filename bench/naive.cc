// naive: the straightforward transaction logger, the baseline kvstream must
// beat by 25x. A librdkafka consumer (auto-commit off) that, for each record:
//
//   BEGIN;
//   INSERT INTO kv ... VALUES (one row) ON CONFLICT (key) DO UPDATE ... WHERE <guard>;
//   INSERT INTO kv_offsets ... ON CONFLICT DO UPDATE SET next_offset = <offset + 1>;
//   COMMIT;
//   commit the record's Kafka offset (asynchronously)
//
// It is given what a careful naive author would write: prepared statements,
// the same row guard and validation as kvstream, one connection kept open.
// It processes the first `max_events` records it receives (or stops after
// `max_seconds`) and reports its rate over those.

#include <optional>
#include <pqxx/pqxx>

#include "bench/pg_activity.h"
#include "bench/tools.h"
#include "common/kafka_handles.h"
#include "schema/codec.h"

namespace kvstream::bench {

namespace {

constexpr const char* kUpsertOneSql =
    "INSERT INTO kv AS t (key, value, content_type, src_partition, src_offset, updated_at) "
    "VALUES ($1, $2, NULL, $3, $4, now()) "
    "ON CONFLICT (key) DO UPDATE "
    "SET value = EXCLUDED.value, content_type = EXCLUDED.content_type, "
    "    src_partition = EXCLUDED.src_partition, src_offset = EXCLUDED.src_offset, "
    "    updated_at = EXCLUDED.updated_at "
    "WHERE t.src_partition <> EXCLUDED.src_partition OR t.src_offset < EXCLUDED.src_offset";

constexpr const char* kOffsetSql =
    "INSERT INTO kv_offsets AS o (topic, partition, next_offset, updated_at) "
    "VALUES ($1, $2, $3, now()) "
    "ON CONFLICT (topic, partition) DO UPDATE "
    "SET next_offset = EXCLUDED.next_offset, updated_at = EXCLUDED.updated_at";

}  // namespace

int run_naive(const NaiveOptions& options) {
  migrate_database(options.pg_url);
  pqxx::connection conn(options.pg_url);
  pqxx::nontransaction(conn).exec("SET application_name = 'kvstream-apply-naive'");
  conn.prepare("upsert_one", kUpsertOneSql);
  conn.prepare("offset", kOffsetSql);

  kafka::ConfPtr conf(rd_kafka_conf_new());
  kafka::set_conf(conf.get(), "bootstrap.servers", options.brokers);
  kafka::set_conf(conf.get(), "group.id", options.group);
  kafka::set_conf(conf.get(), "client.id", "kvstream-bench-naive");
  kafka::set_conf(conf.get(), "enable.auto.commit", "false");
  kafka::set_conf(conf.get(), "auto.offset.reset", "earliest");
  kafka::set_conf(conf.get(), "enable.partition.eof", "false");
  char err[512];
  kafka::HandlePtr rk(rd_kafka_new(RD_KAFKA_CONSUMER, conf.get(), err, sizeof(err)));
  if (!rk) {
    std::cerr << "naive: creating the Kafka consumer: " << err << "\n";
    return 1;
  }
  conf.release();  // owned by rk now
  rd_kafka_poll_set_consumer(rk.get());
  kafka::PartitionListPtr topics(rd_kafka_topic_partition_list_new(1));
  rd_kafka_topic_partition_list_add(topics.get(), options.topic.c_str(), RD_KAFKA_PARTITION_UA);
  if (auto e = rd_kafka_subscribe(rk.get(), topics.get())) {
    std::cerr << "naive: subscribing: " << rd_kafka_err2str(e) << "\n";
    return 1;
  }

  // Bounded: the first record must come within a minute, and the whole
  // sample within max_seconds of it.
  const auto join_deadline = SteadyClock::now() + std::chrono::seconds(60);
  std::optional<SteadyClock::time_point> start;
  std::optional<CostWindow> cost;
  ActivitySampler activity(options.pg_url, std::chrono::milliseconds(10));
  int64_t applied = 0, invalid = 0;
  while (applied + invalid < options.max_events) {
    const auto now = SteadyClock::now();
    if (!start && now > join_deadline) {
      std::cerr << "naive: no record within 60 s\n";
      return 1;
    }
    if (start && now - *start > options.max_seconds) break;
    kafka::MessagePtr msg(rd_kafka_consumer_poll(rk.get(), 100));
    if (!msg) continue;
    if (msg->err) {
      std::cerr << "naive: " << rd_kafka_message_errstr(msg.get()) << "\n";
      continue;
    }
    if (!start) {
      start = SteadyClock::now();
      cost.emplace(options.watched);
      activity.start();
    }
    schema::Record record;
    record.topic = options.topic;
    record.partition = msg->partition;
    record.offset = msg->offset;
    if (msg->key) record.key.emplace(static_cast<const char*>(msg->key), msg->key_len);
    if (msg->payload) record.value.emplace(static_cast<const char*>(msg->payload), msg->len);
    auto decoded = schema::decode(record);
    const auto* event = std::get_if<schema::Event>(&decoded);
    if (!event) {
      ++invalid;
      continue;
    }
    pqxx::work tx(conn);
    if (event->op == schema::Op::kPut) {
      tx.exec_prepared("upsert_one", event->key, pqxx::binarystring(event->value), record.partition,
                       record.offset);
    } else {
      tx.exec_prepared("upsert_one", event->key, nullptr, record.partition, record.offset);
    }
    tx.exec_prepared("offset", options.topic, record.partition, record.offset + 1);
    tx.commit();
    rd_kafka_commit_message(rk.get(), msg.get(), 1 /* async */);
    ++applied;
  }
  const double seconds = start ? seconds_since(*start) : 0;
  activity.stop();
  report("events", applied);
  report("invalid", invalid);
  report("seconds", seconds);
  report("events_per_s",
         static_cast<int64_t>(seconds > 0 ? static_cast<double>(applied) / seconds : 0));
  report("sample_complete", applied + invalid >= options.max_events ? 1 : 0);
  if (cost) cost->report_usage();
  activity.report("pg_activity");
  rd_kafka_consumer_close(rk.get());
  return applied > 0 ? 0 : 1;
}

}  // namespace kvstream::bench
