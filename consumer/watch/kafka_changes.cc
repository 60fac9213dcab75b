#include "watch/kafka_changes.h"

#include <spdlog/spdlog.h>

#include <stdexcept>

#include "common/error.h"
#include "common/kafka_admin.h"
#include "source/kafka_record.h"

namespace kvstream::watch {

namespace {

constexpr auto kMetadataTimeout = std::chrono::seconds(5);
// Records taken in one poll before the hub hands them on.
constexpr int kMaxItems = 5000;

}  // namespace

KafkaChanges::KafkaChanges(const KafkaSettings& kafka, schema::Limits limits)
    : topic_(kafka.topic),
      limits_(limits),
      rk_(kafka::reader_client(kafka, "kvstream-watch")),
      meta_(kafka::read_only_admin_client(kafka, "kvstream-watch")) {
  queue_.reset(rd_kafka_queue_get_consumer(rk_.get()));
}

KafkaChanges::~KafkaChanges() {
  queue_.reset();
  if (rk_) rd_kafka_consumer_close(rk_.get());
}

int32_t KafkaChanges::partitions() {
  {
    std::lock_guard<std::mutex> lock(partitions_mu_);
    if (partitions_ > 0) return partitions_;
  }
  int n = -1;
  try {
    n = kafka::describe_partition_count(meta_.get(), topic_, kMetadataTimeout);
  } catch (const std::runtime_error& e) {
    throw Error(ErrorKind::kTransient, e.what());
  }
  if (n <= 0) throw Error(ErrorKind::kTransient, "topic " + topic_ + " not found");
  std::lock_guard<std::mutex> lock(partitions_mu_);
  partitions_ = n;
  return n;
}

std::map<int32_t, ChangeSource::Range> KafkaChanges::watermarks() {
  const int32_t n = partitions();
  std::map<int32_t, Range> out;
  try {
    for (const auto& [p, w] : kafka::watermarks(meta_.get(), topic_, n, kMetadataTimeout)) {
      out[p] = Range{w.low, w.high};
    }
  } catch (const std::runtime_error& e) {
    throw Error(ErrorKind::kTransient, e.what());
  }
  return out;
}

void KafkaChanges::read(const std::map<int32_t, int64_t>& from) {
  kafka::PartitionListPtr list(rd_kafka_topic_partition_list_new(static_cast<int>(from.size())));
  for (const auto& [p, offset] : from) {
    rd_kafka_topic_partition_list_add(list.get(), topic_.c_str(), p)->offset = offset;
  }
  if (const auto err = rd_kafka_assign(rk_.get(), from.empty() ? nullptr : list.get())) {
    throw Error(ErrorKind::kTransient,
                std::string("assigning the partitions to watch: ") + rd_kafka_err2str(err));
  }
}

void KafkaChanges::pause_or_resume(int32_t partition, bool pause) {
  kafka::PartitionListPtr list(rd_kafka_topic_partition_list_new(1));
  rd_kafka_topic_partition_list_add(list.get(), topic_.c_str(), partition);
  const auto err = pause ? rd_kafka_pause_partitions(rk_.get(), list.get())
                         : rd_kafka_resume_partitions(rk_.get(), list.get());
  if (err) {
    spdlog::warn("watch: {} partition {}: {}", pause ? "pausing" : "resuming", partition,
                 rd_kafka_err2str(err));
  }
}

void KafkaChanges::pause(int32_t partition) { pause_or_resume(partition, true); }
void KafkaChanges::resume(int32_t partition) { pause_or_resume(partition, false); }

void KafkaChanges::poll(std::chrono::milliseconds wait, std::vector<Item>& out) {
  for (int i = 0; i < kMaxItems; ++i) {
    kafka::MessagePtr msg(
        rd_kafka_consumer_poll(rk_.get(), i == 0 ? static_cast<int>(wait.count()) : 0));
    if (!msg) return;
    Item item;
    item.change.partition = msg->partition;
    item.change.offset = msg->offset;
    if (msg->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
      item.kind = Item::Kind::kEnd;
      out.push_back(std::move(item));
      continue;
    }
    if (msg->err == RD_KAFKA_RESP_ERR__AUTO_OFFSET_RESET ||
        msg->err == RD_KAFKA_RESP_ERR_OFFSET_OUT_OF_RANGE) {
      item.kind = Item::Kind::kGone;
      out.push_back(std::move(item));
      continue;
    }
    if (msg->err) {
      spdlog::debug("watch: reading the topic: {}", rd_kafka_message_errstr(msg.get()));
      continue;
    }
    const schema::RecordView record = source::view_of(msg.get(), headers_);
    schema::Event event;
    if (schema::decode_into(record, limits_, event)) {
      // Dead-lettered by the replicas: nothing changed at this offset.
      item.kind = Item::Kind::kEnd;
      item.change.offset = msg->offset + 1;
      out.push_back(std::move(item));
      continue;
    }
    item.change.op = event.op;
    item.change.key = std::move(event.key);
    item.change.value = std::move(event.value);
    item.change.content_type = std::move(event.content_type);
    item.change.timestamp_ms = record.timestamp_ms;
    out.push_back(std::move(item));
  }
}

void KafkaChanges::wake() {
  if (queue_) rd_kafka_queue_yield(queue_.get());
}

}  // namespace kvstream::watch
