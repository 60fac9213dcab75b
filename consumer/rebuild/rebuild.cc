#include "rebuild/rebuild.h"

#include <fmt/format.h>
#include <librdkafka/rdkafka.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cmath>
#include <ctime>
#include <memory>
#include <pqxx/pqxx>
#include <stdexcept>

#include "apply/workers.h"
#include "common/error.h"
#include "common/kafka_admin.h"
#include "common/kafka_handles.h"
#include "schema/codec.h"
#include "source/kafka_record.h"
#include "store/pg_listener.h"
#include "store/pg_migrate.h"
#include "view/replica_status.h"

namespace kvstream::rebuild {

namespace {

using Clock = std::chrono::steady_clock;

constexpr int kExitOk = 0;
constexpr int kExitRefused = 1;
constexpr int kExitUnreachable = 2;

// A failure with the exit code it gives and one line for the operator.
class Stop : public std::runtime_error {
 public:
  Stop(int code, const std::string& what) : std::runtime_error(what), code_(code) {}
  int code() const { return code_; }

 private:
  int code_;
};

std::string thousands(int64_t n) {
  std::string digits = std::to_string(n < 0 ? -n : n);
  std::string out;
  for (size_t i = 0; i < digits.size(); ++i) {
    if (i > 0 && (digits.size() - i) % 3 == 0) out += ',';
    out += digits[i];
  }
  return n < 0 ? "-" + out : out;
}

int64_t or_zero(int64_t next) { return next == store::kNoOffset ? 0 : next; }

// A consumer outside any group, assigned every partition: it commits
// nothing (the rebuild's positions are its kv_offsets), creates no topic,
// and fetches as a replica does.
kafka::HandlePtr make_consumer(const KafkaSettings& kafka) {
  try {
    return kafka::reader_client(kafka, "kvstream-rebuild");
  } catch (const std::runtime_error& e) {
    throw Stop(kExitUnreachable, e.what());
  }
}

// The apply loop into the rebuild schema: the replica's engine and workers,
// fed by a consumer assigned every partition.
class Builder {
 public:
  Builder(const RebuildSettings& settings, const store::PgSettings& pg, int32_t partitions)
      : settings_(settings), partitions_(partitions) {
    rk_ = make_consumer(settings.kafka);
    queue_.reset(rd_kafka_queue_get_consumer(rk_.get()));
    offsets_ = std::make_unique<store::PgStore>(pg);
    workers_ = std::make_unique<apply::ApplyWorkers>(
        settings.apply_workers, [pg] { return std::make_unique<store::PgStore>(pg); });
    engine_ = std::make_unique<apply::ApplyEngine>(settings.kafka.topic, *offsets_, *workers_,
                                                   status_, settings.batch,
                                                   [this] { rd_kafka_queue_yield(queue_.get()); });
  }

  ~Builder() {
    // What is in flight finishes (its positions are committed with it);
    // nothing else is applied.
    if (engine_) {
      const auto deadline = Clock::now() + std::chrono::seconds(30);
      while (engine_->in_flight() > 0 && Clock::now() < deadline) {
        engine_->collect(std::chrono::milliseconds(100));
      }
    }
    if (workers_) workers_->stop();
    if (rk_) rd_kafka_consumer_close(rk_.get());
  }

  // The rebuild's applied positions (kv_offsets of its schema), and the
  // consumer assigned there.
  std::map<int32_t, int64_t> start() {
    std::vector<int32_t> ids;
    for (int32_t p = 0; p < partitions_; ++p) ids.push_back(p);
    const std::map<int32_t, int64_t> next = engine_->assign(ids);
    kafka::PartitionListPtr list(rd_kafka_topic_partition_list_new(partitions_));
    for (const auto& [p, offset] : next) {
      rd_kafka_topic_partition_list_add(list.get(), settings_.kafka.topic.c_str(), p)->offset =
          offset == store::kNoOffset ? RD_KAFKA_OFFSET_BEGINNING : offset;
    }
    if (const auto err = rd_kafka_assign(rk_.get(), list.get())) {
      throw Stop(kExitUnreachable,
                 "reading " + settings_.kafka.topic + ": " + rd_kafka_err2str(err));
    }
    return next;
  }

  int64_t applied(int32_t p) const { return or_zero(engine_->next_offset(p).value_or(0)); }

