// publish: the workload, once, through kvstream's producer library.
//
// Checks, for every event, that Kafka put it where the in-memory contenders
// expect it (the workload's partition, the next offset of that partition):
// the database ceiling replays exactly the streams the consumers read.

#include <atomic>
#include <vector>

#include "bench/tools.h"
#include "producer/producer.h"

namespace kvstream::bench {

int run_publish(const PublishOptions& options) {
  const Workload workload(options.workload);
  producer::ProducerSettings settings;
  settings.kafka.brokers = options.brokers;
  settings.kafka.topic = options.topic;
  settings.client_id = "kvstream-bench-publish";
  settings.linger = std::chrono::milliseconds(20);  // a bulk load: fuller batches
  settings.delivery_timeout = std::chrono::milliseconds(120000);
  settings.close_timeout = std::chrono::milliseconds(120000);

  std::atomic<int64_t> failed{0}, misplaced{0};
  std::vector<int64_t> next_offset(static_cast<size_t>(options.workload.partitions), 0);
  const auto start = SteadyClock::now();
  int64_t sent = 0;
  {
    producer::Producer producer(settings);
    WorkloadEvent e;
    const auto expect = [&](int32_t partition, int64_t offset) {
      return [&failed, &misplaced, partition, offset](const producer::Delivery& d) {
        if (!d.ok()) {
          if (failed.fetch_add(1) == 0)
            std::cerr << "publish: delivery failed: " << *d.error << "\n";
        } else if (d.position.partition != partition || d.position.offset != offset) {
          misplaced.fetch_add(1);
        }
      };
    };
    for (int64_t i = 0; i < options.workload.events; ++i) {
      workload.event(i, e);
      const int32_t p = workload.partition_of(e.key);
      const int64_t offset = next_offset[static_cast<size_t>(p)]++;
      const auto invalid = e.is_delete ? producer.del(e.key, {}, expect(p, offset))
                                       : producer.put(e.key, e.value, {}, expect(p, offset));
      if (invalid) {
        std::cerr << "publish: event " << i << " breaks the contract: " << invalid->message << "\n";
        return 1;
      }
      ++sent;
      if (sent % 500000 == 0) {
        std::cerr << "publish: " << sent << " events sent ("
                  << static_cast<int64_t>(sent / seconds_since(start)) << " events/s)\n";
      }
    }
    if (const size_t left = producer.flush(std::chrono::milliseconds(120000))) {
      std::cerr << "publish: " << left << " events undelivered after 120 s\n";
      return 1;
    }
  }
  const double seconds = seconds_since(start);
  report("events", sent);
  report("seconds", seconds);
  report("events_per_s", static_cast<int64_t>(static_cast<double>(sent) / seconds));
  for (size_t p = 0; p < next_offset.size(); ++p) {
    report("end_offset_" + std::to_string(p), next_offset[p]);
  }
  report("failed", failed.load());
  report("misplaced", misplaced.load());
  if (failed.load() > 0 || misplaced.load() > 0) {
    std::cerr << "publish: " << failed.load() << " failed and " << misplaced.load()
              << " misplaced deliveries: the topic is not the workload the other contenders "
                 "replay\n";
    return 1;
  }
  return 0;
}

}  // namespace kvstream::bench
