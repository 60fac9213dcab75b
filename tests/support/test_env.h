// Where tests find the real Kafka broker and Postgres server that
// scripts/test started (KVSTREAM_TEST_BROKERS, KVSTREAM_TEST_PG_URL), and
// helpers that keep tests apart (unique names).
#pragma once

#include <string>

namespace kvstream::testing {

// The value of a required environment variable; throws std::runtime_error
// naming it when unset (integration tests run through scripts/test, which
// sets them).
std::string required_env(const char* name);

std::string test_brokers();  // KVSTREAM_TEST_BROKERS
std::string test_pg_url();   // KVSTREAM_TEST_PG_URL (a server-level URL)

// "prefix_<pid>_<counter>_<random>": unique across tests and runs; valid as
// a topic, group and database name.
std::string unique_name(const std::string& prefix);

// Paths baked in at build time.
std::string source_dir();  // the repository root
std::string bin_dir();     // build/bin: kvstream-consumer, kvstream-producer

}  // namespace kvstream::testing
