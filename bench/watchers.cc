// watchers: many clients of one replica's change feed (GET /v1/watch, Server-
// Sent Events) at once, for bench/watch_bench (bench/README.md, "The watch
// benchmark").
//
//   watchers --addr 127.0.0.1:PORT --pg-url URL --topic T --partitions 6
//            --stop-file F [--watchers 100] [--from now] [--prefix P]
//            [--values true] [--threads 2] [--ready-file F]
//            [--drain-seconds S] [--record [--warmup-events W]]
//
// Opens the streams all at once, retrying while the replica does not listen
// yet or answers 503 or 429 (until --connect-timeout), so it may start
// before the replica. Once every stream has its first `id:` (where its
// watch starts: it gets every change applied after that) it creates
// --ready-file. Once --stop-file exists (the driver creates it when the
// replica has applied everything), it reads the applied positions of the
// topic (kv_offsets) and waits until every stream has received the event
// at each partition's last applied offset, or was ended by the replica, or
// --drain-seconds passed (then it reports how far the streams got), or
// --timeout passed.
//
// Per stream it counts the events, checks their order (per partition the
// positions must grow: a repeat or a step back counts as out of order), and
// notes how the stream ended (an `event: error`, e.g. too_slow). A receipt's
// time is the system clock read when the bytes holding it are parsed.
//
// With --record it keeps each receipt's time per stream and position, and
// after the run joins them with the rows of the replica's database. The
// workload must have unique keys (a row per event: kv.src_partition and
// src_offset are the event's position):
//   apply -> receipt   receipt - updated_at, which is now() of the applying
//                      transaction: its start, so this is an upper bound of
//                      the time from the commit
//   commit -> receipt  receipt - pg_xact_commit_timestamp(xmin), when the
//                      server runs with track_commit_timestamp (stamped as
//                      the commit record is written, before its WAL flush)
//   send -> receipt    receipt - the `ts=<ms>;` stamp the publisher put at
//                      the start of the value (whole ms, so up to 1 ms high)
//   fan-out            per event, its last receipt - its first, across the
//                      streams
// Events of key index below --warmup-events (key-<index>: the latency
// tool's uncounted first seconds) are left out; every stream must have
// received every other event (receipts_missing). Postgres and this tool
// must run on one machine (one system clock).
//
// Results as `name=value` lines on stdout, progress on stderr. Exit 0 when
// every stream opened and either received everything or was ended by the
// replica with an error event (a result: the report shows it); 1 when a
// stream could not open, broke off without one, received events out of
// order, or the time ran out.

#include <sys/ioctl.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <atomic>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <charconv>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <fstream>
#include <iostream>
#include <map>
#include <memory>
#include <optional>
#include <pqxx/pqxx>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "bench/proc_stats.h"

