#include "tests/robustness/http_clients.h"

#include <boost/beast/core/error.hpp>
#include <sstream>

#include "schema/codec.h"
#include "tests/support/http_client.h"
#include "tests/support/kafka_util.h"

namespace kvstream::chaos::detail {

using namespace std::chrono_literals;

namespace {

// The server's own bound on a request's wait (timeout_ms), and the client's
// on the whole exchange: past it, a request hung.
constexpr auto kWait = 3000ms;
constexpr auto kDeadline = kWait + HttpClients::kHangMargin;

// The failure of a request that had no answer by its deadline.
std::string unanswered(const std::string& request, uint16_t port) {
  return request + " on port " + std::to_string(port) + " had no answer within " +
         std::to_string(std::chrono::duration_cast<std::chrono::seconds>(kDeadline).count()) +
         " s (its wait is " + std::to_string(kWait.count()) + " ms)";
}

}  // namespace

std::string HttpFigures::describe() const {
  std::ostringstream out;
  out << "HTTP writes: " << writes << " (" << applied << " applied, " << accepted << " accepted, "
      << not_yet_applied << " not yet applied, " << unknown << " of unknown outcome); reads at "
      << "their position: " << reads << " (" << reads_exact << " the write's value, "
      << reads_unavailable << " 503/504, " << reads_older << " an older value); " << late
      << " of unknown outcome found in the topic; final reads " << final_reads
      << "; slowest answer " << fixed(slowest_s, 1) << " s\n";
  return out.str();
}

HttpClients::HttpClients(int clients, size_t keys_per_client, testing::Oracle& oracle,
                         std::function<std::vector<uint16_t>()> ports, RunLog& log)
    : clients_(clients),
      oracle_(oracle),
      ports_(std::move(ports)),
      log_(log),
      keys_(static_cast<size_t>(clients)) {
  for (int c = 0; c < clients; ++c) {
    for (size_t n = 0; n < keys_per_client; ++n) {
      Key key;
      key.name = "http:" + std::to_string(c) + ":" + std::to_string(n);
      keys_[c].push_back(std::move(key));
    }
  }
}

HttpClients::~HttpClients() { stop(); }

void HttpClients::start() {
  for (int c = 0; c < clients_; ++c) threads_.emplace_back([this, c] { run(c); });
}

void HttpClients::stop() {
  stop_.store(true);
  for (std::thread& t : threads_) t.join();
  threads_.clear();
}

uint16_t HttpClients::pick(std::mt19937_64& rng) const {
  const std::vector<uint16_t> ports = ports_();
  if (ports.empty()) return 0;
  return ports[std::uniform_int_distribution<size_t>(0, ports.size() - 1)(rng)];
}

void HttpClients::run(int client) {
  std::mt19937_64 rng(1000 + static_cast<uint64_t>(client));
  std::vector<Key>& keys = keys_[static_cast<size_t>(client)];
  while (!stop_.load()) {
    const uint16_t port = pick(rng);
    if (port == 0) {
      std::this_thread::sleep_for(200ms);
      continue;
    }
    Key& key = keys[std::uniform_int_distribution<size_t>(0, keys.size() - 1)(rng)];
    // Unique: the key and its write count.
    const std::string value = key.name + "#" + std::to_string(++key.writes);
    if (write(key, value, port, /*check_read=*/true) == Outcome::kUnknown) {
      std::this_thread::sleep_for(100ms);  // the replica may be gone: let the pool move on
    }
  }
}

HttpClients::Outcome HttpClients::write(Key& key, const std::string& value, uint16_t port,
                                        bool check_read) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    ++figures_.writes;
  }
  const auto sent = Clock::now();
  testing::HttpResult res;
  try {
    res = testing::http_request(
        port, "PUT",
        "/v1/kv/" + key.name + "?wait=applied&timeout_ms=" + std::to_string(kWait.count()), value,
        {{"Content-Type", "text/plain"}}, kDeadline);
  } catch (const boost::system::system_error& e) {
    note_time(seconds(Clock::now() - sent));
    if (e.code() == boost::beast::error::timeout) fail(unanswered("PUT " + key.name, port));
    key.unknown_values.insert(value);
    std::lock_guard<std::mutex> lock(mu_);
    ++figures_.unknown;
    return Outcome::kUnknown;
  }
  note_time(seconds(Clock::now() - sent));
  const std::optional<Position> at = parse_position(res.header("X-KV-Position"));
  const bool published = at && (res.status == 201 || res.status == 202 || res.status == 504);
  if (!published) {
    // 503: Kafka refused or the replica cannot publish; 504 without a
    // position: Kafka did not acknowledge within the wait.
    if (res.status != 503 && res.status != 504) {
      fail("PUT " + key.name + " answered " + std::to_string(res.status) + " " + res.body);
    }
    key.unknown_values.insert(value);
    std::lock_guard<std::mutex> lock(mu_);
    ++figures_.unknown;
    return Outcome::kUnknown;
  }
  testing::PublishedEvent event;
  event.key = key.name;
  event.op = schema::Op::kPut;
  event.value = value;
  event.content_type = "text/plain";
  event.position = *at;
  event.sent = sent;
  oracle_.record(std::move(event));
  key.last_acked = at;
  key.last_acked_value = value;
  {
    std::lock_guard<std::mutex> lock(mu_);
    (res.status == 201   ? figures_.applied
     : res.status == 202 ? figures_.accepted
                         : figures_.not_yet_applied)++;
  }
  if (check_read && res.status == 201) read_back(key, value, *at);
  return Outcome::kAcked;
}

