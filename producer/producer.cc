#include "producer/producer.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <climits>
#include <future>
#include <memory>

namespace kvstream::producer {

namespace {

using Clock = std::chrono::steady_clock;

// How long close() waits for the reports of the events it abandoned.
constexpr std::chrono::milliseconds kPurgeGrace{2000};

// librdkafka's logs (syslog levels) into the process's spdlog logger.
void log_to_spdlog(const rd_kafka_t*, int level, const char* facility, const char* message) {
  const auto l = level <= 2   ? spdlog::level::critical
                 : level == 3 ? spdlog::level::err
                 : level == 4 ? spdlog::level::warn
                 : level <= 6 ? spdlog::level::info
                              : spdlog::level::debug;
  spdlog::log(l, "librdkafka {}: {}", facility, message);
}

int as_timeout_ms(std::chrono::milliseconds d) {
  return static_cast<int>(std::clamp<int64_t>(d.count(), 0, INT_MAX));
}

bool is_purge(rd_kafka_resp_err_t err) {
  return err == RD_KAFKA_RESP_ERR__PURGE_QUEUE || err == RD_KAFKA_RESP_ERR__PURGE_INFLIGHT;
}

DeliveryFailure failure_of(rd_kafka_resp_err_t err) {
  switch (err) {
    case RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE:
    case RD_KAFKA_RESP_ERR_RECORD_LIST_TOO_LARGE:
      return DeliveryFailure::kTooLarge;
    case RD_KAFKA_RESP_ERR__QUEUE_FULL:
      return DeliveryFailure::kQueueFull;
    case RD_KAFKA_RESP_ERR__MSG_TIMED_OUT:
    case RD_KAFKA_RESP_ERR__TIMED_OUT:
      return DeliveryFailure::kTimedOut;
    case RD_KAFKA_RESP_ERR__PURGE_QUEUE:
    case RD_KAFKA_RESP_ERR__PURGE_INFLIGHT:
      return DeliveryFailure::kAbandoned;
    default:
      return DeliveryFailure::kOther;
  }
}

}  // namespace

Producer::Producer(ProducerSettings settings) : settings_(std::move(settings)) {
  kafka::ConfPtr conf(rd_kafka_conf_new());
  kafka::set_conf(conf.get(), "bootstrap.servers", settings_.kafka.brokers);
  kafka::set_conf(conf.get(), "client.id", settings_.client_id);
  kafka::set_conf(conf.get(), "enable.idempotence", "true");
  kafka::set_conf(conf.get(), "acks", "all");
  kafka::set_conf(conf.get(), "partitioner", "murmur2_random");
  kafka::set_conf(conf.get(), "linger.ms", std::to_string(settings_.linger.count()));
  kafka::set_conf(conf.get(), "batch.size", std::to_string(settings_.batch_bytes));
  kafka::set_conf(conf.get(), "batch.num.messages", std::to_string(settings_.batch_messages));
  kafka::set_conf(conf.get(), "delivery.timeout.ms",
                  std::to_string(settings_.delivery_timeout.count()));
  kafka::set_conf(conf.get(), "message.max.bytes",
                  std::to_string(settings_.limits.max_value_bytes + settings_.limits.max_key_bytes +
                                 64 * 1024));
  for (const auto& [name, value] : settings_.kafka.properties) {
    // Settings shared with a consumer (the replica's dead-letter and HTTP
    // producers) may hold consumer-only properties: not for us.
    if (kafka::property_applies(name, RD_KAFKA_PRODUCER)) kafka::set_conf(conf.get(), name, value);
  }
  // Delivery reports and errors arrive as events on the main queue, served
  // by the delivery thread alone. (With a delivery callback instead,
  // rd_kafka_flush would serve reports on the flushing thread.)
  rd_kafka_conf_set_events(conf.get(), RD_KAFKA_EVENT_DR | RD_KAFKA_EVENT_ERROR);
  rd_kafka_conf_set_log_cb(conf.get(), &log_to_spdlog);

  char err[512];
  rk_.reset(rd_kafka_new(RD_KAFKA_PRODUCER, conf.get(), err, sizeof(err)));
  if (!rk_) throw Error(ErrorKind::kFatal, std::string("creating the Kafka producer: ") + err);
  static_cast<void>(conf.release());  // owned by rk_ now
  events_.reset(rd_kafka_queue_get_main(rk_.get()));
  topic_.reset(rd_kafka_topic_new(rk_.get(), settings_.kafka.topic.c_str(), nullptr));
  if (!topic_) {
    throw Error(ErrorKind::kFatal,
                "topic " + settings_.kafka.topic + ": " + rd_kafka_err2str(rd_kafka_last_error()));
  }
  delivery_thread_ = std::thread([this] { delivery_loop(); });
}

Producer::~Producer() {
  const CloseReport report = close();
  if (!report.ok()) {
    spdlog::error("producer closed: {} event(s) not delivered ({} given up at the close timeout)",
                  report.undelivered, report.abandoned);
  }
  stopping_.store(true);
  rd_kafka_queue_yield(events_.get());  // wakes the delivery thread's poll
  delivery_thread_.join();
  topic_.reset();  // before the handle they belong to
  events_.reset();
  rk_.reset();
}

void Producer::delivery_loop() {
  while (!stopping_.load()) {
    kafka::EventPtr ev(rd_kafka_queue_poll(events_.get(), 100));
    if (!ev) continue;
    switch (rd_kafka_event_type(ev.get())) {
      case RD_KAFKA_EVENT_DR: {
        Tally tally;
        while (const rd_kafka_message_t* msg = rd_kafka_event_message_next(ev.get())) {
          deliver(msg, tally);
        }
        settle(tally);
        break;
      }
      case RD_KAFKA_EVENT_ERROR:
        if (rd_kafka_event_error_is_fatal(ev.get())) {
          char reason[512];
          rd_kafka_fatal_error(rk_.get(), reason, sizeof(reason));
          spdlog::critical("Kafka producer failed: {}", reason);
        } else {
          // Transient (the client retries); librdkafka's log has the detail.
          spdlog::info("Kafka producer: {}", rd_kafka_event_error_string(ev.get()));
        }
        break;
      default:
        break;
    }
  }
}

void Producer::deliver(const rd_kafka_message_t* msg, Tally& tally) {
  std::unique_ptr<DeliveryCallback> callback(static_cast<DeliveryCallback*>(msg->_private));
  ++tally.reports;
  if (msg->err) {
    ++tally.failed;
    if (is_purge(msg->err)) ++tally.abandoned;
  } else {
    ++tally.delivered;
    tally.bytes += msg->len + msg->key_len;
  }
  if (!callback || !*callback) return;
  Delivery d;
  if (msg->err) {
    d.error = rd_kafka_err2str(msg->err);
    d.failure = failure_of(msg->err);
    if (is_purge(msg->err)) d.error = "abandoned at close: " + *d.error;
  } else {
    d.position = Position{msg->partition, msg->offset};
  }
  try {
    (*callback)(d);
  } catch (const std::exception& e) {
    spdlog::error("delivery callback threw: {}", e.what());
  } catch (...) {
    spdlog::error("delivery callback threw");
  }
}

void Producer::settle(const Tally& tally) {
  delivered_.fetch_add(tally.delivered);
  failed_.fetch_add(tally.failed);
  delivered_bytes_.fetch_add(tally.bytes);
  abandoned_.fetch_add(tally.abandoned);
  // Only after the callbacks: flush() and close() promise that they ran.
  uncount(tally.reports);
}

void Producer::uncount(size_t n) {
  if (n == 0 || in_flight_.fetch_sub(n) != n) return;
  // The count reached zero: wake flush(). Taking the mutex orders this with
  // a waiter between checking the count and blocking.
  { std::lock_guard<std::mutex> lock(flush_mu_); }
  flushed_.notify_all();
}

void Producer::enqueue(const std::string& topic, const schema::Record& record,
                       DeliveryCallback callback, WhenFull when_full) {
  // Count before checking closed_ and enqueueing, so that close() either
  // turns this away or waits for it.
  in_flight_.fetch_add(1);
  if (closed_.load()) {
    uncount(1);
    throw Error(ErrorKind::kFatal, "the producer is closed");
  }
  std::unique_ptr<DeliveryCallback> pending;
  if (callback) pending = std::make_unique<DeliveryCallback>(std::move(callback));

  std::optional<Clock::time_point> deadline;  // set once the queue is full
  for (;;) {
    kafka::HeadersPtr headers;
    if (!record.headers.empty()) {
      headers.reset(rd_kafka_headers_new(record.headers.size()));
      for (const auto& h : record.headers) {
        rd_kafka_header_add(headers.get(), h.name.data(), static_cast<ssize_t>(h.name.size()),
                            h.value ? h.value->data() : nullptr,
                            h.value ? static_cast<ssize_t>(h.value->size()) : 0);
      }
    }
    // rd_kafka_produceva: the typed form of rd_kafka_producev (whose macros
    // are C casts). A null value pointer is a null value (a tombstone).
    rd_kafka_vu_t vus[6];
    if (topic == settings_.kafka.topic) {
      vus[0].vtype = RD_KAFKA_VTYPE_RKT;
      vus[0].u.rkt = topic_.get();
    } else {
      vus[0].vtype = RD_KAFKA_VTYPE_TOPIC;
      vus[0].u.cstr = topic.c_str();
    }
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
      vus[5].u.headers = headers.get();
      count = 6;
    }
    kafka::ErrorPtr error(rd_kafka_produceva(rk_.get(), vus, count));
    const rd_kafka_resp_err_t err =
        error ? rd_kafka_error_code(error.get()) : RD_KAFKA_RESP_ERR_NO_ERROR;
    if (err == RD_KAFKA_RESP_ERR_NO_ERROR) {
      // librdkafka owns the headers now, and deliver() the callback.
      static_cast<void>(headers.release());
      static_cast<void>(pending.release());
      accepted_.fetch_add(1);
      return;
    }
    if (err == RD_KAFKA_RESP_ERR__QUEUE_FULL && when_full == WhenFull::kWait) {
      if (!deadline) deadline = Clock::now() + settings_.delivery_timeout;
    }
    if (err == RD_KAFKA_RESP_ERR__QUEUE_FULL && deadline && Clock::now() < *deadline) {
      // The delivery thread drains the queue; wait a little and retry.
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
      continue;
    }
    uncount(1);
    throw SendError(
        err == RD_KAFKA_RESP_ERR__QUEUE_FULL ? ErrorKind::kTransient : ErrorKind::kFatal,
        failure_of(err), std::string("producing to ") + topic + ": " + rd_kafka_err2str(err));
  }
}

