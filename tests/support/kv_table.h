// Observing the database from the outside, as its operator could: the whole
// kv table, the applied positions in kv_offsets, an audit (triggers of the
// test's own) of how positions and rows moved, and the sessions that hold
// transactions open or wait for locks.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "tests/support/oracle.h"

namespace kvstream::testing {

// Every row of kv (values and tombstones). Throws pqxx exceptions.
KvTable read_kv_table(const std::string& pg_url);

// kv_offsets of `topic`: partition -> next offset to apply.
std::map<int32_t, int64_t> read_applied_offsets(const std::string& pg_url,
                                                const std::string& topic);

// Installs triggers (in tables of the test's own, kvtest_*) that record
//   - every change of kv_offsets.next_offset, and
//   - every update of a kv row to an older offset of the same partition,
// so a test can check afterwards that no applied position and no row ever
// moved backwards, not even for a moment: the visible trace of a write that
// got past the fence or the row guard (e.g. a deleted key briefly coming
// back). The consumer knows nothing of them. Needs the schema (run the
// migrations first).
void install_audit(const std::string& pg_url);

// Each recorded backward move, as "kv_offsets partition P: A -> B at T" or
// "kv key K: P:A -> P:B at T"; empty when there was none.
std::vector<std::string> audit_violations(const std::string& pg_url);

// Forgets what the audit recorded so far (after a test moved positions
// itself, e.g. to replay).
void clear_audit(const std::string& pg_url);

// How many changes of kv_offsets the audit recorded (to show it was active).
size_t audited_offset_changes(const std::string& pg_url);

// The applied position of each partition of `topic` as it was at `when`
// (wall clock), from the audit; partitions without a change before then are
// absent.
std::map<int32_t, int64_t> audited_offsets_at(const std::string& pg_url, const std::string& topic,
                                              std::chrono::system_clock::time_point when);

// Sessions of this database (other than the caller's) that have been idle
// inside an open transaction for longer than `for_at_least`: a client that
// stopped between two statements of a transaction, holding its locks.
size_t stalled_transactions(const std::string& pg_url, std::chrono::milliseconds for_at_least);

// Sessions of this database (other than the caller's) waiting for a lock.
size_t lock_waiters(const std::string& pg_url);

}  // namespace kvstream::testing
