// The dead-letter record: what kvstream writes to `<topic>.dlq` for a record
// that breaks the contract. The original key, value and headers are kept
// byte for byte; these headers are added:
//
//   kv-dlq-reason      the stable reason code (codec.h), e.g. "key_too_long"
//   kv-dlq-message     a human-readable explanation (not stable)
//   kv-dlq-topic       the original topic
//   kv-dlq-partition   the original partition, decimal
//   kv-dlq-offset      the original offset, decimal
//   kv-dlq-timestamp   the original timestamp, epoch milliseconds, decimal
//   kv-dlq-value-omitted  only when the record was too large for the
//                      dead-letter topic: the value's size; the value is null
#pragma once

#include "schema/codec.h"
#include "schema/record.h"

namespace kvstream::schema {

inline constexpr std::string_view kDlqReasonHeader = "kv-dlq-reason";
inline constexpr std::string_view kDlqMessageHeader = "kv-dlq-message";
inline constexpr std::string_view kDlqTopicHeader = "kv-dlq-topic";
inline constexpr std::string_view kDlqPartitionHeader = "kv-dlq-partition";
inline constexpr std::string_view kDlqOffsetHeader = "kv-dlq-offset";
inline constexpr std::string_view kDlqTimestampHeader = "kv-dlq-timestamp";
// Set (to the original value's size in bytes) when the record was too large
// for the dead-letter topic and was sent without its value.
inline constexpr std::string_view kDlqValueOmittedHeader = "kv-dlq-value-omitted";

Record make_dlq_record(const Record& original, const ValidationError& why);

}  // namespace kvstream::schema
