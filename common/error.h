// The one error vocabulary of kvstream.
//
// Adapters (librdkafka, libpqxx, the HTTP layer) catch what their library
// throws or returns and convert it into an `Error` that keeps the one bit the
// caller acts on: whether retrying can help.
//
//   transient  the network or a dependency failed; retry with backoff
//              (a broken database connection, a broker that is down).
//   permanent  this input can never succeed (a record that breaks the
//              contract); route it aside, never retry it.
//   fatal      a broken invariant or an unrecoverable client error; the
//              process exits non-zero and its orchestrator restarts it.
#pragma once

#include <stdexcept>
#include <string>

namespace kvstream {

enum class ErrorKind { kTransient, kPermanent, kFatal };

const char* to_string(ErrorKind kind);

class Error : public std::runtime_error {
 public:
  Error(ErrorKind kind, const std::string& message) : std::runtime_error(message), kind_(kind) {}

  ErrorKind kind() const { return kind_; }
  bool retryable() const { return kind_ == ErrorKind::kTransient; }

 private:
  ErrorKind kind_;
};

}  // namespace kvstream
