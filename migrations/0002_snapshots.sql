-- Document snapshots: the Yjs state of a session as of a position, so that loading a room
-- or computing the state at a point reads one snapshot plus the `doc.update` tail after it.
-- Snapshots are a cache of the log: they can be deleted and rebuilt, unlike events.

CREATE TABLE snapshots (
  session_id text NOT NULL,
  version integer NOT NULL,
  position bigint NOT NULL,
  state bytea NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (session_id, position)
);
