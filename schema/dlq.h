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
//
// `kvstream-consumer dlq replay` (consumer/dlq) publishes a dead letter's
// original record again with kv-dlq-replayed-from (its origin,
// "topic/partition:offset"), and then writes a replay mark to the
// dead-letter topic: a record with a null value and the headers
// kv-dlq-topic, kv-dlq-partition, kv-dlq-offset (the origin) and
// kv-dlq-replayed-to (where the replayed record landed, "partition:offset"),
// without kv-dlq-reason. The marks are how a second replay knows what the
// first one sent.
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
// On a replayed record: the origin of the dead letter it replays.
inline constexpr std::string_view kDlqReplayedFromHeader = "kv-dlq-replayed-from";
// On a replay mark in the dead-letter topic: where the replayed record is.
inline constexpr std::string_view kDlqReplayedToHeader = "kv-dlq-replayed-to";
// Every header kvstream adds starts with this; the rest are the original's.
inline constexpr std::string_view kDlqHeaderPrefix = "kv-dlq-";

Record make_dlq_record(const Record& original, const ValidationError& why);

}  // namespace kvstream::schema
