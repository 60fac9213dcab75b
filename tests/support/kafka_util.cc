#include "tests/support/kafka_util.h"

#include <stdexcept>
#include <thread>

#include "common/kafka_handles.h"
#include "source/kafka_record.h"

namespace kvstream::testing {

namespace {

kafka::HandlePtr make_handle(rd_kafka_type_t type, const std::string& brokers,
                             const std::string& group = "") {
  kafka::ConfPtr conf(rd_kafka_conf_new());
  kafka::set_conf(conf.get(), "bootstrap.servers", brokers);
  kafka::set_conf(conf.get(), "log_level", "3");
  if (!group.empty()) {
    kafka::set_conf(conf.get(), "group.id", group);
    kafka::set_conf(conf.get(), "enable.auto.commit", "false");
    kafka::set_conf(conf.get(), "enable.partition.eof", "false");
  }
  char err[512];
  kafka::HandlePtr rk(rd_kafka_new(type, conf.get(), err, sizeof(err)));
  if (!rk) throw std::runtime_error(err);
  conf.release();
  return rk;
}

int partition_count(rd_kafka_t* rk, const std::string& topic) {
  const rd_kafka_metadata_t* md = nullptr;
  rd_kafka_topic_t* rkt = rd_kafka_topic_new(rk, topic.c_str(), nullptr);
  const auto err = rd_kafka_metadata(rk, 0, rkt, &md, 5000);
  rd_kafka_topic_destroy(rkt);
  int n = -1;
  if (err == RD_KAFKA_RESP_ERR_NO_ERROR && md->topic_cnt == 1 && md->topics[0].err == 0) {
    n = md->topics[0].partition_cnt;
  }
  if (md) rd_kafka_metadata_destroy(md);
  return n;
}

}  // namespace

void create_topic(const std::string& brokers, const std::string& topic, int partitions) {
  kafka::HandlePtr rk = make_handle(RD_KAFKA_PRODUCER, brokers);
  kafka::QueuePtr queue(rd_kafka_queue_new(rk.get()));
  char err[512];
  rd_kafka_NewTopic_t* nt = rd_kafka_NewTopic_new(topic.c_str(), partitions, 1, err, sizeof(err));
  if (!nt) throw std::runtime_error(err);
  rd_kafka_CreateTopics(rk.get(), &nt, 1, nullptr, queue.get());
  rd_kafka_NewTopic_destroy(nt);
  kafka::EventPtr ev(rd_kafka_queue_poll(queue.get(), 30000));
  if (!ev) throw std::runtime_error("CreateTopics timed out");
  const rd_kafka_CreateTopics_result_t* res = rd_kafka_event_CreateTopics_result(ev.get());
  size_t n = 0;
  const rd_kafka_topic_result_t** results = rd_kafka_CreateTopics_result_topics(res, &n);
  for (size_t i = 0; i < n; ++i) {
    const auto e = rd_kafka_topic_result_error(results[i]);
    if (e != RD_KAFKA_RESP_ERR_NO_ERROR && e != RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS) {
      throw std::runtime_error(std::string("creating topic ") + topic + ": " + rd_kafka_err2str(e));
    }
  }
  for (int i = 0; i < 100; ++i) {
    if (partition_count(rk.get(), topic) == partitions) return;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  throw std::runtime_error("topic " + topic + " did not show all partitions");
}

std::map<int32_t, int64_t> end_offsets(const std::string& brokers, const std::string& topic) {
  kafka::HandlePtr rk = make_handle(RD_KAFKA_PRODUCER, brokers);
  const int n = partition_count(rk.get(), topic);
  if (n < 0) throw std::runtime_error("no metadata for topic " + topic);
  std::map<int32_t, int64_t> out;
  for (int32_t p = 0; p < n; ++p) {
    int64_t low = 0, high = 0;
    const auto err =
        rd_kafka_query_watermark_offsets(rk.get(), topic.c_str(), p, &low, &high, 10000);
    if (err) throw std::runtime_error(std::string("watermarks: ") + rd_kafka_err2str(err));
    out[p] = high;
  }
  return out;
}

std::map<int32_t, int64_t> committed_offsets(const std::string& brokers, const std::string& group,
                                             const std::string& topic) {
  kafka::HandlePtr rk = make_handle(RD_KAFKA_CONSUMER, brokers, group);
  const int n = partition_count(rk.get(), topic);
  if (n < 0) throw std::runtime_error("no metadata for topic " + topic);
  kafka::PartitionListPtr list(rd_kafka_topic_partition_list_new(n));
  for (int32_t p = 0; p < n; ++p) rd_kafka_topic_partition_list_add(list.get(), topic.c_str(), p);
  const auto err = rd_kafka_committed(rk.get(), list.get(), 10000);
  if (err) throw std::runtime_error(std::string("committed: ") + rd_kafka_err2str(err));
  std::map<int32_t, int64_t> out;
  for (int i = 0; i < list->cnt; ++i) {
    if (list->elems[i].offset >= 0) out[list->elems[i].partition] = list->elems[i].offset;
  }
  rd_kafka_consumer_close(rk.get());
  return out;
}

std::vector<schema::Record> read_all(const std::string& brokers, const std::string& topic,
                                     std::chrono::milliseconds timeout) {
  const auto ends = end_offsets(brokers, topic);
  kafka::HandlePtr rk = make_handle(RD_KAFKA_CONSUMER, brokers, "kvstream-test-reader");
  kafka::PartitionListPtr list(rd_kafka_topic_partition_list_new(static_cast<int>(ends.size())));
  int64_t remaining = 0;
  std::map<int32_t, int64_t> next;
  for (const auto& [p, end] : ends) {
    rd_kafka_topic_partition_list_add(list.get(), topic.c_str(), p)->offset =
        RD_KAFKA_OFFSET_BEGINNING;
    next[p] = 0;
    remaining += end;
  }
  rd_kafka_assign(rk.get(), list.get());
  std::vector<schema::Record> out;
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  auto done = [&] {
    for (const auto& [p, end] : ends) {
      if (next[p] < end) return false;
    }
    return true;
  };
  while (!done()) {
    if (std::chrono::steady_clock::now() > deadline) {
      throw std::runtime_error("reading " + topic + " timed out");
    }
    kafka::MessagePtr msg(rd_kafka_consumer_poll(rk.get(), 100));
    if (!msg || msg->err) continue;
    schema::Record r = source::to_record(msg.get());
    next[msg->partition] = msg->offset + 1;
    out.push_back(std::move(r));
  }
  rd_kafka_consumer_close(rk.get());
  return out;
}

}  // namespace kvstream::testing
