-- Updates of kv stay HOT (heap-only: no index entry written for a new row
-- version) when no indexed column changes and the row's page has room.
--
-- 1. The partial index on tombstones' age is dropped: an index on updated_at
--    made every upsert an index write, since updated_at changes with every
--    write. Old tombstones are now found by a sweep of the primary key in
--    pages (consumer/store/pg_store.h), which costs the writes nothing.
-- 2. New pages of kv are filled to 80%, so an updated row's new version fits
--    on its page. Pages written before keep their fill until rewritten.
--
-- On a live table: DROP INDEX takes the table's exclusive lock for a moment
-- (a catalog change, no scan), so it waits at most lock_timeout for the
-- running apply statements to finish instead of queueing every new one
-- behind it; if the lock does not come within that time, the migration
-- rolls back and is tried again (a transient error). Changing the
-- fillfactor takes a lock that does not block reads or writes.
SET LOCAL lock_timeout = '1s';
DROP INDEX IF EXISTS kv_tombstones_by_age;
ALTER TABLE kv SET (fillfactor = 80);
