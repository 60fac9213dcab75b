#include "tests/support/test_env.h"

#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <random>
#include <stdexcept>

namespace kvstream::testing {

std::string required_env(const char* name) {
  const char* v = std::getenv(name);
  if (v == nullptr || *v == '\0') {
    throw std::runtime_error(std::string(name) +
                             " is not set: run integration tests through scripts/test, which "
                             "starts Kafka and Postgres and sets it");
  }
  return v;
}

std::string test_brokers() { return required_env("KVSTREAM_TEST_BROKERS"); }
std::string test_pg_url() { return required_env("KVSTREAM_TEST_PG_URL"); }

std::string unique_name(const std::string& prefix) {
  static std::atomic<int> counter{0};
  static const unsigned salt = std::random_device{}() % 100000;
  return prefix + "_" + std::to_string(getpid()) + "_" + std::to_string(counter++) + "_" +
         std::to_string(salt);
}

std::string source_dir() { return KVSTREAM_SOURCE_DIR; }
std::string bin_dir() { return KVSTREAM_BIN_DIR; }

}  // namespace kvstream::testing
