#include "producer/producer.h"

#include <spdlog/spdlog.h>

#include <future>

namespace kvstream::producer {

namespace {

struct PendingDelivery {
  DeliveryCallback callback;
};

}  // namespace

Producer::Producer(ProducerSettings settings) : settings_(std::move(settings)) {
  kafka::ConfPtr conf(rd_kafka_conf_new());
  kafka::set_conf(conf.get(), "bootstrap.servers", settings_.kafka.brokers);
  kafka::set_conf(conf.get(), "client.id", settings_.client_id);
  kafka::set_conf(conf.get(), "enable.idempotence", "true");
  kafka::set_conf(conf.get(), "acks", "all");
  kafka::set_conf(conf.get(), "partitioner", "murmur2_random");
  kafka::set_conf(conf.get(), "linger.ms", std::to_string(settings_.linger.count()));
  kafka::set_conf(conf.get(), "delivery.timeout.ms",
                  std::to_string(settings_.delivery_timeout.count()));
  kafka::set_conf(conf.get(), "message.max.bytes",
                  std::to_string(settings_.limits.max_value_bytes + settings_.limits.max_key_bytes +
                                 64 * 1024));
  for (const auto& [name, value] : settings_.kafka.properties) {
    kafka::set_conf(conf.get(), name, value);
  }
  rd_kafka_conf_set_dr_msg_cb(conf.get(), &Producer::on_delivery);
  rd_kafka_conf_set_opaque(conf.get(), this);

  char err[512];
  rk_.reset(rd_kafka_new(RD_KAFKA_PRODUCER, conf.get(), err, sizeof(err)));
  if (!rk_) throw Error(ErrorKind::kFatal, std::string("creating the Kafka producer: ") + err);
  conf.release();  // owned by rk_ now

  delivery_thread_ = std::thread([this] {
    while (!stopping_.load()) rd_kafka_poll(rk_.get(), 100);
  });
}

Producer::~Producer() {
  const size_t left = flush(settings_.close_timeout);
  if (left > 0) {
    spdlog::error("producer closed with {} event(s) undelivered after {} ms", left,
                  settings_.close_timeout.count());
    // Fail what is left, so every callback hears an outcome.
    rd_kafka_purge(rk_.get(), RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
    flush(std::chrono::milliseconds(2000));
  }
  stopping_.store(true);
  delivery_thread_.join();
  rk_.reset();
}

void Producer::on_delivery(rd_kafka_t*, const rd_kafka_message_t* msg, void*) {
  std::unique_ptr<PendingDelivery> pending(static_cast<PendingDelivery*>(msg->_private));
  Delivery d;
  if (msg->err) {
    d.error = rd_kafka_err2str(msg->err);
  } else {
    d.position = Position{msg->partition, msg->offset};
  }
  if (pending && pending->callback) {
    try {
      pending->callback(d);
    } catch (const std::exception& e) {
      spdlog::error("delivery callback threw: {}", e.what());
    }
  }
}

void Producer::enqueue(const std::string& topic, const schema::Record& record,
                       DeliveryCallback callback) {
  auto pending = std::make_unique<PendingDelivery>();
  // Count before enqueueing so flush never sees zero while this is queued;
  // the callback wrapper uncounts once the outcome is known.
  in_flight_.fetch_add(1);
  pending->callback = [this, cb = std::move(callback)](const Delivery& d) {
    if (cb) cb(d);
    {
      std::lock_guard<std::mutex> lock(flush_mu_);
      in_flight_.fetch_sub(1);
    }
    flushed_.notify_all();
  };

  const auto deadline = std::chrono::steady_clock::now() + settings_.delivery_timeout;
  for (;;) {
    rd_kafka_headers_t* headers = nullptr;
    if (!record.headers.empty()) {
      headers = rd_kafka_headers_new(record.headers.size());
      for (const auto& h : record.headers) {
        rd_kafka_header_add(headers, h.name.data(), static_cast<ssize_t>(h.name.size()),
                            h.value ? h.value->data() : nullptr,
                            h.value ? static_cast<ssize_t>(h.value->size()) : 0);
      }
    }
    // rd_kafka_produceva: the typed form of rd_kafka_producev (whose macros
    // are C casts). A null value pointer is a null value (a tombstone).
    rd_kafka_vu_t vus[6];
    vus[0].vtype = RD_KAFKA_VTYPE_TOPIC;
    vus[0].u.cstr = topic.c_str();
    vus[1].vtype = RD_KAFKA_VTYPE_MSGFLAGS;
    vus[1].u.i = RD_KAFKA_MSG_F_COPY;
    vus[2].vtype = RD_KAFKA_VTYPE_KEY;
    vus[2].u.mem.ptr = record.key ? const_cast<char*>(record.key->data()) : nullptr;
    vus[2].u.mem.size = record.key ? record.key->size() : 0;
    vus[3].vtype = RD_KAFKA_VTYPE_VALUE;
    vus[3].u.mem.ptr = record.value ? const_cast<char*>(record.value->data()) : nullptr;
    vus[3].u.mem.size = record.value ? record.value->size() : 0;
    vus[4].vtype = RD_KAFKA_VTYPE_OPAQUE;
    vus[4].u.ptr = pending.get();
    size_t count = 5;
    if (headers) {
      vus[5].vtype = RD_KAFKA_VTYPE_HEADERS;
      vus[5].u.headers = headers;
      count = 6;
    }
    kafka::ErrorPtr error(rd_kafka_produceva(rk_.get(), vus, count));
    const rd_kafka_resp_err_t err =
        error ? rd_kafka_error_code(error.get()) : RD_KAFKA_RESP_ERR_NO_ERROR;
    if (err == RD_KAFKA_RESP_ERR_NO_ERROR) {
      pending.release();  // on_delivery owns it now
      return;
    }
    if (headers) rd_kafka_headers_destroy(headers);
    if (err == RD_KAFKA_RESP_ERR__QUEUE_FULL && std::chrono::steady_clock::now() < deadline) {
      // The delivery thread drains the queue; wait a little and retry.
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
      continue;
    }
    {
      std::lock_guard<std::mutex> lock(flush_mu_);
      in_flight_.fetch_sub(1);
    }
    flushed_.notify_all();
    throw Error(err == RD_KAFKA_RESP_ERR__QUEUE_FULL ? ErrorKind::kTransient : ErrorKind::kFatal,
                std::string("producing to ") + topic + ": " + rd_kafka_err2str(err));
  }
}

std::optional<schema::ValidationError> Producer::put(std::string_view key, std::string_view value,
                                                     const schema::EncodeOptions& options,
                                                     DeliveryCallback callback) {
  auto encoded = schema::encode_put(key, value, options, settings_.limits);
  if (auto* e = std::get_if<schema::ValidationError>(&encoded)) return *e;
  enqueue(settings_.kafka.topic, std::get<schema::Record>(encoded), std::move(callback));
  return std::nullopt;
}

std::optional<schema::ValidationError> Producer::del(std::string_view key,
                                                     const schema::EncodeOptions& options,
                                                     DeliveryCallback callback) {
  auto encoded = schema::encode_delete(key, options, settings_.limits);
  if (auto* e = std::get_if<schema::ValidationError>(&encoded)) return *e;
  enqueue(settings_.kafka.topic, std::get<schema::Record>(encoded), std::move(callback));
  return std::nullopt;
}

void Producer::send(const std::string& topic, const schema::Record& record,
                    DeliveryCallback callback) {
  enqueue(topic, record, std::move(callback));
}

Position Producer::wait(
    const std::function<std::optional<schema::ValidationError>(DeliveryCallback)>& send_one) {
  auto promise = std::make_shared<std::promise<Delivery>>();
  auto future = promise->get_future();
  if (auto invalid = send_one([promise](const Delivery& d) { promise->set_value(d); })) {
    throw Error(ErrorKind::kPermanent,
                std::string(schema::reason_code(invalid->reason)) + ": " + invalid->message);
  }
  Delivery d = future.get();
  if (!d.ok()) throw Error(ErrorKind::kTransient, "delivery failed: " + *d.error);
  return d.position;
}

Position Producer::put_sync(std::string_view key, std::string_view value,
                            const schema::EncodeOptions& options) {
  return wait([&](DeliveryCallback cb) { return put(key, value, options, std::move(cb)); });
}

Position Producer::del_sync(std::string_view key, const schema::EncodeOptions& options) {
  return wait([&](DeliveryCallback cb) { return del(key, options, std::move(cb)); });
}

size_t Producer::flush(std::chrono::milliseconds timeout) {
  // Delivery reports are served by the delivery thread only; this waits.
  std::unique_lock<std::mutex> lock(flush_mu_);
  flushed_.wait_for(lock, timeout, [&] { return in_flight_.load() == 0; });
  return in_flight_.load();
}

}  // namespace kvstream::producer
