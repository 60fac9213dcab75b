#include "common/kafka_admin.h"

#include <chrono>
#include <stdexcept>
#include <thread>

#include "common/kafka_handles.h"

namespace kvstream::kafka {

namespace {

HandlePtr admin_client(const std::string& brokers) {
  ConfPtr conf(rd_kafka_conf_new());
  set_conf(conf.get(), "bootstrap.servers", brokers);
  set_conf(conf.get(), "client.id", "kvstream-admin");
  set_conf(conf.get(), "log_level", "3");
  char err[512];
  HandlePtr rk(rd_kafka_new(RD_KAFKA_PRODUCER, conf.get(), err, sizeof(err)));
  if (!rk) throw std::runtime_error(std::string("creating a Kafka client: ") + err);
  static_cast<void>(conf.release());  // owned by rk now
  return rk;
}

// The answer to an admin request sent with `queue` as its reply queue.
// Throws, naming `what`, when none comes within 30 s or when the request
// failed as a whole; the per-resource results are the caller's to check.
EventPtr await_admin_result(rd_kafka_queue_t* queue, const std::string& what) {
  EventPtr ev(rd_kafka_queue_poll(queue, 30000));
  if (!ev) throw std::runtime_error(what + ": no answer within 30 s");
  if (rd_kafka_event_error(ev.get())) {
    throw std::runtime_error(what + ": " + rd_kafka_event_error_string(ev.get()));
  }
  return ev;
}

}  // namespace

int partition_count(rd_kafka_t* rk, const std::string& topic, int timeout_ms) {
  rd_kafka_topic_t* rkt = rd_kafka_topic_new(rk, topic.c_str(), nullptr);
  const rd_kafka_metadata_t* md = nullptr;
  const auto err = rd_kafka_metadata(rk, 0, rkt, &md, timeout_ms);
  rd_kafka_topic_destroy(rkt);
  int n = -1;
  if (err == RD_KAFKA_RESP_ERR_NO_ERROR && md->topic_cnt == 1 &&
      md->topics[0].err == RD_KAFKA_RESP_ERR_NO_ERROR) {
    n = md->topics[0].partition_cnt;
  }
  if (md) rd_kafka_metadata_destroy(md);
  return n;
}

void create_topic(const std::string& brokers, const std::string& topic, int partitions,
                  const std::map<std::string, std::string>& configs) {
  HandlePtr rk = admin_client(brokers);
  QueuePtr queue(rd_kafka_queue_new(rk.get()));
  char err[512];
  rd_kafka_NewTopic_t* new_topic =
      rd_kafka_NewTopic_new(topic.c_str(), partitions, 1, err, sizeof(err));
  if (!new_topic) throw std::runtime_error(std::string("creating topic ") + topic + ": " + err);
  for (const auto& [name, value] : configs) {
    if (rd_kafka_NewTopic_set_config(new_topic, name.c_str(), value.c_str())) {
      rd_kafka_NewTopic_destroy(new_topic);
      throw std::runtime_error("creating topic " + topic + ": cannot set " + name);
    }
  }
  rd_kafka_CreateTopics(rk.get(), &new_topic, 1, nullptr, queue.get());
  rd_kafka_NewTopic_destroy(new_topic);
  EventPtr ev = await_admin_result(queue.get(), "creating topic " + topic);
  size_t count = 0;
  const rd_kafka_topic_result_t** results =
      rd_kafka_CreateTopics_result_topics(rd_kafka_event_CreateTopics_result(ev.get()), &count);
  for (size_t i = 0; i < count; ++i) {
    const auto e = rd_kafka_topic_result_error(results[i]);
    if (e != RD_KAFKA_RESP_ERR_NO_ERROR && e != RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS) {
      throw std::runtime_error("creating topic " + topic + ": " + rd_kafka_err2str(e));
    }
  }
  for (int i = 0; i < 100; ++i) {
    if (partition_count(rk.get(), topic) == partitions) return;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  throw std::runtime_error("topic " + topic + " did not show " + std::to_string(partitions) +
                           " partitions within 10 s");
}

void set_topic_config(const std::string& brokers, const std::string& topic,
                      const std::map<std::string, std::string>& configs) {
  HandlePtr rk = admin_client(brokers);
  QueuePtr queue(rd_kafka_queue_new(rk.get()));
  rd_kafka_ConfigResource_t* resource =
      rd_kafka_ConfigResource_new(RD_KAFKA_RESOURCE_TOPIC, topic.c_str());
  for (const auto& [name, value] : configs) {
    if (rd_kafka_ConfigResource_set_config(resource, name.c_str(), value.c_str())) {
      rd_kafka_ConfigResource_destroy(resource);
      throw std::runtime_error("configuring topic " + topic + ": cannot set " + name);
    }
  }
  rd_kafka_AlterConfigs(rk.get(), &resource, 1, nullptr, queue.get());
  rd_kafka_ConfigResource_destroy(resource);
  EventPtr ev = await_admin_result(queue.get(), "configuring topic " + topic);
  size_t count = 0;
  const rd_kafka_ConfigResource_t** results =
      rd_kafka_AlterConfigs_result_resources(rd_kafka_event_AlterConfigs_result(ev.get()), &count);
  for (size_t i = 0; i < count; ++i) {
    if (const auto e = rd_kafka_ConfigResource_error(results[i])) {
      throw std::runtime_error("configuring topic " + topic + ": " + rd_kafka_err2str(e));
    }
  }
}

std::map<int32_t, int64_t> end_offsets(const std::string& brokers, const std::string& topic) {
  HandlePtr rk = admin_client(brokers);
  const int n = partition_count(rk.get(), topic);
  if (n < 0) throw std::runtime_error("no metadata for topic " + topic);
  std::map<int32_t, int64_t> out;
  for (int32_t p = 0; p < n; ++p) {
    int64_t low = 0, high = 0;
    const auto err =
        rd_kafka_query_watermark_offsets(rk.get(), topic.c_str(), p, &low, &high, 10000);
    if (err) {
      throw std::runtime_error("end offset of " + topic + "/" + std::to_string(p) + ": " +
                               rd_kafka_err2str(err));
    }
    out[p] = high;
  }
  return out;
}

}  // namespace kvstream::kafka