std::optional<schema::ValidationError> Producer::put(std::string_view key, std::string_view value,
                                                     const schema::EncodeOptions& options,
                                                     DeliveryCallback callback,
                                                     WhenFull when_full) {
  auto encoded = schema::encode_put(key, value, options, settings_.limits);
  if (auto* e = std::get_if<schema::ValidationError>(&encoded)) return *e;
  enqueue(settings_.kafka.topic, std::get<schema::Record>(encoded), std::move(callback), when_full);
  return std::nullopt;
}

std::optional<schema::ValidationError> Producer::del(std::string_view key,
                                                     const schema::EncodeOptions& options,
                                                     DeliveryCallback callback,
                                                     WhenFull when_full) {
  auto encoded = schema::encode_delete(key, options, settings_.limits);
  if (auto* e = std::get_if<schema::ValidationError>(&encoded)) return *e;
  enqueue(settings_.kafka.topic, std::get<schema::Record>(encoded), std::move(callback), when_full);
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
  const auto deadline = Clock::now() + timeout;
  // Makes librdkafka send lingering batches now and waits until it has
  // queued every report; the delivery thread then runs the callbacks.
  rd_kafka_flush(rk_.get(), as_timeout_ms(timeout));
  std::unique_lock<std::mutex> lock(flush_mu_);
  flushed_.wait_until(lock, deadline, [&] { return in_flight_.load() == 0; });
  return in_flight_.load();
}

CloseReport Producer::close() {
  std::lock_guard<std::mutex> lock(close_mu_);
  if (report_) return *report_;
  closed_.store(true);
  CloseReport report;
  if (flush(settings_.close_timeout) > 0) {
    // Fail what is left, so that every callback hears an outcome.
    rd_kafka_purge(rk_.get(), RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
    flush(kPurgeGrace);
  }
  report.abandoned = abandoned_.load();
  report.delivered = delivered_.load();
  report.undelivered = failed_.load() + in_flight_.load();
  report_ = report;
  return report;
}

ProducerStats Producer::stats() const {
  ProducerStats s;
  s.accepted = accepted_.load();
  s.delivered = delivered_.load();
  s.failed = failed_.load();
  s.delivered_bytes = delivered_bytes_.load();
  return s;
}

}  // namespace kvstream::producer
