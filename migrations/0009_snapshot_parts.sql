-- Large snapshots in parts: a snapshot over 256 KiB is written as rows of `snapshot_parts`, one
-- query each, and its `snapshots` row (parts = how many, state empty) last, so that a snapshot
-- is visible only once whole. One statement never carries more than a part, so the embedded
-- database, which runs on the server's own thread, never holds it for long (hostile defect 10).
-- A snapshot of at most 256 KiB stays inline (parts = 0). Like snapshots, a cache of the log.

ALTER TABLE snapshots ADD COLUMN parts integer NOT NULL DEFAULT 0;

CREATE TABLE snapshot_parts (
  session_id text NOT NULL,
  position bigint NOT NULL,
  part integer NOT NULL,
  bytes bytea NOT NULL,
  PRIMARY KEY (session_id, position, part)
);
