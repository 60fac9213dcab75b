#include "tests/support/load.h"

#include <future>
#include <random>
#include <stdexcept>

namespace kvstream::testing {

EventPublisher::EventPublisher(const std::string& brokers, const std::string& topic, Oracle& oracle)
    : EventPublisher(brokers, topic, oracle, PublisherOptions{}) {}

EventPublisher::EventPublisher(const std::string& brokers, const std::string& topic, Oracle& oracle,
                               const PublisherOptions& options)
    : topic_(topic), oracle_(oracle), keep_failed_(options.keep_failed) {
  producer::ProducerSettings settings;
  settings.kafka.brokers = brokers;
  settings.kafka.topic = topic;
  settings.client_id = options.client_id;
  settings.linger = std::chrono::milliseconds(5);
  settings.delivery_timeout = options.delivery_timeout;
  producer_ = std::make_unique<producer::Producer>(settings);
}

EventPublisher::~EventPublisher() { flush(std::chrono::seconds(30)); }

void EventPublisher::delivered(PublishedEvent event, const producer::Delivery& d) {
  if (!d.ok()) {
    failures_.fetch_add(1);
    std::lock_guard<std::mutex> lock(mu_);
    if (first_failure_.empty()) first_failure_ = "key " + event.key + ": " + *d.error;
    if (keep_failed_) failed_.push_back(std::move(event));
    return;
  }
  event.position = d.position;
  oracle_.record(std::move(event));
  acknowledged_.fetch_add(1);
}

void EventPublisher::put(const std::string& key, const std::string& value,
                         const std::string& content_type) {
  PublishedEvent e{
      key, schema::Op::kPut, value, content_type, {}, std::chrono::steady_clock::now()};
  schema::EncodeOptions options;
  options.content_type = content_type;
  auto invalid = producer_->put(key, value, options,
                                [this, e](const producer::Delivery& d) { delivered(e, d); });
  if (invalid) throw std::runtime_error("put rejected by the producer: " + invalid->message);
}

void EventPublisher::del(const std::string& key) {
  PublishedEvent e{key, schema::Op::kDelete, "", "", {}, std::chrono::steady_clock::now()};
  auto invalid =
      producer_->del(key, {}, [this, e](const producer::Delivery& d) { delivered(e, d); });
  if (invalid) throw std::runtime_error("delete rejected by the producer: " + invalid->message);
}

Position EventPublisher::send_raw(const schema::Record& record) {
  auto done = std::make_shared<std::promise<producer::Delivery>>();
  auto future = done->get_future();
  producer_->send(topic_, record, [done](const producer::Delivery& d) { done->set_value(d); });
  if (future.wait_for(std::chrono::seconds(30)) != std::future_status::ready) {
    throw std::runtime_error("raw record not acknowledged within 30 s");
  }
  const producer::Delivery d = future.get();
  if (!d.ok()) throw std::runtime_error("raw record not delivered: " + *d.error);
  return d.position;
}

bool EventPublisher::flush(std::chrono::milliseconds timeout) {
  return producer_->flush(timeout) == 0;
}

std::vector<PublishedEvent> EventPublisher::take_failed() {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<PublishedEvent> out;
  out.swap(failed_);
  return out;
}

std::string EventPublisher::first_failure() const {
  std::lock_guard<std::mutex> lock(mu_);
  return first_failure_;
}

std::string load_key(const LoadSpec& spec, size_t i) { return spec.key_prefix + std::to_string(i); }

size_t publish_load(EventPublisher& publisher, const LoadSpec& spec,
                    const std::atomic<bool>* stop) {
  if (spec.events == 0 && stop == nullptr) {
    throw std::invalid_argument("publish_load: an endless load needs a stop flag");
  }
  std::mt19937_64 rng(spec.seed);
  std::uniform_int_distribution<size_t> pick_key(0, spec.keys - 1);
  std::uniform_int_distribution<size_t> pick_padding(0, spec.max_padding);
  std::uniform_int_distribution<int> pick_byte(0, 255);
  std::uniform_real_distribution<double> coin(0.0, 1.0);
  const auto start = std::chrono::steady_clock::now();
  size_t sent = 0;
  for (; spec.events == 0 || sent < spec.events; ++sent) {
    if (stop != nullptr && stop->load()) break;
    if (spec.rate > 0) {
      const auto due = start + std::chrono::duration_cast<std::chrono::steady_clock::duration>(
                                   std::chrono::duration<double>(sent / spec.rate));
      if (due > std::chrono::steady_clock::now()) std::this_thread::sleep_until(due);
    }
    const std::string key = load_key(spec, pick_key(rng));
    if (coin(rng) < spec.delete_ratio) {
      publisher.del(key);
      continue;
    }
    std::string value;
    if (coin(rng) >= spec.empty_value_ratio) {
      value = "v" + std::to_string(spec.seed) + "." + std::to_string(sent) + "-";
      const size_t padding = pick_padding(rng);
      for (size_t i = 0; i < padding; ++i) value += static_cast<char>(pick_byte(rng));
    }
    publisher.put(key, value, coin(rng) < spec.content_type_ratio ? "text/plain" : "");
  }
  return sent;
}

BackgroundLoad::BackgroundLoad(EventPublisher& publisher, LoadSpec spec) {
  thread_ = std::thread([this, &publisher, spec] {
    try {
      publish_load(publisher, spec, &stop_);
    } catch (const std::exception& e) {
      std::lock_guard<std::mutex> lock(mu_);
      error_ = e.what();
    }
    done_.store(true);
  });
}

BackgroundLoad::~BackgroundLoad() { stop(); }

void BackgroundLoad::stop() {
  stop_.store(true);
  if (thread_.joinable()) thread_.join();
}

bool BackgroundLoad::wait(std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!done_.load() && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  if (!done_.load()) return false;
  if (thread_.joinable()) thread_.join();
  return true;
}

std::string BackgroundLoad::error() const {
  std::lock_guard<std::mutex> lock(mu_);
  return error_;
}

}  // namespace kvstream::testing
