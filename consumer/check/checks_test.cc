#include "check/checks.h"

#include <gtest/gtest.h>

#include "schema/migrations.h"

namespace kvstream::check {
namespace {

Expectations expectations() {
  Expectations e;
  e.topic = "kv-events";
  e.dlq_topic = "kv-events.dlq";
  e.tombstone_retention = std::chrono::seconds(86400);
  e.binary_schema_version = 3;
  e.binary = "kvstream-consumer 9.9.9";
  return e;
}

// A topic as docs/operations.md asks for it, and a database that knows it.
Facts good_facts() {
  KafkaFacts kafka;
  kafka.partitions = 6;
  kafka.config = {{"cleanup.policy", "compact"},
                  {"retention.ms", "604800000"},
                  {"delete.retention.ms", "86400000"},
                  {"max.message.bytes", "2097152"}};
  kafka.dlq_exists = true;
  kafka.logs = std::map<int32_t, LogRange>{};
  for (int32_t p = 0; p < 6; ++p) (*kafka.logs)[p] = LogRange{0, 100};
  DatabaseFacts database;
  database.applied = {{0, 100}, {1, 50}, {2, 0}, {3, 100}, {4, 1}, {5, 7}};
  database.schema_version = 3;
  return Facts{kafka, database};
}

// The finding about `check`; fails the test when there is not exactly one.
Finding the(const std::vector<Finding>& findings, const std::string& check) {
  const Finding* found = nullptr;
  for (const Finding& f : findings) {
    if (f.check != check) continue;
    EXPECT_EQ(found, nullptr) << "two findings about " << check;
    found = &f;
  }
  EXPECT_NE(found, nullptr) << "no finding about " << check;
  return found ? *found : Finding{};
}

bool says(const Finding& f, const std::string& text) {
  return f.line.find(text) != std::string::npos;
}

TEST(Checks, AWellConfiguredDeploymentIsAllOk) {
  const auto findings = evaluate(good_facts(), expectations());
  std::vector<std::string> checks;
  for (const Finding& f : findings) {
    checks.push_back(f.check);
    EXPECT_EQ(f.severity, Severity::kOk) << f.check << ": " << f.line;
    EXPECT_EQ(f.line.find('\n'), std::string::npos) << f.line;
  }
  EXPECT_EQ(checks, (std::vector<std::string>{"partitions", "positions", "cleanup.policy",
                                              "delete.retention.ms", "max.message.bytes",
                                              "dead-letter topic", "schema"}));
  EXPECT_EQ(worst(findings), Severity::kOk);
  EXPECT_TRUE(says(the(findings, "partitions"), "has 6 partition(s)"));
  EXPECT_TRUE(says(the(findings, "partitions"), "each with an applied position in kv_offsets"));
  EXPECT_TRUE(says(the(findings, "positions"), "every applied position in kv_offsets lies within"));
}

TEST(Checks, PartitionsKvOffsetsDoesNotKnowAreOnlySaid) {
  Facts facts = good_facts();
  facts.database->applied = {{0, 10}};
  const auto findings = evaluate(facts, expectations());
  const Finding f = the(findings, "partitions");
  EXPECT_EQ(f.severity, Severity::kOk);
  EXPECT_TRUE(says(f,
                   "6 partition(s), 1 with an applied position in kv_offsets (the others have "
                   "had nothing applied yet"))
      << f.line;
  // Nothing applied yet: no position to compare.
  facts.database->applied.clear();
  EXPECT_EQ(the(evaluate(facts, expectations()), "positions").line,
            "no applied position in kv_offsets to compare with the topic");
}

TEST(Checks, PositionsOfPartitionsTheTopicLacksRefuse) {
  Facts facts = good_facts();
  facts.kafka->partitions = 4;
  const auto findings = evaluate(facts, expectations());
  const Finding f = the(findings, "partitions");
  EXPECT_EQ(f.severity, Severity::kRefuse);
  EXPECT_TRUE(says(f, "partition(s) 4,5 of kv-events, which has 4 partition(s)")) << f.line;
  EXPECT_TRUE(says(f, "Rebuild the view")) << f.line;
  EXPECT_EQ(worst(findings), Severity::kRefuse);
}

TEST(Checks, APositionPastTheEndOfItsPartitionRefuses) {
  Facts facts = good_facts();
  (*facts.kafka->logs)[1] = LogRange{0, 20};
  const auto findings = evaluate(facts, expectations());
  const Finding f = the(findings, "positions");
  EXPECT_EQ(f.severity, Severity::kRefuse);
  EXPECT_TRUE(says(f, "partition 1 is applied up to offset 50 (kv_offsets) but ends at offset 20"))
      << f.line;
}

TEST(Checks, RecordsDeletedBeforeTheyWereAppliedWarn) {
  Facts facts = good_facts();
  (*facts.kafka->logs)[4] = LogRange{30, 100};
  const auto findings = evaluate(facts, expectations());
  const Finding f = the(findings, "positions");
  EXPECT_EQ(f.severity, Severity::kWarn);
  EXPECT_TRUE(says(f, "partition 4: offsets 1 to 29")) << f.line;
}

TEST(Checks, PositionsAreNotCheckedWithoutTheLogs) {
  Facts facts = good_facts();
  facts.kafka->logs.reset();
  for (const Finding& f : evaluate(facts, expectations())) EXPECT_NE(f.check, "positions");
}

TEST(Checks, ACleanupPolicyOtherThanCompactWarns) {
  Facts facts = good_facts();
  facts.kafka->config["cleanup.policy"] = "delete";
  Finding f = the(evaluate(facts, expectations()), "cleanup.policy");
  EXPECT_EQ(f.severity, Severity::kWarn);
  EXPECT_TRUE(says(f, "cleanup.policy=delete: records older than retention.ms=604800000 ms (7 d)"))
      << f.line;
  EXPECT_TRUE(says(f, "Set cleanup.policy=compact")) << f.line;

  facts.kafka->config["cleanup.policy"] = "compact,delete";
  f = the(evaluate(facts, expectations()), "cleanup.policy");
  EXPECT_EQ(f.severity, Severity::kWarn) << f.line;

  // No compaction and no retention: nothing lost, but the log grows forever.
  facts.kafka->config["cleanup.policy"] = "delete";
  facts.kafka->config["retention.ms"] = "-1";
  f = the(evaluate(facts, expectations()), "cleanup.policy");
  EXPECT_EQ(f.severity, Severity::kWarn) << f.line;
  EXPECT_TRUE(says(f, "nothing is compacted")) << f.line;

  // Compaction with nothing deleted by age keeps every key.
  facts.kafka->config["cleanup.policy"] = "compact,delete";
  facts.kafka->config["retention.ms"] = "-1";
  f = the(evaluate(facts, expectations()), "cleanup.policy");
  EXPECT_EQ(f.severity, Severity::kOk) << f.line;
}

TEST(Checks, ADeleteRetentionShorterThanTheTombstoneRetentionWarns) {
  Facts facts = good_facts();
  facts.kafka->config["delete.retention.ms"] = "3600000";
  Finding f = the(evaluate(facts, expectations()), "delete.retention.ms");
  EXPECT_EQ(f.severity, Severity::kWarn);
  EXPECT_TRUE(says(f,
                   "delete.retention.ms=3600000 ms (1 h) is shorter than the tombstone "
                   "retention (KVSTREAM_TOMBSTONE_RETENTION_S=86400)"))
      << f.line;
  EXPECT_TRUE(says(f, "at least 86400000")) << f.line;

  Expectations shorter = expectations();
  shorter.tombstone_retention = std::chrono::seconds(3600);
  f = the(evaluate(facts, shorter), "delete.retention.ms");
  EXPECT_EQ(f.severity, Severity::kOk) << f.line;
}

TEST(Checks, AMaxMessageBytesBelowTheLargestRecordWarns) {
  Facts facts = good_facts();
  const int64_t largest = largest_record_bytes(schema::Limits{});
  EXPECT_EQ(largest, 1024 * 1024 + 1024 + kRecordOverheadBytes);
  // Kafka's default: a 1 MiB value plus its key does not fit.
  facts.kafka->config["max.message.bytes"] = "1048588";
  Finding f = the(evaluate(facts, expectations()), "max.message.bytes");
  EXPECT_EQ(f.severity, Severity::kWarn);
  EXPECT_TRUE(says(f, "max.message.bytes=1048588 is below the contract's largest record, " +
                          std::to_string(largest) + " bytes"))
      << f.line;

  facts.kafka->config["max.message.bytes"] = std::to_string(largest);
  EXPECT_EQ(the(evaluate(facts, expectations()), "max.message.bytes").severity, Severity::kOk);

  // A smaller value limit needs less.
  Expectations small = expectations();
  small.limits.max_value_bytes = 1000;
  facts.kafka->config["max.message.bytes"] = "4096";
  EXPECT_EQ(the(evaluate(facts, small), "max.message.bytes").severity, Severity::kOk);
}

TEST(Checks, AMissingDeadLetterTopicWarns) {
  Facts facts = good_facts();
  facts.kafka->dlq_exists = false;
  const Finding f = the(evaluate(facts, expectations()), "dead-letter topic");
  EXPECT_EQ(f.severity, Severity::kWarn);
  EXPECT_TRUE(says(f, "dead-letter topic kv-events.dlq does not exist")) << f.line;
}

TEST(Checks, AMissingTopicWarnsAndSkipsItsOtherChecks) {
  Facts facts = good_facts();
  facts.kafka->partitions = -1;
  facts.kafka->config.clear();
  facts.kafka->logs.reset();
  const auto findings = evaluate(facts, expectations());
  const Finding f = the(findings, "topic");
  EXPECT_EQ(f.severity, Severity::kWarn);
  EXPECT_TRUE(says(f, "topic kv-events does not exist")) << f.line;
  EXPECT_TRUE(says(f, "kv_offsets holds positions of a former topic")) << f.line;
  std::vector<std::string> checks;
  for (const Finding& x : findings) checks.push_back(x.check);
  EXPECT_EQ(checks, (std::vector<std::string>{"topic", "dead-letter topic", "schema"}));
}

TEST(Checks, TheSchemaVersionAgainstTheBinarys) {
  Facts facts = good_facts();
  facts.database->schema_version = 4;
  Finding f = the(evaluate(facts, expectations()), "schema");
  EXPECT_EQ(f.severity, Severity::kRefuse);
  EXPECT_EQ(f.line, schema::newer_schema_refusal(4, 3, "kvstream-consumer 9.9.9"));

  facts.database->schema_version = 2;
  f = the(evaluate(facts, expectations()), "schema");
  EXPECT_EQ(f.severity, Severity::kWarn);
  EXPECT_TRUE(says(f, "at version 2, kvstream-consumer 9.9.9 knows migrations up to version 3"))
      << f.line;
}

TEST(Checks, FactsNotGatheredMakeNoFinding) {
  Facts facts = good_facts();
  facts.database->schema_version.reset();
  facts.kafka.reset();
  EXPECT_TRUE(evaluate(facts, expectations()).empty());

  facts = good_facts();
  facts.database.reset();
  const auto findings = evaluate(facts, expectations());
  EXPECT_EQ(the(findings, "partitions").line, "topic kv-events has 6 partition(s)");
  for (const Finding& f : findings) {
    EXPECT_NE(f.check, "positions");
    EXPECT_NE(f.check, "schema");
  }
}

TEST(Checks, SeverityWords) {
  EXPECT_STREQ(severity_word(Severity::kOk), "ok");
  EXPECT_STREQ(severity_word(Severity::kWarn), "warn");
  EXPECT_STREQ(severity_word(Severity::kRefuse), "FAIL");
  EXPECT_EQ(worst({}), Severity::kOk);
}

}  // namespace
}  // namespace kvstream::check
