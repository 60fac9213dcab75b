// The subcommands of kvstream-producer over an open Producer; cli.cc parses
// the flags and calls one. Each returns an ExitCode (cli.h) and closes the
// producer, so the code reflects every delivery.
#pragma once

#include <atomic>
#include <ostream>
#include <string>

#include "producer/import.h"
#include "producer/load.h"
#include "producer/producer.h"

namespace kvstream::producer {

// Where a command writes: `out` the result, `err` diagnostics and progress.
struct CommandIo {
  std::ostream& out;
  std::ostream& err;
  bool err_is_terminal = false;
  bool quiet = false;  // no progress (diagnostics and the summary still print)
  // Set (by a signal handler) to stop import or load early.
  const std::atomic<bool>* interrupted = nullptr;
};

// PUT or DELETE of one event; prints "partition:offset" on `out`.
int run_put(Producer& producer, const std::string& key, const std::string& value,
            const schema::EncodeOptions& options, CommandIo& io);
int run_delete(Producer& producer, const std::string& key, const schema::EncodeOptions& options,
               CommandIo& io);

struct ImportSettings {
  std::string path;  // "-": stdin
  ImportFormat format = ImportFormat::kNdjson;
  bool strict = false;  // stop at the first bad line
};

// Publishes every event of the file; bad lines are reported on `err` as
// "line N: reason" and skipped (or stop the import when strict). Prints the
// summary on `out`.
int run_import(Producer& producer, const ImportSettings& settings,
               const schema::EncodeOptions& defaults, CommandIo& io);

// Generates and publishes load until count/duration/interrupt; prints the
// summary on `out`.
int run_load(Producer& producer, const LoadSettings& settings, CommandIo& io);

}  // namespace kvstream::producer
