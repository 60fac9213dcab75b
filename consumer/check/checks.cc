#include "check/checks.h"

#include <algorithm>
#include <sstream>

#include "schema/migrations.h"

namespace kvstream::check {

namespace {

constexpr const char* kRebuild = "docs/operations.md, \"Rebuilding the view\"";

Finding ok(std::string check, std::string line) {
  return {std::move(check), Severity::kOk, std::move(line)};
}
Finding warn(std::string check, std::string line) {
  return {std::move(check), Severity::kWarn, std::move(line)};
}
Finding refuse(std::string check, std::string line) {
  return {std::move(check), Severity::kRefuse, std::move(line)};
}

// A duration in milliseconds as a person reads it: "86400000 ms (1 d)".
std::string describe_ms(int64_t ms) {
  std::string out = std::to_string(ms) + " ms";
  if (ms <= 0) return out;
  struct Unit {
    int64_t ms;
    const char* name;
  };
  for (const Unit u :
       {Unit{86400000, "d"}, Unit{3600000, "h"}, Unit{60000, "min"}, Unit{1000, "s"}}) {
    if (ms % u.ms == 0) return out + " (" + std::to_string(ms / u.ms) + " " + u.name + ")";
  }
  return out;
}

// The integer value of a topic setting; nullopt when absent or not a number.
std::optional<int64_t> int_setting(const std::map<std::string, std::string>& config,
                                   const std::string& name) {
  auto it = config.find(name);
  if (it == config.end()) return std::nullopt;
  try {
    size_t used = 0;
    const int64_t v = std::stoll(it->second, &used);
    if (used != it->second.size()) return std::nullopt;
    return v;
  } catch (const std::exception&) {
    return std::nullopt;
  }
}

std::string join(const std::vector<int32_t>& ids) {
  std::string out;
  for (int32_t id : ids) {
    if (!out.empty()) out += ",";
    out += std::to_string(id);
  }
  return out;
}

void check_partitions(const KafkaFacts& kafka, const std::optional<DatabaseFacts>& database,
                      const Expectations& expect, std::vector<Finding>& out) {
  const std::string topic = "topic " + expect.topic;
  if (!database) {
    out.push_back(
        ok("partitions", topic + " has " + std::to_string(kafka.partitions) + " partition(s)"));
    return;
  }
  std::vector<int32_t> missing;
  for (const auto& [p, next] : database->applied) {
    if (p >= kafka.partitions) missing.push_back(p);
  }
  if (!missing.empty()) {
    out.push_back(refuse(
        "partitions",
        "kv_offsets holds applied positions of partition(s) " + join(missing) + " of " +
            expect.topic + ", which has " + std::to_string(kafka.partitions) +
            " partition(s): the topic was deleted and created again with fewer partitions, so "
            "the positions of the others are the old topic's too and its records would be "
            "applied as if they followed them. Rebuild the view (" +
            kRebuild + ")"));
    return;
  }
  const size_t known = database->applied.size();
  std::string line = topic + " has " + std::to_string(kafka.partitions) + " partition(s), ";
  if (known == static_cast<size_t>(kafka.partitions)) {
    line += "each with an applied position in kv_offsets";
  } else {
    line += std::to_string(known) +
            " with an applied position in kv_offsets (the others have had nothing applied "
            "yet: normal for a new topic, or after partitions were added)";
  }
  out.push_back(ok("partitions", line));
}

void check_positions(const KafkaFacts& kafka, const DatabaseFacts& database,
                     const Expectations& expect, std::vector<Finding>& out) {
  std::ostringstream past_end, deleted;
  size_t compared = 0;
  for (const auto& [p, next] : database.applied) {
    if (next <= 0 || p >= kafka.partitions) continue;
    auto log = kafka.logs->find(p);
    if (log == kafka.logs->end()) continue;
    ++compared;
    if (next > log->second.end) {
      past_end << (past_end.tellp() > 0 ? "; " : "") << "partition " << p
               << " is applied up to offset " << next << " (kv_offsets) but ends at offset "
               << log->second.end;
    } else if (next < log->second.earliest) {
      deleted << (deleted.tellp() > 0 ? "; " : "") << "partition " << p << ": offsets " << next
              << " to " << log->second.earliest - 1;
    }
  }
  if (past_end.tellp() > 0) {
    out.push_back(refuse("positions", past_end.str() + " in " + expect.topic +
                                          ": it was deleted and created again, or lost records; "
                                          "a replica that takes such a partition stops (exit "
                                          "1) rather than ignore its records as applied. "
                                          "Rebuild the view (" +
                                          kRebuild + ")"));
  }
  if (deleted.tellp() > 0) {
    out.push_back(warn("positions", "records were deleted (retention) before they were applied (" +
                                        deleted.str() +
                                        "): the view misses them. Rebuild it from a compacted "
                                        "topic if that matters (" +
                                        kRebuild + ")"));
  }
  if (compared == 0) {
    out.push_back(ok("positions", "no applied position in kv_offsets to compare with the topic"));
  } else if (past_end.tellp() == 0 && deleted.tellp() == 0) {
    out.push_back(
        ok("positions", "every applied position in kv_offsets lies within its partition's log"));
  }
}

void check_cleanup_policy(const KafkaFacts& kafka, std::vector<Finding>& out) {
  auto it = kafka.config.find("cleanup.policy");
  if (it == kafka.config.end()) return;
  const std::string& policy = it->second;
  bool compact = false;
  bool by_age = false;
  std::istringstream parts(policy);
  for (std::string part; std::getline(parts, part, ',');) {
    part.erase(std::remove(part.begin(), part.end(), ' '), part.end());
    if (part == "compact") compact = true;
    if (part == "delete") by_age = true;
  }
  const std::optional<int64_t> retention = int_setting(kafka.config, "retention.ms");
  if (compact && (!by_age || (retention && *retention < 0))) {
    out.push_back(ok("cleanup.policy",
                     "cleanup.policy=" + policy +
                         (by_age ? " with retention.ms=-1: nothing is deleted by age" : "")));
    return;
  }
  if (retention && *retention < 0) {
    out.push_back(warn("cleanup.policy",
                       "cleanup.policy=" + policy +
                           " with retention.ms=-1: nothing is deleted but nothing is compacted "
                           "either, so the topic grows without bound and a rebuild replays every "
                           "record ever written. Set cleanup.policy=compact (" +
                           kRebuild + ")"));
    return;
  }
  std::string lost = "records";
  if (retention) lost += " older than retention.ms=" + describe_ms(*retention);
  out.push_back(warn("cleanup.policy",
                     "cleanup.policy=" + policy + ": " + lost +
                         " are deleted, and with them every key whose last write is older, so "
                         "the view cannot be rebuilt from the topic nor a restored backup "
                         "replayed. Set cleanup.policy=compact (" +
                         kRebuild + ")"));
}

void check_delete_retention(const KafkaFacts& kafka, const Expectations& expect,
                            std::vector<Finding>& out) {
  const std::optional<int64_t> ms = int_setting(kafka.config, "delete.retention.ms");
  if (!ms) return;
  const int64_t wanted_ms = expect.tombstone_retention.count() * 1000;
  const std::string retention = "the tombstone retention (KVSTREAM_TOMBSTONE_RETENTION_S=" +
                                std::to_string(expect.tombstone_retention.count()) + ")";
  if (*ms >= wanted_ms) {
    out.push_back(ok("delete.retention.ms", "delete.retention.ms=" + describe_ms(*ms) +
                                                ", not shorter than " + retention));
    return;
  }
  out.push_back(warn("delete.retention.ms",
                     "delete.retention.ms=" + describe_ms(*ms) + " is shorter than " + retention +
                         ": the topic forgets a delete before the view does, so a restored "
                         "backup older than that, or a replay that takes longer, brings "
                         "deleted keys back. Raise delete.retention.ms to at least " +
                         std::to_string(wanted_ms) +
                         " (docs/operations.md, \"Tombstones: Postgres and the topic\")"));
}

void check_max_message_bytes(const KafkaFacts& kafka, const Expectations& expect,
                             std::vector<Finding>& out) {
  const std::optional<int64_t> bytes = int_setting(kafka.config, "max.message.bytes");
  if (!bytes) return;
  const int64_t largest = largest_record_bytes(expect.limits);
  if (*bytes >= largest) {
    out.push_back(ok("max.message.bytes", "max.message.bytes=" + std::to_string(*bytes) +
                                              " takes the contract's largest record (" +
                                              std::to_string(largest) + " bytes)"));
    return;
  }
  out.push_back(
      warn("max.message.bytes",
           "max.message.bytes=" + std::to_string(*bytes) +
               " is below the contract's largest record, " + std::to_string(largest) +
               " bytes (KVSTREAM_MAX_VALUE_BYTES=" + std::to_string(expect.limits.max_value_bytes) +
               ", a " + std::to_string(expect.limits.max_key_bytes) + "-byte key, " +
               std::to_string(kRecordOverheadBytes) +
               " bytes of headers and framing): the broker refuses values the contract accepts. "
               "Raise it to at least " +
               std::to_string(largest) +
               " on the topic and its dead-letter topic (schema/README.md, \"Limits\")"));
}

void check_dead_letter_topic(const KafkaFacts& kafka, const Expectations& expect,
                             std::vector<Finding>& out) {
  if (kafka.dlq_exists) {
    out.push_back(ok("dead-letter topic", "dead-letter topic " + expect.dlq_topic + " exists"));
    return;
  }
  out.push_back(warn(
      "dead-letter topic",
      "dead-letter topic " + expect.dlq_topic +
          " does not exist: a record that breaks the contract holds its partition until it can "
          "be delivered there (unless the broker creates topics on first use). Create it "
          "(docs/operations.md, \"Partitions\")"));
}

void check_schema(int version, const Expectations& expect, std::vector<Finding>& out) {
  const std::string binary = expect.binary.empty() ? "this binary" : expect.binary;
  if (const std::string refusal =
          schema::newer_schema_refusal(version, expect.binary_schema_version, expect.binary);
      !refusal.empty()) {
    out.push_back(refuse("schema", refusal));
  } else if (version < expect.binary_schema_version) {
    out.push_back(
        warn("schema", "the database schema is at version " + std::to_string(version) + ", " +
                           binary + " knows migrations up to version " +
                           std::to_string(expect.binary_schema_version) +
                           ": a replica applies them at start (unless KVSTREAM_NO_MIGRATE), or "
                           "run kvstream-consumer migrate"));
  } else {
    out.push_back(ok("schema", "the database schema is at version " + std::to_string(version) +
                                   ", the newest " + binary + " knows"));
  }
}

}  // namespace

const char* severity_word(Severity severity) {
  switch (severity) {
    case Severity::kOk:
      return "ok";
    case Severity::kWarn:
      return "warn";
    case Severity::kRefuse:
      return "FAIL";
  }
  return "?";
}

int64_t largest_record_bytes(const schema::Limits& limits) {
  return static_cast<int64_t>(limits.max_key_bytes + limits.max_value_bytes) + kRecordOverheadBytes;
}

std::vector<Finding> evaluate(const Facts& facts, const Expectations& expect) {
  std::vector<Finding> out;
  if (facts.kafka) {
    const KafkaFacts& kafka = *facts.kafka;
    if (kafka.partitions < 0) {
      std::string line = "topic " + expect.topic +
                         " does not exist: a replica creates no topic and waits for it. Create it "
                         "with cleanup.policy=compact (docs/operations.md, \"Partitions\")";
      if (facts.database && !facts.database->applied.empty()) {
        line +=
            "; kv_offsets holds positions of a former topic of that name: rebuild the view "
            "before replicas apply the new one (" +
            std::string(kRebuild) + ")";
      }
      out.push_back(warn("topic", line));
    } else {
      check_partitions(kafka, facts.database, expect, out);
      if (kafka.logs && facts.database) check_positions(kafka, *facts.database, expect, out);
      check_cleanup_policy(kafka, out);
      check_delete_retention(kafka, expect, out);
      check_max_message_bytes(kafka, expect, out);
    }
    check_dead_letter_topic(kafka, expect, out);
  }
  if (facts.database && facts.database->schema_version) {
    check_schema(*facts.database->schema_version, expect, out);
  }
  return out;
}

Severity worst(const std::vector<Finding>& findings) {
  Severity w = Severity::kOk;
  for (const Finding& f : findings) w = std::max(w, f.severity);
  return w;
}

}  // namespace kvstream::check
