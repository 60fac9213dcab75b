// migration: how long the apply path waits while the schema migrates a live
// table. A database at schema version 1 gets `rows` rows in kv (the shape
// of the workload's: 11-byte keys, 100-byte values, a tenth of them
// tombstones); then `writers` threads apply batches of `batch_events`
// upserts of random keys through kvstream's own store (PgStore), one
// partition each, back to back, while, after `before` of writing, another
// connection applies the pending migrations (from version 1 to the newest)
// as a replica does on start. Every batch's duration is recorded with its
// start time.
//
// Reports the migration's duration, and the longest batch (and the batch
// p99) before, during and after it: what a replica's apply path saw. A
// batch that waits on the migration's lock waits at most its lock_timeout
// (then the migration yields and tries again).

#include <algorithm>
#include <atomic>
#include <pqxx/pqxx>
#include <random>
#include <thread>
#include <vector>

#include "bench/tools.h"
#include "schema/migrations.h"
#include "store/pg_store.h"

namespace kvstream::bench {

namespace {

struct Sample {
  double start_s;
  double ms;
};

double percentile(std::vector<double> v, double q) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1, static_cast<size_t>(q * static_cast<double>(v.size())))];
}

}  // namespace

int run_migration(const MigrationOptions& options) {
  const auto all = schema::load_migrations(schema::embedded_migrations());
  {
    pqxx::connection conn(options.pg_url);
    schema::migrate(conn, {all.front()});
    std::cerr << "migration: loading " << options.rows << " rows at schema version 1\n";
    pqxx::nontransaction tx(conn);
    tx.exec("SET statement_timeout = 0");
    tx.exec_params(
        "INSERT INTO kv (key, value, content_type, src_partition, src_offset, updated_at) "
        "SELECT 'key-' || lpad(g::text, 8, '0'), "
        "       CASE WHEN g % 10 = 0 THEN NULL ELSE convert_to(repeat('v', 100), 'UTF8') END, "
        "       NULL, g % 6, g / 6, now() - interval '1 hour' "
        "FROM generate_series(0, $1 - 1) AS g",
        options.rows);
    tx.exec("VACUUM ANALYZE kv");
  }

  const auto start = SteadyClock::now();
  std::atomic<bool> stop{false};
  std::vector<std::vector<Sample>> samples(static_cast<size_t>(options.writers));
  std::vector<std::thread> writers;
  std::atomic<bool> failed{false};
  for (int w = 0; w < options.writers; ++w) {
    writers.emplace_back([&, w] {
      try {
        store::PgStore store(store::PgSettings{options.pg_url, std::chrono::seconds(60)});
        std::mt19937_64 rng(static_cast<uint64_t>(w) + 1);
        std::uniform_int_distribution<int64_t> key(0, options.rows - 1);
        int64_t next = store::kNoOffset;
        int64_t offset = 0;
        while (!stop.load()) {
          store::PartitionBatch b;
          b.topic = "migration";
          b.partition = w;
          b.expected_next_offset = next;
          for (size_t i = 0; i < options.batch_events; ++i) {
            schema::Event e;
            char name[16];
            std::snprintf(name, sizeof name, "key-%08lld", static_cast<long long>(key(rng)));
            e.key = name;
            e.value = std::string(100, 'w');
            e.position = Position{w, offset++};
            b.events.push_back(std::move(e));
          }
          std::sort(b.events.begin(), b.events.end(),
                    [](const auto& a, const auto& c) { return a.key < c.key; });
          b.events.erase(std::unique(b.events.begin(), b.events.end(),
                                     [](const auto& a, const auto& c) { return a.key == c.key; }),
                         b.events.end());
          b.new_next_offset = offset;
          const double at = seconds_since(start);
          const auto t0 = SteadyClock::now();
          if (store.apply(b) != store::ApplyOutcome::kApplied) {
            throw std::runtime_error("fenced");
          }
          samples[static_cast<size_t>(w)].push_back(
              {at, std::chrono::duration<double, std::milli>(SteadyClock::now() - t0).count()});
          next = b.new_next_offset;
        }
      } catch (const std::exception& e) {
        if (!failed.exchange(true)) std::cerr << "migration: writer: " << e.what() << "\n";
      }
    });
  }

  std::this_thread::sleep_for(options.before);
  const double migration_start = seconds_since(start);
  schema::MigrateResult result;
  try {
    pqxx::connection conn(options.pg_url);
    result = schema::migrate(conn, all);
  } catch (const std::exception& e) {
    std::cerr << "migration: " << e.what() << "\n";
    failed.store(true);
  }
  const double migration_end = seconds_since(start);
  std::this_thread::sleep_for(options.before);
  stop.store(true);
  for (auto& t : writers) t.join();
  if (failed.load()) return 1;

  std::vector<double> before, during, after;
  for (const auto& per_writer : samples) {
    for (const Sample& s : per_writer) {
      const double end = s.start_s + s.ms / 1000.0;
      if (end < migration_start) {
        before.push_back(s.ms);
      } else if (s.start_s > migration_end) {
        after.push_back(s.ms);
      } else {
        during.push_back(s.ms);  // overlaps the migration
      }
    }
  }
  auto max_of = [](const std::vector<double>& v) {
    return v.empty() ? 0.0 : *std::max_element(v.begin(), v.end());
  };
  report("rows", options.rows);
  report("writers", options.writers);
  report("batch_events", options.batch_events);
  report("migrations_applied", result.applied.size());
  report("schema_version", result.current_version);
  report("migration_seconds", migration_end - migration_start);
  report("batches_before", before.size());
  report("batch_p99_ms_before", percentile(before, 0.99));
  report("batch_max_ms_before", max_of(before));
  report("batches_during", during.size());
  report("batch_max_ms_during", max_of(during));
  report("batches_after", after.size());
  report("batch_p99_ms_after", percentile(after, 0.99));
  report("batch_max_ms_after", max_of(after));
  return 0;
}

}  // namespace kvstream::bench
