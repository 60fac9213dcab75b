#include "apply/coalesce.h"

#include <tsl/robin_set.h>

#include <string_view>
#include <utility>

namespace kvstream::apply {

void coalesce(std::vector<schema::Event>& events, std::vector<schema::Event>& dropped) {
  // From the end, the first time a key is seen is its last event: the one
  // that stays. One hash lookup per event.
  const size_t n = events.size();
  tsl::robin_set<std::string_view> seen;
  seen.reserve(n);
  std::vector<bool> keep(n);
  size_t kept = 0;
  for (size_t i = n; i > 0; --i) {
    keep[i - 1] = seen.insert(events[i - 1].key).second;
    kept += keep[i - 1];
  }
  if (kept == n) return;

  // Move the survivors to the front in order; the events swapped behind them
  // are the dropped ones. (The set's views point into the keys: it is not
  // used once events move.)
  size_t front = 0;
  for (size_t i = 0; i < n; ++i) {
    if (!keep[i]) continue;
    if (front != i) std::swap(events[front], events[i]);
    ++front;
  }
  for (size_t i = kept; i < n; ++i) dropped.push_back(std::move(events[i]));
  events.resize(kept);
}

}  // namespace kvstream::apply