  std::map<int32_t, int64_t> positions() const {
    std::map<int32_t, int64_t> out;
    for (int32_t p = 0; p < partitions_; ++p) out[p] = applied(p);
    return out;
  }

  // Applies records until every partition's position reaches its target (a
  // partition the fetcher saw end at or past its target, with nothing left
  // to apply, counts as there: the offsets between may hold no record).
  // Returns false at `deadline` or when cancelled. Throws Stop on a failure
  // retrying cannot fix.
  bool run_until(const std::map<int32_t, int64_t>& target, Clock::time_point deadline,
                 const std::function<bool()>& cancelled,
                 const std::function<void()>& progress = {}) {
    auto reached = [&] {
      for (const auto& [p, t] : target) {
        if (applied(p) >= t) continue;
        auto eof = eof_.find(p);
        if (eof != eof_.end() && eof->second >= t && engine_->idle()) continue;
        return false;
      }
      return engine_->in_flight() == 0;
    };
    auto last_progress = Clock::now();
    while (!reached()) {
      if (Clock::now() >= deadline || cancelled()) return false;
      for (int i = 0; i < 10000; ++i) {
        kafka::MessagePtr msg(rd_kafka_consumer_poll(rk_.get(), i == 0 ? 100 : 0));
        if (!msg) break;
        take(*msg);
      }
      engine_->dispatch(Clock::now(), /*force=*/true);
      engine_->collect();
      settle();
      if (progress && Clock::now() - last_progress >= std::chrono::milliseconds(500)) {
        last_progress = Clock::now();
        progress();
      }
    }
    return true;
  }

  uint64_t skipped() const { return skipped_; }

 private:
  void take(const rd_kafka_message_t& msg) {
    if (msg.err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
      eof_[msg.partition] = std::max(eof_[msg.partition], msg.offset);
      return;
    }
    if (msg.err) {
      if (msg.err == RD_KAFKA_RESP_ERR_OFFSET_OUT_OF_RANGE ||
          msg.err == RD_KAFKA_RESP_ERR__AUTO_OFFSET_RESET) {
        throw Stop(kExitRefused, fmt::format("partition {}: {}: records were deleted while the "
                                             "rebuild ran (retention); it cannot be complete",
                                             msg.partition, rd_kafka_message_errstr(&msg)));
      }
      if (msg.err == RD_KAFKA_RESP_ERR__FATAL || msg.err == RD_KAFKA_RESP_ERR__UNKNOWN_TOPIC ||
          msg.err == RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART) {
        throw Stop(kExitUnreachable,
                   std::string("reading the topic: ") + rd_kafka_message_errstr(&msg));
      }
      spdlog::warn("reading the topic: {}", rd_kafka_message_errstr(&msg));
      return;
    }
    const schema::RecordView record = source::view_of(&msg, headers_);
    schema::Event event = engine_->take_spare();
    if (schema::decode_into(record, settings_.limits, event)) {
      // Refused by the contract: the serving replicas dead-lettered it.
      engine_->recycle(std::move(event));
      engine_->add_skipped(record.partition, record.offset);
      ++skipped_;
      return;
    }
    engine_->add_event(std::move(event));
  }

  void settle() {
    apply::Progress p = engine_->take_progress();
    if (p.fatal) throw Stop(kExitRefused, std::string("applying: ") + p.fatal->what());
    if (!p.fenced.empty()) {
      throw Stop(kExitRefused, fmt::format("partition {} of the rebuild schema was written by "
                                           "another process meanwhile (its kv_offsets moved); "
                                           "run one rebuild at a time",
                                           p.fenced.begin()->first));
    }
    if (p.last_error && Clock::now() - last_warning_ >= std::chrono::seconds(5)) {
      last_warning_ = Clock::now();
      spdlog::warn("applying (retried): {}", *p.last_error);
    }
    if (!p.pause.empty()) set_paused(p.pause, true);
    if (!p.resume.empty()) set_paused(p.resume, false);
  }

  void set_paused(const std::vector<int32_t>& ids, bool pause) {
    kafka::PartitionListPtr list(rd_kafka_topic_partition_list_new(static_cast<int>(ids.size())));
    for (int32_t p : ids) {
      rd_kafka_topic_partition_list_add(list.get(), settings_.kafka.topic.c_str(), p);
    }
    if (pause) {
      rd_kafka_pause_partitions(rk_.get(), list.get());
    } else {
      rd_kafka_resume_partitions(rk_.get(), list.get());
    }
  }

