#include "source/kafka_source.h"

#include <fmt/ranges.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cstring>
#include <mutex>
#include <thread>
#include <vector>

#include "common/error.h"
#include "common/kafka_admin.h"

namespace kvstream::source {

namespace {

std::vector<int32_t> partitions_of(const rd_kafka_topic_partition_list_t* list) {
  std::vector<int32_t> out;
  for (int i = 0; i < list->cnt; ++i) out.push_back(list->elems[i].partition);
  return out;
}

}  // namespace

KafkaSource::KafkaSource(SourceSettings settings, Listener& listener)
    : settings_(std::move(settings)), listener_(listener) {
  kafka::ConfPtr conf(rd_kafka_conf_new());
  kafka::set_conf(conf.get(), "bootstrap.servers", settings_.kafka.brokers);
  kafka::set_conf(conf.get(), "group.id", settings_.group);
  kafka::set_conf(conf.get(), "client.id", "kvstream-consumer");
  kafka::set_conf(conf.get(), "enable.auto.commit", "false");
  kafka::set_conf(conf.get(), "enable.auto.offset.store", "false");
  kafka::set_conf(conf.get(), "auto.offset.reset", "earliest");
  kafka::set_conf(conf.get(), "partition.assignment.strategy", "cooperative-sticky");
  kafka::set_conf(conf.get(), "enable.partition.eof", "false");
  kafka::set_conf(conf.get(), "session.timeout.ms",
                  std::to_string(settings_.session_timeout.count()));
  // A member learns of a rebalance at its next heartbeat: a tenth of the
  // session timeout (librdkafka's default is 3 s) lets a replica that joins
  // get its partitions within about a second instead of three.
  kafka::set_conf(conf.get(), "heartbeat.interval.ms",
                  std::to_string(std::max<int64_t>(100, settings_.session_timeout.count() / 10)));
  // What librdkafka fetches ahead, for all partitions together. The poll
  // thread moves records into the apply engine as they come (which bounds
  // what it holds, pausing partitions beyond that), so librdkafka's queue
  // needs to cover a couple of fetch responses, not its default of 64 MiB
  // of records. Measured on a broker that shares two cores with Postgres,
  // responses of up to 8 MiB (1 MiB per partition) keep the apply path fed
  // where responses of 1 MiB halved the rate, and a queue bound below a
  // response stalls fetching for up to a second (librdkafka 2.0 looks again
  // only after that), so the bound is two responses: 16 MiB of records.
  // On small records librdkafka's count bound (queued.min.messages, 100,000
  // records) binds first; either way the queue must hold about a second of
  // records, or fetching stalls once a second. Its bookkeeping for each
  // queued record is most of a catching-up replica's memory
  // (docs/benchmarks.md, 2026-12-07T1930Z).
  kafka::set_conf(conf.get(), "fetch.max.bytes", "8388608");
  kafka::set_conf(conf.get(), "queued.max.messages.kbytes", "16384");
  // Small requests (commits, heartbeats) go out at once.
  kafka::set_conf(conf.get(), "socket.nagle.disable", "true");
  if (!settings_.group_instance_id.empty()) {
    kafka::set_conf(conf.get(), "group.instance.id", settings_.group_instance_id);
  }
  for (const auto& [name, value] : settings_.kafka.properties) {
    // The replica's producers share these settings: producer-only
    // properties are theirs.
    if (kafka::property_applies(name, RD_KAFKA_CONSUMER)) kafka::set_conf(conf.get(), name, value);
    if (name == "partition.assignment.strategy") {
      configured_cooperative_ = value.find("cooperative") != std::string::npos;
    }
  }
  kafka::route_kafka_logs(conf.get());
  rd_kafka_conf_set_rebalance_cb(conf.get(), &KafkaSource::on_rebalance);
  rd_kafka_conf_set_offset_commit_cb(conf.get(), &KafkaSource::on_commit);
  rd_kafka_conf_set_opaque(conf.get(), this);

  char err[512];
  rk_.reset(rd_kafka_new(RD_KAFKA_CONSUMER, conf.get(), err, sizeof(err)));
  if (!rk_) throw Error(ErrorKind::kFatal, std::string("creating the Kafka consumer: ") + err);
  static_cast<void>(conf.release());  // owned by rk_ now
  if (auto poll_err = rd_kafka_poll_set_consumer(rk_.get())) {
    throw Error(ErrorKind::kFatal,
                std::string("reading the Kafka consumer's events: ") + rd_kafka_err2str(poll_err));
  }
  consumer_queue_.reset(rd_kafka_queue_get_consumer(rk_.get()));
}

KafkaSource::~KafkaSource() { close(); }

void KafkaSource::subscribe() {
  kafka::PartitionListPtr topics(rd_kafka_topic_partition_list_new(1));
  rd_kafka_topic_partition_list_add(topics.get(), settings_.kafka.topic.c_str(),
                                    RD_KAFKA_PARTITION_UA);
  if (auto err = rd_kafka_subscribe(rk_.get(), topics.get())) {
    throw Error(ErrorKind::kFatal, std::string("subscribing to ") + settings_.kafka.topic + ": " +
                                       rd_kafka_err2str(err));
  }
}

bool uses_cooperative_protocol(const char* protocol, bool configured_cooperative) {
  // librdkafka answers NULL while its group handler is shutting down (a
  // rebalance served by rd_kafka_consumer_close): the configured assignor
  // decides then.
  if (protocol == nullptr) return configured_cooperative;
  return std::strcmp(protocol, "COOPERATIVE") == 0;
}

void KafkaSource::on_rebalance(rd_kafka_t*, rd_kafka_resp_err_t err,
                               rd_kafka_topic_partition_list_t* partitions, void* opaque) {
  // No exception may unwind through librdkafka: poll() throws it instead.
  auto* self = static_cast<KafkaSource*>(opaque);
  try {
    self->handle_rebalance(err, partitions);
  } catch (...) {
    if (!self->failure_) self->failure_ = std::current_exception();
  }
}

void KafkaSource::check_positions(const std::map<int32_t, int64_t>& start) {
  // A rebalance (or the poll thread) waits for this: 10 s for all the
  // partitions at most.
  using std::chrono::steady_clock;
  const auto deadline = steady_clock::now() + std::chrono::seconds(10);
  auto left_ms = [&] {
    return static_cast<int>(
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - steady_clock::now())
            .count());
  };
  for (const auto& [partition, next] : start) {
    if (next <= 0) continue;
    int64_t low = 0, high = 0;
    rd_kafka_resp_err_t err = RD_KAFKA_RESP_ERR__TIMED_OUT;
    // A position past the end is asked again twice, a second apart: a
    // broker that has just restarted may not know its end yet.
    for (int attempt = 0; attempt < 3 && left_ms() > 0; ++attempt) {
      if (attempt > 0) std::this_thread::sleep_for(std::chrono::seconds(1));
      err = rd_kafka_query_watermark_offsets(rk_.get(), settings_.kafka.topic.c_str(), partition,
                                             &low, &high, std::max(left_ms(), 100));
      if (err != RD_KAFKA_RESP_ERR_NO_ERROR || high < 0 || next <= high) break;
    }
    if (err != RD_KAFKA_RESP_ERR_NO_ERROR || high < 0) {
      spdlog::warn("partition {}: cannot check the applied position against the topic ({})",
                   partition, rd_kafka_err2str(err));
      continue;
    }
    if (next > high) {
      // Fetching from there would restart at the beginning, and every record
      // below the stored position would be ignored as applied.
      throw Error(ErrorKind::kFatal,
                  fmt::format("partition {} of {} is applied up to offset {} (kv_offsets), but "
                              "the topic ends at offset {}: it was deleted and created again, or "
                              "lost records. Its records would be ignored as already applied; "
                              "rebuild the view (docs/operations.md, \"Rebuilding the view\")",
                              partition, settings_.kafka.topic, next, high));
    }
    if (next < low) {
      spdlog::error(
          "partition {} of {}: records from offset {} to {} were deleted (retention) before they "
          "were applied; the view misses them (docs/operations.md, \"Rebuilding the view\")",
          partition, settings_.kafka.topic, next, low - 1);
      listener_.on_position_reset(partition, next, low);
    }
  }
}

