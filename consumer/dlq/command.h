// `kvstream-consumer dlq list` and `kvstream-consumer dlq replay`: the
// dead-letter topic for operators (README.md beside this file;
// docs/operations.md, "Reprocessing the dead-letter topic").
//
//   kvstream-consumer dlq list --reason value_too_large --since 2h [--json]
//   kvstream-consumer dlq replay --reason value_too_large --dry-run
//
// Both read the dead-letter topic once, to its end offsets at the start
// (reader.h), and select dead letters by reason, original partition and
// time (selection.h). list prints one line per dead letter on stdout (or a
// JSON object per line), its summary on stderr. replay publishes the
// selected records again to the event topic, each origin once, and marks
// each in the dead-letter topic so that a second replay skips it.
//
// Exit codes: 0 done; 1 failed (a broker unreachable, the topic missing,
// a delivery failed); 2 bad flags or settings (as every subcommand); 3
// (replay) some selected dead letters were refused, the others were sent.
#pragma once

#include <CLI/CLI.hpp>
#include <cstdint>
#include <iosfwd>
#include <string>
#include <vector>

#include "common/kafka_settings.h"
#include "schema/codec.h"

namespace kvstream::dlq {

// The options of the two subcommands (one of them runs).
struct DlqOptions {
  std::vector<std::string> reasons;
  std::vector<int32_t> partitions;
  std::string since, until;
  int64_t timeout_ms = 30000;
  bool json = false;                      // list
  bool dry_run = false;                   // replay
  std::vector<std::string> drop_headers;  // replay
};

struct DlqCommands {
  CLI::App* dlq = nullptr;
  CLI::App* list = nullptr;
  CLI::App* replay = nullptr;
  DlqOptions options;
};

// Adds `dlq` with `list` and `replay` to `app`, their options bound to
// `commands.options`. The parent's options (--brokers, --topic,
// --dlq-topic, --max-value-bytes, ...) are taken after them too.
void add_dlq_commands(CLI::App& app, DlqCommands& commands);

// What the commands work on, from the replica's settings.
struct DlqContext {
  KafkaSettings kafka;    // brokers, the event topic, passed-through properties
  std::string dlq_topic;  // the dead-letter topic
  schema::Limits limits;  // what a replayed record must pass
};

struct DlqIo {
  std::ostream& out;  // the lines
  std::ostream& err;  // errors, the summary of list, progress
  bool err_is_terminal = false;
};

int run_dlq_list(const DlqContext& context, const DlqOptions& options, DlqIo io);
int run_dlq_replay(const DlqContext& context, const DlqOptions& options, DlqIo io);

}  // namespace kvstream::dlq
