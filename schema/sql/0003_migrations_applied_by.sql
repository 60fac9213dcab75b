-- Each applied migration records who applied it: the program and its
-- version (e.g. 'kvstream-consumer 0.1.0'), next to applied_at. Rows applied
-- before this migration keep NULL (unknown).
--
-- A database created at this version or later already has the column (the
-- migrator creates its bookkeeping table in its current shape); this
-- migration adds it to a table created by an older binary, and does nothing
-- otherwise.
--
-- On a live database: a nullable column without a default is a catalog
-- change only (no rewrite of the table, no scan). It takes the bookkeeping
-- table's exclusive lock for a moment, which only the migrator (under its
-- advisory lock) and the schema version check of a starting replica use;
-- lock_timeout bounds the wait like every migration that takes such a lock.
SET LOCAL lock_timeout = '1s';
ALTER TABLE kvstream_migrations ADD COLUMN IF NOT EXISTS applied_by text;
