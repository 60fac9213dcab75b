#include "tests/robustness/chaos_workload.h"

#include <algorithm>
#include <exception>

#include "schema/event.h"
#include "tests/support/poison.h"

namespace kvstream::chaos::detail {

using namespace std::chrono_literals;
using testing::PublishedEvent;

Workload::Workload(const std::string& brokers, const ChaosOptions& options, RunLog& log)
    : options_(options), log_(log) {
  testing::PublisherOptions po;
  // Longer than any broker outage of a run: librdkafka keeps retrying
  // (idempotently) instead of failing the events.
  po.delivery_timeout = std::chrono::minutes(5);
  po.client_id = "chaos-load";
  po.keep_failed = true;
  publisher_ = std::make_unique<EventPublisher>(brokers, kTopic, oracle_, po);
}

Workload::~Workload() {
  stop_poison();
  stop_load();
}

void Workload::start() {
  load_thread_ = std::thread([this] { load_loop(); });
  poison_thread_ = std::thread([this] { poison_loop(); });
}

void Workload::stop_poison() {
  stop_poison_.store(true);
  if (poison_thread_.joinable()) poison_thread_.join();
}

void Workload::stop_load() {
  stop_load_.store(true);
  if (load_thread_.joinable()) load_thread_.join();
}

bool Workload::settle(std::chrono::seconds timeout, std::string* why) {
  const auto deadline = Clock::now() + timeout;
  while (Clock::now() < deadline) {
    const auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
    if (!publisher_->flush(left)) {
      *why = "events still unacknowledged after " + std::to_string(timeout.count()) + " s";
      return false;
    }
    if (republish_failed() == 0) return true;
  }
  *why = "failed events kept failing for " + std::to_string(timeout.count()) + " s";
  return false;
}

Oracle& Workload::oracle() { return oracle_; }

EventPublisher& Workload::publisher() { return *publisher_; }

std::vector<SentPoison> Workload::poison() const {
  std::lock_guard<std::mutex> lock(mu_);
  return poison_;
}

size_t Workload::poison_unknown() const { return poison_unknown_.load(); }

size_t Workload::republished() const { return republished_.load(); }

size_t Workload::delivery_failures() const { return publisher_->failures(); }

std::string Workload::error() const {
  std::lock_guard<std::mutex> lock(mu_);
  return error_;
}

void Workload::sleep_until(Clock::time_point t, const std::atomic<bool>& stop) {
  while (!stop.load()) {
    const auto now = Clock::now();
    if (now >= t) return;
    std::this_thread::sleep_for(std::min<Clock::duration>(t - now, 100ms));
  }
}

std::string Workload::value(const char* tag, size_t seq, std::mt19937_64& rng) {
  std::string v =
      std::string(tag) + std::to_string(options_.seed) + "." + std::to_string(seq) + "-";
  if (rng() % 100 == 0) return "";  // a few empty values
  const size_t padding = rng() % 49;
  for (size_t i = 0; i < padding; ++i) v += static_cast<char>(rng() & 0xff);
  return v;
}

size_t Workload::republish_failed() {
  std::vector<PublishedEvent> failed = publisher_->take_failed();
  for (const PublishedEvent& e : failed) {
    try {
      if (e.op == schema::Op::kPut) {
        publisher_->put(e.key, value("r", republished_.load(), republish_rng_), e.content_type);
      } else {
        publisher_->del(e.key);
      }
      republished_.fetch_add(1);
    } catch (const std::exception& ex) {
      note_error(std::string("republishing: ") + ex.what());
    }
  }
  if (!failed.empty())
    log_.line("republished " + std::to_string(failed.size()) + " failed event(s)");
  return failed.size();
}

void Workload::note_error(const std::string& what) {
  std::lock_guard<std::mutex> lock(mu_);
  if (error_.empty()) error_ = what;
}

void Workload::load_loop() {
  std::mt19937_64 rng(options_.seed * 0x9e3779b97f4a7c15ULL + 1);
  auto unit = [&] { return static_cast<double>(rng() >> 11) * 0x1.0p-53; };
  const auto start = Clock::now();
  size_t cold = 0;
  for (size_t seq = 0; !stop_load_.load(); ++seq) {
    sleep_until(start + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(
                            static_cast<double>(seq) / options_.rate)),
                stop_load_);
    if (stop_load_.load()) break;
    if (seq % 50 == 0) republish_failed();
    std::string key;
    if (unit() < options_.hot_ratio) {
      key = "hot:" + std::to_string(rng() % options_.hot_keys);
    } else {
      // The window advances by one key every four cold events.
      key = "k:" + std::to_string(cold / 4 + rng() % options_.window_keys);
      ++cold;
    }
    try {
      if (unit() < options_.delete_ratio) {
        publisher_->del(key);
      } else {
        const std::string v = value("v", seq, rng);
        publisher_->put(key, v, unit() < 0.25 ? "text/plain" : "");
      }
    } catch (const std::exception& e) {
      note_error(std::string("publishing: ") + e.what());
      log_.line(std::string("publishing failed: ") + e.what());
      std::this_thread::sleep_for(100ms);
    }
  }
}

void Workload::poison_loop() {
  std::mt19937_64 rng(options_.seed * 0xbf58476d1ce4e5b9ULL + 2);
  auto unit = [&] { return static_cast<double>(rng() >> 11) * 0x1.0p-53; };
  if (options_.poison_per_minute <= 0) return;
  const double mean = 60.0 / options_.poison_per_minute;
  for (size_t n = 0; !stop_poison_.load(); ++n) {
    sleep_until(Clock::now() + std::chrono::duration_cast<Clock::duration>(
                                   std::chrono::duration<double>(mean * (0.5 + unit()))),
                stop_poison_);
    if (stop_poison_.load()) break;
    const std::string key = "hot:" + std::to_string(rng() % options_.hot_keys);
    testing::PoisonRecord p = testing::poison_record(n, key);
    try {
      const Position at = publisher_->send_raw(p.record);
      std::lock_guard<std::mutex> lock(mu_);
      poison_.push_back(SentPoison{n, p.reason, at});
    } catch (const std::exception& e) {
      // It may still be written later: the topic scan at the end decides.
      poison_unknown_.fetch_add(1);
      log_.line("poison record " + std::to_string(n) + " (" + p.reason +
                "): outcome unknown: " + e.what());
    }
  }
}

}  // namespace kvstream::chaos::detail
