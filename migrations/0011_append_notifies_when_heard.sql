-- mnemo_append (migrations/0010) that notifies nobody when p_channel is NULL: an instance that no
-- other process listens to (createEventStore.ts: nobody announced itself on the channel lately, and
-- the registry sees no other instance) passes NULL, and its commits then cost neither a NOTIFY nor
-- the wake-up of its own LISTEN connection, which would only hear its own commits back. Measured
-- (bench:sync S1, pairs): 3–12% less server CPU, 15–18% less PostgreSQL CPU in two pairs of three.
-- The body is 0010's otherwise; the 12-argument form (0010) passes its channel through unchanged.
CREATE OR REPLACE FUNCTION mnemo_append(
  p_sessions text[], p_session_of integer[], p_check boolean[], p_expected integer[],
  p_prelude integer[], p_counts integer[], p_twice boolean[],
  p_ids uuid[], p_bodies text, p_payload boolean[], p_now timestamptz, p_channel text, p_origin text,
  OUT outcomes text[], OUT versions integer[], OUT ref_counts integer[],
  OUT positions bigint[], OUT event_versions integer[], OUT hashes text[], OUT prev_hashes text[]
) LANGUAGE plpgsql
-- The driver asks for custom plans on its connections (postgresDriver.ts); here the inserts'
-- plans are the same at any size, so they are cached.
SET plan_cache_mode = auto
AS $$
DECLARE
  l_bodies text[] := string_to_array(p_bodies, E'\n');
  l_head bigint;
  l_start bigint;
  l_version integer[];
  l_hash text[];
  l_position bigint[];
  l_touched boolean[];
  -- The events written, in position order: index into p_ids/p_payload, and canonical JSON.
  l_written integer[] := '{}';
  l_texts text[] := '{}';
  l_w_positions bigint[] := '{}';
  l_w_versions integer[] := '{}';
  l_w_hashes text[] := '{}';
  l_w_prev text[] := '{}';
  l_w integer := 0;
  l_text text;
  l_any_known boolean;
  l_first integer := 1;
  l_from integer;
  l_to integer;
  l_s integer;
  l_k integer := 0;
  l_v integer;
  l_h text;
  l_seen integer;
  l_same integer;
  l_seen_positions bigint[];
  l_seen_versions integer[];
  l_line text;
  l_chunk text;
  l_first_carried bigint;
  l_last bigint;
