// `kvstream-consumer check`: the deployment checks (check/checks.h) run
// once with a replica's settings, one line per finding on stdout:
//
//   ok   partitions: topic kv-events has 6 partition(s); kv_offsets has ...
//   warn cleanup.policy: cleanup.policy=delete: records older than ...
//   FAIL partitions: kv_offsets holds applied positions of partition(s) ...
//
// Changes nothing. Exit codes: 0 when no finding refuses (warnings
// allowed); 1 when one refuses (a replica would not run); 2 when the checks
// could not all run (a server unreachable; one line on stderr each).
#pragma once

#include "check/checks.h"
#include "service.h"

namespace kvstream {

// What the replica with these settings expects of its topics and database.
check::Expectations deployment_expectations(const ConsumerSettings& settings);

int run_check_command(const ConsumerSettings& settings);

}  // namespace kvstream
