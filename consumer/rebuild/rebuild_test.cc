#include "rebuild/rebuild.h"

#include <gtest/gtest.h>

namespace kvstream::rebuild {
namespace {

TEST(DeletedBeforeStart, APartitionStartingBelowItsLogStartIsNamedWithTheMissingOffsets) {
  // Partition 0 never applied (starts at 0), its log starts at 120; partition
  // 1 applied to 500, past its log start; partition 2 starts at its log start.
  const auto gone =
      deleted_before_start({{0, -1}, {1, 500}, {2, 40}}, {{0, 120}, {1, 300}, {2, 40}});
  ASSERT_EQ(gone.size(), 1u);
  EXPECT_EQ(gone[0].partition, 0);
  EXPECT_EQ(gone[0].from, 0);
  EXPECT_EQ(gone[0].to, 119);
}

TEST(DeletedBeforeStart, APartitionWithoutAPositionStartsAtZero) {
  const auto gone = deleted_before_start({}, {{3, 7}});
  ASSERT_EQ(gone.size(), 1u);
  EXPECT_EQ(gone[0].partition, 3);
  EXPECT_EQ(gone[0].from, 0);
  EXPECT_EQ(gone[0].to, 6);
  EXPECT_TRUE(deleted_before_start({}, {{3, 0}}).empty());
}

TEST(ProgressLine, SaysWhatIsDoneTheRateAndWhatIsLeft) {
  EXPECT_EQ(progress_line(1234567, 2000000, 145200.4),
            "1,234,567 of 2,000,000 offsets (61.7%), 145,200/s, about 5 s left");
  EXPECT_EQ(progress_line(2000000, 2000000, 150000),
            "2,000,000 of 2,000,000 offsets (100.0%), 150,000/s");
  EXPECT_EQ(progress_line(0, 0, 0), "0 of 0 offsets (100.0%), 0/s");
  EXPECT_EQ(progress_line(10, 1000, 0), "10 of 1,000 offsets (1.0%), 0/s");
}

}  // namespace
}  // namespace kvstream::rebuild
