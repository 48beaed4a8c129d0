-- Several instances on one database (README "Running several instances").
--
-- instances: each running server's heartbeat. A row whose last_seen is older than a few
-- heartbeats belongs to an instance that is gone; GET /api/instances leaves it out, and the
-- heartbeats of the others delete it after a while.
CREATE TABLE IF NOT EXISTS instances (
  id text PRIMARY KEY,
  url text NOT NULL,
  version text NOT NULL,
  started_at timestamptz NOT NULL,
  last_seen timestamptz NOT NULL,
  -- Its heartbeat interval: it is live while last_seen is within three of them.
  heartbeat_ms integer NOT NULL,
  sessions integer NOT NULL,
  connections integer NOT NULL,
  position bigint NOT NULL
);

-- presence_spill: an awareness message too long for a NOTIFY payload (8,000 bytes) waits here
-- for the other instances to read it by id; nothing here outlives a minute. Presence is never
-- part of the log.
CREATE TABLE IF NOT EXISTS presence_spill (
  id bigserial PRIMARY KEY,
  payload text NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now()
);
