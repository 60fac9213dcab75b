// What processes cost, read from /proc (Linux): CPU time (utime + stime of
// all threads), time spent runnable but waiting for a CPU (the run-queue
// delay of /proc/<pid>/task/*/schedstat: the cost of sharing the cores with
// other work), and peak resident memory (VmHWM).
//
//   Cost c = process_cost(pid);            // c.cpu_s, c.runq_s
//   Cost pg = process_tree_cost(pm);       // a Postgres server: postmaster + backends
//
// Threads and children that exited take their time with them: measure
// windows while the processes live.
#pragma once

#include <sys/types.h>

#include <cstdint>

namespace kvstream::bench {

struct Cost {
  double cpu_s = 0;   // on a CPU
  double runq_s = 0;  // runnable, waiting for a CPU
  bool ok = false;    // false: the process could not be read

  Cost operator-(const Cost& earlier) const {
    return Cost{cpu_s - earlier.cpu_s, runq_s - earlier.runq_s, ok && earlier.ok};
  }
};

// `pid` with all its threads.
Cost process_cost(pid_t pid);

// `pid` and its live direct children.
Cost process_tree_cost(pid_t pid);

// Busy time of all CPUs of the machine (cpu_s; every process counts), from
// /proc/stat.
Cost machine_cost();

// VmHWM of `pid` in KiB; -1 if it cannot be read.
int64_t peak_rss_kib(pid_t pid);

// True while `pid` exists and is not a zombie.
bool process_alive(pid_t pid);

}  // namespace kvstream::bench
