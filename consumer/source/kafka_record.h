// Reads librdkafka messages as the client-independent record types of
// schema/record.h.
#pragma once

#include <librdkafka/rdkafka.h>

#include <vector>

#include "schema/record.h"

namespace kvstream::source {

// A view of the message's topic, key, value and headers: no copy. Valid while
// the message lives; `headers` is the storage for the header views (reused
// by the caller, refilled here).
schema::RecordView view_of(const rd_kafka_message_t* msg, std::vector<schema::HeaderView>& headers);

// An owning copy of the message.
schema::Record to_record(const rd_kafka_message_t* msg);

}  // namespace kvstream::source
