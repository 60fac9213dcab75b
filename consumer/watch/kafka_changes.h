// The watch hub's ChangeSource on librdkafka: a client outside the consumer
// group (kafka::reader_client) assigned the partitions the hub reads, whose
// records are decoded by the consumer's own decoder; a record that breaks
// the contract (the replicas dead-letter it) is skipped.
#pragma once

#include <mutex>

#include "common/kafka_handles.h"
#include "common/kafka_settings.h"
#include "schema/codec.h"
#include "watch/hub.h"

namespace kvstream::watch {

class KafkaChanges : public ChangeSource {
 public:
  // Throws std::runtime_error when the client cannot be created.
  KafkaChanges(const KafkaSettings& kafka, schema::Limits limits);
  ~KafkaChanges() override;

  int32_t partitions() override;
  std::map<int32_t, Range> watermarks() override;
  void read(const std::map<int32_t, int64_t>& from) override;
  void pause(int32_t partition) override;
  void resume(int32_t partition) override;
  void poll(std::chrono::milliseconds wait, std::vector<Item>& out) override;
  void wake() override;

 private:
  void pause_or_resume(int32_t partition, bool pause);

  const std::string topic_;
  const schema::Limits limits_;
  kafka::HandlePtr rk_;
  kafka::QueuePtr queue_;  // the consumer's queue, to wake its poll
  // Partitions and watermarks are asked on a client of their own: the
  // broker answers a connection's requests in order, and the reader's
  // connection may hold a fetch waiting for records (up to
  // fetch.wait.max.ms) in front of them.
  kafka::HandlePtr meta_;
  std::mutex partitions_mu_;
  int32_t partitions_ = 0;  // guarded by partitions_mu_
  std::vector<schema::HeaderView> headers_;
};

}  // namespace kvstream::watch
