#include "common/kafka_admin.h"

#include <algorithm>
#include <chrono>
#include <stdexcept>
#include <thread>

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

// Milliseconds left until `deadline`, at least 1 (librdkafka takes 0 as
// "do not wait").
int ms_left(std::chrono::steady_clock::time_point deadline) {
  const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
      deadline - std::chrono::steady_clock::now());
  return static_cast<int>(std::clamp<int64_t>(left.count(), 1, 24 * 3600 * 1000));
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

HandlePtr read_only_admin_client(const KafkaSettings& kafka, const std::string& client_id) {
  ConfPtr conf(rd_kafka_conf_new());
  set_conf(conf.get(), "bootstrap.servers", kafka.brokers);
  set_conf(conf.get(), "client.id", client_id);
  for (const auto& [name, value] : kafka.properties) {
    if (property_applies(name, RD_KAFKA_PRODUCER)) set_conf(conf.get(), name, value);
  }
  // After the passed-through properties: these two are what makes the
  // client read-only and quiet.
  set_conf(conf.get(), "allow.auto.create.topics", "false");
  set_conf(conf.get(), "log_level", "0");
  char err[512];
  HandlePtr rk(rd_kafka_new(RD_KAFKA_PRODUCER, conf.get(), err, sizeof(err)));
  if (!rk) throw std::runtime_error(std::string("creating a Kafka client: ") + err);
  static_cast<void>(conf.release());  // owned by rk now
  return rk;
}

HandlePtr reader_client(const KafkaSettings& kafka, const std::string& client_id) {
  ConfPtr conf(rd_kafka_conf_new());
  set_conf(conf.get(), "bootstrap.servers", kafka.brokers);
  set_conf(conf.get(), "client.id", client_id);
  set_conf(conf.get(), "fetch.max.bytes", "8388608");
  set_conf(conf.get(), "queued.max.messages.kbytes", "16384");
  for (const auto& [name, value] : kafka.properties) {
    if (property_applies(name, RD_KAFKA_CONSUMER)) set_conf(conf.get(), name, value);
  }
  // librdkafka assigns partitions only to a consumer with a group id; this
  // one never joins the group (assign, not subscribe) nor commits to it.
  set_conf(conf.get(), "group.id", client_id);
  set_conf(conf.get(), "enable.auto.commit", "false");
  set_conf(conf.get(), "enable.auto.offset.store", "false");
  set_conf(conf.get(), "enable.partition.eof", "true");
  set_conf(conf.get(), "auto.offset.reset", "error");
  set_conf(conf.get(), "allow.auto.create.topics", "false");
  route_kafka_logs(conf.get());
  char err[512];
  HandlePtr rk(rd_kafka_new(RD_KAFKA_CONSUMER, conf.get(), err, sizeof(err)));
  if (!rk) throw std::runtime_error(std::string("creating a Kafka client: ") + err);
  static_cast<void>(conf.release());  // owned by rk now
  rd_kafka_poll_set_consumer(rk.get());
  return rk;
}

int describe_partition_count(rd_kafka_t* rk, const std::string& topic,
                             std::chrono::milliseconds timeout) {
  rd_kafka_topic_t* rkt = rd_kafka_topic_new(rk, topic.c_str(), nullptr);
  const rd_kafka_metadata_t* md = nullptr;
  const auto err = rd_kafka_metadata(rk, 0, rkt, &md, static_cast<int>(timeout.count()));
  rd_kafka_topic_destroy(rkt);
  if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
    throw std::runtime_error("no metadata from the brokers within " +
                             std::to_string(timeout.count()) + " ms: " + rd_kafka_err2str(err));
  }
  int n = -1;
  std::string error;
  if (md->topic_cnt == 1) {
    const auto topic_err = md->topics[0].err;
    if (topic_err == RD_KAFKA_RESP_ERR_NO_ERROR) {
      n = md->topics[0].partition_cnt;
    } else if (topic_err != RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART) {
      error = rd_kafka_err2str(topic_err);
    }
  }
  rd_kafka_metadata_destroy(md);
  if (!error.empty()) throw std::runtime_error("metadata of topic " + topic + ": " + error);
  return n;
}

std::map<std::string, std::string> describe_topic_config(rd_kafka_t* rk, const std::string& topic,
                                                         std::chrono::milliseconds timeout) {
  const std::string what = "describing the configuration of topic " + topic;
  QueuePtr queue(rd_kafka_queue_new(rk));
  rd_kafka_AdminOptions_t* options =
      rd_kafka_AdminOptions_new(rk, RD_KAFKA_ADMIN_OP_DESCRIBECONFIGS);
  char err[512];
  rd_kafka_AdminOptions_set_request_timeout(options, static_cast<int>(timeout.count()), err,
                                            sizeof(err));
  rd_kafka_ConfigResource_t* resource =
      rd_kafka_ConfigResource_new(RD_KAFKA_RESOURCE_TOPIC, topic.c_str());
  rd_kafka_DescribeConfigs(rk, &resource, 1, options, queue.get());
  rd_kafka_ConfigResource_destroy(resource);
  rd_kafka_AdminOptions_destroy(options);
  // The request's own timeout answers first; this one is a backstop.
  EventPtr ev(rd_kafka_queue_poll(queue.get(), static_cast<int>(timeout.count()) + 1000));
  if (!ev) throw std::runtime_error(what + ": no answer");
  if (rd_kafka_event_error(ev.get())) {
    throw std::runtime_error(what + ": " + rd_kafka_event_error_string(ev.get()));
  }
  size_t count = 0;
  const rd_kafka_ConfigResource_t** results = rd_kafka_DescribeConfigs_result_resources(
      rd_kafka_event_DescribeConfigs_result(ev.get()), &count);
  std::map<std::string, std::string> out;
  for (size_t i = 0; i < count; ++i) {
    if (rd_kafka_ConfigResource_error(results[i])) {
      const char* why = rd_kafka_ConfigResource_error_string(results[i]);
      throw std::runtime_error(
          what + ": " + (why ? why : rd_kafka_err2str(rd_kafka_ConfigResource_error(results[i]))));
    }
    size_t entries = 0;
    const rd_kafka_ConfigEntry_t** configs = rd_kafka_ConfigResource_configs(results[i], &entries);
    for (size_t j = 0; j < entries; ++j) {
      const char* value = rd_kafka_ConfigEntry_value(configs[j]);
      if (value && !rd_kafka_ConfigEntry_is_sensitive(configs[j])) {
        out[rd_kafka_ConfigEntry_name(configs[j])] = value;
      }
    }
  }
  return out;
}

std::map<int32_t, Watermarks> watermarks(rd_kafka_t* rk, const std::string& topic,
                                         int32_t partitions, std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  std::map<int32_t, Watermarks> out;
  for (int32_t p = 0; p < partitions; ++p) {
    Watermarks w;
    const auto err =
        rd_kafka_query_watermark_offsets(rk, topic.c_str(), p, &w.low, &w.high, ms_left(deadline));
    if (err) {
      throw std::runtime_error("offsets of " + topic + "/" + std::to_string(p) + ": " +
                               rd_kafka_err2str(err));
    }
    out[p] = w;
  }
  return out;
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
