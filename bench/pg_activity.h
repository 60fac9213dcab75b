// A sampling profiler of Postgres connections, from the server's side: every
// `interval`, what each apply connection (application_name kvstream-apply*)
// of one database is doing, per pg_stat_activity:
//
//   cpu              running a statement, no wait event (on a CPU, or
//                    runnable and waiting for one)
//   IO:WALSync, ...  running a statement, waiting (a commit's WAL flush, a
//                    lock, a buffer read)
//   idle             between transactions: waiting for the client
//   idle in transaction   between statements of a transaction
//
//   ActivitySampler sampler(url);
//   sampler.start();  ...  sampler.stop();
//   sampler.report("pg_activity");  // pg_activity=cpu 41.0%, IO:WALSync 22.5%, ...
//
// Its own thread and connection; start()/stop() from one thread.
#pragma once

#include <atomic>
#include <chrono>
#include <map>
#include <string>
#include <thread>

namespace kvstream::bench {

class ActivitySampler {
 public:
  ActivitySampler(std::string pg_url, std::chrono::milliseconds interval);
  ~ActivitySampler();

  void start();
  void stop();

  // `<name>=<state> <share>%, ...` (largest first) and `<name>_samples=N`.
  void report(const std::string& name) const;

 private:
  void run();

  const std::string url_;
  const std::chrono::milliseconds interval_;
  std::atomic<bool> stopping_{false};
  std::thread thread_;
  std::map<std::string, int64_t> counts_;  // written by the thread; read after stop()
  int64_t samples_ = 0;
};

}  // namespace kvstream::bench