void KafkaSource::handle_rebalance(rd_kafka_resp_err_t err,
                                   rd_kafka_topic_partition_list_t* partitions) {
  const bool cooperative =
      uses_cooperative_protocol(rd_kafka_rebalance_protocol(rk_.get()), configured_cooperative_);
  const std::vector<int32_t> ids = partitions_of(partitions);
  if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
    // Start each partition where the database says it is applied. The
    // listener retries until the database answers (or throws fatal).
    ever_assigned_ = true;
    owned_.insert(ids.begin(), ids.end());
    // A failure here still assigns (from the beginning), so that librdkafka
    // stays consistent; poll() throws it before any record is handed out.
    std::map<int32_t, int64_t> start;
    try {
      start = listener_.on_assign(ids);
      check_positions(start);
    } catch (...) {
      if (!failure_) failure_ = std::current_exception();
    }
    for (int i = 0; i < partitions->cnt; ++i) {
      auto it = start.find(partitions->elems[i].partition);
      partitions->elems[i].offset =
          (it == start.end() || it->second < 0) ? RD_KAFKA_OFFSET_BEGINNING : it->second;
    }
    spdlog::info("assigned partitions [{}] of {}", fmt::join(ids, ","), settings_.kafka.topic);
    if (cooperative) {
      kafka::ErrorPtr e(rd_kafka_incremental_assign(rk_.get(), partitions));
      if (e) throw Error(ErrorKind::kFatal, rd_kafka_error_string(e.get()));
    } else {
      rd_kafka_assign(rk_.get(), partitions);
    }
    // librdkafka keeps a partition's pause across its revocation and
    // reassignment: one paused (backlog, database down) when it was taken
    // away would never fetch again when it comes back. A new ownership
    // starts fetching; the engine pauses it again if it must.
    rd_kafka_resume_partitions(rk_.get(), partitions);
    // The rebalance is over: commits of the partitions kept through it that
    // the broker refused meanwhile (or has not confirmed) go again, now in
    // the new generation.
    std::map<int32_t, int64_t> again;
    for (const auto& [p, c] : commits_) {
      if (c.wanted > c.confirmed && std::find(ids.begin(), ids.end(), p) == ids.end()) {
        again[p] = c.wanted;
      }
    }
    if (!again.empty()) send_commit(again);
  } else {
    // The listener's last commits of these partitions go out once, from
    // inside the revoke (while they are still ours); after it nothing of
    // theirs is sent again, even if the broker refuses those commits: the
    // next owner commits them, and an old offset sent again later would
    // move the group's committed offset back.
    try {
      listener_.on_revoke(ids);
    } catch (...) {
      if (!failure_) failure_ = std::current_exception();
    }
    for (int32_t id : ids) {
      commits_.erase(id);
      owned_.erase(id);
    }
    spdlog::info("revoked partitions [{}] of {} ({})", fmt::join(ids, ","), settings_.kafka.topic,
                 rd_kafka_err2str(err));
    if (cooperative) {
      kafka::ErrorPtr e(rd_kafka_incremental_unassign(rk_.get(), partitions));
      if (e) spdlog::warn("unassign: {}", rd_kafka_error_string(e.get()));
    } else {
      rd_kafka_assign(rk_.get(), nullptr);
    }
  }
}

