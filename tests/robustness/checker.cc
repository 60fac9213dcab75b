#include "tests/robustness/checker.h"

#include <chrono>
#include <exception>
#include <map>
#include <set>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include "schema/codec.h"
#include "schema/dlq.h"
#include "schema/event.h"
#include "schema/record.h"
#include "tests/support/kafka_util.h"
#include "tests/support/kv_table.h"

namespace kvstream::chaos::detail {

using namespace std::chrono_literals;
using testing::Oracle;
using testing::PublishedEvent;

Checker::Checker(const std::string& brokers, const std::string& db_url, Workload& workload,
                 ChaosReport& report, Offsets applied, bool caught_up)
    : brokers_(brokers),
      db_url_(db_url),
      workload_(workload),
      report_(report),
      applied_(std::move(applied)),
      caught_up_(caught_up) {}

void Checker::fail(const std::string& what) { report_.failures.push_back(what); }

bool Checker::below_applied(int32_t partition, int64_t offset) const {
  if (caught_up_) return true;
  auto it = applied_.find(partition);
  return it != applied_.end() && offset < it->second;
}

testing::ExpectedTable Checker::expected_applied(size_t* not_applied) const {
  *not_applied = 0;
  if (caught_up_) return workload_.oracle().expected();
  Oracle prefix;
  for (const PublishedEvent& e : workload_.oracle().events()) {
    if (below_applied(e.position.partition, e.position.offset)) {
      prefix.record(e);
    } else {
      ++*not_applied;
    }
  }
  return prefix.expected();
}

void Checker::table() {
  size_t not_applied = 0;
  const testing::ExpectedTable expected = expected_applied(&not_applied);
  report_.not_applied = not_applied;
  const testing::KvTable table = testing::read_kv_table(db_url_);
  report_.keys = expected.size();
  report_.rows = table.size();
  for (const auto& [key, row] : table) (row.value ? report_.value_rows : report_.tombstone_rows)++;
  report_.deleted_keys = testing::deleted_keys(expected).size();
  testing::TableDiff diff;
  if (report_.options.tombstone_retention_s > 0) {
    diff = testing::compare_allowing_collected_tombstones(expected, table,
                                                          &report_.collected_tombstones);
  } else {
    diff = testing::compare(expected, table);
  }
  report_.lost = diff.missing.size() + diff.lost_put.size() + diff.wrong_value.size() +
                 diff.wrong_position.size();
  report_.resurrected = diff.resurrected.size();
  report_.other_differences = diff.unexpected.size() + diff.wrong_content_type.size();
  if (!diff.empty()) {
    fail("the kv table differs from the oracle (" + std::to_string(expected.size()) + " keys, " +
         std::to_string(table.size()) + " rows" +
         (caught_up_ ? std::string()
                     : "; checked against the events below kv_offsets, " +
                           std::to_string(not_applied) + " events above them not applied") +
         "):\n" + diff.describe(20));
  }
  const std::vector<std::string> moves = testing::audit_violations(db_url_);
  report_.backward_moves = moves.size();
  report_.audited_offset_changes = testing::audited_offset_changes(db_url_);
  if (!moves.empty()) {
    std::string lines;
    for (size_t i = 0; i < moves.size() && i < 20; ++i) lines += "  " + moves[i] + "\n";
    fail(std::to_string(moves.size()) +
         " backward moves of an applied position or a row (audit triggers):\n" + lines);
  }
}

void Checker::topics(const std::vector<schema::Record>& log) {
  const std::vector<PublishedEvent> events = workload_.oracle().events();
  std::map<std::pair<int32_t, int64_t>, const PublishedEvent*> acked;
  for (const PublishedEvent& e : events) {
    (e.op == schema::Op::kPut ? report_.puts : report_.deletes)++;
    if (!acked.emplace(std::make_pair(e.position.partition, e.position.offset), &e).second) {
      fail("two acknowledged events at " + to_string(e.position));
    }
  }
  report_.events = events.size();
  const testing::ExpectedTable expected = workload_.oracle().expected();

  std::set<std::pair<int32_t, int64_t>> seen;
  std::map<std::pair<int32_t, int64_t>, std::pair<std::string, const schema::Record*>> poison;
  std::vector<std::string> problems;
  for (const schema::Record& r : log) {
    const auto at = std::make_pair(r.partition, r.offset);
    const std::string where = std::to_string(r.partition) + ":" + std::to_string(r.offset);
    auto decoded = schema::decode(r);
    if (auto* bad = std::get_if<schema::ValidationError>(&decoded)) {
      poison[at] = {schema::reason_code(bad->reason), &r};
      continue;
    }
    const schema::Event& ev = std::get<schema::Event>(decoded);
    auto it = acked.find(at);
    if (it == acked.end()) {
      // Written, though its delivery was reported failed: it must not be
      // the last event of its key (it was published again).
      ++report_.unacked_but_persisted;
      auto last = expected.find(ev.key);
      if (last == expected.end() || last->second.position.offset < r.offset) {
        problems.push_back("event at " + where + " (key " + printable(ev.key) +
                           ") was reported failed but is in the topic and is the last of its "
                           "key: the oracle cannot say what the key must hold");
      }
      continue;
    }
    seen.insert(at);
    const PublishedEvent& want = *it->second;
    const bool same = want.key == ev.key && want.op == ev.op &&
                      (ev.op == schema::Op::kDelete ||
                       (want.value == ev.value && want.content_type == ev.content_type));
    if (!same) {
      problems.push_back("the topic holds at " + where + " key " + printable(ev.key) +
                         ", not the event acknowledged there (key " + printable(want.key) + ")");
    }
  }
  for (const auto& [at, e] : acked) {
    if (!seen.count(at)) {
      problems.push_back("acknowledged event " + to_string(e->position) + " (key " +
                         printable(e->key) + ") is not in the topic");
    }
  }
  report_.poison_in_topic = poison.size();
  for (const SentPoison& p : workload_.poison()) {
    auto it = poison.find({p.position.partition, p.position.offset});
    if (it == poison.end() || it->second.first != p.reason) {
      problems.push_back("poison record " + std::to_string(p.n) + " (" + p.reason +
                         ") acknowledged at " + to_string(p.position) +
                         " is not in the topic as such");
    }
  }

  // The DLQ: exactly the topic's poison records (by their origin), each
  // with its reason, key and value. A record dead-lettered twice (a
  // replica killed between its dead-letter send and its commit, or a
  // dead-letter delivery retried) is counted: dead-lettering is at least
  // once (docs/operations.md).
  const std::vector<schema::Record> dlq = testing::read_all(brokers_, kDlqTopic, 300s);
  report_.dlq_records = dlq.size();
  std::map<std::pair<int32_t, int64_t>, size_t> origins;
  auto header = [](const schema::Record& r, std::string_view name) -> std::string {
    const schema::Header* h = r.last_header(name);
    return h && h->value ? *h->value : "<absent>";
  };
  for (const schema::Record& d : dlq) {
    const std::string from =
        header(d, schema::kDlqPartitionHeader) + ":" + header(d, schema::kDlqOffsetHeader);
    std::pair<int32_t, int64_t> at;
    try {
      at = {std::stoi(header(d, schema::kDlqPartitionHeader)),
            std::stoll(header(d, schema::kDlqOffsetHeader))};
    } catch (const std::exception&) {
      problems.push_back("DLQ record at offset " + std::to_string(d.offset) +
                         " has no valid origin headers (" + from + ")");
      continue;
    }
    if (header(d, schema::kDlqTopicHeader) != kTopic) {
      problems.push_back("DLQ record from " + from + " names topic " +
                         header(d, schema::kDlqTopicHeader));
    }
    auto it = poison.find(at);
    if (it == poison.end()) {
      problems.push_back(
          "the DLQ holds " + from + ", which is not a poison record" +
          (acked.count(at) ? " but an acknowledged event (lost from the view)" : ""));
      continue;
    }
    ++origins[at];
    const schema::Record& original = *it->second.second;
    if (header(d, schema::kDlqReasonHeader) != it->second.first) {
      problems.push_back("DLQ record of " + from + " has reason " +
                         header(d, schema::kDlqReasonHeader) + ", want " + it->second.first);
    }
    const bool omitted = d.last_header(schema::kDlqValueOmittedHeader) != nullptr;
    if (d.key != original.key || (!omitted && d.value != original.value)) {
      problems.push_back("DLQ record of " + from + " does not carry the original key and value");
    }
  }
  for (const auto& [at, what] : poison) {
    if (!origins.count(at) && below_applied(at.first, at.second)) {
      problems.push_back("poison record " + std::to_string(at.first) + ":" +
                         std::to_string(at.second) + " (" + what.first + ") is not in the DLQ");
    }
  }
  for (const auto& [at, n] : origins) report_.dlq_duplicates += n - 1;

  if (!problems.empty()) {
    std::string lines;
    for (size_t i = 0; i < problems.size() && i < 30; ++i) lines += "  " + problems[i] + "\n";
    fail(std::to_string(problems.size()) + " problems in the topic or the DLQ:\n" + lines);
  }
}

}  // namespace kvstream::chaos::detail
