/**
 * Who took part in a session, folded from its `participant.joined` / `participant.left`
 * events: participants who left stay listed with `online: false`. The log is the truth across
 * instances; one participant may hold several connections, so online = joined more than left.
 */
import type { EventStore, StoredEvent } from '../store/types.js'
import type { SessionParticipant } from '../vocabulary.js'

export function foldParticipants(events: Iterable<Pick<StoredEvent, 'type' | 'data'>>): SessionParticipant[] {
  const byId = new Map<string, { id: string; name: string; kind: string; open: number }>()
  for (const event of events) {
    const p = (event.data as { participant?: { id?: unknown; name?: unknown; kind?: unknown } }).participant
    if (!p || typeof p.id !== 'string') continue
    const entry = byId.get(p.id) ?? { id: p.id, name: String(p.name ?? p.id), kind: String(p.kind ?? 'human'), open: 0 }
    entry.name = String(p.name ?? entry.name)
    if (event.type === 'participant.joined') entry.open += 1
    else if (event.type === 'participant.left') entry.open = Math.max(0, entry.open - 1)
    byId.set(p.id, entry)
  }
  return [...byId.values()].map(({ open, ...rest }) => ({ ...rest, online: open > 0 }))
}

export async function listParticipants(store: EventStore, session: string, until?: number): Promise<SessionParticipant[]> {
  const events: StoredEvent[] = []
  let after = 0
  for (;;) {
    const page = await store.read(session, { after, until, limit: 1000, types: ['participant.joined', 'participant.left'] })
    events.push(...page)
    if (page.length < 1000) break
    after = page.at(-1)!.position
  }
  return foldParticipants(events)
}