kafka::MessagePtr KafkaSource::poll(std::chrono::milliseconds timeout) {
  if (failure_) std::rethrow_exception(failure_);
  kafka::MessagePtr msg(rd_kafka_consumer_poll(rk_.get(), static_cast<int>(timeout.count())));
  if (failure_) std::rethrow_exception(failure_);  // from a rebalance callback
  if (!refused_as_member_.empty()) resend_refused_commits();
  if (msg && msg->err) {
    if (msg->err == RD_KAFKA_RESP_ERR__FATAL) {
      char reason[512];
      rd_kafka_fatal_error(rk_.get(), reason, sizeof(reason));
      throw Error(ErrorKind::kFatal, std::string("Kafka consumer: ") + reason);
    }
    spdlog::warn("Kafka consumer: {}", rd_kafka_message_errstr(msg.get()));
    return nullptr;
  }
  return msg;
}

void KafkaSource::wake() {
  // rd_kafka_consumer_poll serves the consumer queue: a yield makes it
  // return once the queue holds nothing to hand out.
  std::lock_guard<std::mutex> lock(wake_mu_);
  if (!closing_ && consumer_queue_) rd_kafka_queue_yield(consumer_queue_.get());
}

kafka::PartitionListPtr KafkaSource::partition_list(const std::vector<int32_t>& partitions) const {
  kafka::PartitionListPtr list(
      rd_kafka_topic_partition_list_new(static_cast<int>(partitions.size())));
  for (int32_t p : partitions) {
    rd_kafka_topic_partition_list_add(list.get(), settings_.kafka.topic.c_str(), p);
  }
  return list;
}

