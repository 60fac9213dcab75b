// A child process for end-to-end tests: started with posix_spawn, its
// output sent to a log file, stopped by its own pid only.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace kvstream::testing {

class ChildProcess {
 public:
  // Starts `argv` with the current environment plus `env` (which wins),
  // stdout and stderr appended to `log_path`. Throws std::runtime_error.
  ChildProcess(std::vector<std::string> argv, std::map<std::string, std::string> env,
               std::string log_path);
  // Kills (SIGKILL) and reaps the child if still running.
  ~ChildProcess();
  ChildProcess(const ChildProcess&) = delete;
  ChildProcess& operator=(const ChildProcess&) = delete;

  pid_t pid() const { return pid_; }
  void signal(int sig);
  bool running();
  // Waits up to `timeout`; the exit code (128+N for signal N), or nullopt if
  // it is still running.
  std::optional<int> wait(std::chrono::milliseconds timeout);
  const std::string& log_path() const { return log_path_; }
  std::string log() const;

 private:
  pid_t pid_ = -1;
  std::optional<int> exit_code_;
  std::string log_path_;
};

// Runs a command to completion (bounded); returns exit code and stdout.
struct RunResult {
  int exit_code = -1;
  std::string out;
};
// The non-empty lines of a command's output.
std::vector<std::string> output_lines(const std::string& out);

RunResult run_command(const std::vector<std::string>& argv,
                      const std::map<std::string, std::string>& env = {},
                      std::chrono::milliseconds timeout = std::chrono::seconds(60),
                      const std::string& stdin_data = "");

}  // namespace kvstream::testing
