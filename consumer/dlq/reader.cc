#include "dlq/reader.h"

#include <librdkafka/rdkafka.h>

#include <algorithm>
#include <map>

#include "common/kafka_admin.h"
#include "common/kafka_handles.h"
#include "source/kafka_record.h"

namespace kvstream::dlq {

namespace {

using Clock = std::chrono::steady_clock;

// Milliseconds until `deadline`, at least 1 (librdkafka takes 0 as "do not wait").
int ms_left(Clock::time_point deadline) {
  const auto left =
      std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
  return static_cast<int>(std::clamp<int64_t>(left, 1, 24 * 3600 * 1000));
}

// A consumer outside any group: it is assigned partitions, commits nothing,
// creates no topic, and says nothing itself (what goes wrong is thrown).
kafka::HandlePtr make_reader(const KafkaSettings& kafka) {
  kafka::ConfPtr conf(rd_kafka_conf_new());
  kafka::set_conf(conf.get(), "bootstrap.servers", kafka.brokers);
  kafka::set_conf(conf.get(), "client.id", "kvstream-dlq");
  for (const auto& [name, value] : kafka.properties) {
    if (kafka::property_applies(name, RD_KAFKA_CONSUMER)) kafka::set_conf(conf.get(), name, value);
  }
  // After the passed-through properties: these make the read bounded and
  // read-only.
  // librdkafka assigns partitions only to a consumer with a group id; this
  // one never joins the group (assign, not subscribe) nor commits to it.
  kafka::set_conf(conf.get(), "group.id", "kvstream-dlq-reader");
  kafka::set_conf(conf.get(), "enable.auto.commit", "false");
  kafka::set_conf(conf.get(), "enable.auto.offset.store", "false");
  kafka::set_conf(conf.get(), "enable.partition.eof", "true");
  kafka::set_conf(conf.get(), "auto.offset.reset", "earliest");
  kafka::set_conf(conf.get(), "allow.auto.create.topics", "false");
  kafka::set_conf(conf.get(), "log_level", "0");
  char err[512];
  kafka::HandlePtr rk(rd_kafka_new(RD_KAFKA_CONSUMER, conf.get(), err, sizeof(err)));
  if (!rk) throw ReadError(std::string("creating a Kafka client: ") + err);
  static_cast<void>(conf.release());  // owned by rk now
  rd_kafka_poll_set_consumer(rk.get());
  return rk;
}

struct Range {
  int64_t next = 0;  // the next offset to read
  int64_t end = 0;   // the end offset when the read began
};

// Where each partition's read starts: the first offset at or after
// `since_ms`, or its end when there is none.
void seek_to_time(rd_kafka_t* rk, const std::string& topic, int64_t since_ms,
                  std::map<int32_t, Range>& ranges, Clock::time_point deadline) {
  kafka::PartitionListPtr list(rd_kafka_topic_partition_list_new(static_cast<int>(ranges.size())));
  for (const auto& [p, range] : ranges) {
    rd_kafka_topic_partition_list_add(list.get(), topic.c_str(), p)->offset = since_ms;
  }
  if (const auto err = rd_kafka_offsets_for_times(rk, list.get(), ms_left(deadline))) {
    throw ReadError("offsets of " + topic + " for the time of --since: " + rd_kafka_err2str(err));
  }
  for (int i = 0; i < list->cnt; ++i) {
    const rd_kafka_topic_partition_t& e = list->elems[i];
    if (e.err) {
      throw ReadError("offsets of " + topic + "/" + std::to_string(e.partition) +
                      " for the time of --since: " + rd_kafka_err2str(e.err));
    }
    Range& range = ranges[e.partition];
    // No record at or after the time: the answer is the end (-1).
    range.next = e.offset < 0 ? range.end : std::clamp(e.offset, range.next, range.end);
  }
}

}  // namespace

void read_topic_to_end(const ReadSettings& settings,
                       const std::function<void(const schema::Record&)>& visit, ReadStats* stats) {
  const auto deadline = Clock::now() + settings.timeout;
  const std::string& topic = settings.topic;
  kafka::HandlePtr rk = make_reader(settings.kafka);
  int partitions = -1;
  try {
    partitions = kafka::describe_partition_count(rk.get(), topic,
                                                 std::chrono::milliseconds(ms_left(deadline)));
  } catch (const std::runtime_error& e) {
    throw ReadError("cannot reach the brokers at " + settings.kafka.brokers + ": " + e.what());
  }
  if (partitions < 0) {
    throw ReadError("the dead-letter topic " + topic + " does not exist (KVSTREAM_DLQ_TOPIC, " +
                    "default <topic>.dlq)");
  }
  std::map<int32_t, Range> ranges;
  try {
    for (const auto& [p, w] : kafka::watermarks(rk.get(), topic, partitions,
                                                std::chrono::milliseconds(ms_left(deadline)))) {
      ranges[p] = Range{w.low, w.high};
    }
  } catch (const std::runtime_error& e) {
    throw ReadError(e.what());
  }
  if (settings.since_ms) seek_to_time(rk.get(), topic, *settings.since_ms, ranges, deadline);

  kafka::PartitionListPtr assignment(rd_kafka_topic_partition_list_new(partitions));
  uint64_t total = 0;
  for (const auto& [p, range] : ranges) {
    if (range.next >= range.end) continue;
    rd_kafka_topic_partition_list_add(assignment.get(), topic.c_str(), p)->offset = range.next;
    total += static_cast<uint64_t>(range.end - range.next);
  }
  if (stats) stats->total = total;
  if (assignment->cnt == 0) return;
  if (const auto err = rd_kafka_assign(rk.get(), assignment.get())) {
    throw ReadError("reading " + topic + ": " + rd_kafka_err2str(err));
  }
  auto done = [&] {
    return std::all_of(ranges.begin(), ranges.end(),
                       [](const auto& r) { return r.second.next >= r.second.end; });
  };
  while (!done()) {
    if (Clock::now() >= deadline) {
      throw ReadError("reading " + topic + " to its end took longer than " +
                      std::to_string(settings.timeout.count()) + " ms (--timeout-ms)");
    }
    kafka::MessagePtr msg(rd_kafka_consumer_poll(rk.get(), std::min(ms_left(deadline), 200)));
    if (!msg) continue;
    const auto found = ranges.find(msg->partition);
    if (msg->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
      // Nothing more now; the offset is the partition's next one (the
      // records up to the end may have been compacted or deleted meanwhile).
      if (found != ranges.end()) found->second.next = std::max(found->second.next, msg->offset);
      continue;
    }
    if (msg->err) {
      if (msg->err == RD_KAFKA_RESP_ERR__UNKNOWN_TOPIC ||
          msg->err == RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART ||
          msg->err == RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED) {
        throw ReadError("reading " + topic + ": " + rd_kafka_err2str(msg->err));
      }
      continue;  // transient: librdkafka retries until the deadline
    }
    if (found == ranges.end() || msg->offset >= found->second.end) continue;  // arrived since
    found->second.next = msg->offset + 1;
    visit(source::to_record(msg.get()));
    if (stats) ++stats->records;
  }
  rd_kafka_consumer_close(rk.get());
}

}  // namespace kvstream::dlq
