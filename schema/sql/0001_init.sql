-- The materialized view and the applied position of each partition.

-- One row per key ever seen. A row whose value is NULL is a tombstone: the key
-- was deleted at (src_partition, src_offset). Tombstones are kept for a
-- retention period so that a replayed older PUT cannot bring the key back.
-- Keys sort bytewise (COLLATE "C") so prefix scans and pagination use the
-- primary key index.
CREATE TABLE kv (
  key           text COLLATE "C" PRIMARY KEY,
  value         bytea,
  content_type  text,
  src_partition integer     NOT NULL,
  src_offset    bigint      NOT NULL,
  updated_at    timestamptz NOT NULL DEFAULT now()
);

-- Tombstone garbage collection scans by age.
CREATE INDEX kv_tombstones_by_age ON kv (updated_at) WHERE value IS NULL;

-- The next offset to apply for each partition of each topic: the source of
-- truth for where a replica resumes, advanced in the same transaction as the
-- rows it covers.
CREATE TABLE kv_offsets (
  topic       text        NOT NULL,
  partition   integer     NOT NULL,
  next_offset bigint      NOT NULL,
  updated_at  timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (topic, partition)
);
