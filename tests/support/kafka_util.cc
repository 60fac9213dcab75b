#include "tests/support/kafka_util.h"

#include <stdexcept>
#include <thread>

#include "common/kafka_admin.h"
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

}  // namespace

void delete_topic(const std::string& brokers, const std::string& topic) {
  kafka::HandlePtr rk = make_handle(RD_KAFKA_PRODUCER, brokers);
  kafka::QueuePtr queue(rd_kafka_queue_new(rk.get()));
  rd_kafka_DeleteTopic_t* del = rd_kafka_DeleteTopic_new(topic.c_str());
  rd_kafka_DeleteTopics(rk.get(), &del, 1, nullptr, queue.get());
  rd_kafka_DeleteTopic_destroy(del);
  kafka::EventPtr ev(rd_kafka_queue_poll(queue.get(), 30000));
  if (!ev) throw std::runtime_error("deleting topic " + topic + ": no answer within 30 s");
  size_t count = 0;
  const rd_kafka_topic_result_t** results =
      rd_kafka_DeleteTopics_result_topics(rd_kafka_event_DeleteTopics_result(ev.get()), &count);
  for (size_t i = 0; i < count; ++i) {
    if (const auto e = rd_kafka_topic_result_error(results[i])) {
      throw std::runtime_error("deleting topic " + topic + ": " + rd_kafka_err2str(e));
    }
  }
  // Asked with a consumer's handle, which never has a topic created by
  // asking for it.
  kafka::HandlePtr reader = make_handle(RD_KAFKA_CONSUMER, brokers);
  for (int i = 0; i < 300; ++i) {
    if (kafka::partition_count(reader.get(), topic, 1000) < 0) return;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  throw std::runtime_error("topic " + topic +
                           " still shows in the metadata 30 s after its deletion");
}

void delete_records(const std::string& brokers, const std::string& topic, int32_t partition,
                    int64_t before) {
  kafka::HandlePtr rk = make_handle(RD_KAFKA_PRODUCER, brokers);
  kafka::QueuePtr queue(rd_kafka_queue_new(rk.get()));
  kafka::PartitionListPtr list(rd_kafka_topic_partition_list_new(1));
  rd_kafka_topic_partition_list_add(list.get(), topic.c_str(), partition)->offset = before;
  rd_kafka_DeleteRecords_t* del = rd_kafka_DeleteRecords_new(list.get());
  rd_kafka_DeleteRecords(rk.get(), &del, 1, nullptr, queue.get());
  rd_kafka_DeleteRecords_destroy(del);
  kafka::EventPtr ev(rd_kafka_queue_poll(queue.get(), 30000));
  const std::string what = "deleting records of " + topic + "/" + std::to_string(partition);
  if (!ev) throw std::runtime_error(what + ": no answer within 30 s");
  if (const auto e = rd_kafka_event_error(ev.get())) {
    throw std::runtime_error(what + ": " + rd_kafka_err2str(e));
  }
  const rd_kafka_topic_partition_list_t* done =
      rd_kafka_DeleteRecords_result_offsets(rd_kafka_event_DeleteRecords_result(ev.get()));
  for (int i = 0; done != nullptr && i < done->cnt; ++i) {
    if (done->elems[i].err) {
      throw std::runtime_error(what + ": " + rd_kafka_err2str(done->elems[i].err));
    }
  }
}

std::map<int32_t, int64_t> committed_offsets(const std::string& brokers, const std::string& group,
                                             const std::string& topic) {
  kafka::HandlePtr rk = make_handle(RD_KAFKA_CONSUMER, brokers, group);
  const int n = kafka::partition_count(rk.get(), topic);
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
