// Converts a librdkafka message into the client-independent schema::Record
// (key, value, headers, partition, offset, timestamp; null stays null).
#pragma once

#include <librdkafka/rdkafka.h>

#include "schema/record.h"

namespace kvstream::source {

schema::Record to_record(const rd_kafka_message_t* msg);

}  // namespace kvstream::source
