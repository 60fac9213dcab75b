#include "view/replica_status.h"

#include <gtest/gtest.h>

namespace kvstream::view {
namespace {

// A member of the group with a reachable database, 10,000 events and 10 s
// of catch-up bounds.
void join(ReplicaStatus& view) {
  view.set_catch_up_bounds(10000, 10);
  view.set_joined(true);
}

TEST(ReplicaStatusReadiness, NotReadyUntilAMemberOfTheGroupWithTheDatabase) {
  ReplicaStatus view;
  EXPECT_EQ(view.not_ready_reason(), "not yet a member of the consumer group");
  view.set_joined(true);
  EXPECT_EQ(view.not_ready_reason(), std::nullopt) << "no partitions: nothing to catch up";
  view.set_database_ok(false, "connection refused");
  EXPECT_EQ(view.not_ready_reason(), "database unavailable: connection refused");
}

TEST(ReplicaStatusReadiness, APartitionAssignedIsNotReadyUntilItsLagIsWithinTheBounds) {
  ReplicaStatus view;
  join(view);
  view.set_assigned(3, 0);
  ASSERT_TRUE(view.not_ready_reason().has_value());
  EXPECT_NE(view.not_ready_reason()->find("3 (lag not measured yet)"), std::string::npos)
      << *view.not_ready_reason();

  view.set_lag(3, 50000, 2.5);
  ASSERT_TRUE(view.not_ready_reason().has_value());
  EXPECT_NE(view.not_ready_reason()->find("catching up"), std::string::npos);
  EXPECT_NE(view.not_ready_reason()->find("3 (50000 events, 2.5 s)"), std::string::npos)
      << *view.not_ready_reason();

  view.set_lag(3, 9000, 30);  // few events, but old ones
  EXPECT_TRUE(view.not_ready_reason().has_value());

  view.set_lag(3, 10000, 10);
  EXPECT_EQ(view.not_ready_reason(), std::nullopt);
}

TEST(ReplicaStatusReadiness, ABacklogAfterCatchingUpDoesNotMakeItUnready) {
  ReplicaStatus view;
  join(view);
  view.set_assigned(0, 0);
  view.set_lag(0, 0, 0);
  EXPECT_EQ(view.not_ready_reason(), std::nullopt);
  view.set_lag(0, 5000000, 600);  // a burst, or a slow database: the lag metrics say so
  EXPECT_EQ(view.not_ready_reason(), std::nullopt);
}

TEST(ReplicaStatusReadiness, UntilFirstCaughtUpEveryPartitionTakenCountsAndARevokeForgetsIt) {
  ReplicaStatus view;
  join(view);
  view.set_assigned(0, 0);
  view.set_assigned(1, 0);
  view.set_lag(0, 0, 0);
  view.set_lag(1, 20000, 1);
  ASSERT_TRUE(view.not_ready_reason().has_value());
  EXPECT_EQ(view.not_ready_reason()->find("partition 0"), std::string::npos)
      << "partition 0 caught up: " << *view.not_ready_reason();
  view.set_assigned(2, 0);  // taken in a second rebalance before the first catch-up
  view.set_revoked(1);
  ASSERT_TRUE(view.not_ready_reason().has_value());
  EXPECT_NE(view.not_ready_reason()->find("2 (lag not measured yet)"), std::string::npos)
      << *view.not_ready_reason();
  view.set_lag(2, 0, 0);
  EXPECT_EQ(view.not_ready_reason(), std::nullopt);
}

TEST(ReplicaStatusReadiness, AnEmptyFirstAssignmentIsReadyAndItsFirstPartitionsAreChecked) {
  // A new member of a cooperative group first gets nothing, then partitions.
  ReplicaStatus view;
  join(view);
  EXPECT_EQ(view.not_ready_reason(), std::nullopt);
  view.set_assigned(4, 0);
  EXPECT_TRUE(view.not_ready_reason().has_value());
  view.set_lag(4, 3, 0.1);
  EXPECT_EQ(view.not_ready_reason(), std::nullopt);
}

TEST(ReplicaStatusReadiness, OnceCaughtUpAPeersPartitionsDoNotMakeItUnready) {
  // A peer left: every replica that takes its partitions would go unready at
  // once, while each serves the same database.
  ReplicaStatus view;
  join(view);
  view.set_assigned(0, 0);
  view.set_lag(0, 0, 0);
  view.set_assigned(1, 0);
  view.set_assigned(2, 0);
  EXPECT_EQ(view.not_ready_reason(), std::nullopt);
  view.set_revoked(0);
  view.set_revoked(1);
  view.set_revoked(2);
  view.set_assigned(0, 0);
  EXPECT_EQ(view.not_ready_reason(), std::nullopt);
}

}  // namespace
}  // namespace kvstream::view