void HttpClients::read_back(const Key& key, const std::string& value, const Position& at) {
  std::mt19937_64 rng(static_cast<uint64_t>(at.offset) * 31 + static_cast<uint64_t>(at.partition));
  const uint16_t port = pick(rng);
  if (port == 0) return;
  const std::string target = "/v1/kv/" + key.name + "?min_position=" + to_string(at) +
                             "&timeout_ms=" + std::to_string(kWait.count());
  const auto sent = Clock::now();
  testing::HttpResult res;
  try {
    res = testing::http_request(port, "GET", target, "", {}, kDeadline);
  } catch (const boost::system::system_error& e) {
    note_time(seconds(Clock::now() - sent));
    if (e.code() == boost::beast::error::timeout) fail(unanswered("GET " + target, port));
    return;  // the replica went away: nothing to check
  }
  note_time(seconds(Clock::now() - sent));
  std::lock_guard<std::mutex> lock(mu_);
  ++figures_.reads;
  if (res.status == 503 || res.status == 504) {
    ++figures_.reads_unavailable;
    return;
  }
  if (res.status == 200 && res.body == value) {
    ++figures_.reads_exact;
    return;
  }
  if (res.status == 200 && key.unknown_values.count(res.body) > 0) return;
  // Finding 16 of docs/reliability.md was this.
  ++figures_.reads_older;
  const std::string what = "GET " + target + " on port " + std::to_string(port) + " answered " +
                           std::to_string(res.status) + " " + printable(res.body) +
                           " (X-KV-Position " + res.header("X-KV-Position") + ", X-KV-Cache " +
                           res.header("X-KV-Cache") + ") after the write of " + printable(value) +
                           " was applied at " + to_string(at) + ": an older value";
  log_.line("http: " + what);
  failures_.push_back("http: at " + fixed(log_.now_s(), 2) + " s, " + what);
}

