#include "source/kafka_record.h"

namespace kvstream::source {

schema::RecordView view_of(const rd_kafka_message_t* msg,
                           std::vector<schema::HeaderView>& headers) {
  schema::RecordView r;
  r.topic = rd_kafka_topic_name(msg->rkt);
  r.partition = msg->partition;
  r.offset = msg->offset;
  rd_kafka_timestamp_type_t type;
  r.timestamp_ms = rd_kafka_message_timestamp(msg, &type);
  if (msg->key) r.key = std::string_view(static_cast<const char*>(msg->key), msg->key_len);
  if (msg->payload) {
    r.value = std::string_view(static_cast<const char*>(msg->payload), msg->len);
  }
  headers.clear();
  rd_kafka_headers_t* list = nullptr;
  // librdkafka parses the headers into the message on first access; a
  // record without headers has none to parse.
  if (rd_kafka_message_headers(msg, &list) == RD_KAFKA_RESP_ERR_NO_ERROR && list) {
    const char* name;
    const void* value;
    size_t size;
    for (size_t i = 0;
         rd_kafka_header_get_all(list, i, &name, &value, &size) == RD_KAFKA_RESP_ERR_NO_ERROR;
         ++i) {
      schema::HeaderView h;
      h.name = name;
      if (value) h.value = std::string_view(static_cast<const char*>(value), size);
      headers.push_back(h);
    }
  }
  r.headers = headers.data();
  r.header_count = headers.size();
  return r;
}

schema::Record to_record(const rd_kafka_message_t* msg) {
  std::vector<schema::HeaderView> headers;
  return view_of(msg, headers).to_record();
}

}  // namespace kvstream::source
