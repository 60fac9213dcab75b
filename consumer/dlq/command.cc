#include "dlq/command.h"

#include <algorithm>
#include <chrono>
#include <limits>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <ostream>
#include <stdexcept>
#include <utility>

#include "common/error.h"
#include "dlq/dead_letter.h"
#include "dlq/reader.h"
#include "dlq/selection.h"
#include "producer/producer.h"
#include "producer/progress.h"

namespace kvstream::dlq {

namespace {

constexpr int kExitOk = 0;
constexpr int kExitFailed = 1;
constexpr int kExitUsage = 2;
constexpr int kExitRefused = 3;

// Keys longer than this are shown cut (--json carries them whole).
constexpr size_t kKeyShown = 128;

int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::string base64(std::string_view bytes) {
  static constexpr char kAlphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  size_t i = 0;
  for (; i + 2 < bytes.size(); i += 3) {
    const uint32_t n = (static_cast<unsigned char>(bytes[i]) << 16) |
                       (static_cast<unsigned char>(bytes[i + 1]) << 8) |
                       static_cast<unsigned char>(bytes[i + 2]);
    out += kAlphabet[n >> 18];
    out += kAlphabet[(n >> 12) & 63];
    out += kAlphabet[(n >> 6) & 63];
    out += kAlphabet[n & 63];
  }
  if (i < bytes.size()) {
    uint32_t n = static_cast<unsigned char>(bytes[i]) << 16;
    if (i + 1 < bytes.size()) n |= static_cast<unsigned char>(bytes[i + 1]) << 8;
    out += kAlphabet[n >> 18];
    out += kAlphabet[(n >> 12) & 63];
    out += i + 1 < bytes.size() ? kAlphabet[(n >> 6) & 63] : '=';
    out += '=';
  }
  return out;
}

// The selection of the command line; throws std::invalid_argument.
Filter make_filter(const DlqOptions& o) {
  Filter f;
  f.reasons = parse_reasons(o.reasons);
  for (int32_t p : o.partitions) f.partitions.insert(p);
  const int64_t now = now_ms();
  if (!o.since.empty()) f.since_ms = parse_time(o.since, now);
  if (!o.until.empty()) f.until_ms = parse_time(o.until, now);
  if (f.since_ms && f.until_ms && *f.until_ms <= *f.since_ms) {
    throw std::invalid_argument("--until must be later than --since");
  }
  return f;
}

// What one read of the dead-letter topic found.
struct Reading {
  std::vector<DeadLetter> selected;
  std::map<Origin, Position> marks;  // origin -> where its replay landed
  std::vector<Unreadable> unreadable;
  uint64_t records = 0;
};

// Reads the dead-letter topic (progress on a terminal); throws ReadError.
Reading read_selection(const DlqContext& c, const DlqOptions& o, const Filter& filter,
                       const DlqIo& io) {
  ReadSettings rs;
  rs.kafka = c.kafka;
  rs.topic = c.dlq_topic;
  // Every replay mark of a selected dead letter is later than it, so
  // starting at --since misses none of them.
  rs.since_ms = filter.since_ms;
  rs.timeout = std::chrono::milliseconds(o.timeout_ms);
  ReadStats stats;
  producer::ProgressReporter progress(io.err, true, io.err_is_terminal, [&stats] {
    producer::ProgressState s;
    s.events = stats.records.load();
    const uint64_t total = stats.total.load();
    s.fraction = total > 0 ? static_cast<double>(s.events) / static_cast<double>(total) : -1;
    return s;
  });
  Reading reading;
  read_topic_to_end(
      rs,
      [&](const schema::Record& record) {
        DlqEntry entry = parse_dlq_record(record);
        if (auto* letter = std::get_if<DeadLetter>(&entry)) {
          if (filter.matches(*letter)) reading.selected.push_back(std::move(*letter));
        } else if (auto* mark = std::get_if<ReplayMark>(&entry)) {
          reading.marks.emplace(mark->origin, mark->replayed_to);
        } else {
          auto& bad = std::get<Unreadable>(entry);
          const bool in_time = (!filter.since_ms || bad.time_ms >= *filter.since_ms) &&
                               (!filter.until_ms || bad.time_ms < *filter.until_ms);
          if (in_time) reading.unreadable.push_back(std::move(bad));
        }
      },
      &stats);
  progress.finish();
  reading.records = stats.records.load();
  return reading;
}

std::string value_text(const DeadLetter& d) {
  if (d.value_omitted) return "value_omitted=" + std::to_string(*d.value_omitted);
  if (!d.value) return "value_bytes=null";
  return "value_bytes=" + std::to_string(d.value->size());
}

std::string key_text(const DeadLetter& d) {
  if (!d.key) return "key=null";
  std::string out = "key=\"" + escape_bytes(*d.key, kKeyShown) + "\"";
  if (d.key->size() > kKeyShown) out += " key_bytes=" + std::to_string(d.key->size());
  return out;
}

// "<time> <origin> <reason> key=... value_bytes=... original_time=... [replayed_to=...]
// message=..."
std::string letter_line(const DeadLetter& d, const std::optional<Position>& replayed_to) {
  std::string line = format_time(d.time_ms) + " " + to_string(d.origin) + " " +
                     escape_bytes(d.reason) + " " + key_text(d) + " " + value_text(d) +
                     " original_time=" + format_time(d.original_time_ms) +
                     " dlq=" + to_string(d.at);
  if (replayed_to) line += " replayed_to=" + to_string(*replayed_to);
  line += " message=\"" + escape_bytes(d.message) + "\"";
  return line;
}

nlohmann::json letter_json(const DeadLetter& d, const std::optional<Position>& replayed_to) {
  nlohmann::json j;
  j["time"] = format_time(d.time_ms);
  j["time_ms"] = d.time_ms;
  j["dlq_partition"] = d.at.partition;
  j["dlq_offset"] = d.at.offset;
  j["topic"] = escape_bytes(d.origin.topic);
  j["partition"] = d.origin.partition;
  j["offset"] = d.origin.offset;
  j["original_time"] = format_time(d.original_time_ms);
  j["original_time_ms"] = d.original_time_ms;
  j["reason"] = escape_bytes(d.reason);
  j["message"] = escape_bytes(d.message);
  j["key"] = d.key ? nlohmann::json(escape_bytes(*d.key)) : nlohmann::json(nullptr);
  j["key_base64"] = d.key ? nlohmann::json(base64(*d.key)) : nlohmann::json(nullptr);
  const auto size = d.value_size();
  j["value_bytes"] = size ? nlohmann::json(*size) : nlohmann::json(nullptr);
  j["value_omitted"] = d.value_omitted.has_value();
  nlohmann::json headers = nlohmann::json::array();
  for (const schema::Header& h : d.original_headers) {
    headers.push_back(
        {{"name", escape_bytes(h.name)},
         {"value", h.value ? nlohmann::json(escape_bytes(*h.value)) : nlohmann::json(nullptr)}});
  }
  j["headers"] = std::move(headers);
  j["replayed_to"] =
      replayed_to ? nlohmann::json(to_string(*replayed_to)) : nlohmann::json(nullptr);
  return j;
}

std::optional<Position> mark_of(const Reading& r, const Origin& origin) {
  const auto it = r.marks.find(origin);
  if (it == r.marks.end()) return std::nullopt;
  return it->second;
}

// One line for an error: the command, then what went wrong.
int fail(const DlqIo& io, const char* command, const std::string& what, int code) {
  io.err << "kvstream-consumer dlq " << command << ": " << what << std::endl;
  return code;
}

}  // namespace

void add_dlq_commands(CLI::App& app, DlqCommands& c) {
  c.dlq = app.add_subcommand(
      "dlq",
      "The dead-letter topic (KVSTREAM_DLQ_TOPIC, default <topic>.dlq): list the dead letters, "
      "replay them to the topic after a fix (docs/operations.md, \"Reprocessing the dead-letter "
      "topic\")");
  c.dlq->require_subcommand(1);
  c.dlq->fallthrough();
  c.list = c.dlq->add_subcommand(
      "list",
      "Print the dead letters, one line each: when dead-lettered, origin (topic/partition:offset), "
      "reason code, key, value size, original time, place in the dead-letter topic, where a "
      "replay sent it, message. Reads the dead-letter topic to its end once (no consumer group, "
      "nothing committed). Exit 0 when read, 1 when the brokers or the topic cannot be read, 2 "
      "for bad options.");
  c.replay = c.dlq->add_subcommand(
      "replay",
      "Publish the selected dead letters' original records (key, value, headers other than "
      "kv-dlq-*) to the topic again, each origin once, after its cause is fixed; then mark each "
      "in the dead-letter topic, so that a second replay skips it. Refuses (does not send) a "
      "record whose value was lost (kv-dlq-value-omitted), or that still breaks the contract "
      "under these settings (--max-value-bytes). Waits for every delivery. Exit 0 when all "
      "selected were sent or skipped, 1 on a failure, 2 for bad options, 3 when some were "
      "refused (the others are sent).");
  DlqOptions& o = c.options;
  for (CLI::App* sub : {c.list, c.replay}) {
    sub->fallthrough();
    sub->add_option("--reason", o.reasons,
                    "Only dead letters with these reason codes (schema/README.md), e.g. "
                    "value_too_large; repeat or separate with commas")
        ->delimiter(',');
    sub->add_option("--partition", o.partitions,
                    "Only dead letters from these partitions of the original topic; repeat or "
                    "separate with commas")
        ->delimiter(',')
        ->check(CLI::Range(int32_t{0}, std::numeric_limits<int32_t>::max()));
    sub->add_option("--since", o.since,
                    "Only dead letters written at or after this time: RFC 3339 "
                    "(2026-12-07T04:31:00Z), a date, epoch milliseconds, or a duration before "
                    "now (90s, 30m, 2h, 7d)");
    sub->add_option("--until", o.until, "Only dead letters written before this time (as --since)");
    sub->add_option("--timeout-ms", o.timeout_ms,
                    "How long reading the dead-letter topic to its end may take (and, for "
                    "replay, each wait for deliveries)")
        ->check(CLI::Range(int64_t{100}, int64_t{3600000}))
        ->capture_default_str();
  }
  c.list->add_flag("--json", o.json,
                   "One JSON object per line instead (the key whole, as text and as key_base64, "
                   "and the original headers)");
  c.replay->add_flag("--dry-run", o.dry_run,
                     "Print what would be sent, skipped and refused; send and mark nothing");
  c.replay
      ->add_option("--drop-header", o.drop_headers,
                   "Replay without this original header (e.g. a malformed content-type); "
                   "repeat for several")
      ->check([](const std::string& name) {
        return is_dlq_header(name) ? std::string("kv-dlq-* headers are never replayed") : "";
      });
}

int run_dlq_list(const DlqContext& context, const DlqOptions& options, DlqIo io) {
  Filter filter;
  try {
    filter = make_filter(options);
  } catch (const std::invalid_argument& e) {
    return fail(io, "list", e.what(), kExitUsage);
  }
  Reading reading;
  try {
    reading = read_selection(context, options, filter, io);
  } catch (const std::exception& e) {
    return fail(io, "list", e.what(), kExitFailed);
  }
  // In the order they were dead-lettered (the topic's partitions are read
  // side by side).
  std::stable_sort(reading.selected.begin(), reading.selected.end(),
                   [](const DeadLetter& a, const DeadLetter& b) {
                     if (a.time_ms != b.time_ms) return a.time_ms < b.time_ms;
                     if (a.at.partition != b.at.partition) return a.at.partition < b.at.partition;
                     return a.at.offset < b.at.offset;
                   });
  size_t replayed = 0;
  for (const DeadLetter& d : reading.selected) {
    const auto to = mark_of(reading, d.origin);
    if (to) ++replayed;
    if (options.json) {
      io.out << letter_json(d, to).dump() << '\n';
    } else {
      io.out << letter_line(d, to) << '\n';
    }
  }
  for (const Unreadable& u : reading.unreadable) {
    if (options.json) {
      io.out << nlohmann::json{{"time", format_time(u.time_ms)},
                               {"time_ms", u.time_ms},
                               {"dlq_partition", u.at.partition},
                               {"dlq_offset", u.at.offset},
                               {"unreadable", u.why}}
                    .dump()
             << '\n';
    } else {
      io.out << format_time(u.time_ms) << " dlq=" << to_string(u.at) << " unreadable: " << u.why
             << '\n';
    }
  }
  io.out << std::flush;
  io.err << "dlq list: " << reading.selected.size() << " dead letter(s) selected (" << replayed
         << " replayed), " << reading.unreadable.size() << " unreadable; " << reading.records
         << " record(s) read from " << context.dlq_topic << std::endl;
  return kExitOk;
}

int run_dlq_replay(const DlqContext& context, const DlqOptions& options, DlqIo io) {
  Filter filter;
  try {
    filter = make_filter(options);
  } catch (const std::invalid_argument& e) {
    return fail(io, "replay", e.what(), kExitUsage);
  }
  Reading reading;
  try {
    reading = read_selection(context, options, filter, io);
  } catch (const std::exception& e) {
    return fail(io, "replay", e.what(), kExitFailed);
  }
  const std::string& topic = context.kafka.topic;
  ReplayPlan plan = plan_replay(std::move(reading.selected), reading.marks, topic, context.limits,
                                options.drop_headers);

  for (const Planned& item : plan.items) {
    const DeadLetter& d = item.letter;
    switch (item.verdict) {
      case Verdict::kSend:
        if (options.dry_run) {
          io.out << "would send " << to_string(d.origin) << " " << d.reason << " " << key_text(d)
                 << " " << value_text(d) << " to " << topic << '\n';
        }
        break;
      case Verdict::kDuplicate:
        io.out << "duplicate " << to_string(d.origin) << " dlq=" << to_string(d.at)
               << ": dead-lettered again; the copy above decides\n";
        break;
      case Verdict::kAlreadyReplayed:
        io.out << "already replayed " << to_string(d.origin) << " to "
               << to_string(*item.replayed_to) << '\n';
        break;
      case Verdict::kRefused:
        io.out << "refused " << to_string(d.origin) << " " << key_text(d) << ": " << item.why
               << '\n';
        break;
    }
  }
  io.out << std::flush;

  size_t sent = 0;
  size_t failed = 0;
  if (!options.dry_run && plan.to_send > 0) {
    producer::ProducerSettings ps;
    ps.kafka = context.kafka;
    ps.limits = context.limits;
    ps.client_id = "kvstream-dlq-replay";
    ps.delivery_timeout = std::chrono::milliseconds(options.timeout_ms);
    ps.close_timeout = std::chrono::milliseconds(options.timeout_ms);
    // What the delivery callbacks write: declared before the producer, so
    // that they outlive every callback (the producer's destructor waits for
    // the last).
    std::mutex mu;
    std::map<size_t, producer::Delivery> deliveries;  // by index in plan.items; guarded by mu
    std::atomic<uint64_t> done{0};
    std::atomic<size_t> marks_failed{0};
    try {
      producer::Producer producer(ps);
      producer::ProgressReporter progress(io.err, true, io.err_is_terminal, [&] {
        producer::ProgressState s;
        s.events = done.load();
        s.fraction = static_cast<double>(s.events) / static_cast<double>(plan.to_send);
        return s;
      });
      for (size_t i = 0; i < plan.items.size(); ++i) {
        if (plan.items[i].verdict != Verdict::kSend) continue;
        try {
          producer.send(topic, replay_record(plan.items[i].letter, options.drop_headers),
                        [&, i](const producer::Delivery& d) {
                          std::lock_guard<std::mutex> lock(mu);
                          deliveries[i] = d;
                          ++done;
                        });
        } catch (const producer::SendError& e) {
          // Refused before sending (too large for the client, say): reported as failed.
          producer::Delivery d;
          d.error = e.what();
          d.failure = e.failure();
          std::lock_guard<std::mutex> lock(mu);
          deliveries[i] = d;
          ++done;
        }
      }
      producer.flush(std::chrono::milliseconds(options.timeout_ms));
      progress.finish();
      // The marks, for what the topic took; then every report is in.
      std::map<size_t, producer::Delivery> marked;
      {
        std::lock_guard<std::mutex> lock(mu);
        marked = deliveries;
      }
      for (const auto& [i, d] : marked) {
        const DeadLetter& letter = plan.items[i].letter;
        if (!d.ok()) {
          ++failed;
          io.out << "failed " << to_string(letter.origin) << ": " << *d.error << '\n';
          continue;
        }
        ++sent;
        io.out << "sent " << to_string(letter.origin) << " to " << to_string(d.position) << '\n';
        producer.send(context.dlq_topic, replay_mark_record(letter, d.position),
                      [&marks_failed](const producer::Delivery& m) {
                        if (!m.ok()) ++marks_failed;
                      });
      }
      failed += plan.to_send - marked.size();  // no report within the time
      const producer::CloseReport report = producer.close();
      io.out << std::flush;
      if (!report.ok() || marks_failed.load() > 0) {
        io.err << "kvstream-consumer dlq replay: " << report.undelivered
               << " record(s) or replay mark(s) not delivered; the records sent but not marked "
                  "would be sent again by another replay"
               << std::endl;
        failed = std::max<size_t>(failed, 1);
      }
    } catch (const Error& e) {
      io.out << std::flush;
      io.err << "kvstream-consumer dlq replay: " << e.what() << std::endl;
      failed = std::max<size_t>(failed, 1);
    }
  }

  io.out << "dlq replay" << (options.dry_run ? " (dry run)" : "") << ": " << plan.selected
         << " selected, " << (options.dry_run ? plan.to_send : sent)
         << (options.dry_run ? " would be sent, " : " sent, ") << plan.duplicates
         << " duplicate(s) skipped, " << plan.already_replayed << " already replayed, "
         << plan.refused << " refused";
  if (failed > 0) io.out << ", " << failed << " failed";
  io.out << std::endl;
  if (failed > 0) return kExitFailed;
  return plan.refused > 0 ? kExitRefused : kExitOk;
}

}  // namespace kvstream::dlq
