// Publishing test loads with the producer library, recording every event the
// broker acknowledged (key, op, value, partition, offset) in an Oracle.
//
//   Oracle oracle;
//   EventPublisher publisher(brokers, topic, oracle);
//   LoadSpec spec;  spec.events = 100000;  spec.keys = 5000;  spec.seed = 7;
//   publish_load(publisher, spec);          // blocking, as fast as it goes
//   ASSERT_TRUE(publisher.flush(30s));
//   ASSERT_EQ(publisher.failures(), 0u) << publisher.first_failure();
//
//   BackgroundLoad load(publisher, spec);  // or in a thread, paced by spec.rate
//   ...; load.stop();
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "common/position.h"
#include "producer/producer.h"
#include "schema/record.h"
#include "tests/support/oracle.h"

namespace kvstream::testing {

// Settings of an EventPublisher beyond the defaults of the tests.
struct PublisherOptions {
  // How long librdkafka keeps retrying an event (delivery.timeout.ms); a
  // test that stops the broker for a while makes it longer than the outage.
  std::chrono::milliseconds delivery_timeout{30000};
  std::string client_id = "kvstream-test-load";
  // Keep every event whose delivery failed, for take_failed().
  bool keep_failed = false;
};

// Thread-safe: any thread may publish.
class EventPublisher {
 public:
  EventPublisher(const std::string& brokers, const std::string& topic, Oracle& oracle);
  EventPublisher(const std::string& brokers, const std::string& topic, Oracle& oracle,
                 const PublisherOptions& options);
  ~EventPublisher();

  // Asynchronous; the event goes into the oracle once acknowledged, or into
  // failures() if it is not. Throws if the producer rejects it up front.
  void put(const std::string& key, const std::string& value, const std::string& content_type = "");
  void del(const std::string& key);

  // Sends `record` as it is (a record that may break the contract) and
  // returns its position once acknowledged. Not recorded in the oracle.
  // Throws std::runtime_error if the delivery fails or takes over 30 s.
  Position send_raw(const schema::Record& record);

  // Waits until every event is acknowledged; false if some are still in
  // flight after `timeout`.
  bool flush(std::chrono::milliseconds timeout);

  // With options.keep_failed: the events whose delivery failed since the
  // last call (not in the oracle; a failed event may still have been
  // written, so a test that publishes it again as a new event makes sure the
  // key ends with an acknowledged one).
  std::vector<PublishedEvent> take_failed();

  size_t acknowledged() const { return acknowledged_.load(); }
  size_t failures() const { return failures_.load(); }
  std::string first_failure() const;
  const std::string& topic() const { return topic_; }

 private:
  void delivered(PublishedEvent event, const producer::Delivery& d);

  const std::string topic_;
  Oracle& oracle_;
  std::unique_ptr<producer::Producer> producer_;
  std::atomic<size_t> acknowledged_{0};
  std::atomic<size_t> failures_{0};
  mutable std::mutex mu_;
  std::string first_failure_;  // guarded by mu_
  bool keep_failed_ = false;
  std::vector<PublishedEvent> failed_;  // guarded by mu_
};

// A random mix of PUTs and DELETEs over a fixed key space.
struct LoadSpec {
  size_t events = 10000;  // 0: until stopped (BackgroundLoad only)
  size_t keys = 1000;
  double delete_ratio = 0.1;
  double content_type_ratio = 0.25;  // PUTs that carry content-type text/plain
  double rate = 0;                   // events per second; 0: as fast as it goes
  uint64_t seed = 1;
  std::string key_prefix = "key:";
  // Each value is "v<sequence>-" and 0..max_padding random bytes (any byte,
  // NUL and 0xff included), so every PUT's value is unique; a few are empty.
  size_t max_padding = 48;
  double empty_value_ratio = 0.01;
};

// The key with index `i` of the spec's key space.
std::string load_key(const LoadSpec& spec, size_t i);

// Publishes spec.events events (or, if it is 0, until `*stop`); returns how
// many were handed to the producer. `stop`, when set, ends it early.
size_t publish_load(EventPublisher& publisher, const LoadSpec& spec,
                    const std::atomic<bool>* stop = nullptr);

// publish_load in a thread of its own, started by the constructor.
class BackgroundLoad {
 public:
  BackgroundLoad(EventPublisher& publisher, LoadSpec spec);
  ~BackgroundLoad();  // stop()
  BackgroundLoad(const BackgroundLoad&) = delete;
  BackgroundLoad& operator=(const BackgroundLoad&) = delete;

  // Asks it to end and waits for it.
  void stop();
  // Waits until it published everything (spec.events > 0); false on timeout.
  bool wait(std::chrono::milliseconds timeout);
  bool done() const { return done_.load(); }
  // An exception publish_load threw, if any.
  std::string error() const;

 private:
  std::atomic<bool> stop_{false};
  std::atomic<bool> done_{false};
  mutable std::mutex mu_;
  std::string error_;  // guarded by mu_
  std::thread thread_;
};

}  // namespace kvstream::testing
