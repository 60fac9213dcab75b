#include "dlq/selection.h"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <ctime>
#include <stdexcept>
#include <variant>

namespace kvstream::dlq {

namespace {

std::string valid_reasons() {
  size_t count = 0;
  const schema::Reason* reasons = schema::all_reasons(&count);
  std::string out;
  for (size_t i = 0; i < count; ++i) {
    if (!out.empty()) out += ", ";
    out += schema::reason_code(reasons[i]);
  }
  return out;
}

// `n` decimal digits of `text` at `pos` (advanced), or nullopt.
std::optional<int> digits(std::string_view text, size_t& pos, size_t n) {
  if (pos + n > text.size()) return std::nullopt;
  int value = 0;
  for (size_t i = 0; i < n; ++i) {
    const char c = text[pos + i];
    if (c < '0' || c > '9') return std::nullopt;
    value = value * 10 + (c - '0');
  }
  pos += n;
  return value;
}

bool expect(std::string_view text, size_t& pos, std::string_view chars) {
  if (pos >= text.size() || chars.find(text[pos]) == std::string_view::npos) return false;
  ++pos;
  return true;
}

// RFC 3339 (or a date alone, midnight UTC) in epoch ms, or nullopt.
std::optional<int64_t> parse_rfc3339(std::string_view text) {
  size_t pos = 0;
  std::tm tm{};
  const auto year = digits(text, pos, 4);
  if (!year || !expect(text, pos, "-")) return std::nullopt;
  const auto month = digits(text, pos, 2);
  if (!month || !expect(text, pos, "-")) return std::nullopt;
  const auto day = digits(text, pos, 2);
  if (!day || *month < 1 || *month > 12 || *day < 1 || *day > 31) return std::nullopt;
  tm.tm_year = *year - 1900;
  tm.tm_mon = *month - 1;
  tm.tm_mday = *day;
  int64_t millis = 0;
  int64_t offset_minutes = 0;
  if (pos < text.size()) {
    if (!expect(text, pos, "Tt ")) return std::nullopt;
    const auto hour = digits(text, pos, 2);
    if (!hour || !expect(text, pos, ":")) return std::nullopt;
    const auto minute = digits(text, pos, 2);
    if (!minute || !expect(text, pos, ":")) return std::nullopt;
    const auto second = digits(text, pos, 2);
    if (!second || *hour > 23 || *minute > 59 || *second > 60) return std::nullopt;
    tm.tm_hour = *hour;
    tm.tm_min = *minute;
    tm.tm_sec = *second;
    if (pos < text.size() && text[pos] == '.') {
      ++pos;
      int64_t scale = 100;
      size_t n = 0;
      while (pos < text.size() && std::isdigit(static_cast<unsigned char>(text[pos]))) {
        millis += (text[pos] - '0') * scale;
        scale /= 10;
        ++pos;
        ++n;
      }
      if (n == 0) return std::nullopt;
    }
    if (pos < text.size() && (text[pos] == 'Z' || text[pos] == 'z')) {
      ++pos;
    } else if (pos < text.size() && (text[pos] == '+' || text[pos] == '-')) {
      const int sign = text[pos] == '-' ? -1 : 1;
      ++pos;
      const auto oh = digits(text, pos, 2);
      if (!oh || !expect(text, pos, ":")) return std::nullopt;
      const auto om = digits(text, pos, 2);
      if (!om || *oh > 23 || *om > 59) return std::nullopt;
      offset_minutes = sign * (*oh * 60 + *om);
    } else {
      return std::nullopt;  // a time of day needs its offset
    }
  }
  if (pos != text.size()) return std::nullopt;
  const time_t seconds = timegm(&tm);
  return (static_cast<int64_t>(seconds) - offset_minutes * 60) * 1000 + millis;
}

}  // namespace

bool Filter::matches(const DeadLetter& letter) const {
  if (!reasons.empty() && reasons.count(letter.reason) == 0) return false;
  if (!partitions.empty() && partitions.count(letter.origin.partition) == 0) return false;
  if (since_ms && letter.time_ms < *since_ms) return false;
  if (until_ms && letter.time_ms >= *until_ms) return false;
  return true;
}

std::set<std::string> parse_reasons(const std::vector<std::string>& codes) {
  size_t count = 0;
  const schema::Reason* reasons = schema::all_reasons(&count);
  std::set<std::string> out;
  for (const std::string& code : codes) {
    bool known = false;
    for (size_t i = 0; i < count && !known; ++i) known = code == schema::reason_code(reasons[i]);
    if (!known) {
      throw std::invalid_argument("unknown reason code '" + code + "'; the reason codes are " +
                                  valid_reasons());
    }
    out.insert(code);
  }
  return out;
}

int64_t parse_time(std::string_view text, int64_t now_ms) {
  const std::string forms =
      "'" + std::string(text) +
      "' is not a time: give RFC 3339 (2026-12-07T04:31:00Z), a date (2026-12-07), epoch "
      "milliseconds, or a duration before now (90s, 30m, 2h, 7d)";
  if (text.empty()) throw std::invalid_argument(forms);
  const bool all_digits = std::all_of(text.begin(), text.end(), [](char c) {
    return std::isdigit(static_cast<unsigned char>(c)) != 0;
  });
  if (all_digits) {
    int64_t ms = 0;
    auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), ms);
    if (ec != std::errc() || ptr != text.data() + text.size()) throw std::invalid_argument(forms);
    return ms;
  }
  const char unit = text.back();
  const std::string_view amount = text.substr(0, text.size() - 1);
  if (!amount.empty() && std::string_view("smhd").find(unit) != std::string_view::npos &&
      std::all_of(amount.begin(), amount.end(),
                  [](char c) { return std::isdigit(static_cast<unsigned char>(c)) != 0; })) {
    int64_t n = 0;
    auto [ptr, ec] = std::from_chars(amount.data(), amount.data() + amount.size(), n);
    const int64_t unit_ms = unit == 's'   ? 1000
                            : unit == 'm' ? 60000
                            : unit == 'h' ? 3600000
                                          : 86400000;
    if (ec != std::errc() || ptr != amount.data() + amount.size() || n > now_ms / unit_ms) {
      throw std::invalid_argument(forms);
    }
    return now_ms - n * unit_ms;
  }
  if (const auto ms = parse_rfc3339(text)) return *ms;
  throw std::invalid_argument(forms);
}

