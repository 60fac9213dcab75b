// Coalescing: within a batch of one partition, only the last event of each
// key (by offset) needs writing; earlier ones would be overwritten in the
// same transaction anyway. PUT after DELETE leaves the PUT; DELETE after PUT
// leaves the DELETE.
#pragma once

#include <vector>

#include "schema/event.h"

namespace kvstream::apply {

// `events` must be in offset order (as one partition delivers them). Leaves
// in `events` one event per key, the last of each, in the order of their
// offsets, and appends the others to `dropped` (so that their storage can be
// reused).
void coalesce(std::vector<schema::Event>& events, std::vector<schema::Event>& dropped);

}  // namespace kvstream::apply
