// group-ready: waits (bounded) until a consumer group is Stable and its
// members' assignments cover every partition of a topic, so that a latency
// run starts publishing only once its consumer (a kvstream-consumer, the naive
// consumer, a Kafka Connect sink task) reads the topic. Uses the classic
// group protocol's DescribeGroups (rd_kafka_list_groups) and parses the
// members' ConsumerProtocol assignments.

#include <set>
#include <stdexcept>
#include <thread>

#include "bench/run_tools.h"
#include "common/kafka_admin.h"
#include "common/kafka_handles.h"

namespace kvstream::bench {

namespace {

// Reads big-endian integers and strings of a ConsumerProtocol assignment.
class Reader {
 public:
  Reader(const void* data, size_t size)
      : p_(static_cast<const unsigned char*>(data)), end_(p_ + size) {}
  int64_t integer(int bytes) {
    if (end_ - p_ < bytes) throw std::runtime_error("truncated assignment");
    int64_t v = 0;
    for (int i = 0; i < bytes; ++i) v = (v << 8) | *p_++;
    // Sign-extend (lengths of -1 mean null).
    if (bytes < 8 && (v & (int64_t{1} << (8 * bytes - 1)))) v -= int64_t{1} << (8 * bytes);
    return v;
  }
  std::string string() {
    const int64_t n = integer(2);
    if (n < 0) return {};
    if (end_ - p_ < n) throw std::runtime_error("truncated assignment");
    std::string s(reinterpret_cast<const char*>(p_), static_cast<size_t>(n));
    p_ += n;
    return s;
  }

 private:
  const unsigned char* p_;
  const unsigned char* end_;
};

// The partitions of `topic` assigned in a ConsumerProtocol assignment.
void assigned(const void* data, size_t size, const std::string& topic, std::set<int32_t>& out) {
  if (size == 0) return;
  Reader r(data, size);
  r.integer(2);  // version
  const int64_t topics = r.integer(4);
  for (int64_t t = 0; t < topics; ++t) {
    const std::string name = r.string();
    const int64_t n = r.integer(4);
    for (int64_t i = 0; i < n; ++i) {
      const auto p = static_cast<int32_t>(r.integer(4));
      if (name == topic) out.insert(p);
    }
  }
}

}  // namespace

int run_group_ready(const GroupReadyOptions& options) {
  const int partitions =
      static_cast<int>(kafka::end_offsets(options.brokers, options.topic).size());
  kafka::ConfPtr conf(rd_kafka_conf_new());
  kafka::set_conf(conf.get(), "bootstrap.servers", options.brokers);
  kafka::set_conf(conf.get(), "client.id", "kvstream-bench-group-ready");
  kafka::set_conf(conf.get(), "log_level", "3");
  char err[512];
  kafka::HandlePtr rk(rd_kafka_new(RD_KAFKA_PRODUCER, conf.get(), err, sizeof(err)));
  if (!rk) throw std::runtime_error(std::string("creating a Kafka client: ") + err);
  conf.release();

  const auto start = SteadyClock::now();
  const auto deadline = start + options.timeout;
  std::string last = "not described yet";
  while (SteadyClock::now() < deadline) {
    const rd_kafka_group_list* list = nullptr;
    const auto e = rd_kafka_list_groups(rk.get(), options.group.c_str(), &list, 5000);
    if (e == RD_KAFKA_RESP_ERR_NO_ERROR && list) {
      for (int g = 0; g < list->group_cnt; ++g) {
        const auto& info = list->groups[g];
        if (options.group != info.group) continue;
        std::set<int32_t> covered;
        for (int m = 0; m < info.member_cnt; ++m) {
          assigned(info.members[m].member_assignment,
                   static_cast<size_t>(info.members[m].member_assignment_size), options.topic,
                   covered);
        }
        last = std::string("state ") + (info.state ? info.state : "?") + ", " +
               std::to_string(info.member_cnt) + " member(s), " + std::to_string(covered.size()) +
               " of " + std::to_string(partitions) + " partitions assigned";
        if (info.state && std::string(info.state) == "Stable" &&
            static_cast<int>(covered.size()) == partitions) {
          rd_kafka_group_list_destroy(list);
          report("group_ready_s", seconds_since(start));
          report("members", info.member_cnt);
          return 0;
        }
      }
    }
    if (list) rd_kafka_group_list_destroy(list);
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  std::cerr << "group-ready: group " << options.group << " not ready within "
            << options.timeout.count() << " s (" << last << ")\n";
  return 1;
}

}  // namespace kvstream::bench
