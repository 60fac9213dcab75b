#include "tests/support/oracle.h"

#include <sstream>
#include <stdexcept>

namespace kvstream::testing {

namespace {

std::string printable(const std::string& key) {
  std::string out;
  for (unsigned char c : key.substr(0, 80)) {
    if (c >= 0x20 && c < 0x7f) {
      out += static_cast<char>(c);
    } else {
      static const char* hex = "0123456789abcdef";
      out += "\\x";
      out += hex[c >> 4];
      out += hex[c & 15];
    }
  }
  if (key.size() > 80) out += "...";
  return out;
}

std::string show(const std::optional<std::string>& value) {
  return value ? "'" + printable(*value) + "'" : std::string("<tombstone>");
}

}  // namespace

void Oracle::record(PublishedEvent event) {
  std::lock_guard<std::mutex> lock(mu_);
  events_.push_back(std::move(event));
}

size_t Oracle::size() const {
  std::lock_guard<std::mutex> lock(mu_);
  return events_.size();
}

std::vector<PublishedEvent> Oracle::events() const {
  std::lock_guard<std::mutex> lock(mu_);
  return events_;
}

ExpectedTable Oracle::expected() const {
  ExpectedTable out;
  std::lock_guard<std::mutex> lock(mu_);
  for (const PublishedEvent& e : events_) {
    auto it = out.find(e.key);
    if (it != out.end()) {
      if (it->second.position.partition != e.position.partition) {
        throw std::logic_error("key " + printable(e.key) + " was published to partitions " +
                               std::to_string(it->second.position.partition) + " and " +
                               std::to_string(e.position.partition));
      }
      if (it->second.position.offset > e.position.offset) continue;
    }
    ExpectedRow row;
    if (e.op == schema::Op::kPut) {
      row.value = e.value;
      if (!e.content_type.empty()) row.content_type = e.content_type;
    }
    row.position = e.position;
    out[e.key] = std::move(row);
  }
  return out;
}

bool TableDiff::empty() const { return count() == 0; }

size_t TableDiff::count() const {
  return missing.size() + unexpected.size() + resurrected.size() + lost_put.size() +
         wrong_value.size() + wrong_content_type.size() + wrong_position.size();
}

std::string TableDiff::describe(size_t max_examples) const {
  std::ostringstream out;
  auto section = [&](const char* what, const std::vector<std::string>& lines) {
    if (lines.empty()) return;
    out << lines.size() << " " << what << ":\n";
    for (size_t i = 0; i < lines.size() && i < max_examples; ++i) out << "  " << lines[i] << "\n";
  };
  section("expected keys missing from kv", missing);
  section("rows no acknowledged event explains", unexpected);
  section("deleted keys that came back (resurrected)", resurrected);
  section("keys whose last PUT was lost (tombstone instead)", lost_put);
  section("rows with the wrong value", wrong_value);
  section("rows with the wrong content type", wrong_content_type);
  section("rows from the wrong position", wrong_position);
  if (empty()) out << "the table equals the oracle\n";
  return out.str();
}

TableDiff compare(const ExpectedTable& expected, const KvTable& actual) {
  TableDiff diff;
  for (const auto& [key, want] : expected) {
    auto it = actual.find(key);
    if (it == actual.end()) {
      diff.missing.push_back(printable(key) + " (want " + show(want.value) + " from " +
                             to_string(want.position) + ")");
      continue;
    }
    const KvRow& got = it->second;
    const std::string where = printable(key) + ": want " + show(want.value) + " from " +
                              to_string(want.position) + ", have " + show(got.value) + " from " +
                              to_string(got.position);
    if (!want.value && got.value) {
      diff.resurrected.push_back(where);
    } else if (want.value && !got.value) {
      diff.lost_put.push_back(where);
    } else if (want.value != got.value) {
      diff.wrong_value.push_back(where);
    } else if (want.position != got.position) {
      diff.wrong_position.push_back(where);
    } else if (want.content_type != got.content_type) {
      diff.wrong_content_type.push_back(printable(key) + ": want " +
                                        want.content_type.value_or("<null>") + ", have " +
                                        got.content_type.value_or("<null>"));
    }
  }
  for (const auto& [key, got] : actual) {
    if (!expected.count(key)) {
      diff.unexpected.push_back(printable(key) + " = " + show(got.value) + " from " +
                                to_string(got.position));
    }
  }
  return diff;
}

TableDiff compare_allowing_collected_tombstones(const ExpectedTable& expected,
                                                const KvTable& actual, size_t* collected) {
  ExpectedTable kept;
  size_t gone = 0;
  for (const auto& [key, want] : expected) {
    if (!want.value && !actual.count(key)) {
      ++gone;
      continue;
    }
    kept.emplace(key, want);
  }
  if (collected != nullptr) *collected = gone;
  return compare(kept, actual);
}

std::set<std::string> deleted_keys(const ExpectedTable& expected) {
  std::set<std::string> out;
  for (const auto& [key, row] : expected) {
    if (!row.value) out.insert(key);
  }
  return out;
}

}  // namespace kvstream::testing
