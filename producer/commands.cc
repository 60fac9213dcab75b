#include "producer/commands.h"

#include <fmt/format.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <thread>

#include "producer/cli.h"
#include "producer/progress.h"

namespace kvstream::producer {

namespace {

using Clock = std::chrono::steady_clock;

// Delivery failures of import are reported by line up to this many.
constexpr uint64_t kMaxFailuresShown = 20;

bool interrupted(const CommandIo& io) { return io.interrupted && io.interrupted->load(); }

double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

int single(Producer& producer, CommandIo& io, const std::function<Position()>& send) {
  int code = kExitDelivered;
  try {
    io.out << to_string(send()) << std::endl;
  } catch (const Error& e) {
    io.err << "kvstream-producer: " << e.what() << std::endl;
    code = e.kind() == ErrorKind::kPermanent ? kExitInvalid : kExitUndelivered;
  }
  if (!producer.close().ok()) code = kExitUndelivered;
  return code;
}

std::string rejection(const schema::ValidationError& e) {
  return std::string(schema::reason_code(e.reason)) + ": " + e.message;
}

// State a delivery callback of import reaches through one pointer, so the
// callback fits std::function's inline storage.
struct ImportContext {
  ProgressReporter* progress;
  std::atomic<uint64_t> failures{0};
};

}  // namespace

int run_put(Producer& producer, const std::string& key, const std::string& value,
            const schema::EncodeOptions& options, CommandIo& io) {
  return single(producer, io, [&] { return producer.put_sync(key, value, options); });
}

int run_delete(Producer& producer, const std::string& key, const schema::EncodeOptions& options,
               CommandIo& io) {
  return single(producer, io, [&] { return producer.del_sync(key, options); });
}

int run_import(Producer& producer, const ImportSettings& settings,
               const schema::EncodeOptions& defaults, CommandIo& io) {
  std::ifstream file;
  std::istream* in = &std::cin;
  double total_bytes = 0;
  if (settings.path != "-") {
    file.open(settings.path, std::ios::binary);
    if (!file) {
      io.err << "kvstream-producer: cannot open " << settings.path << ": " << std::strerror(errno)
             << std::endl;
      producer.close();
      return kExitUsage;
    }
    std::error_code ec;
    const auto size = std::filesystem::file_size(settings.path, ec);
    if (!ec) total_bytes = static_cast<double>(size);
    in = &file;
  }

  std::atomic<uint64_t> consumed{0}, bad{0};
  ProgressReporter progress(io.err, io.err_is_terminal, !io.quiet, [&] {
    const ProducerStats stats = producer.stats();
    ProgressState s;
    s.events = stats.delivered;
    s.failed = stats.failed + bad.load();
    if (total_bytes > 0) s.fraction = static_cast<double>(consumed.load()) / total_bytes;
    return s;
  });
  ImportContext context{&progress};
  bool stopped = false, send_failed = false;
  // Reports a bad line; under --strict it stops the import.
  auto reject = [&](uint64_t line, const std::string& why) {
    bad.fetch_add(1);
    progress.message(fmt::format("line {}: {}", line, why));
    stopped = settings.strict;
  };

  // A JSON-escaped or base64 value of the largest size fits.
  const size_t max_line = producer.settings().limits.max_value_bytes * 6 + 64 * 1024;
  LineReader reader(*in, max_line);
  std::string_view line;
  bool too_long = false;
  const auto start = Clock::now();
  while (!interrupted(io) && reader.next(line, too_long)) {
    consumed.store(reader.bytes_read(), std::memory_order_relaxed);
    const uint64_t n = reader.line_number();
    if (too_long) {
      reject(n, fmt::format("longer than {} bytes", max_line));
      if (stopped) break;
      continue;
    }
    ParsedLine parsed = parse_line(settings.format, line);
    if (std::holds_alternative<std::monostate>(parsed)) continue;
    if (auto* b = std::get_if<BadLine>(&parsed)) {
      reject(n, b->reason);
      if (stopped) break;
      continue;
    }
    const ImportEvent& ev = std::get<ImportEvent>(parsed);
    schema::EncodeOptions options = defaults;
    if (!ev.content_type.empty()) options.content_type = ev.content_type;
    ImportContext* ctx = &context;
    auto on_delivery = [ctx, n](const Delivery& d) {
      if (!d.ok() && ctx->failures.fetch_add(1) < kMaxFailuresShown) {
        ctx->progress->message(fmt::format("line {}: not delivered: {}", n, *d.error));
      }
    };
    try {
      auto invalid = ev.op == schema::Op::kPut
                         ? producer.put(ev.key, ev.value, options, on_delivery)
                         : producer.del(ev.key, options, on_delivery);
      if (invalid) reject(n, rejection(*invalid));
      if (stopped) break;
    } catch (const Error& e) {
      progress.message(fmt::format("line {}: not sent: {}", n, e.what()));
      send_failed = true;
      break;
    }
  }
  const bool read_failed = in->bad();
  if (read_failed) progress.message("kvstream-producer: reading " + settings.path + " failed");

  const CloseReport report = producer.close();  // every callback has run
  progress.finish();
  Summary summary;
  summary.command = "import";
  summary.delivered = report.delivered;
  summary.bytes = producer.stats().delivered_bytes;
  summary.undelivered = report.undelivered;
  summary.seconds = seconds_since(start);
  summary.extra = stopped ? fmt::format("stopped at bad line {}", reader.line_number())
                          : fmt::format("{} bad line(s) skipped", bad.load());
  if (interrupted(io)) summary.extra += "; interrupted";
  io.out << format_summary(summary) << std::endl;

  if (report.undelivered > 0 || send_failed || read_failed) return kExitUndelivered;
  if (interrupted(io)) return kExitInterrupted;
  return stopped ? kExitInvalid : kExitDelivered;
}

int run_load(Producer& producer, const LoadSettings& settings, CommandIo& io) {
  const auto start = Clock::now();
  ProgressReporter progress(io.err, io.err_is_terminal, !io.quiet, [&] {
    const ProducerStats stats = producer.stats();
    ProgressState s;
    s.events = stats.delivered;
    s.failed = stats.failed;
    if (settings.count > 0) {
      s.fraction = static_cast<double>(stats.delivered) / static_cast<double>(settings.count);
    }
    if (settings.duration.count() > 0) {
      const double by_time =
          std::chrono::duration<double>(Clock::now() - start) / settings.duration;
      s.fraction = std::max(s.fraction, by_time);
    }
    return s;
  });

  LoadGenerator generator(settings);
  const schema::EncodeOptions options;
  uint64_t sent = 0;
  int code = kExitDelivered;
  while (!interrupted(io) && (settings.count == 0 || sent < settings.count)) {
    if (settings.duration.count() > 0 || settings.rate > 0) {
      const auto now = Clock::now();
      const auto due = start + due_after(sent, settings.rate);
      if (settings.duration.count() > 0 && std::max(now, due) - start >= settings.duration) break;
      if (due > now) std::this_thread::sleep_until(due);
    }
    const LoadEvent ev = generator.next();
    try {
      auto invalid = ev.op == schema::Op::kPut ? producer.put(ev.key, ev.value, options, nullptr)
                                               : producer.del(ev.key, options, nullptr);
      if (invalid) {
        progress.message("kvstream-producer: generated event rejected: " + rejection(*invalid));
        code = kExitInvalid;
        break;
      }
    } catch (const Error& e) {
      progress.message(std::string("kvstream-producer: not sent: ") + e.what());
      code = kExitUndelivered;
      break;
    }
    ++sent;
  }

  const CloseReport report = producer.close();
  progress.finish();
  Summary summary;
  summary.command = "load";
  summary.delivered = report.delivered;
  summary.bytes = producer.stats().delivered_bytes;
  summary.undelivered = report.undelivered;
  summary.seconds = seconds_since(start);
  summary.extra = fmt::format("{} sent", sent);
  if (interrupted(io)) summary.extra += "; interrupted";
  io.out << format_summary(summary) << std::endl;

  if (report.undelivered > 0) return kExitUndelivered;
  if (code != kExitDelivered) return code;
  return interrupted(io) ? kExitInterrupted : kExitDelivered;
}

}  // namespace kvstream::producer