ReplayPlan plan_replay(std::vector<DeadLetter> selected, const std::map<Origin, Position>& marks,
                       const std::string& topic, const schema::Limits& limits,
                       const std::vector<std::string>& drop_headers) {
  // By origin; of the copies of one origin, one with its value first, then
  // the earliest dead-lettered.
  std::stable_sort(selected.begin(), selected.end(), [](const DeadLetter& a, const DeadLetter& b) {
    if (!(a.origin == b.origin)) return a.origin < b.origin;
    return a.value_omitted.has_value() < b.value_omitted.has_value();
  });
  ReplayPlan plan;
  plan.selected = selected.size();
  std::optional<Origin> previous;
  for (DeadLetter& letter : selected) {
    Planned item;
    if (previous && *previous == letter.origin) {
      item.verdict = Verdict::kDuplicate;
      ++plan.duplicates;
    } else if (const auto mark = marks.find(letter.origin); mark != marks.end()) {
      item.verdict = Verdict::kAlreadyReplayed;
      item.replayed_to = mark->second;
      ++plan.already_replayed;
    } else if (letter.value_omitted) {
      item.verdict = Verdict::kRefused;
      item.why = "value_omitted: the value (" + std::to_string(*letter.value_omitted) +
                 " bytes) was too large for the dead-letter topic and is lost; its producer "
                 "must send it again";
    } else if (letter.origin.topic != topic) {
      item.verdict = Verdict::kRefused;
      item.why = "other_topic: it came from topic " + letter.origin.topic + ", not " + topic;
    } else {
      schema::Record record = replay_record(letter, drop_headers);
      record.topic = topic;
      const schema::DecodeResult decoded = schema::decode(record, limits);
      if (const auto* invalid = std::get_if<schema::ValidationError>(&decoded)) {
        item.verdict = Verdict::kRefused;
        item.why = std::string("still_invalid: ") + schema::reason_code(invalid->reason) + ": " +
                   invalid->message;
      } else {
        ++plan.to_send;
      }
    }
    if (item.verdict == Verdict::kRefused) ++plan.refused;
    previous = letter.origin;
    item.letter = std::move(letter);
    plan.items.push_back(std::move(item));
  }
  return plan;
}

}  // namespace kvstream::dlq
