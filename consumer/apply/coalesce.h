// Coalescing: within a batch of one partition, only the last event of each
// key (by offset) needs writing; earlier ones would be overwritten in the
// same transaction anyway. PUT after DELETE leaves the PUT; DELETE after PUT
// leaves the DELETE.
#pragma once

#include <vector>

#include "schema/event.h"

namespace kvstream::apply {

// `events` must be in offset order (as one partition delivers them). Returns
// one event per key, the last of each, in the order of their offsets.
std::vector<schema::Event> coalesce(std::vector<schema::Event> events);

}  // namespace kvstream::apply
