#include "tests/support/group.h"

#include <algorithm>
#include <iostream>
#include <stdexcept>

#include "common/kafka_handles.h"

namespace kvstream::testing {

std::string GroupDescription::summary() const {
  std::string out = "state=" + state + " members=[";
  for (size_t i = 0; i < members.size(); ++i) {
    if (i) out += " ";
    out += members[i].member_id + ":";
    for (size_t k = 0; k < members[i].partitions.size(); ++k) {
      if (k) out += ",";
      out += std::to_string(members[i].partitions[k]);
    }
  }
  return out + "]";
}

std::vector<int32_t> GroupDescription::assigned() const {
  std::vector<int32_t> out;
  for (const auto& m : members) out.insert(out.end(), m.partitions.begin(), m.partitions.end());
  std::sort(out.begin(), out.end());
  return out;
}

GroupDescription describe_group(const std::string& brokers, const std::string& group,
                                const std::string& topic) {
  kafka::ConfPtr conf(rd_kafka_conf_new());
  kafka::set_conf(conf.get(), "bootstrap.servers", brokers);
  kafka::set_conf(conf.get(), "log_level", "3");
  char err[512];
  kafka::HandlePtr rk(rd_kafka_new(RD_KAFKA_PRODUCER, conf.get(), err, sizeof(err)));
  if (!rk) throw std::runtime_error(err);
  conf.release();

  kafka::QueuePtr queue(rd_kafka_queue_new(rk.get()));
  rd_kafka_AdminOptions_t* options =
      rd_kafka_AdminOptions_new(rk.get(), RD_KAFKA_ADMIN_OP_DESCRIBECONSUMERGROUPS);
  rd_kafka_AdminOptions_set_request_timeout(options, 10000, err, sizeof(err));
  const char* groups[] = {group.c_str()};
  rd_kafka_DescribeConsumerGroups(rk.get(), groups, 1, options, queue.get());
  rd_kafka_AdminOptions_destroy(options);

  kafka::EventPtr ev(rd_kafka_queue_poll(queue.get(), 15000));
  if (!ev) throw std::runtime_error("DescribeConsumerGroups timed out");
  if (rd_kafka_event_error(ev.get())) {
    throw std::runtime_error(std::string("DescribeConsumerGroups: ") +
                             rd_kafka_event_error_string(ev.get()));
  }
  const auto* result = rd_kafka_event_DescribeConsumerGroups_result(ev.get());
  size_t n = 0;
  const rd_kafka_ConsumerGroupDescription_t** descs =
      rd_kafka_DescribeConsumerGroups_result_groups(result, &n);
  if (n != 1) throw std::runtime_error("DescribeConsumerGroups: no description");
  const rd_kafka_ConsumerGroupDescription_t* desc = descs[0];
  if (const rd_kafka_error_t* e = rd_kafka_ConsumerGroupDescription_error(desc)) {
    throw std::runtime_error(std::string("DescribeConsumerGroups: ") + rd_kafka_error_string(e));
  }
  GroupDescription out;
  out.state = rd_kafka_consumer_group_state_name(rd_kafka_ConsumerGroupDescription_state(desc));
  const size_t members = rd_kafka_ConsumerGroupDescription_member_count(desc);
  for (size_t i = 0; i < members; ++i) {
    const rd_kafka_MemberDescription_t* m = rd_kafka_ConsumerGroupDescription_member(desc, i);
    GroupMember member;
    member.member_id = rd_kafka_MemberDescription_consumer_id(m);
    member.client_id = rd_kafka_MemberDescription_client_id(m);
    member.host = rd_kafka_MemberDescription_host(m);
    const rd_kafka_topic_partition_list_t* parts =
        rd_kafka_MemberAssignment_partitions(rd_kafka_MemberDescription_assignment(m));
    for (int k = 0; parts != nullptr && k < parts->cnt; ++k) {
      if (topic == parts->elems[k].topic) member.partitions.push_back(parts->elems[k].partition);
    }
    std::sort(member.partitions.begin(), member.partitions.end());
    out.members.push_back(std::move(member));
  }
  std::sort(out.members.begin(), out.members.end(),
            [](const GroupMember& a, const GroupMember& b) { return a.member_id < b.member_id; });
  return out;
}

void commit_group_offsets(const std::string& brokers, const std::string& group,
                          const std::string& topic, const std::map<int32_t, int64_t>& offsets) {
  kafka::ConfPtr conf(rd_kafka_conf_new());
  kafka::set_conf(conf.get(), "bootstrap.servers", brokers);
  kafka::set_conf(conf.get(), "group.id", group);
  kafka::set_conf(conf.get(), "enable.auto.commit", "false");
  kafka::set_conf(conf.get(), "log_level", "3");
  char err[512];
  kafka::HandlePtr rk(rd_kafka_new(RD_KAFKA_CONSUMER, conf.get(), err, sizeof(err)));
  if (!rk) throw std::runtime_error(err);
  conf.release();
  kafka::PartitionListPtr list(rd_kafka_topic_partition_list_new(static_cast<int>(offsets.size())));
  for (const auto& [p, offset] : offsets) {
    rd_kafka_topic_partition_list_add(list.get(), topic.c_str(), p)->offset = offset;
  }
  const auto e = rd_kafka_commit(rk.get(), list.get(), 0 /* sync */);
  rd_kafka_consumer_close(rk.get());
  if (e) throw std::runtime_error(std::string("committing offsets: ") + rd_kafka_err2str(e));
}

std::optional<GroupDescription> try_describe(const std::string& brokers, const std::string& group,
                                             const std::string& topic) {
  try {
    return describe_group(brokers, group, topic);
  } catch (const std::exception& e) {
    std::cout << "describe group: " << e.what() << std::endl;
    return std::nullopt;
  }
}

}  // namespace kvstream::testing
