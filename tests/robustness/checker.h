// The chaos driver's (chaos.h) final checks. Internal to the driver.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "schema/record.h"
#include "tests/robustness/chaos.h"
#include "tests/robustness/chaos_util.h"
#include "tests/robustness/chaos_workload.h"
#include "tests/support/oracle.h"

namespace kvstream::chaos::detail {

// The final checks.
class Checker {
 public:
  // `applied`: kv_offsets at the end. When the replicas did not catch up
  // (a stall, reported on its own), the table and the DLQ are checked
  // against what lies below kv_offsets: a stall is not a loss, and the
  // events applied must still be exactly right.
  Checker(const std::string& brokers, const std::string& db_url, Workload& workload,
          ChaosReport& report, Offsets applied, bool caught_up);

  void fail(const std::string& what);

  bool below_applied(int32_t partition, int64_t offset) const;

  // The oracle's expected table, or (no catch-up) that of the events below
  // kv_offsets.
  testing::ExpectedTable expected_applied(size_t* not_applied) const;

  // The table against the oracle, and the audit.
  void table();

  // The topic (`log`, read whole) against the oracle, and the DLQ against
  // the topic's poison.
  void topics(const std::vector<schema::Record>& log);

 private:
  const std::string brokers_, db_url_;
  Workload& workload_;
  ChaosReport& report_;
  const Offsets applied_;
  const bool caught_up_;
};

}  // namespace kvstream::chaos::detail
