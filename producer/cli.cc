#include "producer/cli.h"

#include <signal.h>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <fstream>
#include <iostream>

#include "common/config.h"
#include "common/logging.h"
#include "producer/commands.h"

namespace kvstream::producer {

namespace {

constexpr const char* kFooter = R"(
Every option marked (Env:NAME) can be set by that environment variable
instead; a flag wins. librdkafka properties pass through as
KVSTREAM_KAFKA_<PROPERTY> (upper case, dots as underscores), e.g.
KVSTREAM_KAFKA_COMPRESSION_TYPE=lz4; they are applied last.

Exit codes: 0 every event delivered; 1 some event not delivered; 2 usage or
configuration error; 3 the event breaks the record contract (put, delete) or
a bad line stopped `import --strict`; 130 interrupted (import, load).)";

std::atomic<bool> g_interrupted{false};

extern "C" void on_interrupt(int) { g_interrupted.store(true); }

// SIGINT and SIGTERM set g_interrupted while in scope (no SA_RESTART, so a
// blocked read of stdin returns).
class InterruptScope {
 public:
  InterruptScope() {
    g_interrupted.store(false);
    struct sigaction sa {};
    sa.sa_handler = &on_interrupt;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, &old_int_);
    sigaction(SIGTERM, &sa, &old_term_);
  }
  ~InterruptScope() {
    sigaction(SIGINT, &old_int_, nullptr);
    sigaction(SIGTERM, &old_term_, nullptr);
  }
  InterruptScope(const InterruptScope&) = delete;
  InterruptScope& operator=(const InterruptScope&) = delete;

 private:
  struct sigaction old_int_ {};
  struct sigaction old_term_ {};
};

// At most `cap` bytes of `in`; `over` tells whether there was more.
std::string read_capped(std::istream& in, size_t cap, bool& over) {
  std::string out;
  char buffer[64 * 1024];
  while (out.size() <= cap && in.read(buffer, sizeof(buffer)).gcount() > 0) {
    out.append(buffer, static_cast<size_t>(in.gcount()));
  }
  over = out.size() > cap;
  if (over) out.resize(cap);
  return out;
}

}  // namespace

