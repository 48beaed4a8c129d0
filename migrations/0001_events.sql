-- The append-only event log: every Yjs update and every memory event of every session.
--
-- Global order: `position` comes from the one row of `log_head`, which every append
-- transaction locks (SELECT … FOR UPDATE) before it reads anything. Appends therefore
-- commit one after another in position order, so a reader that has seen position N has
-- seen every position below N: no event committed "late" behind a reader's back. Positions
-- are gap-free. Group commit (many appends in one transaction) keeps throughput up.

CREATE TABLE log_head (
  singleton boolean PRIMARY KEY DEFAULT true CHECK (singleton),
  position bigint NOT NULL
);
INSERT INTO log_head (singleton, position) VALUES (true, 0);

-- One row per session: its head (version, last hash), kept in the append transaction.
CREATE TABLE sessions (
  id text PRIMARY KEY,
  version integer NOT NULL CHECK (version >= 1),
  hash text NOT NULL,
  position bigint NOT NULL,
  created_at timestamptz NOT NULL,
  updated_at timestamptz NOT NULL
);

CREATE TABLE events (
  position bigint PRIMARY KEY,
  id uuid NOT NULL UNIQUE,
  session_id text NOT NULL,
  version integer NOT NULL CHECK (version >= 1),
  type text NOT NULL,
  data jsonb NOT NULL,
  payload bytea,
  actor jsonb NOT NULL,
  meta jsonb NOT NULL,
  recorded_at timestamptz NOT NULL,
  hash text NOT NULL,
  prev_hash text NOT NULL,
  UNIQUE (session_id, version)
);

CREATE INDEX events_session_type ON events (session_id, type, position);
CREATE INDEX events_type ON events (type, position);
CREATE INDEX events_recorded_at ON events (session_id, recorded_at);

CREATE FUNCTION mnemo_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'events are append-only: % is refused', TG_OP
    USING ERRCODE = 'insufficient_privilege';
END
$$;

CREATE TRIGGER events_append_only
  BEFORE UPDATE OR DELETE ON events
  FOR EACH ROW EXECUTE FUNCTION mnemo_refuse_change();

CREATE TRIGGER events_no_truncate
  BEFORE TRUNCATE ON events
  FOR EACH STATEMENT EXECUTE FUNCTION mnemo_refuse_change();
