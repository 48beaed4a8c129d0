-- The memory graph projection: memories and their undirected, weighted connections as the
-- log's `memory.formed`, `memory.connected` and `memory.strength_changed` events leave them.
--
-- A cache of the log, like snapshots: `npx mnemo rebuild` deletes and refolds it. It is
-- written by an append hook inside the append transaction, and every writer of these
-- tables (the hook, the start-up catch-up, rebuild) first holds the `log_head` row lock,
-- so the projection changes in log order and commits with the events it folds.
--
-- No foreign keys between the tables: a connection may name a memory whose `memory.formed`
-- has not been written (yet), exactly as in the log.

-- Full-text document of a memory: English stems (so "running" finds "run") plus the
-- plain words (so stop words and names still match), and the tags with the top weight.
-- array_to_string is only STABLE in the catalog (for arrays of timestamps); on text[] it
-- cannot change, which is what makes this function honestly IMMUTABLE.
CREATE FUNCTION mnemo_memory_document(content text, tags text[]) RETURNS tsvector
  LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT setweight(to_tsvector('simple'::regconfig, coalesce(array_to_string(tags, ' '), '')), 'A')
      || setweight(to_tsvector('english'::regconfig, content), 'B')
      || to_tsvector('simple'::regconfig, content)
$$;

CREATE TABLE memories (
  session_id text NOT NULL,
  memory_id text NOT NULL,
  content text NOT NULL,
  kind text,
  importance double precision NOT NULL,
  tags text[] NOT NULL DEFAULT '{}',
  -- From the first `memory.formed` of the id (the one at `formed_position`); a later one
  -- refreshes the rest, not these.
  formed_at timestamptz NOT NULL,
  formed_by jsonb NOT NULL,
  formed_position bigint NOT NULL,
  search tsvector GENERATED ALWAYS AS (mnemo_memory_document(content, tags)) STORED,
  PRIMARY KEY (session_id, memory_id)
);

CREATE INDEX memories_search ON memories USING gin (search);

-- One row per pair, `a` < `b` in JavaScript code-unit order (the hook sorts the pair; a SQL
-- CHECK would compare with the database's collation, which orders differently).
CREATE TABLE memory_connections (
  session_id text NOT NULL,
  a text NOT NULL,
  b text NOT NULL,
  strength double precision NOT NULL,
  PRIMARY KEY (session_id, a, b)
);

-- Every projected event at or before `position` is folded in. It moves only when a
-- transaction carrying memory events commits, so it may lag the log's head.
CREATE TABLE memory_projection (
  singleton boolean PRIMARY KEY DEFAULT true CHECK (singleton),
  position bigint NOT NULL
);
INSERT INTO memory_projection (singleton, position) VALUES (true, 0);