bool HttpClients::settle(std::chrono::seconds timeout, std::string* why) {
  stop();
  const auto deadline = Clock::now() + timeout;
  std::mt19937_64 rng(99);
  for (std::vector<Key>& keys : keys_) {
    for (Key& key : keys) {
      if (key.unknown_values.empty()) continue;
      for (;;) {
        if (Clock::now() >= deadline) {
          *why = "key " + key.name + " still has writes of unknown outcome after " +
                 std::to_string(timeout.count()) + " s";
          return false;
        }
        const uint16_t port = pick(rng);
        const std::string value = key.name + "#settle-" + std::to_string(++key.writes);
        if (port != 0 && write(key, value, port, /*check_read=*/false) == Outcome::kAcked) break;
        std::this_thread::sleep_for(500ms);
      }
    }
  }
  return true;
}

size_t HttpClients::adopt_late_writes(const std::vector<schema::Record>& log) {
  std::map<std::string, Key*> by_name;
  for (std::vector<Key>& keys : keys_) {
    for (Key& key : keys) {
      if (!key.unknown_values.empty()) by_name[key.name] = &key;
    }
  }
  size_t adopted = 0;
  for (const schema::Record& r : log) {
    if (!r.key || by_name.empty()) continue;
    auto it = by_name.find(*r.key);
    if (it == by_name.end()) continue;
    auto decoded = schema::decode(r);
    const auto* event = std::get_if<schema::Event>(&decoded);
    if (event == nullptr || event->op != schema::Op::kPut) continue;
    Key& key = *it->second;
    if (key.unknown_values.count(event->value) == 0) continue;
    testing::PublishedEvent e;
    e.key = key.name;
    e.op = schema::Op::kPut;
    e.value = event->value;
    e.content_type = event->content_type;
    e.position = Position{r.partition, r.offset};
    oracle_.record(std::move(e));
    key.unknown_values.erase(event->value);
    ++adopted;
    if (!key.last_acked || key.last_acked->offset < r.offset) {
      key.last_acked = Position{r.partition, r.offset};
      key.last_acked_value = event->value;
    }
  }
  std::lock_guard<std::mutex> lock(mu_);
  figures_.late = adopted;
  return adopted;
}

void HttpClients::check_final(const std::vector<uint16_t>& ports) {
  for (const std::vector<Key>& keys : keys_) {
    for (const Key& key : keys) {
      if (!key.last_acked) continue;
      for (uint16_t port : ports) {
        const std::string target = "/v1/kv/" + key.name +
                                   "?min_position=" + to_string(*key.last_acked) +
                                   "&timeout_ms=" + std::to_string(kWait.count());
        // 503 and 504 are allowed answers (a read connection that Postgres
        // closed while it was idle fails its next read): asked again, a few
        // times.
        std::string answer;
        bool right = false;
        for (int attempt = 0; attempt < 5 && !right; ++attempt) {
          if (attempt > 0) std::this_thread::sleep_for(500ms);
          try {
            const testing::HttpResult res =
                testing::http_request(port, "GET", target, "", {}, kDeadline);
            right = res.status == 200 && res.body == key.last_acked_value;
            answer = std::to_string(res.status) + " " + printable(res.body);
            if (res.status != 503 && res.status != 504) break;
          } catch (const std::exception& e) {
            answer = e.what();
          }
        }
        if (right) {
          std::lock_guard<std::mutex> lock(mu_);
          ++figures_.final_reads;
          continue;
        }
        fail("after the catch-up, GET " + target + " on port " + std::to_string(port) +
             " answered " + answer + ", not the last acknowledged write " +
             printable(key.last_acked_value));
      }
    }
  }
}

void HttpClients::fail(const std::string& what) {
  std::lock_guard<std::mutex> lock(mu_);
  failures_.push_back("http: " + what);
}

void HttpClients::note_time(double s) {
  std::lock_guard<std::mutex> lock(mu_);
  figures_.slowest_s = std::max(figures_.slowest_s, s);
}

HttpFigures HttpClients::figures() const {
  std::lock_guard<std::mutex> lock(mu_);
  return figures_;
}

std::vector<std::string> HttpClients::failures() const {
  std::lock_guard<std::mutex> lock(mu_);
  return failures_;
}

}  // namespace kvstream::chaos::detail