void KafkaSource::commit(const std::map<int32_t, int64_t>& next_offsets) {
  std::map<int32_t, int64_t> owned;
  for (const auto& [p, offset] : next_offsets) {
    if (!owned_.count(p)) continue;  // revoked: its next owner commits it
    CommitState& c = commits_[p];
    c.wanted = std::max(c.wanted, offset);
    owned.emplace(p, offset);
  }
  if (!owned.empty()) send_commit(owned);
}

void KafkaSource::send_commit(const std::map<int32_t, int64_t>& next_offsets) {
  kafka::PartitionListPtr list(
      rd_kafka_topic_partition_list_new(static_cast<int>(next_offsets.size())));
  for (const auto& [p, offset] : next_offsets) {
    rd_kafka_topic_partition_list_add(list.get(), settings_.kafka.topic.c_str(), p)->offset =
        offset;
  }
  if (auto err = rd_kafka_commit(rk_.get(), list.get(), 1 /* async */)) {
    spdlog::warn("committing offsets to Kafka: {}", rd_kafka_err2str(err));
    return;
  }
  ++commits_in_flight_;
  last_commit_sent_ = std::chrono::steady_clock::now();
}

void KafkaSource::resend_refused_commits() {
  if (commits_in_flight_ > 0) return;  // its answer decides
  if (std::chrono::steady_clock::now() - last_commit_sent_ < std::chrono::seconds(1)) return;
  // Only as the member the broker refused: while it rejoins (no member id)
  // or once it has rejoined (a new one), the end of that rebalance sends
  // the unconfirmed positions again.
  char* raw = rd_kafka_memberid(rk_.get());
  const std::string member = raw ? raw : "";
  if (raw) rd_kafka_mem_free(rk_.get(), raw);
  if (member != refused_as_member_) {
    if (!member.empty()) refused_as_member_.clear();
    return;
  }
  if (rd_kafka_assignment_lost(rk_.get())) return;  // it rejoins: as above
  refused_as_member_.clear();
  std::map<int32_t, int64_t> again;
  for (const auto& [p, c] : commits_) {
    if (c.wanted > c.confirmed && owned_.count(p)) again[p] = c.wanted;
  }
  if (again.empty()) return;
  spdlog::info("committing again the positions of {} partition(s) the broker refused",
               again.size());
  send_commit(again);
}

void KafkaSource::on_commit(rd_kafka_t* rk, rd_kafka_resp_err_t err,
                            rd_kafka_topic_partition_list_t* offsets, void* opaque) {
  // Served by rd_kafka_consumer_poll (and close), in the polling thread.
  // librdkafka logs nothing of a commit that has this callback: the
  // refusals are logged and counted here, the confirmations kept.
  auto* self = static_cast<KafkaSource*>(opaque);
  self->commits_in_flight_ = std::max(0, self->commits_in_flight_ - 1);
  std::vector<int32_t> refused;
  rd_kafka_resp_err_t why = err;
  for (int i = 0; offsets != nullptr && i < offsets->cnt; ++i) {
    const rd_kafka_topic_partition_t& e = offsets->elems[i];
    if (self->settings_.kafka.topic != e.topic) continue;
    if (err != RD_KAFKA_RESP_ERR_NO_ERROR || e.err != RD_KAFKA_RESP_ERR_NO_ERROR || e.offset < 0) {
      refused.push_back(e.partition);
      if (why == RD_KAFKA_RESP_ERR_NO_ERROR) why = e.err;
      continue;
    }
    auto it = self->commits_.find(e.partition);
    if (it != self->commits_.end()) it->second.confirmed = std::max(it->second.confirmed, e.offset);
  }
  if (refused.empty() && err == RD_KAFKA_RESP_ERR_NO_ERROR) return;
  char* raw = rd_kafka_memberid(rk);
  self->refused_as_member_ = raw ? raw : "";
  if (raw) rd_kafka_mem_free(rk, raw);
  // Nothing is lost: the positions are in kv_offsets, and the commit of a
  // partition still owned goes again (when the rebalance ends, or a second
  // later); a revoked one is its next owner's to commit.
  spdlog::info(
      "Kafka refused the commit of partition(s) [{}]: {}; the ones still owned are "
      "committed again",
      fmt::join(refused, ","), rd_kafka_err2str(why));
  self->listener_.on_commit_refused(refused.size());
}

void KafkaSource::seek(int32_t partition, int64_t offset) {
  kafka::PartitionListPtr list = partition_list({partition});
  list->elems[0].offset = offset < 0 ? RD_KAFKA_OFFSET_BEGINNING : offset;
  kafka::ErrorPtr e(rd_kafka_seek_partitions(rk_.get(), list.get(), 5000));
  if (e) spdlog::warn("seek partition {}: {}", partition, rd_kafka_error_string(e.get()));
}

