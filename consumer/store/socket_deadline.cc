#include "store/socket_deadline.h"

#include <sys/socket.h>

#include <condition_variable>
#include <map>
#include <mutex>
#include <set>
#include <thread>

namespace kvstream::store {

namespace {

class Watchdog {
 public:
  static Watchdog& get() {
    // Never destroyed: its thread may still wait when the process exits.
    static Watchdog* instance = new Watchdog();
    return *instance;
  }

  uint64_t arm(int fd, SocketDeadline::Clock::time_point deadline) {
    std::lock_guard<std::mutex> lock(mu_);
    if (!thread_started_) {
      std::thread([this] { run(); }).detach();
      thread_started_ = true;
    }
    const uint64_t id = ++next_id_;
    armed_[id] = Entry{fd, deadline};
    cv_.notify_one();
    return id;
  }

  void disarm(uint64_t id) {
    std::lock_guard<std::mutex> lock(mu_);
    armed_.erase(id);
    fired_.erase(id);
  }

  bool fired(uint64_t id) const {
    std::lock_guard<std::mutex> lock(mu_);
    return fired_.count(id) > 0;
  }

 private:
  struct Entry {
    int fd = -1;
    SocketDeadline::Clock::time_point deadline;
  };

  void run() {
    std::unique_lock<std::mutex> lock(mu_);
    while (true) {
      if (armed_.empty()) {
        cv_.wait(lock);
        continue;
      }
      auto first = armed_.begin();
      for (auto it = armed_.begin(); it != armed_.end(); ++it) {
        if (it->second.deadline < first->second.deadline) first = it;
      }
      // A copy: the entry may be disarmed (erased) while this thread waits.
      const auto deadline = first->second.deadline;
      if (SocketDeadline::Clock::now() < deadline) {
        cv_.wait_until(lock, deadline);
        continue;
      }
      // Under the lock: the owner cannot have closed the socket, since it
      // disarms (under this lock) before it closes.
      ::shutdown(first->second.fd, SHUT_RDWR);
      fired_.insert(first->first);
      armed_.erase(first);
    }
  }

  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::map<uint64_t, Entry> armed_;  // a handful at a time: one per blocking call
  std::set<uint64_t> fired_;
  uint64_t next_id_ = 0;
  bool thread_started_ = false;
};

}  // namespace

SocketDeadline::SocketDeadline(int fd, Clock::time_point deadline) {
  if (fd >= 0) id_ = Watchdog::get().arm(fd, deadline);
}

SocketDeadline::~SocketDeadline() {
  if (id_ != 0) Watchdog::get().disarm(id_);
}

bool SocketDeadline::fired() const { return id_ != 0 && Watchdog::get().fired(id_); }

}  // namespace kvstream::store