  const RebuildSettings& settings_;
  const int32_t partitions_;
  view::ReplicaStatus status_;
  kafka::HandlePtr rk_;
  kafka::QueuePtr queue_;
  std::unique_ptr<store::PgStore> offsets_;
  std::unique_ptr<apply::ApplyWorkers> workers_;
  std::unique_ptr<apply::ApplyEngine> engine_;
  std::vector<schema::HeaderView> headers_;
  std::map<int32_t, int64_t> eof_;  // where the fetcher last saw each partition end
  uint64_t skipped_ = 0;
  Clock::time_point last_warning_{};
};

struct Verification {
  int64_t compared = 0;
  int64_t differing = 0;
  std::vector<std::string> examples;  // a few differing keys, described
  int64_t partitions_compared = 0;
};

// The served view's rows not changed since the rebuild's positions, against
// the rebuild's rows (see rebuild.h, step 3), in one statement (one
// snapshot of the served tables).
Verification verify(pqxx::connection& conn, const std::string& served, const std::string& rebuilt,
                    const std::string& topic, const std::map<int32_t, int64_t>& positions) {
  std::string partitions = "{", offsets = "{";
  for (const auto& [p, next] : positions) {
    if (partitions.size() > 1) {
      partitions += ',';
      offsets += ',';
    }
    partitions += std::to_string(p);
    offsets += std::to_string(next);
  }
  partitions += '}';
  offsets += '}';
  pqxx::work tx(conn);
  tx.exec("SET LOCAL statement_timeout = 0");
  const std::string s = tx.quote_name(served), r = tx.quote_name(rebuilt);
  const std::string pos =
      "SELECT b.partition, b.next_offset FROM unnest($2::int4[], $3::int8[]) AS b(partition, "
      "next_offset) JOIN " +
      s + ".kv_offsets o ON o.topic = $1 AND o.partition = b.partition AND o.next_offset >= " +
      "b.next_offset";
  const std::string rows = "FROM " + s + ".kv o JOIN (" + pos +
                           ") AS pos ON pos.partition = o.src_partition AND o.src_offset < "
                           "pos.next_offset LEFT JOIN " +
                           r + ".kv n ON n.key = o.key";
  const std::string differs =
      "(n.value IS DISTINCT FROM o.value OR (o.value IS NOT NULL AND n.content_type IS DISTINCT "
      "FROM o.content_type))";
  Verification out;
  const pqxx::row counts = tx.exec_params1("SELECT count(*), count(*) FILTER (WHERE " + differs +
                                               "), (SELECT count(*) "
                                               "FROM (" +
                                               pos + ") AS c) " + rows,
                                           topic, partitions, offsets);
  out.compared = counts[0].as<int64_t>();
  out.differing = counts[1].as<int64_t>();
  out.partitions_compared = counts[2].as<int64_t>();
  if (out.differing > 0) {
    for (const auto& row : tx.exec_params(
             "SELECT o.key, o.src_partition, o.src_offset, o.value IS NULL, n.src_partition, "
             "n.src_offset, n.value IS NULL " +
                 rows + " WHERE " + differs + " ORDER BY o.key LIMIT 10",
             topic, partitions, offsets)) {
      const std::string served_row =
          fmt::format("{} at {}:{}", row[3].as<bool>() ? "deleted" : "a value",
                      row[1].as<int32_t>(), row[2].as<int64_t>());
      const std::string rebuilt_row =
          row[4].is_null() ? "no row"
                           : fmt::format("{} at {}:{}", row[6].as<bool>() ? "deleted" : "a value",
                                         row[4].as<int32_t>(), row[5].as<int64_t>());
      const bool same_record = !row[4].is_null() && row[1].as<int32_t>() == row[4].as<int32_t>() &&
                               row[2].as<int64_t>() == row[5].as<int64_t>();
      out.examples.push_back(fmt::format(
          "key '{}': served {}, rebuilt {}{}", row[0].as<std::string>(), served_row, rebuilt_row,
          same_record ? " (the same record, other bytes: the served row was "
                        "changed by something other than kvstream)"
                      : ""));
    }
  }
  tx.commit();
  return out;
}

std::string replaced_schema_name() {
  const std::time_t now = std::time(nullptr);
  std::tm utc{};
  gmtime_r(&now, &utc);
  char buf[32];
  std::strftime(buf, sizeof(buf), "%Y%m%d%H%M%S", &utc);
  return std::string("kvstream_replaced_") + buf;
}

enum class SwitchResult { kSwitched, kLockBusy, kBehind };

// Step 4 of rebuild.h. On kLockBusy or kBehind nothing changed.
SwitchResult try_switch(const RebuildSettings& settings, Builder& builder, rd_kafka_t* admin,
                        int32_t partitions, const std::string& served, const std::string& replaced,
                        const RebuildIo& io) {
  auto conn = store::connect(settings.pg, "kvstream-rebuild");
  pqxx::work tx(*conn);
  const auto deadline = Clock::now() + settings.switch_timeout;
  tx.exec("SET LOCAL lock_timeout = " + std::to_string(settings.switch_timeout.count()));
  // The catching up below happens while this transaction waits.
  tx.exec("SET LOCAL idle_in_transaction_session_timeout = " +
          std::to_string(settings.switch_timeout.count() + 30000));
  try {
    // The apply statement's order: kv_offsets (the fence), then kv.
    tx.exec("LOCK TABLE kv_offsets, kv IN ACCESS EXCLUSIVE MODE");
  } catch (const pqxx::sql_error& e) {
    if (e.sqlstate() == "55P03") return SwitchResult::kLockBusy;  // lock_not_available
    throw;
  }
  // The served positions, as far as the topic has them: a position past a
  // partition's end, or of a partition the topic lacks, belongs to a topic
  // that was deleted and created again (a reason to rebuild), and is not
  // waited for.
  std::map<int32_t, kafka::Watermarks> marks;
  try {
    marks = kafka::watermarks(admin, settings.kafka.topic, partitions, settings.switch_timeout);
  } catch (const std::runtime_error& e) {
    throw Stop(kExitUnreachable, std::string("cannot read the topic's offsets: ") + e.what());
  }
  std::map<int32_t, int64_t> target = builder.positions();
  for (const auto& row :
       tx.exec_params("SELECT partition, next_offset FROM kv_offsets WHERE topic = $1",
                      settings.kafka.topic)) {
    const int32_t p = row[0].as<int32_t>();
    const int64_t next = row[1].as<int64_t>();
    auto mark = marks.find(p);
    if (mark == marks.end() || next > mark->second.high) {
      io.err << "rebuild: the served position " << next << " of partition " << p
             << (mark == marks.end()
                     ? " is of a partition the topic does not have"
                     : " is past the partition's end " + std::to_string(mark->second.high))
             << " (the topic was deleted and created again?); not waited for" << std::endl;
      continue;
    }
    target[p] = std::max(target[p], next);
  }
  if (!builder.run_until(target, deadline, io.cancelled)) return SwitchResult::kBehind;
  const std::string rebuilt = settings.schema;
  std::vector<std::string> tables;
  for (const auto& row : tx.exec_params(
           "SELECT tablename FROM pg_tables WHERE schemaname = $1 ORDER BY 1", rebuilt)) {
    tables.push_back(row[0].as<std::string>());
  }
  tx.exec("CREATE SCHEMA " + tx.quote_name(replaced));
  for (const std::string& t : tables) {
    const auto exists = tx.exec_params1(
        "SELECT EXISTS (SELECT 1 FROM pg_tables WHERE schemaname = $1 AND tablename = $2)", served,
        t);
    if (exists[0].as<bool>()) {
      tx.exec("ALTER TABLE " + tx.quote_name(served) + "." + tx.quote_name(t) + " SET SCHEMA " +
              tx.quote_name(replaced));
    }
  }
  for (const std::string& t : tables) {
    tx.exec("ALTER TABLE " + tx.quote_name(rebuilt) + "." + tx.quote_name(t) + " SET SCHEMA " +
            tx.quote_name(served));
  }
  tx.exec_params("SELECT pg_notify($1, $2)", store::kViewSwitchChannel, served);
  tx.commit();
  pqxx::nontransaction(*conn).exec("DROP SCHEMA IF EXISTS " + conn->quote_name(rebuilt));
  return SwitchResult::kSwitched;
}

int rebuild(const RebuildSettings& settings, const RebuildIo& io) {
  const std::string& topic = settings.kafka.topic;
  // The served schema: where a replica with these settings finds its tables.
  std::string served;
  try {
    auto conn = store::connect(settings.pg, "kvstream-rebuild");
    pqxx::nontransaction tx(*conn);
    served = tx.exec1("SELECT current_schema()")[0].c_str();
    if (served.empty() || served == settings.schema) {
      throw Stop(kExitUnreachable, "the rebuild schema '" + settings.schema +
                                       "' (--schema) must differ from the served one ('" + served +
                                       "')");
    }
    tx.exec("CREATE SCHEMA IF NOT EXISTS " + tx.quote_name(settings.schema));
  } catch (const Error& e) {
    throw Stop(kExitUnreachable, std::string("cannot reach the database: ") + e.what());
  }
  store::PgSettings rebuilt = settings.pg;
  rebuilt.schema = settings.schema;
  try {
    store::migrate_database(rebuilt, settings.binary, [] { return true; });
  } catch (const Error& e) {
    throw Stop(kExitRefused, std::string("preparing the rebuild schema: ") + e.what());
  }

  // The topic's extent at the start: the rebuild's target.
  // Asks for the partitions and their offsets, now and at each switch.
  kafka::HandlePtr offsets_client = make_consumer(settings.kafka);
  int32_t partitions = -1;
  std::map<int32_t, kafka::Watermarks> marks;
  try {
    partitions =
        kafka::describe_partition_count(offsets_client.get(), topic, std::chrono::seconds(10));
    if (partitions <= 0) throw Stop(kExitUnreachable, "the topic " + topic + " does not exist");
    marks = kafka::watermarks(offsets_client.get(), topic, partitions, std::chrono::seconds(10));
  } catch (const std::runtime_error& e) {
    if (dynamic_cast<const Stop*>(&e)) throw;
    throw Stop(kExitUnreachable, std::string("cannot read the topic's offsets: ") + e.what());
  }

  Builder builder(settings, rebuilt, partitions);
  const std::map<int32_t, int64_t> start = builder.start();
  std::map<int32_t, int64_t> log_start, end;
  for (const auto& [p, w] : marks) {
    log_start[p] = w.low;
    end[p] = w.high;
  }
  if (const auto gone = deleted_before_start(start, log_start); !gone.empty()) {
    std::string list;
    for (const DeletedRange& d : gone) {
      list += fmt::format("{}partition {} (offsets {} to {})", list.empty() ? "" : ", ",
                          d.partition, d.from, d.to);
    }
    throw Stop(kExitRefused,
               "refused: records the rebuild has not applied were deleted from " + topic + ": " +
                   list +
                   ". The keys written only there would be missing from the rebuilt view "
                   "(cleanup.policy must be compact; docs/operations.md, \"Rebuilding the view\")");
  }

  int64_t total = 0;
  for (const auto& [p, e] : end) total += std::max<int64_t>(0, e - or_zero(start.at(p)));
  io.err << "rebuild: " << topic << " into schema " << settings.schema << " of the served "
         << "database (served schema " << served << "): " << thousands(total) << " offsets to apply"
         << std::endl;
  const auto began = Clock::now();
  auto last_line = Clock::now();
  auto report = [&](bool final) {
    int64_t done = 0;
    for (const auto& [p, e] : end) {
      done += std::clamp<int64_t>(builder.applied(p) - or_zero(start.at(p)), 0,
                                  e - or_zero(start.at(p)));
    }
    const double seconds = std::chrono::duration<double>(Clock::now() - began).count();
    const std::string line = progress_line(done, total, seconds > 0 ? done / seconds : 0);
    if (io.terminal) {
      io.err << "\rrebuild: " << line << "   " << (final ? "\n" : "") << std::flush;
    } else if (final || Clock::now() - last_line >= std::chrono::seconds(5)) {
      last_line = Clock::now();
      io.err << "rebuild: " << line << std::endl;
    }
  };
  if (!builder.run_until(end, Clock::time_point::max(), io.cancelled, [&] { report(false); })) {
    report(true);
    throw Stop(kExitRefused, "stopped; the rebuild resumes where it is when run again");
  }
  report(true);
  if (builder.skipped() > 0) {
    io.err << "rebuild: " << thousands(static_cast<int64_t>(builder.skipped()))
           << " record(s) broke the contract and were skipped (the replicas dead-lettered them)"
           << std::endl;
  }

  // Verify against the served view.
  Verification v;
  try {
    auto conn = store::connect(settings.pg, "kvstream-rebuild");
    v = verify(*conn, served, settings.schema, topic, builder.positions());
  } catch (const Error& e) {
    throw Stop(kExitUnreachable, std::string("verifying: ") + e.what());
  } catch (const pqxx::failure& e) {
    throw Stop(kExitRefused, std::string("verifying: ") + e.what());
  }
  io.out << "verified: " << thousands(v.compared) << " row(s) of the served view not changed "
         << "since the rebuild's positions (" << v.partitions_compared << " of " << partitions
         << " partitions comparable), " << thousands(v.differing) << " differ" << std::endl;
  for (const std::string& e : v.examples) io.out << "  " << e << std::endl;
  if (!settings.switch_view) {
    io.out << "built; the served view is unchanged (--switch moves the rebuilt one in)"
           << std::endl;
    return v.differing > 0 ? kExitRefused : kExitOk;
  }
  if (v.differing > 0 && !settings.accept_differences) {
    throw Stop(kExitRefused,
               "not switched: the rebuilt view differs from the served one (above); "
               "--accept-differences switches anyway, when the served view is the wrong one");
  }

  const std::string replaced = replaced_schema_name();
  for (int attempt = 1; attempt <= settings.switch_attempts; ++attempt) {
    SwitchResult r;
    try {
      r = try_switch(settings, builder, offsets_client.get(), partitions, served, replaced, io);
    } catch (const Error& e) {
      throw Stop(kExitUnreachable, std::string("switching: ") + e.what());
    } catch (const pqxx::failure& e) {
      throw Stop(kExitRefused, std::string("switching: ") + e.what());
    }
    if (r == SwitchResult::kSwitched) {
      io.out << "switched: schema " << served << " serves the rebuilt view; the replaced tables "
             << "are in schema " << replaced << " (DROP SCHEMA " << replaced
             << " CASCADE once not needed)" << std::endl;
      return kExitOk;
    }
    io.err << "rebuild: switch attempt " << attempt << ": "
           << (r == SwitchResult::kLockBusy
                   ? "the served tables could not be locked within the switch timeout"
                   : "the rebuild did not reach the served positions within the switch timeout")
           << "; catching up and trying again" << std::endl;
    // Catch up to the topic's end now, outside the lock.
    try {
      for (const auto& [p, w] :
           kafka::watermarks(offsets_client.get(), topic, partitions, std::chrono::seconds(10))) {
        end[p] = w.high;
      }
    } catch (const std::runtime_error& e) {
      throw Stop(kExitUnreachable, std::string("cannot read the topic's offsets: ") + e.what());
    }
    if (!builder.run_until(end, Clock::time_point::max(), io.cancelled)) {
      throw Stop(kExitRefused, "stopped; the rebuild resumes where it is when run again");
    }
  }
  throw Stop(kExitRefused, fmt::format("not switched after {} attempts: the served view moves "
                                       "faster than the rebuild catches up, or its tables stay "
                                       "busy; try again with a longer --switch-timeout-ms",
                                       settings.switch_attempts));
}

}  // namespace

std::vector<DeletedRange> deleted_before_start(const std::map<int32_t, int64_t>& next,
                                               const std::map<int32_t, int64_t>& log_start) {
  std::vector<DeletedRange> out;
  for (const auto& [p, low] : log_start) {
    auto it = next.find(p);
    const int64_t from = it == next.end() ? 0 : or_zero(it->second);
    if (from < low) out.push_back(DeletedRange{p, from, low - 1});
  }
  return out;
}

std::string progress_line(int64_t done, int64_t total, double per_second) {
  const double percent = total > 0 ? 100.0 * static_cast<double>(done) / total : 100.0;
  std::string line =
      fmt::format("{} of {} offsets ({:.1f}%), {}/s", thousands(done), thousands(total), percent,
                  thousands(static_cast<int64_t>(per_second)));
  if (done < total && per_second > 0) {
    line += fmt::format(", about {} s left",
                        std::llround(static_cast<double>(total - done) / per_second));
  }
  return line;
}

int run_rebuild(const RebuildSettings& settings, const RebuildIo& io) {
  try {
    return rebuild(settings, io);
  } catch (const Stop& e) {
    io.err << "kvstream-consumer rebuild: " << e.what() << std::endl;
    return e.code();
  } catch (const Error& e) {
    io.err << "kvstream-consumer rebuild: " << e.what() << std::endl;
    return e.retryable() ? kExitUnreachable : kExitRefused;
  }
}

}  // namespace kvstream::rebuild
