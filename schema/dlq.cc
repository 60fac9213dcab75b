#include "schema/dlq.h"

namespace kvstream::schema {

Record make_dlq_record(const Record& original, const ValidationError& why) {
  Record r;
  r.key = original.key;
  r.value = original.value;
  r.headers = original.headers;
  r.headers.push_back({std::string(kDlqReasonHeader), std::string(reason_code(why.reason))});
  r.headers.push_back({std::string(kDlqMessageHeader), why.message});
  r.headers.push_back({std::string(kDlqTopicHeader), original.topic});
  r.headers.push_back({std::string(kDlqPartitionHeader), std::to_string(original.partition)});
  r.headers.push_back({std::string(kDlqOffsetHeader), std::to_string(original.offset)});
  r.headers.push_back({std::string(kDlqTimestampHeader), std::to_string(original.timestamp_ms)});
  return r;
}

}  // namespace kvstream::schema
