#include "apply/coalesce.h"

#include <tsl/robin_map.h>

#include <string_view>

namespace kvstream::apply {

std::vector<schema::Event> coalesce(std::vector<schema::Event> events) {
  // Index of the last occurrence of each key.
  tsl::robin_map<std::string_view, size_t> last;
  last.reserve(events.size());
  for (size_t i = 0; i < events.size(); ++i) last[events[i].key] = i;
  if (last.size() == events.size()) return events;

  std::vector<schema::Event> out;
  out.reserve(last.size());
  for (size_t i = 0; i < events.size(); ++i) {
    auto it = last.find(events[i].key);
    if (it->second == i) out.push_back(std::move(events[i]));
  }
  return out;
}

}  // namespace kvstream::apply