int run_cli(int argc, char** argv) {
  CLI::App app{"kvstream-producer: publish key-value events to kvstream's topic"};
  app.require_subcommand(1);
  app.fallthrough();  // global options may follow the subcommand
  app.footer(kFooter);

  ProducerSettings settings;
  LogSettings log;
  log.level = "warn";
  add_kafka_options(app, settings.kafka);
  add_log_options(app, log);
  std::string content_type, traceparent;
  app.add_option("--content-type", content_type, "content-type header of a PUT");
  app.add_option("--traceparent", traceparent, "W3C traceparent header");
  int64_t linger_ms = settings.linger.count();
  int64_t delivery_timeout_ms = settings.delivery_timeout.count();
  int64_t close_timeout_ms = settings.close_timeout.count();
  app.add_option("--linger-ms", linger_ms, "How long to wait to fill a batch (linger.ms)")
      ->envname("KVSTREAM_PRODUCER_LINGER_MS")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  app.add_option("--batch-bytes", settings.batch_bytes, "Largest batch in bytes (batch.size)")
      ->envname("KVSTREAM_PRODUCER_BATCH_BYTES")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  app.add_option("--batch-messages", settings.batch_messages,
                 "Largest batch in messages (batch.num.messages)")
      ->envname("KVSTREAM_PRODUCER_BATCH_MESSAGES")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  app.add_option("--delivery-timeout-ms", delivery_timeout_ms,
                 "How long an event may take to be acknowledged, retries included")
      ->envname("KVSTREAM_PRODUCER_DELIVERY_TIMEOUT_MS")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  app.add_option("--close-timeout-ms", close_timeout_ms,
                 "How long to wait at the end for events in flight before giving them up")
      ->envname("KVSTREAM_PRODUCER_CLOSE_TIMEOUT_MS")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  app.add_option("--max-value-bytes", settings.limits.max_value_bytes,
                 "Largest value the contract allows (the consumers must agree)")
      ->envname("KVSTREAM_MAX_VALUE_BYTES")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();

  std::string key, value, value_file;
  auto* put = app.add_subcommand("put", "Publish a PUT of KEY; prints partition:offset");
  put->add_option("key", key, "The key")->required();
  auto* value_opt = put->add_option("value", value, "The value; - reads it from stdin");
  auto* file_opt = put->add_option("--file,-f", value_file, "Read the value from this file");

  auto* del = app.add_subcommand("delete", "Publish a DELETE of KEY; prints partition:offset");
  del->add_option("key", key, "The key")->required();

  ImportSettings import;
  std::string format_name;
  bool quiet = false;
  auto* imp = app.add_subcommand(
      "import", "Publish the events of FILE, NDJSON or TSV, one a line; prints a summary");
  imp->add_option("file", import.path, "The file; - reads stdin (then --format is needed)")
      ->required();
  imp->add_option("--format", format_name,
                  "ndjson or tsv; default by extension: .ndjson .jsonl / .tsv .log")
      ->check(CLI::IsMember({"ndjson", "tsv"}));
  imp->add_flag("--strict", import.strict, "Stop at the first bad line (exit 3)");
  imp->add_flag("--quiet,-q", quiet, "No progress on stderr");

  LoadSettings load;
  double duration_s = 0;
  auto* gen = app.add_subcommand(
      "load", "Generate PUT/DELETE load until --count or --duration (or Ctrl-C); prints a summary");
  gen->add_option("--rate", load.rate, "Events per second; 0: as fast as possible")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  gen->add_option("--count", load.count, "Stop after this many events; 0: no limit")
      ->capture_default_str();
  gen->add_option("--duration", duration_s, "Stop after this many seconds; 0: no limit")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  gen->add_option("--keys", load.keys, "Size of the key space")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  gen->add_option("--key-prefix", load.key_prefix, "Keys are PREFIX0 .. PREFIX<keys-1>")
      ->capture_default_str();
  gen->add_option("--value-size", load.value_size, "Bytes of each PUT value")
      ->capture_default_str();
  gen->add_option("--delete-ratio", load.delete_ratio, "Share of DELETE events, 0..1")
      ->check(CLI::Range(0.0, 1.0))
      ->capture_default_str();
  gen->add_option("--seed", load.seed, "Seed of the event sequence")->capture_default_str();
  gen->add_flag("--quiet,-q", quiet, "No progress on stderr");

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? kExitDelivered : kExitUsage;
  }
  auto usage = [](const std::string& message) {
    std::cerr << "kvstream-producer: " << message << std::endl;
    return kExitUsage;
  };
  if (put->parsed() && (value_opt->count() > 0) == (file_opt->count() > 0)) {
    return usage("put needs a VALUE, - (stdin) or --file F, exactly one");
  }
  if (imp->parsed()) {
    auto format =
        format_name.empty() ? format_for_path(import.path) : parse_format_name(format_name);
    if (!format) return usage("cannot tell the format of " + import.path + "; pass --format");
    import.format = *format;
  }
  if (gen->parsed() && load.value_size > settings.limits.max_value_bytes) {
    return usage("--value-size is over --max-value-bytes");
  }
  settings.linger = std::chrono::milliseconds(linger_ms);
  settings.delivery_timeout = std::chrono::milliseconds(delivery_timeout_ms);
  settings.close_timeout = std::chrono::milliseconds(close_timeout_ms);
  load.duration = std::chrono::milliseconds(static_cast<int64_t>(duration_s * 1000));
  read_kafka_passthrough(settings.kafka);
  setup_logging(log, std::make_shared<spdlog::sinks::stderr_sink_mt>());

  schema::EncodeOptions options;
  options.content_type = content_type;
  options.traceparent = traceparent;

  if (put->parsed() && (file_opt->count() > 0 || value == "-")) {
    std::ifstream file;
    if (file_opt->count() > 0) {
      file.open(value_file, std::ios::binary);
      if (!file) return usage("cannot open " + value_file);
    }
    bool over = false;
    value = read_capped(file.is_open() ? file : std::cin, settings.limits.max_value_bytes, over);
    if (over) {
      std::cerr << "kvstream-producer: value_too_large: more than "
                << settings.limits.max_value_bytes << " bytes" << std::endl;
      return kExitInvalid;
    }
  }

  std::unique_ptr<Producer> producer;
  try {
    producer = std::make_unique<Producer>(settings);
  } catch (const Error& e) {
    return usage(e.what());
  }
  CommandIo io{std::cout, std::cerr};
  io.err_is_terminal = isatty(STDERR_FILENO) == 1;
  io.quiet = quiet;
  if (put->parsed()) return run_put(*producer, key, value, options, io);
  if (del->parsed()) return run_delete(*producer, key, options, io);
  InterruptScope interrupts;
  io.interrupted = &g_interrupted;
  if (imp->parsed()) return run_import(*producer, import, options, io);
  return run_load(*producer, load, io);
}

}  // namespace kvstream::producer
