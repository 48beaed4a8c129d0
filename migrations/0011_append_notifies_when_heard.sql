-- mnemo_append (migrations/0010) that notifies nobody when p_channel is NULL: an instance that no
-- other process listens to (createEventStore.ts: nobody announced itself on the channel lately, and
-- the registry sees no other instance) passes NULL, and its commits then cost neither a NOTIFY nor
-- the wake-up of its own LISTEN connection, which would only hear its own commits back. Measured
-- (bench/RESULTS.md, 2026-12-07): one writer, 13–20% less PostgreSQL CPU per append.
--
-- The change is one line before the notifications, so it is made to the function as 0010 left it
-- (its definition as the database holds it, edited and run again) rather than by restating its
-- 180 lines here. The 12-argument form (0010) passes its channel through unchanged.
DO $$
DECLARE
  l_def text := pg_get_functiondef(
    'mnemo_append(text[], integer[], boolean[], integer[], integer[], integer[], boolean[], uuid[], text, boolean[], timestamptz, text, text)'::regprocedure);
  l_before text := E'  UPDATE log_head SET position = l_head;\n';
BEGIN
  IF position(l_before IN l_def) = 0 THEN
    RAISE EXCEPTION 'migration 0011: mnemo_append is not as migration 0010 left it (no "%")', rtrim(l_before, E'\n');
  END IF;
  EXECUTE replace(l_def, l_before, l_before || E'\n  -- Nobody else listens: no notification (and no wait for the notification queue''s lock at commit).\n  IF p_channel IS NULL THEN RETURN; END IF;\n');
END
$$;