void KafkaSource::pause(const std::vector<int32_t>& partitions) {
  auto list = partition_list(partitions);
  rd_kafka_pause_partitions(rk_.get(), list.get());
}

void KafkaSource::resume(const std::vector<int32_t>& partitions) {
  auto list = partition_list(partitions);
  rd_kafka_resume_partitions(rk_.get(), list.get());
}

std::vector<int32_t> KafkaSource::assignment() const {
  rd_kafka_topic_partition_list_t* raw = nullptr;
  std::vector<int32_t> out;
  if (rd_kafka_assignment(rk_.get(), &raw) == RD_KAFKA_RESP_ERR_NO_ERROR && raw) {
    kafka::PartitionListPtr list(raw);
    out = partitions_of(list.get());
  }
  return out;
}

int32_t KafkaSource::partition_count() {
  return std::max(0, kafka::partition_count(rk_.get(), settings_.kafka.topic));
}

int64_t KafkaSource::end_offset(int32_t partition) const {
  int64_t low = 0, high = 0;
  if (rd_kafka_get_watermark_offsets(rk_.get(), settings_.kafka.topic.c_str(), partition, &low,
                                     &high) != RD_KAFKA_RESP_ERR_NO_ERROR ||
      high < 0) {
    return -1;
  }
  return high;
}

void KafkaSource::close() {
  if (closed_ || !rk_) return;
  closed_ = true;
  {
    std::lock_guard<std::mutex> lock(wake_mu_);
    closing_ = true;
  }
  // librdkafka 2.0.2 aborts in rd_kafka_destroy when a cooperative-sticky
  // member has joined the group but not yet received its first assignment
  // (its assignor state is set only then; fixed upstream in 2.3.0). So a
  // consumer closed in that window first lets the join finish, bounded by
  // the session timeout: records polled meanwhile are dropped unapplied and
  // uncommitted, so the partitions' next owner reads them again.
  const auto deadline = std::chrono::steady_clock::now() + settings_.session_timeout;
  while (!ever_assigned_ && std::chrono::steady_clock::now() < deadline) {
    kafka::MessagePtr dropped(rd_kafka_consumer_poll(rk_.get(), 100));
  }
  if (!ever_assigned_) {
    // The join did not finish (the broker went away in the middle of it):
    // closing or destroying the consumer now would abort the process.
    abandon(fmt::format("its join did not finish within {} ms", settings_.session_timeout.count()));
    return;
  }
  // Leaves the group: the last commits are answered and the rebalance
  // callback revokes what we hold, both served by the polls below. Closing
  // waits for the broker, which may not answer (stopped, frozen, or its
  // answers held): past the session timeout the group has dropped the member
  // anyway, and the consumer is given up rather than holding the replica.
  if (rd_kafka_error_t* error = rd_kafka_consumer_close_queue(rk_.get(), consumer_queue_.get())) {
    spdlog::warn("closing the Kafka consumer: {}", rd_kafka_error_string(error));
    rd_kafka_error_destroy(error);
    return;
  }
  const auto close_deadline = std::chrono::steady_clock::now() + settings_.session_timeout;
  while (!rd_kafka_consumer_closed(rk_.get())) {
    if (std::chrono::steady_clock::now() >= close_deadline) {
      abandon(
          fmt::format("the broker did not answer within {} ms", settings_.session_timeout.count()));
      return;
    }
    // Records fetched meanwhile are dropped unapplied and uncommitted: the
    // partitions' next owner reads them again.
    kafka::MessagePtr dropped(rd_kafka_consumer_poll(rk_.get(), 100));
  }
}

void KafkaSource::abandon(const std::string& why) {
  // Left to the process' exit: destroying the consumer would wait for the
  // broker (or abort, for an unfinished join). Whatever was not committed is
  // committed by the partitions' next owner from the applied positions; the
  // coordinator drops the member after its session timeout. Kept reachable,
  // and silenced: its threads outlive the logger.
  spdlog::warn(
      "leaving the Kafka consumer group without a clean exit: {}; the group drops this member "
      "after its session timeout",
      why);
  rd_kafka_set_log_level(rk_.get(), 0);
  static std::mutex mu;
  static auto* abandoned = new std::vector<rd_kafka_t*>();
  std::lock_guard<std::mutex> lock(mu);
  abandoned->push_back(rk_.release());
}

}  // namespace kvstream::source
