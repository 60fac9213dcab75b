#include "check_command.h"

#include <iomanip>
#include <iostream>

#include "check/gather.h"
#include "common/error.h"
#include "schema/migrations.h"

namespace kvstream {

namespace {

constexpr int kExitOk = 0;
constexpr int kExitRefused = 1;
constexpr int kExitUnchecked = 2;

// `text` on one line: libpq's messages span several.
std::string one_line(const std::string& text) {
  std::string out;
  bool space = false;
  for (char c : text) {
    if (c == '\n' || c == '\t' || c == '\r' || c == ' ') {
      space = !out.empty();
      continue;
    }
    if (space) out += ' ';
    space = false;
    out += c;
  }
  return out;
}

}  // namespace

check::Expectations deployment_expectations(const ConsumerSettings& settings) {
  check::Expectations expect;
  expect.topic = settings.source.kafka.topic;
  expect.dlq_topic = settings.dlq_topic;
  expect.tombstone_retention = settings.tombstone_retention;
  expect.limits = settings.limits;
  expect.binary_schema_version =
      schema::newest_version(schema::load_migrations(schema::embedded_migrations()));
  expect.binary = "kvstream-consumer " KVSTREAM_VERSION;
  return expect;
}

int run_check_command(const ConsumerSettings& settings) {
  check::Facts facts;
  bool unchecked = false;
  try {
    facts.database =
        check::gather_database(settings.pg, settings.source.kafka.topic, /*schema_version=*/true);
  } catch (const Error& e) {
    std::cerr << "kvstream-consumer check: cannot read the database: " << one_line(e.what())
              << std::endl;
    unchecked = true;
  }
  try {
    check::KafkaGather gather;
    gather.dlq_topic = settings.dlq_topic;
    gather.logs = true;
    facts.kafka = check::gather_kafka(settings.source.kafka, gather);
  } catch (const Error& e) {
    std::cerr << "kvstream-consumer check: cannot describe the topics: " << one_line(e.what())
              << std::endl;
    unchecked = true;
  }
  const std::vector<check::Finding> findings =
      check::evaluate(facts, deployment_expectations(settings));
  for (const check::Finding& f : findings) {
    std::cout << std::left << std::setw(5) << check::severity_word(f.severity) << f.check << ": "
              << f.line << '\n';
  }
  std::cout << std::flush;
  if (check::worst(findings) == check::Severity::kRefuse) return kExitRefused;
  return unchecked ? kExitUnchecked : kExitOk;
}

}  // namespace kvstream
