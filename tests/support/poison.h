// Records that break the record contract (schema/README.md), one of each
// kind in turn, for tests that mix them into a load: the consumer must send
// each to the dead-letter topic with its reason and never apply it.
//
//   PoisonRecord p = poison_record(n, "key:17");
//   Position at = publisher.send_raw(p.record);   // then look for it in the DLQ
#pragma once

#include <cstddef>
#include <string>

#include "schema/record.h"

namespace kvstream::testing {

struct PoisonRecord {
  std::string reason;  // the kv-dlq-reason it must get (schema/codec.h)
  schema::Record record;
};

// How many kinds poison_record() cycles through.
inline constexpr size_t kPoisonKinds = 10;

// The n-th poison record (kind n % kPoisonKinds); its value (where it has
// one) names n. Where the kind allows a valid key, it is `valid_key`: a key of
// the test's own key space, so that applying the record by mistake would
// change a row the oracle checks.
PoisonRecord poison_record(size_t n, const std::string& valid_key);

}  // namespace kvstream::testing