BEGIN
  outcomes := '{}'; versions := '{}'; ref_counts := '{}';
  positions := '{}'; event_versions := '{}'; hashes := '{}'; prev_hashes := '{}';

  SELECT position INTO l_head FROM log_head FOR UPDATE;
  l_start := l_head;

  -- Whether any id is already in the log (almost never: then no append needs its own look-up),
  -- and the sessions' heads, read under the lock. (0006 checked the ids before the lock; one
  -- call for both is cheaper than the wait it saved.)
  SELECT l.any_known, l.versions, l.hashes INTO l_any_known, l_version, l_hash
    FROM mnemo_append_lookup(p_ids, p_sessions) AS l;


  FOR a IN 1 .. coalesce(array_length(p_session_of, 1), 0) LOOP
    l_s := p_session_of[a];
    l_from := l_first + p_prelude[a];
    l_to := l_from + p_counts[a] - 1;
    l_first := l_to + 1;
    ref_counts[a] := 0;

    IF l_any_known THEN
      EXECUTE 'SELECT count(*), count(*) FILTER (WHERE known.session_id = $2),
                      array_agg(known.position ORDER BY u.ord), array_agg(known.version ORDER BY u.ord)
                 FROM unnest($1::uuid[]) WITH ORDINALITY AS u(id, ord) JOIN events known ON known.id = u.id'
        INTO l_seen, l_same, l_seen_positions, l_seen_versions USING p_ids[l_from:l_to], p_sessions[l_s];
      IF l_seen = p_counts[a] THEN
        versions[a] := l_version[l_s];
        IF l_same = l_seen THEN
          outcomes[a] := 'duplicate';
          ref_counts[a] := l_seen;
          FOR i IN 1 .. l_seen LOOP
            l_k := l_k + 1;
            positions[l_k] := l_seen_positions[i];
            event_versions[l_k] := l_seen_versions[i];
            hashes[l_k] := NULL;
            prev_hashes[l_k] := NULL;
          END LOOP;
        ELSE
          outcomes[a] := 'other_session';
        END IF;
        CONTINUE;
      ELSIF l_seen > 0 THEN
        outcomes[a] := 'partly_known';
        versions[a] := l_version[l_s];
        CONTINUE;
      END IF;
    END IF;

    IF p_twice[a] THEN
      outcomes[a] := 'twice';
      versions[a] := l_version[l_s];
      CONTINUE;
    END IF;
    IF p_check[a] AND p_expected[a] <> l_version[l_s] THEN
      outcomes[a] := 'version_conflict';
      versions[a] := l_version[l_s];
      CONTINUE;
    END IF;

    -- The prelude only for a session that does not exist yet.
    IF l_version[l_s] = 0 THEN l_from := l_from - p_prelude[a]; END IF;
    FOR e IN l_from .. l_to LOOP
      l_head := l_head + 1;
      l_v := l_version[l_s] + 1;
      l_text := l_bodies[e] || l_v::text || '}';
      l_h := encode(sha256(convert_to(l_hash[l_s] || l_text, 'UTF8')), 'hex');
      l_k := l_k + 1;
      positions[l_k] := l_head;
      event_versions[l_k] := l_v;
      hashes[l_k] := l_h;
      prev_hashes[l_k] := l_hash[l_s];
      l_w := l_w + 1;
      l_written[l_w] := e;
      l_texts[l_w] := l_text;
      l_w_positions[l_w] := l_head;
      l_w_versions[l_w] := l_v;
      l_w_hashes[l_w] := l_h;
      l_w_prev[l_w] := l_hash[l_s];
      l_version[l_s] := l_v;
      l_hash[l_s] := l_h;
    END LOOP;
    l_position[l_s] := l_head;
    l_touched[l_s] := true;
    outcomes[a] := 'ok';
    versions[a] := l_version[l_s];
    ref_counts[a] := l_to - l_from + 1;
  END LOOP;

  IF l_head = l_start THEN RETURN; END IF;

  -- Rows in position order; the array subscripts below are of fixed-width arrays only
  -- (a subscript of a text[] parameter walks it from the start).
  INSERT INTO events (position, id, session_id, version, type, data, payload, actor, meta, recorded_at, hash, prev_hash)
  SELECT w.pos, p_ids[w.idx], j->>'session', w.ver, j->>'type',
         CASE WHEN p_payload[w.idx] THEN (j->'data') - 'update' ELSE j->'data' END,
         CASE WHEN p_payload[w.idx] THEN decode(j->'data'->>'update', 'base64') END,
         j->'actor', j->'meta', (j->>'recordedAt')::timestamptz, w.hash, w.prev
    FROM unnest(l_written, l_texts, l_w_positions, l_w_versions, l_w_hashes, l_w_prev) AS w(idx, text, pos, ver, hash, prev)
    CROSS JOIN LATERAL (SELECT w.text::jsonb AS j OFFSET 0) AS parsed;

  INSERT INTO sessions AS t (id, version, hash, position, created_at, updated_at)
  SELECT u.id, l_version[u.ord], l_hash[u.ord], l_position[u.ord], p_now, p_now
    FROM unnest(p_sessions) WITH ORDINALITY AS u(id, ord)
   WHERE l_touched[u.ord]
  ON CONFLICT (id) DO UPDATE SET version = excluded.version, hash = excluded.hash,
    position = excluded.position, updated_at = excluded.updated_at;

  UPDATE log_head SET position = l_head;

  -- Nobody else listens: no notification at all (and no wait for the notification queue's lock at commit).
  IF p_channel IS NULL THEN RETURN; END IF;
  IF p_origin IS NULL THEN
    PERFORM pg_notify(p_channel, l_head::text);
    RETURN;
  END IF;
  -- The written events themselves, in notifications of at most 7,900 bytes (NOTIFY takes
  -- 8,000): '<head> <origin>' / '<position of the first line>' / one line per event, of
  -- contiguous positions: payload flag (0/1), hash, prev_hash, canonical JSON (which has no
  -- newline). Each one's head is the last position it carries, the last one's the log's new
  -- head; an event too long for a notification is left for the readers to read (the head of
  -- the notification after it shows them the hole).
  FOR w IN 1 .. l_w LOOP
    l_line := CASE WHEN p_payload[l_written[w]] THEN '1' ELSE '0' END || l_w_hashes[w] || l_w_prev[w] || l_texts[w];
    IF l_chunk IS NOT NULL AND (octet_length(l_line) > 7800 OR octet_length(l_chunk) + 1 + octet_length(l_line) > 7800) THEN
      PERFORM pg_notify(p_channel, l_last::text || ' ' || p_origin || E'\n' || l_first_carried::text || E'\n' || l_chunk);
      l_chunk := NULL;
    END IF;
    CONTINUE WHEN octet_length(l_line) > 7800;
    IF l_chunk IS NULL THEN
      l_first_carried := l_w_positions[w];
      l_chunk := l_line;
    ELSE
      l_chunk := l_chunk || E'\n' || l_line;
    END IF;
    l_last := l_w_positions[w];
  END LOOP;
  -- What is left ends with the transaction's last event: its head is the log's new head.
  IF l_chunk IS NOT NULL THEN
    PERFORM pg_notify(p_channel, l_head::text || ' ' || p_origin || E'\n' || l_first_carried::text || E'\n' || l_chunk);
  ELSE
    PERFORM pg_notify(p_channel, l_head::text);
  END IF;
END
$$;
