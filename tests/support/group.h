// The broker's view of a consumer group (librdkafka's DescribeConsumerGroups):
// its state and its members with their assignments. Tests use it to see
// rebalances from the outside: a member that left and rejoined has a new
// member id.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace kvstream::testing {

struct GroupMember {
  std::string member_id;
  std::string client_id;
  std::string host;
  std::vector<int32_t> partitions;  // of the topic asked about, sorted
};

struct GroupDescription {
  std::string state;  // "Stable", "PreparingRebalance", "CompletingRebalance", "Empty", ...
  std::vector<GroupMember> members;

  // "state=Stable members=[id:0,1,2 ...]", for failure messages.
  std::string summary() const;
  // Partitions assigned to any member, sorted.
  std::vector<int32_t> assigned() const;
};

// Throws std::runtime_error if the broker does not answer within 15 s.
GroupDescription describe_group(const std::string& brokers, const std::string& group,
                                const std::string& topic);
// describe_group(), or nothing when the broker does not answer (the error is
// printed): for waits that ask again.
std::optional<GroupDescription> try_describe(const std::string& brokers, const std::string& group,
                                             const std::string& topic);

// Sets the group's committed offsets of `topic` as an operator's tool would
// (the group must have no members). Throws std::runtime_error.
void commit_group_offsets(const std::string& brokers, const std::string& group,
                          const std::string& topic, const std::map<int32_t, int64_t>& offsets);

}  // namespace kvstream::testing
