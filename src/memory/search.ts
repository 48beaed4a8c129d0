/**
 * Full-text search over a session's memories (PostgreSQL `websearch_to_tsquery` on the
 * GIN-indexed `memories.search`), ranked so that an exact match always comes first.
 */
import type { SqlExecutor } from '../store/types.js'

export interface SearchHit {
  memoryId: string
  /** Higher is better: text relevance in [0, 1) plus 1, 2 or 3 for an exact match (see below). */
  score: number
  content: string
  kind?: string
  importance: number
  tags: string[]
}

export const DEFAULT_SEARCH_LIMIT = 10
export const MAX_SEARCH_LIMIT = 100

/**
 * The query is read as a web search box reads it (`"a phrase"`, `or`, `-word`), stemmed
 * in English and also taken word for word, so "running" finds "run" and "the who" still
 * finds "The Who". The relevance is `ts_rank_cd` normalised into [0, 1) (flag 32), and an
 * exact match adds a whole step on top, so it outranks any amount of relevance:
 * +3 the query is the memory's id, +2 it is the whole content, +1 the content contains it
 * (all case-insensitive except the id). Ties go by memory id, the same on every backend.
 */
export async function searchMemories(
  db: SqlExecutor, session: string, query: string, limit = DEFAULT_SEARCH_LIMIT,
): Promise<SearchHit[]> {
  const rows = await db.query<{
    memory_id: string
    content: string
    kind: string | null
    importance: number
    tags: string[]
    score: number
  }>(
    `WITH q AS (
       SELECT websearch_to_tsquery('english', $2) || websearch_to_tsquery('simple', $2) AS tsq, lower($2) AS text
     )
     SELECT m.memory_id, m.content, m.kind, m.importance, to_jsonb(m.tags) AS tags, -- JSON: both drivers give an array
       (ts_rank_cd(m.search, q.tsq, 32)
         + CASE WHEN m.memory_id = $2 THEN 3
                WHEN lower(m.content) = q.text THEN 2
                WHEN strpos(lower(m.content), q.text) > 0 THEN 1
                ELSE 0 END)::float8 AS score
     FROM memories m, q
     WHERE m.session_id = $1 AND (m.search @@ q.tsq OR m.memory_id = $2)
     ORDER BY score DESC, m.memory_id COLLATE "C"
     LIMIT $3`,
    [session, query, limit],
  )
  return rows.map((r) => ({
    memoryId: r.memory_id,
    score: Math.round(Number(r.score) * 1e6) / 1e6,
    content: r.content,
    ...(r.kind !== null ? { kind: r.kind } : {}),
    importance: Number(r.importance),
    tags: r.tags,
  }))
}
