// Bounded waits for tests: poll a condition until it holds or a deadline
// passes. Every wait in an end-to-end test goes through here, so none can
// hang a run.
//
//   ASSERT_TRUE(eventually([&] { return applied() == ends; }, 60s));
#pragma once

#include <chrono>
#include <thread>

namespace kvstream::testing {

// True as soon as `pred()` is true; false if it is still false when
// `timeout` has passed (it is evaluated one last time at the deadline).
template <class Pred>
bool eventually(Pred pred, std::chrono::milliseconds timeout,
                std::chrono::milliseconds interval = std::chrono::milliseconds(100)) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (pred()) return true;
    std::this_thread::sleep_for(interval);
  }
  return pred();
}

}  // namespace kvstream::testing
