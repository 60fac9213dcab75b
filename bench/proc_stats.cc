#include "bench/proc_stats.h"

#include <dirent.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <functional>
#include <memory>
#include <sstream>
#include <string>

namespace kvstream::bench {

namespace {

struct StatFields {
  char state = '?';
  pid_t ppid = -1;
  uint64_t ticks = 0;  // utime + stime
};

// Parses a /proc/.../stat file. The command name (field 2) may hold spaces
// and parentheses, so fields are counted from its last ')'.
bool read_stat(const std::string& path, StatFields& out) {
  std::ifstream in(path);
  std::string line;
  if (!in || !std::getline(in, line)) return false;
  const auto close = line.rfind(')');
  if (close == std::string::npos || close + 2 > line.size()) return false;
  std::istringstream rest(line.substr(close + 2));
  // From field 3 on: state ppid pgrp session tty_nr tpgid flags minflt
  // cminflt majflt cmajflt utime stime ...
  std::string field;
  uint64_t utime = 0, stime = 0;
  for (int i = 3; i <= 15 && rest >> field; ++i) {
    if (i == 3) out.state = field[0];
    if (i == 4) out.ppid = static_cast<pid_t>(std::atol(field.c_str()));
    if (i == 14) utime = std::strtoull(field.c_str(), nullptr, 10);
    if (i == 15) stime = std::strtoull(field.c_str(), nullptr, 10);
  }
  out.ticks = utime + stime;
  return true;
}

double ticks_to_seconds(uint64_t ticks) {
  static const long hz = sysconf(_SC_CLK_TCK);
  return static_cast<double>(ticks) / static_cast<double>(hz > 0 ? hz : 100);
}

// Calls `f` with every numeric entry of `dir`.
void for_each_numeric(const std::string& dir, const std::function<void(long)>& f) {
  std::unique_ptr<DIR, int (*)(DIR*)> d(opendir(dir.c_str()), &closedir);
  if (!d) return;
  while (const dirent* entry = readdir(d.get())) {
    char* end = nullptr;
    const long n = std::strtol(entry->d_name, &end, 10);
    if (end != entry->d_name && *end == '\0') f(n);
  }
}

// Run-queue delay of all threads of `pid`, in seconds (schedstat field 2, ns).
double run_delay_seconds(pid_t pid) {
  const std::string tasks = "/proc/" + std::to_string(pid) + "/task";
  uint64_t ns = 0;
  for_each_numeric(tasks, [&](long tid) {
    std::ifstream in(tasks + "/" + std::to_string(tid) + "/schedstat");
    uint64_t on_cpu = 0, waited = 0;
    if (in >> on_cpu >> waited) ns += waited;
  });
  return static_cast<double>(ns) / 1e9;
}

}  // namespace

Cost process_cost(pid_t pid) {
  StatFields s;
  if (!read_stat("/proc/" + std::to_string(pid) + "/stat", s)) return Cost{};
  return Cost{ticks_to_seconds(s.ticks), run_delay_seconds(pid), true};
}

Cost process_tree_cost(pid_t pid) {
  Cost total = process_cost(pid);
  if (!total.ok) return total;
  for_each_numeric("/proc", [&](long child) {
    StatFields s;
    if (read_stat("/proc/" + std::to_string(child) + "/stat", s) && s.ppid == pid) {
      const Cost c = process_cost(static_cast<pid_t>(child));
      total.cpu_s += c.cpu_s;
      total.runq_s += c.runq_s;
    }
  });
  return total;
}

Cost machine_cost() {
  std::ifstream in("/proc/stat");
  std::string cpu;
  // cpu user nice system idle iowait irq softirq steal ...
  uint64_t user = 0, nice = 0, system = 0, idle = 0, iowait = 0, irq = 0, softirq = 0, steal = 0;
  if (!(in >> cpu >> user >> nice >> system >> idle >> iowait >> irq >> softirq >> steal) ||
      cpu != "cpu") {
    return Cost{};
  }
  return Cost{ticks_to_seconds(user + nice + system + irq + softirq + steal), 0, true};
}

int64_t peak_rss_kib(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("VmHWM:", 0) == 0) return std::atoll(line.c_str() + 6);
  }
  return -1;
}

bool process_alive(pid_t pid) {
  StatFields s;
  return read_stat("/proc/" + std::to_string(pid) + "/stat", s) && s.state != 'Z' && s.state != 'X';
}

}  // namespace kvstream::bench