namespace kvstream::bench {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;
using SteadyClock = std::chrono::steady_clock;

int64_t system_us() {
  return std::chrono::duration_cast<std::chrono::microseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

template <typename T>
void report(const std::string& name, const T& value) {
  std::cout << name << '=' << value << '\n';
}

struct Options {
  std::string host = "127.0.0.1";
  std::string port;
  int watchers = 100;
  std::string pg_url, topic;
  int32_t partitions = 0;
  std::string stop_file;
  std::string prefix;
  std::string from = "now";
  std::string values = "true";
  int threads = 2;
  std::string ready_file;
  std::chrono::seconds connect_timeout{60};
  std::chrono::seconds timeout{600};
  // After the stop file: how long the streams may take to receive the rest
  // (nullopt: until --timeout).
  std::optional<std::chrono::milliseconds> drain;
  bool record = false;
  int64_t warmup_events = 0;
};

// What one stream received, written by its handlers only; read once the
// I/O threads are done, but for the atomics.
struct Stream {
  explicit Stream(int32_t partitions)
      : last_offset(static_cast<size_t>(partitions)), at(static_cast<size_t>(partitions)) {
    for (auto& o : last_offset) o.store(-1);
  }
  bool opened = false;
  std::atomic<bool> ended{false};  // the replica ended it, or the connection broke
  std::atomic<int> fd{-1};         // the socket, while streaming
  std::string end_reason;
  std::string error_code;  // of an `event: error`
  unsigned refused_status = 0;
  int64_t events = 0, out_of_order = 0, heartbeats = 0;
  int64_t first_us = 0, last_us = 0;
  // Per partition, the last offset received (-1: none); the main thread
  // reads them while the stream runs.
  std::vector<std::atomic<int64_t>> last_offset;
  // With --record: per partition and offset, the receipt's µs after the
  // run's base time, plus one (0: not received).
  std::vector<std::vector<uint32_t>> at;
};

struct Shared {
  std::atomic<int> opened{0};
  std::atomic<int> not_opened{0};  // gave up, or refused
  int64_t base_us = 0;
  SteadyClock::time_point connect_deadline;
};

class Watcher : public std::enable_shared_from_this<Watcher> {
 public:
  Watcher(asio::io_context& ioc, tcp::endpoint endpoint, const Options& options, Stream& out,
          Shared& shared)
      : ioc_(ioc),
        endpoint_(endpoint),
        options_(options),
        out_(out),
        shared_(shared),
        socket_(ioc),
        timer_(ioc) {
    request_ = "GET /v1/watch?prefix=" + options.prefix + "&from=" + options.from +
               "&values=" + options.values + " HTTP/1.1\r\nHost: " + options.host + ":" +
               options.port + "\r\nAccept: text/event-stream\r\n\r\n";
  }

  void start() { connect(); }

 private:
  void connect() {
    socket_ = tcp::socket(ioc_);
    socket_.async_connect(endpoint_, [self = shared_from_this()](beast::error_code ec) {
      if (ec) return self->retry("connect: " + ec.message());
      self->socket_.set_option(tcp::no_delay(true));
      asio::async_write(self->socket_, asio::buffer(self->request_),
                        [self](beast::error_code wec, size_t) {
                          if (wec) return self->retry("write: " + wec.message());
                          self->read_header();
                        });
    });
  }

  // Not listening yet, or not ready to serve watches: again shortly, until
  // the deadline.
  void retry(const std::string& why) {
    beast::error_code ignored;
    socket_.close(ignored);
    if (SteadyClock::now() > shared_.connect_deadline) return end("could not open: " + why);
    timer_.expires_after(std::chrono::milliseconds(20));
    timer_.async_wait([self = shared_from_this()](beast::error_code ec) {
      if (!ec) self->connect();
    });
  }

  void read_header() {
    header_buffer_.clear();
    parser_.emplace();
    http::async_read_header(socket_, header_buffer_, *parser_,
                            [self = shared_from_this()](beast::error_code ec, size_t) {
                              if (ec) return self->retry("read: " + ec.message());
                              self->on_header();
                            });
  }

  void on_header() {
    const unsigned status = parser_->get().result_int();
    if (status == 200) {
      out_.opened = true;
      out_.fd.store(socket_.native_handle());
      shared_.opened.fetch_add(1);
      chunked_ = parser_->chunked();
      // The stream's body is read here, not through the parser: a large
      // buffer per read, so that a client that fell behind catches up with
      // few system calls.
      read_buffer_.resize(kReadBytes);
      const auto rest = header_buffer_.data();
      body(std::string_view(static_cast<const char*>(rest.data()), rest.size()));
      header_buffer_.consume(header_buffer_.size());
      return read_more();
    }
    // Refused: read the (small) answer, then retry or give up.
    http::async_read(
        socket_, header_buffer_, *parser_,
        [self = shared_from_this(), status](beast::error_code, size_t) {
          if (status == 503 || status == 429) {
            return self->retry("answered " + std::to_string(status));
          }
          self->out_.refused_status = status;
          self->end("answered " + std::to_string(status) + ": " + self->parser_->get().body());
        });
  }

  void read_more() {
    socket_.async_read_some(
        asio::buffer(read_buffer_),
        [self = shared_from_this()](beast::error_code ec, size_t n) { self->on_read(ec, n); });
  }

  void on_read(beast::error_code ec, size_t n) {
    if (n > 0) body(std::string_view(read_buffer_.data(), n));
    if (ec || last_chunk_) {
      if (!out_.error_code.empty()) return end("event: error " + out_.error_code);
      return end(ec && ec != asio::error::eof ? ec.message() : "the replica ended the stream");
    }
    read_more();
  }

  // The response body: chunked (HTTP/1.1: a hex size line, the data, CRLF;
  // a size of 0 ends it), or the bytes until the connection closes.
  void body(std::string_view data) {
    now_us_ = 0;
    if (!chunked_) return feed(data);
    while (!data.empty() && !last_chunk_) {
      if (chunk_left_ > 0) {
        const auto take = static_cast<size_t>(std::min<uint64_t>(chunk_left_, data.size()));
        feed(data.substr(0, take));
        data.remove_prefix(take);
        chunk_left_ -= take;
        continue;
      }
      // A size line ("1a2f\r\n", after the CRLF ending the previous chunk).
      const auto nl = data.find('\n');
      size_line_.append(data.data(), nl == std::string_view::npos ? data.size() : nl);
      if (nl == std::string_view::npos) return;
      data.remove_prefix(nl + 1);
      const auto digits = size_line_.find_first_not_of("\r");
      if (digits == std::string::npos) {
        size_line_.clear();  // the CRLF after a chunk's data
        continue;
      }
      uint64_t size = 0;
      const auto r = std::from_chars(size_line_.data() + digits,
                                     size_line_.data() + size_line_.size(), size, 16);
      size_line_.clear();
      if (r.ec != std::errc()) return end("a malformed chunk size");
      if (size == 0) last_chunk_ = true;
      chunk_left_ = size;
    }
  }

  void end(const std::string& reason) {
    if (out_.ended.load()) return;
    out_.end_reason = reason;
    out_.ended.store(true);
    out_.fd.store(-1);
    if (!out_.opened) shared_.not_opened.fetch_add(1);
    beast::error_code ignored;
    socket_.close(ignored);
  }

  // The stream's bytes, in order: lines of `field: value`, an empty line
  // ending each message.
  void feed(std::string_view data) {
    while (!data.empty()) {
      const auto nl = data.find('\n');
      if (nl == std::string_view::npos) {
        partial_.append(data.data(), data.size());
        return;
      }
      if (partial_.empty()) {
        line(data.substr(0, nl));
      } else {
        partial_.append(data.data(), nl);
        line(partial_);
        partial_.clear();
      }
      data.remove_prefix(nl + 1);
    }
  }

  static bool starts_with(std::string_view s, std::string_view p) {
    return s.size() >= p.size() && s.compare(0, p.size(), p) == 0;
  }

  void line(std::string_view l) {
    if (l.empty()) {
      event_.clear();
    } else if (starts_with(l, "event: ")) {
      event_.assign(l.substr(7));
    } else if (starts_with(l, "data: ")) {
      if (event_ == "put" || event_ == "delete") {
        data(l.substr(6));
      } else if (event_ == "error") {
        // {"error":"too_slow","message":"..."}
        const auto at = l.find("\"error\":\"");
        out_.error_code = at == std::string_view::npos
                              ? std::string(l.substr(6))
                              : std::string(l.substr(at + 9, l.find('"', at + 9) - at - 9));
      }
    } else if (starts_with(l, ": heartbeat")) {
      ++out_.heartbeats;
    } else if (!started_ && starts_with(l, "id: ")) {
      // The stream's first id, "0:41,1:-1,...": where the watch starts.
      // Events come after it.
      started_ = true;
      start(l.substr(4));
    }
  }

  void start(std::string_view vector) {
    const char* p = vector.data();
    const char* end = p + vector.size();
    while (p < end) {
      int32_t partition = -1;
      int64_t offset = -1;
      auto r = std::from_chars(p, end, partition);
      if (r.ec != std::errc() || r.ptr == end || *r.ptr != ':') return;
      r = std::from_chars(r.ptr + 1, end, offset);
      if (r.ec != std::errc()) return;
      if (partition >= 0 && static_cast<size_t>(partition) < out_.last_offset.size()) {
        out_.last_offset[static_cast<size_t>(partition)].store(offset);
      }
      p = r.ptr + (r.ptr < end && *r.ptr == ',' ? 1 : 0);
      if (r.ptr < end && *r.ptr != ',') return;
    }
  }

  void data(std::string_view json) {
    // {"content_type":...,"key":...,"position":"2:17",...}: keys and
    // positions hold no quotes, so the position is found as text.
    constexpr std::string_view kPosition = "\"position\":\"";
    const auto at = json.find(kPosition);
    if (at == std::string_view::npos) return;
    const char* p = json.data() + at + kPosition.size();
    const char* end = json.data() + json.size();
    int32_t partition = -1;
    int64_t offset = -1;
    auto r = std::from_chars(p, end, partition);
    if (r.ec != std::errc() || r.ptr == end || *r.ptr != ':') return;
    r = std::from_chars(r.ptr + 1, end, offset);
    if (r.ec != std::errc() || partition < 0 || offset < 0) return;
    receipt(partition, offset);
  }

  void receipt(int32_t partition, int64_t offset) {
    if (now_us_ == 0) now_us_ = system_us();
    const auto p = static_cast<size_t>(partition);
    if (p >= out_.last_offset.size()) return;  // beyond --partitions: not counted
    if (offset <= out_.last_offset[p].load(std::memory_order_relaxed)) {
      ++out_.out_of_order;
    } else {
      out_.last_offset[p].store(offset, std::memory_order_relaxed);
    }
    ++out_.events;
    if (out_.first_us == 0) out_.first_us = now_us_;
    out_.last_us = now_us_;
    if (options_.record) {
      auto& v = out_.at[p];
      const auto o = static_cast<size_t>(offset);
      if (o >= v.size()) v.resize(std::max(o + 1, v.size() + v.size() / 2 + 4096), 0);
      v[o] = static_cast<uint32_t>(now_us_ - shared_.base_us + 1);
    }
  }

  asio::io_context& ioc_;
  const tcp::endpoint endpoint_;
  const Options& options_;
  Stream& out_;
  Shared& shared_;
  tcp::socket socket_;
  asio::steady_timer timer_;
  std::string request_;
  static constexpr size_t kReadBytes = size_t{256} << 10;
  beast::flat_buffer header_buffer_;
  std::optional<http::response_parser<http::string_body>> parser_;
  std::vector<char> read_buffer_;
  bool chunked_ = false, last_chunk_ = false;
  uint64_t chunk_left_ = 0;
  std::string size_line_;
  std::string partial_, event_;
  bool started_ = false;
  int64_t now_us_ = 0;  // the receipt time of what feed() parses now
};

// Latencies in µs: 10 µs bins up to 10 s, 1 ms bins up to 1000 s; the
// maximum is kept exactly.
class Histogram {
 public:
  Histogram() : bins_(kFine + kCoarse, 0) {}

  void add(int64_t us) {
    if (us < 0) {
      ++negative_;
      us = 0;
    }
    ++count_;
    sum_ += static_cast<double>(us);
    max_ = std::max(max_, us);
    size_t b = us < kFineLimit ? static_cast<size_t>(us / 10)
                               : kFine + static_cast<size_t>((us - kFineLimit) / 1000);
    ++bins_[std::min(b, bins_.size() - 1)];
  }

  // Nearest rank, in ms (the bin's upper edge, at most the maximum).
  double quantile_ms(double q) const {
    if (count_ == 0) return 0;
    const auto rank =
        std::max<uint64_t>(1, static_cast<uint64_t>(std::ceil(q * static_cast<double>(count_))));
    uint64_t seen = 0;
    for (size_t b = 0; b < bins_.size(); ++b) {
      seen += bins_[b];
      if (seen >= rank) {
        const int64_t upper = b < kFine ? static_cast<int64_t>(b + 1) * 10
                                        : kFineLimit + static_cast<int64_t>(b - kFine + 1) * 1000;
        return static_cast<double>(std::min(upper, max_)) / 1000.0;
      }
    }
    return static_cast<double>(max_) / 1000.0;
  }

  void report_as(const std::string& name) const {
    report(name + "_count", count_);
    report(name + "_p50_ms", quantile_ms(0.50));
    report(name + "_p99_ms", quantile_ms(0.99));
    report(name + "_p999_ms", quantile_ms(0.999));
    report(name + "_max_ms", static_cast<double>(max_) / 1000.0);
    report(name + "_mean_ms", count_ == 0 ? 0.0 : sum_ / static_cast<double>(count_) / 1000.0);
    report(name + "_negative", negative_);
  }

 private:
  static constexpr int64_t kFineLimit = 10'000'000;  // 10 s
  static constexpr size_t kFine = 1'000'000;
  static constexpr size_t kCoarse = 990'000;
  std::vector<uint64_t> bins_;
  uint64_t count_ = 0, negative_ = 0;
  double sum_ = 0;
  int64_t max_ = 0;
};

// The rows of the replica's view, per partition and offset (unique keys: a
// row per event).
struct Rows {
  struct Row {
    int64_t applied_us = 0;  // updated_at; 0: no row
    int64_t commit_us = 0;   // 0: unknown
    int64_t sent_ms = 0;     // 0: no stamp
    bool counted = false;    // not a warm-up event
  };
  std::vector<std::vector<Row>> at;
  bool commit_timestamps = false;
  int64_t counted = 0;

  const Row* find(size_t p, size_t o) const {
    if (p >= at.size() || o >= at[p].size() || at[p][o].applied_us == 0) return nullptr;
    return &at[p][o];
  }
};

Rows read_rows(const Options& options) {
  Rows rows;
  pqxx::connection conn(options.pg_url);
  pqxx::nontransaction tx(conn);
  rows.commit_timestamps =
      tx.exec1("SELECT current_setting('track_commit_timestamp')")[0].as<std::string>() == "on";
  const std::string commit =
      rows.commit_timestamps
          ? "(extract(epoch FROM pg_xact_commit_timestamp(xmin)) * 1000000)::int8"
          : "NULL::int8";
  const pqxx::result r = tx.exec_params(
      "SELECT src_partition, src_offset, (extract(epoch FROM updated_at) * 1000000)::int8, " +
          commit +
          ", substring(convert_from(substring(value FROM 1 FOR 24), 'UTF8') "
          "            FROM '^ts=([0-9]+);')::int8, "
          "  coalesce(substring(key FROM '[0-9]+$')::int8 >= $1, true) "
          "FROM kv",
      options.warmup_events);
  for (const auto& row : r) {
    const auto p = row[0].as<size_t>();
    const auto o = row[1].as<size_t>();
    if (p >= rows.at.size()) rows.at.resize(p + 1);
    if (o >= rows.at[p].size()) rows.at[p].resize(o + 1);
    Rows::Row& out = rows.at[p][o];
    out.applied_us = row[2].as<int64_t>();
    out.commit_us = row[3].is_null() ? 0 : row[3].as<int64_t>();
    out.sent_ms = row[4].is_null() ? 0 : row[4].as<int64_t>();
    out.counted = row[5].as<bool>();
    rows.counted += out.counted;
  }
  return rows;
}

// Joins the receipts with the rows and reports the latencies.
void report_latencies(const Options& options, const std::vector<std::unique_ptr<Stream>>& streams,
                      const Shared& shared) {
  const Rows rows = read_rows(options);
  Histogram applied, committed, sent, fanout;
  int64_t joined = 0, without_row = 0, not_received = 0;
  // Receipts of positions that have no row (a key written twice, or a row
  // missing): a check.
  for (const auto& s : streams) {
    for (size_t p = 0; p < s->at.size(); ++p) {
      for (size_t o = 0; o < s->at[p].size(); ++o) {
        if (s->at[p][o] != 0 && rows.find(p, o) == nullptr) ++without_row;
      }
    }
  }
  for (size_t p = 0; p < rows.at.size(); ++p) {
    for (size_t o = 0; o < rows.at[p].size(); ++o) {
      const Rows::Row* row = rows.find(p, o);
      if (row == nullptr || !row->counted) continue;
      int64_t first = INT64_MAX, last = INT64_MIN;
      for (const auto& s : streams) {
        const uint32_t at = p < s->at.size() && o < s->at[p].size() ? s->at[p][o] : 0;
        if (at == 0) {
          ++not_received;
          continue;
        }
        const int64_t received = shared.base_us + static_cast<int64_t>(at) - 1;
        ++joined;
        applied.add(received - row->applied_us);
        if (row->commit_us != 0) committed.add(received - row->commit_us);
        if (row->sent_ms != 0) sent.add(received - row->sent_ms * 1000);
        first = std::min(first, received);
        last = std::max(last, received);
      }
      if (last >= first) fanout.add(last - first);
    }
  }
  report("rows_counted", rows.counted);
  report("receipts_joined", joined);
  report("receipts_without_row", without_row);
  report("receipts_missing", not_received);
  report("commit_timestamps", rows.commit_timestamps ? 1 : 0);
  applied.report_as("apply_to_receipt");
  if (rows.commit_timestamps) committed.report_as("commit_to_receipt");
  sent.report_as("send_to_receipt");
  fanout.report_as("fanout");
}

// Per partition, the last offset the replica has applied (-1: none).
std::vector<int64_t> applied_ends(const Options& options) {
  std::vector<int64_t> ends(static_cast<size_t>(options.partitions), -1);
  pqxx::connection conn(options.pg_url);
  pqxx::nontransaction tx(conn);
  for (const auto& row : tx.exec_params(
           "SELECT partition, next_offset FROM kv_offsets WHERE topic = $1", options.topic)) {
    const auto p = row[0].as<size_t>();
    if (p < ends.size()) ends[p] = row[1].as<int64_t>() - 1;
  }
  return ends;
}

bool file_exists(const std::string& path) { return std::ifstream(path).good(); }

int run(int argc, char** argv) {
  Options options;
  CLI::App app{"watchers: many Server-Sent Events clients of GET /v1/watch on one replica"};
  std::string addr;
  int64_t connect_timeout = options.connect_timeout.count();
  int64_t timeout = options.timeout.count();
  double drain_seconds = -1;
  app.add_option("--addr", addr, "The replica's HTTP address, host:port")->required();
  app.add_option("--pg-url", options.pg_url, "The replica's database")->required();
  app.add_option("--topic", options.topic, "The replica's topic")->required();
  app.add_option("--partitions", options.partitions, "Partitions of the topic")->required();
  app.add_option("--stop-file", options.stop_file,
                 "Once it exists, each stream is read up to the applied positions")
      ->required();
  app.add_option("--watchers", options.watchers, "Streams")->capture_default_str();
  app.add_option("--prefix", options.prefix, "The watches' prefix (URL-encoded)");
  app.add_option("--from", options.from, "now, or a position vector")->capture_default_str();
  app.add_option("--values", options.values, "true or false")
      ->check(CLI::IsMember({"true", "false"}))
      ->capture_default_str();
  app.add_option("--threads", options.threads, "I/O threads")->capture_default_str();
  app.add_option("--ready-file", options.ready_file, "Created once every stream is open");
  app.add_option("--connect-timeout", connect_timeout, "Seconds to open every stream")
      ->capture_default_str();
  app.add_option("--timeout", timeout, "Seconds in all")->capture_default_str();
  app.add_option("--drain-seconds", drain_seconds,
                 "After the stop file, end after this long even if streams miss events "
                 "(not a failure; default: until --timeout)");
  app.add_flag("--record", options.record, "Keep each receipt's time and join it with the rows");
  app.add_option("--warmup-events", options.warmup_events,
                 "Events of key index below it are not counted (with --record)")
      ->capture_default_str();
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? 0 : 2;
  }
  options.connect_timeout = std::chrono::seconds(connect_timeout);
  options.timeout = std::chrono::seconds(timeout);
  if (drain_seconds >= 0) {
    options.drain = std::chrono::milliseconds(static_cast<int64_t>(drain_seconds * 1000));
  }
  const auto colon = addr.rfind(':');
  if (colon == std::string::npos || options.watchers <= 0 || options.partitions <= 0 ||
      options.threads <= 0 || timeout <= 0 || timeout > 3600) {
    std::cerr << "watchers: --addr host:port; positive --watchers, --partitions and --threads; "
                 "--timeout up to 3600 s\n";
    return 2;
  }
  options.host = addr.substr(0, colon);
  options.port = addr.substr(colon + 1);

  // Before the I/O context: its handlers, destroyed with it, hold watchers
  // that point into these.
  std::vector<std::unique_ptr<Stream>> streams;
  for (int i = 0; i < options.watchers; ++i) {
    streams.push_back(std::make_unique<Stream>(options.partitions));
  }
  Shared shared;
  asio::io_context ioc(options.threads);
  tcp::resolver resolver(ioc);
  const tcp::endpoint endpoint = *resolver.resolve(options.host, options.port).begin();
  shared.base_us = system_us();
  const auto start = SteadyClock::now();
  shared.connect_deadline = start + options.connect_timeout;
  for (auto& s : streams) std::make_shared<Watcher>(ioc, endpoint, options, *s, shared)->start();
  std::vector<std::thread> threads;
  for (int i = 0; i < options.threads; ++i) threads.emplace_back([&ioc] { ioc.run(); });

  // Opening: until every stream is open (or gave up).
  const int n = options.watchers;
  while (shared.opened.load() + shared.not_opened.load() < n &&
         SteadyClock::now() < shared.connect_deadline + std::chrono::seconds(1)) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  const double open_seconds = std::chrono::duration<double>(SteadyClock::now() - start).count();
  const int64_t opened_us = system_us();
  const Cost cpu_at_open = process_cost(getpid());
  const bool all_open = shared.opened.load() == n;
  if (all_open) {
    std::cerr << "watchers: " << n << " streams open after " << open_seconds << " s\n";
    if (!options.ready_file.empty()) std::ofstream(options.ready_file) << "ready\n";
  }

  // Streaming: until the stop file, then until each stream has the last
  // applied event of every partition, or ended.
  const auto deadline = start + options.timeout;
  std::optional<std::vector<int64_t>> ends;
  std::optional<SteadyClock::time_point> stopped_at;
  bool timed_out = false, drained = false;
  auto next_sample = SteadyClock::now();
  int64_t queued_max = 0, queued_sum = 0, queued_samples = 0;
  auto next_progress = SteadyClock::now() + std::chrono::seconds(10);
  while (all_open) {
    if (SteadyClock::now() > deadline) {
      timed_out = true;
      break;
    }
    if (!ends && file_exists(options.stop_file)) {
      ends = applied_ends(options);
      stopped_at = SteadyClock::now();
    }
    if (SteadyClock::now() >= next_sample) {
      // What the streams' sockets hold that this client has not read yet: a
      // client that falls behind shows here (the replica cuts a stream
      // once its own queue for it passes KVSTREAM_WATCH_BUFFER_BYTES).
      next_sample += std::chrono::milliseconds(100);
      int64_t queued = 0;
      for (const auto& s : streams) {
        int bytes = 0;
        const int fd = s->fd.load();
        if (fd >= 0 && ioctl(fd, FIONREAD, &bytes) == 0) queued += bytes;
      }
      queued_max = std::max(queued_max, queued);
      queued_sum += queued;
      ++queued_samples;
    }
    int done = 0;
    for (const auto& s : streams) {
      bool complete = ends.has_value();
      for (size_t p = 0; complete && p < ends->size(); ++p) {
        complete = s->last_offset[p].load(std::memory_order_relaxed) >= (*ends)[p];
      }
      done += complete || s->ended.load();
    }
    // Not before the stop file, even when every stream has ended: the rows
    // are joined once everything is applied.
    if (ends && done == n) break;
    if (stopped_at && options.drain && SteadyClock::now() > *stopped_at + *options.drain) {
      drained = true;
      break;
    }
    if (SteadyClock::now() > next_progress) {
      next_progress += std::chrono::seconds(10);
      std::cerr << "watchers: " << done << " of " << n << " streams done or ended\n";
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  const Cost cpu_at_end = process_cost(getpid());
  const double tail_seconds =
      stopped_at ? std::chrono::duration<double>(SteadyClock::now() - *stopped_at).count() : 0;
  ioc.stop();
  for (auto& t : threads) t.join();

  int opened = 0, ended_with_error = 0, broken = 0, refused = 0, unexplained = 0;
  int64_t events = 0, out_of_order = 0, heartbeats = 0, first_us = INT64_MAX, last_us = 0;
  int64_t least = INT64_MAX, most = 0;
  int complete = 0;
  std::map<std::string, int> errors;
  for (const auto& sp : streams) {
    const Stream& s = *sp;
    opened += s.opened;
    refused += s.refused_status != 0;
    if (s.ended.load() && !s.error_code.empty()) {
      ++ended_with_error;
      ++errors[s.error_code];
    } else if (s.ended.load()) {
      broken += s.opened;
      if (++unexplained <= 3) std::cerr << "watchers: a stream ended: " << s.end_reason << "\n";
    }
    bool all = ends.has_value();
    for (size_t p = 0; all && p < ends->size(); ++p) all = s.last_offset[p].load() >= (*ends)[p];
    complete += all;
    events += s.events;
    least = std::min(least, s.events);
    most = std::max(most, s.events);
    out_of_order += s.out_of_order;
    heartbeats += s.heartbeats;
    if (s.events > 0) {
      first_us = std::min(first_us, s.first_us);
      last_us = std::max(last_us, s.last_us);
    }
  }
  int64_t applied = 0;
  if (ends) {
    for (int64_t e : *ends) applied += e + 1;
  }
  report("watchers", n);
  report("streams_opened", opened);
  report("open_seconds", open_seconds);
  report("opened_epoch_ms", opened_us / 1000);
  report("streams_ended_with_error", ended_with_error);
  for (const auto& [code, count] : errors) report("streams_error_" + code, count);
  report("streams_broken", broken);
  report("streams_refused", refused);
  report("streams_complete", complete);
  report("timed_out", timed_out ? 1 : 0);
  report("drain_cut", drained ? 1 : 0);
  report("events_applied", applied);
  report("events_received", events);
  report("events_per_stream_min", least);
  report("events_per_stream_max", most);
  report("events_out_of_order", out_of_order);
  report("heartbeats", heartbeats);
  report("seconds_after_stop", tail_seconds);
  if (events > 0) {
    report("first_receipt_epoch_ms", first_us / 1000);
    report("last_receipt_epoch_ms", last_us / 1000);
    const double seconds = static_cast<double>(last_us - first_us) / 1e6;
    report("receive_seconds", seconds);
    report("received_per_s",
           seconds > 0 ? static_cast<int64_t>(static_cast<double>(events) / seconds) : 0);
  }
  report("client_unread_max_bytes", queued_max);
  report("client_unread_mean_bytes", queued_samples > 0 ? queued_sum / queued_samples : 0);
  report("self_cpu_s", (cpu_at_end - cpu_at_open).cpu_s);
  report("self_runq_s", (cpu_at_end - cpu_at_open).runq_s);
  if (options.record && events > 0) report_latencies(options, streams, shared);
  std::cout.flush();

  if (opened < n) {
    std::cerr << "watchers: " << n - opened << " of " << n << " streams did not open within "
              << options.connect_timeout.count() << " s\n";
    return 1;
  }
  if (broken > 0 || out_of_order > 0 || timed_out) {
    std::cerr << "watchers: " << broken << " streams broke off, " << out_of_order
              << " events out of order" << (timed_out ? ", out of time" : "") << "\n";
    return 1;
  }
  return 0;
}

}  // namespace
}  // namespace kvstream::bench

int main(int argc, char** argv) {
  try {
    return kvstream::bench::run(argc, argv);
  } catch (const std::exception& e) {
    std::cerr << "watchers: " << e.what() << "\n";
    return 1;
  }
}
