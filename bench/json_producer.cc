#include "bench/json_producer.h"

#include <cstdint>
#include <iostream>
#include <stdexcept>

namespace kvstream::bench {

JsonProducer::JsonProducer(const std::string& brokers, const std::string& topic,
                           std::chrono::milliseconds linger, OnDelivery on_delivery)
    : topic_(topic), on_delivery_(std::move(on_delivery)) {
  // The same producer settings as kvstream's producer library
  // (producer/producer.cc), so that both topics are written alike.
  kafka::ConfPtr conf(rd_kafka_conf_new());
  kafka::set_conf(conf.get(), "bootstrap.servers", brokers);
  kafka::set_conf(conf.get(), "client.id", "kvstream-bench-json");
  kafka::set_conf(conf.get(), "enable.idempotence", "true");
  kafka::set_conf(conf.get(), "acks", "all");
  kafka::set_conf(conf.get(), "linger.ms", std::to_string(linger.count()));
  kafka::set_conf(conf.get(), "batch.size", "1000000");
  kafka::set_conf(conf.get(), "batch.num.messages", "10000");
  kafka::set_conf(conf.get(), "delivery.timeout.ms", "120000");
  kafka::set_conf(conf.get(), "log_level", "4");
  rd_kafka_conf_set_opaque(conf.get(), this);
  rd_kafka_conf_set_dr_msg_cb(conf.get(), &JsonProducer::dr_cb);
  char err[512];
  rk_.reset(rd_kafka_new(RD_KAFKA_PRODUCER, conf.get(), err, sizeof(err)));
  if (!rk_) throw std::runtime_error(std::string("creating the Kafka producer: ") + err);
  conf.release();  // owned by rk_ now
}

void JsonProducer::dr_cb(rd_kafka_t*, const rd_kafka_message_t* msg, void* self) {
  auto* p = static_cast<JsonProducer*>(self);
  const bool ok = msg->err == RD_KAFKA_RESP_ERR_NO_ERROR;
  if (!ok && p->failed_++ == 0) {
    std::cerr << "json producer: delivery failed: " << rd_kafka_err2str(msg->err) << "\n";
  }
  p->on_delivery_(reinterpret_cast<intptr_t>(msg->_private), msg->partition, msg->offset, ok);
}

void JsonProducer::produce(int32_t partition, const std::string& key,
                           const std::optional<std::string>& value, int64_t opaque) {
  // rd_kafka_produceva: the typed form of rd_kafka_producev (whose macros are
  // C casts). A null value pointer is a null value (a tombstone).
  rd_kafka_vu_t vus[6];
  vus[0].vtype = RD_KAFKA_VTYPE_TOPIC;
  vus[0].u.cstr = topic_.c_str();
  vus[1].vtype = RD_KAFKA_VTYPE_PARTITION;
  vus[1].u.i32 = partition;
  vus[2].vtype = RD_KAFKA_VTYPE_MSGFLAGS;
  vus[2].u.i = RD_KAFKA_MSG_F_COPY;
  vus[3].vtype = RD_KAFKA_VTYPE_KEY;
  vus[3].u.mem.ptr = const_cast<char*>(key.data());
  vus[3].u.mem.size = key.size();
  vus[4].vtype = RD_KAFKA_VTYPE_VALUE;
  vus[4].u.mem.ptr = value ? const_cast<char*>(value->data()) : nullptr;
  vus[4].u.mem.size = value ? value->size() : 0;
  vus[5].vtype = RD_KAFKA_VTYPE_OPAQUE;
  vus[5].u.ptr = reinterpret_cast<void*>(static_cast<intptr_t>(opaque));
  for (;;) {
    kafka::ErrorPtr error(rd_kafka_produceva(rk_.get(), vus, 6));
    const rd_kafka_resp_err_t err =
        error ? rd_kafka_error_code(error.get()) : RD_KAFKA_RESP_ERR_NO_ERROR;
    if (err == RD_KAFKA_RESP_ERR_NO_ERROR) return;
    if (err != RD_KAFKA_RESP_ERR__QUEUE_FULL) {
      throw std::runtime_error(std::string("producing: ") + rd_kafka_err2str(err));
    }
    rd_kafka_poll(rk_.get(), 10);
  }
}

int JsonProducer::flush(std::chrono::milliseconds timeout) {
  rd_kafka_flush(rk_.get(), static_cast<int>(timeout.count()));
  return rd_kafka_outq_len(rk_.get());
}

}  // namespace kvstream::bench
