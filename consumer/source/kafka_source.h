// The Kafka side of the consumer: a member of the consumer group, reading the
// event topic. Auto-commit is off: the service commits offsets itself, after
// the database commit. Each newly assigned partition starts at the position
// the database holds (Listener::on_assign), not at Kafka's committed offset.
//
// Not thread-safe: every call, and every Listener callback, happens on the
// thread that calls poll() (the poll thread); wake() alone may be called from
// any thread.
#pragma once

#include <chrono>
#include <cstdint>
#include <exception>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "common/kafka_handles.h"
#include "common/kafka_settings.h"
#include "schema/record.h"

namespace kvstream::source {

struct SourceSettings {
  KafkaSettings kafka;
  std::string group = "kvstream";
  std::string group_instance_id;  // static membership when set
  std::chrono::milliseconds session_timeout{10000};
};

// Whether a rebalance uses the incremental (cooperative) calls, from
// rd_kafka_rebalance_protocol()'s answer (which may be NULL) and, when it
// has none, from the configured assignment strategy.
bool uses_cooperative_protocol(const char* protocol, bool configured_cooperative);

class KafkaSource {
 public:
  class Listener {
   public:
    virtual ~Listener() = default;
    // Partitions newly assigned. Returns where to start each (the applied
    // position; -1 for the beginning of the partition).
    virtual std::map<int32_t, int64_t> on_assign(const std::vector<int32_t>& partitions) = 0;
    // Partitions taken away (or lost). Called before they are unassigned.
    virtual void on_revoke(const std::vector<int32_t>& partitions) = 0;
    // The applied position of a partition (`next`) lay before the start of
    // its log (`log_start`): the records between were deleted before they
    // were applied, and fetching starts over at the log start.
    virtual void on_position_reset(int32_t /*partition*/, int64_t /*next*/, int64_t /*log_start*/) {
    }
    // The broker refused a commit of `partitions` partitions (a rebalance
    // in progress, a member dropped from the group, the broker away). The
    // source sends them again; this is for counting.
    virtual void on_commit_refused(size_t /*partitions*/) {}
  };

  KafkaSource(SourceSettings settings, Listener& listener);
  ~KafkaSource();

  void subscribe();

  // The next record's message (source::view_of reads it), or null when none
  // came within `timeout` or wake() was called. Throws kvstream::Error
  // (fatal) on a fatal client error.
  kafka::MessagePtr poll(std::chrono::milliseconds timeout);
  // Makes a poll() blocked now (or the next one) return at once. Any thread.
  void wake();

  // Commits next offsets (asynchronously; for lag monitoring and tools).
  // A refused commit is sent again, so that an idle partition's committed
  // offset still reaches its applied position: when a rebalance ends, for
  // the partitions kept through it (in the new generation); and otherwise
  // (a broker restart, a timeout) by poll(), a second after the refusal at
  // the earliest, only while no commit is on its way and the member is
  // still the one the broker refused. (Commits resent on a plain timer
  // queued up during a broker outage, and one reached the broker with the
  // old member id of a static member that had rejoined: fenced, which
  // librdkafka makes fatal.) Partitions not owned are left out: a revoked
  // partition's last commit is the one made in Listener::on_revoke, sent
  // once, never again after the revoke.
  void commit(const std::map<int32_t, int64_t>& next_offsets);

  void seek(int32_t partition, int64_t offset);
  void pause(const std::vector<int32_t>& partitions);
  void resume(const std::vector<int32_t>& partitions);
  std::vector<int32_t> assignment() const;
  // The partition's end offset as last seen by the fetcher (no broker call);
  // -1 when not known yet.
  int64_t end_offset(int32_t partition) const;

  // The topic's partition count from the broker's metadata; 0 if unknown.
  int32_t partition_count();

  // Asks the broker where each partition's log starts and ends (a blocking
  // call: up to 10 s for all, a position past the end asked again twice a
  // second apart). Throws kvstream::Error (fatal) when a partition's
  // applied position (`next`, its next offset to apply) is past the end
  // of the topic (it was recreated, or lost records): applying would
  // silently skip records. Logs an error when records below the log start
  // were never applied (deleted by retention first), and tells the
  // Listener (on_position_reset). Called at assignment,
  // and by the service when the end seen while fetching falls below the
  // applied position.
  void check_positions(const std::map<int32_t, int64_t>& next);

  // Leaves the group (revoking everything through the Listener).
  void close();

 private:
  static void on_rebalance(rd_kafka_t* rk, rd_kafka_resp_err_t err,
                           rd_kafka_topic_partition_list_t* partitions, void* opaque);
  void handle_rebalance(rd_kafka_resp_err_t err, rd_kafka_topic_partition_list_t* partitions);
  kafka::PartitionListPtr partition_list(const std::vector<int32_t>& partitions) const;
  static void on_commit(rd_kafka_t* rk, rd_kafka_resp_err_t err,
                        rd_kafka_topic_partition_list_t* offsets, void* opaque);
  void send_commit(const std::map<int32_t, int64_t>& next_offsets);
  // Gives the consumer up without closing or destroying it (see close()).
  void abandon(const std::string& why);
  void resend_refused_commits();

  const SourceSettings settings_;
  Listener& listener_;
  kafka::HandlePtr rk_;
  kafka::QueuePtr consumer_queue_;  // the queue poll() reads, for wake()
  // wake() yields the consumer queue only until close() begins: a yield
  // during rd_kafka_consumer_close (which then reads that queue) would end
  // the close early, leaving the group unclosed and the handle's
  // destruction waiting for it. Guards closing_.
  std::mutex wake_mu_;
  bool closing_ = false;
  bool closed_ = false;
  bool configured_cooperative_ = true;  // partition.assignment.strategy (default ours)
  bool ever_assigned_ = false;          // a first assignment arrived (rebalance callback)
  std::exception_ptr failure_;          // thrown in a rebalance callback; poll() rethrows it
  // Per assigned partition: the last position asked to be committed, and
  // the highest the broker confirmed (-1: none yet).
  struct CommitState {
    int64_t wanted = -1;
    int64_t confirmed = -1;
  };
  std::map<int32_t, CommitState> commits_;
  // Commits sent and not yet answered (offset-commit callback), when the
  // last one went, and the member id of the last refusal ("" when none is
  // waiting to be sent again). Polling thread only.
  int commits_in_flight_ = 0;
  std::chrono::steady_clock::time_point last_commit_sent_;
  std::string refused_as_member_;
  // The partitions assigned, from their assignment to the end of their
  // revoke (Listener::on_revoke included): the ones commit() sends.
  std::set<int32_t> owned_;
};

}  // namespace kvstream::source
