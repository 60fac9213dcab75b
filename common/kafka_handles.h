// Owning handles for librdkafka's C objects: each wrapped once in a
// std::unique_ptr with the matching destroy function, so that no path leaks
// or double-frees them.
#pragma once

#include <librdkafka/rdkafka.h>

#include <memory>
#include <string>

namespace kvstream::kafka {

struct ConfDeleter {
  void operator()(rd_kafka_conf_t* c) const { rd_kafka_conf_destroy(c); }
};
struct HandleDeleter {
  void operator()(rd_kafka_t* k) const { rd_kafka_destroy(k); }
};
struct PartitionListDeleter {
  void operator()(rd_kafka_topic_partition_list_t* l) const {
    rd_kafka_topic_partition_list_destroy(l);
  }
};
struct MessageDeleter {
  void operator()(rd_kafka_message_t* m) const { rd_kafka_message_destroy(m); }
};
struct HeadersDeleter {
  void operator()(rd_kafka_headers_t* h) const { rd_kafka_headers_destroy(h); }
};
struct ErrorDeleter {
  void operator()(rd_kafka_error_t* e) const { rd_kafka_error_destroy(e); }
};
struct QueueDeleter {
  void operator()(rd_kafka_queue_t* q) const { rd_kafka_queue_destroy(q); }
};
struct EventDeleter {
  void operator()(rd_kafka_event_t* e) const { rd_kafka_event_destroy(e); }
};

using ConfPtr = std::unique_ptr<rd_kafka_conf_t, ConfDeleter>;
using HandlePtr = std::unique_ptr<rd_kafka_t, HandleDeleter>;
using PartitionListPtr = std::unique_ptr<rd_kafka_topic_partition_list_t, PartitionListDeleter>;
using MessagePtr = std::unique_ptr<rd_kafka_message_t, MessageDeleter>;
using HeadersPtr = std::unique_ptr<rd_kafka_headers_t, HeadersDeleter>;
using ErrorPtr = std::unique_ptr<rd_kafka_error_t, ErrorDeleter>;
using QueuePtr = std::unique_ptr<rd_kafka_queue_t, QueueDeleter>;
using EventPtr = std::unique_ptr<rd_kafka_event_t, EventDeleter>;

// Sets a configuration property; throws kvstream::Error (fatal) naming the
// property when librdkafka rejects it. Values are never logged (they may be
// secrets).
void set_conf(rd_kafka_conf_t* conf, const std::string& name, const std::string& value);

// Whether a librdkafka property means anything to a client of `type`: false
// for consumer-only properties on a producer and producer-only ones on a
// consumer (librdkafka would ignore them with a CONFWARN), true otherwise
// (general or unknown properties: those librdkafka itself judges). From
// librdkafka's own property table.
bool property_applies(const std::string& name, rd_kafka_type_t type);

// Sends librdkafka's log lines to spdlog (instead of stderr), one line each.
void route_kafka_logs(rd_kafka_conf_t* conf);

}  // namespace kvstream::kafka
