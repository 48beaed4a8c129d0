/**
 * The summary an agent puts in its context window (`GET …/context`): who is here, what is
 * selected, the path, open annotations, decisions, the start of each rich-text field and recent
 * memory events, capped in size.
 * Every item is one line, so user text cannot forge headings in the Markdown form.
 */
import type { RichTextField } from '../session/richText.js'
import type { SessionState } from '../session/schema.js'
import type { Actor, SessionParticipant } from '../vocabulary.js'

export interface ContextEvent {
  position: number
  type: string
  data: Record<string, unknown>
  actor: Pick<Actor, 'id' | 'name' | 'kind'>
}

export interface ContextFacts {
  session: string
  participants: SessionParticipant[]
  state: SessionState
  /** Recent envelopes, any order; only `memory.*` ones are summarised. */
  recentEvents: ContextEvent[]
  /** Memory contents, to show what a selected or visited memory is about. */
  memories?: ReadonlyMap<string, { content: string }>
  /** The document's rich-text fields as plain text (session/richText.ts). */
  richText?: RichTextField[]
}

export interface ContextLimits {
  /** Characters of any one text before it is cut with `…`. */
  text?: number
  /** Items per list (participants, selections, annotations, decisions). */
  items?: number
  /** Newest exploration steps kept. */
  pathSteps?: number
  /** Newest memory events kept. */
  events?: number
}

export interface SessionContext {
  session: string
  participants: SessionParticipant[]
  selections: { memoryId: string; by: string; byName: string; content?: string }[]
  explorationPath: { step: number; memoryId: string; by: string; byName: string; note?: string; content?: string }[]
  openAnnotations: { id: string; target: string; author: string; authorName: string; text: string }[]
  decisions: {
    id: string
    question: string
    status: 'open' | 'accepted' | 'rejected'
    outcome?: string
    quorum: number
    tally: { option: string; votes: number }[]
  }[]
  /** Each rich-text field's start as one line of plain text, and how long the whole is. */
  richText: { field: string; excerpt: string; characters: number }[]
  recentMemoryEvents: { position: number; type: string; line: string }[]
  /** How many items each list left out. */
  omitted: Record<'participants' | 'selections' | 'explorationPath' | 'openAnnotations' | 'decisions' | 'richText' | 'recentMemoryEvents', number>
}

/** One line of at most `max` characters (code points), cut with `…`. */
export function clip(text: string, max: number): string {
  const flat = text.replace(/\s+/g, ' ').trim()
  const chars = Array.from(flat)
  return chars.length <= max ? flat : `${chars.slice(0, Math.max(0, max - 1)).join('').trimEnd()}…`
}

const byText = (x: string, y: string) => (x < y ? -1 : x > y ? 1 : 0)
const num = (x: unknown) => (typeof x === 'number' && Number.isFinite(x) ? String(Math.round(x * 1000) / 1000) : '?')
const str = (x: unknown) => (typeof x === 'string' ? x : '?')
/** An id, kept whole (up to the store's 256) but on one line. */
const ref = (x: unknown) => clip(str(x), 256)

function eventLine(event: ContextEvent, text: number): string {
  const d = event.data
  const who = `${clip(event.actor.name, 60)} (${event.actor.kind})`
  switch (event.type) {
    case 'memory.formed':
      return `${ref(d.memoryId)} formed by ${who}, importance ${num(d.importance ?? 0.5)}: ${clip(str(d.content), text)}`
    case 'memory.connected':
      return `${ref(d.from)} – ${ref(d.to)} connected (strength ${num(d.strength)}) by ${who}`
    case 'memory.strength_changed': {
      const before = d.previous === null || d.previous === undefined ? 'none' : num(d.previous)
      return `${ref(d.from)} – ${ref(d.to)} strength ${before} → ${num(d.strength)} by ${who}`
    }
    case 'memory.cascade': {
      const affected = Array.isArray(d.affected) ? (d.affected as { memoryId?: unknown; activation?: unknown }[]) : []
      const shown = affected.slice(0, 5).map((a) => `${ref(a.memoryId)} ${num(a.activation)}`)
      const more = affected.length > 5 ? `, … ${affected.length - 5} more` : ''
      return `cascade from ${ref(d.source)} (strength ${num(d.cascadeStrength)}) reached ${affected.length}${shown.length ? `: ${shown.join(', ')}${more}` : ''}`
    }
    case 'memory.retrieved': {
      const results = Array.isArray(d.results) ? (d.results as { memoryId?: unknown }[]) : []
      return `search ${JSON.stringify(clip(str(d.query), 80))} by ${who} → ${results.slice(0, 5).map((r) => ref(r.memoryId)).join(', ') || 'nothing'}`
    }
    default:
      return `${ref(event.type)} by ${who}`
  }
}

function cap<T>(items: T[], max: number, keepNewest = false): { items: T[]; omitted: number } {
  if (items.length <= max) return { items, omitted: 0 }
  return { items: keepNewest ? items.slice(items.length - max) : items.slice(0, max), omitted: items.length - max }
}

/** Gathers the facts into a bounded, deterministically ordered summary. */
export function buildContext(facts: ContextFacts, limits: ContextLimits = {}): SessionContext {
  const { text = 200, items = 50, pathSteps = 20, events = 20 } = limits
  const names = new Map(facts.participants.map((p) => [p.id, p.name]))
  const nameOf = (id: string) => clip(names.get(id) ?? id, 60)
  const contentOf = (id: string) => {
    const memory = facts.memories?.get(id)
    return memory ? { content: clip(memory.content, text) } : {}
  }
  const { state } = facts

  const participants = cap(
    facts.participants
      .map((p) => ({ id: ref(p.id), name: clip(p.name, 60), kind: ref(p.kind), online: p.online }))
      .sort((x, y) => Number(y.online) - Number(x.online) || byText(x.name, y.name) || byText(x.id, y.id)),
    items,
  )
  const selections = cap(
    Object.entries(state.selections)
      .sort(([ka, a], [kb, b]) => a.at - b.at || byText(ka, kb))
      .map(([memoryId, s]) => ({ memoryId: ref(memoryId), by: ref(s.by), byName: nameOf(s.by), ...contentOf(memoryId) })),
    items,
  )
  const path = cap(
    state.explorationPath.map((s, i) => ({
      step: i + 1,
      memoryId: ref(s.memoryId),
      by: ref(s.by),
      byName: nameOf(s.by),
      ...(s.note ? { note: clip(s.note, text) } : {}),
      ...contentOf(s.memoryId),
    })),
    pathSteps,
    true,
  )
  const annotations = cap(
    Object.values(state.annotations)
      .filter((a) => !a.resolved)
      .sort((a, b) => a.createdAt - b.createdAt || byText(a.id, b.id))
      .map((a) => ({ id: ref(a.id), target: ref(a.target), author: ref(a.author), authorName: nameOf(a.author), text: clip(a.text, text) })),
    items,
  )
  const rank = { open: 0, accepted: 1, rejected: 2 } as const
  const decisions = cap(
    Object.values(state.decisions)
      .sort((a, b) => rank[a.status] - rank[b.status] || byText(a.id, b.id))
      .map((d) => {
        const counts = new Map<string, number>(d.options.map((o) => [o, 0]))
        for (const option of Object.values(d.votes)) counts.set(option, (counts.get(option) ?? 0) + 1)
        return {
          id: ref(d.id),
          question: clip(d.question, text),
          status: d.status,
          ...(d.outcome !== undefined ? { outcome: clip(d.outcome, 80) } : {}),
          quorum: d.quorum,
          tally: [...counts].map(([option, votes]) => ({ option: clip(option, 80), votes })),
        }
      }),
    items,
  )
  const richText = cap(
    (facts.richText ?? []).map((f) => ({ field: ref(f.name), excerpt: clip(f.text, text), characters: Array.from(f.text).length })),
    items,
  )
  const recent = cap(
    facts.recentEvents
      .filter((e) => e.type.startsWith('memory.'))
      .sort((a, b) => a.position - b.position)
      .map((e) => ({ position: e.position, type: e.type, line: eventLine(e, text) })),
    events,
    true,
  )

  return {
    session: ref(facts.session),
    participants: participants.items,
    selections: selections.items,
    explorationPath: path.items,
    openAnnotations: annotations.items,
    decisions: decisions.items,
    richText: richText.items,
    recentMemoryEvents: recent.items,
    omitted: {
      participants: participants.omitted,
      selections: selections.omitted,
      explorationPath: path.omitted,
      openAnnotations: annotations.omitted,
      decisions: decisions.omitted,
      richText: richText.omitted,
      recentMemoryEvents: recent.omitted,
    },
  }
}

/** The summary as short Markdown, one line per item, ids kept so a model can refer to them. */
export function renderContextMarkdown(context: SessionContext): string {
  const out: string[] = [`# Session ${context.session}`]
  const section = (title: string, lines: string[], omitted: number, omittedFirst = false) => {
    const note = omitted > 0 ? [omittedFirst ? `- (${omitted} earlier omitted)` : `- … and ${omitted} more`] : []
    const body = lines.length > 0 ? lines : ['- none']
    out.push('', `## ${title}`, ...(omittedFirst ? [...note, ...body] : [...body, ...note]))
  }
  const about = (x: { content?: string }) => (x.content !== undefined ? `: ${x.content}` : '')
  const o = context.omitted

  section('Participants', context.participants.map((p) => `- ${p.name} (${p.id}, ${p.kind}, ${p.online ? 'online' : 'offline'})`), o.participants)
  section('Selected memories', context.selections.map((s) => `- ${s.memoryId} (by ${s.byName})${about(s)}`), o.selections)
  section(
    'Exploration path',
    context.explorationPath.map((s) => `${s.step}. ${s.memoryId} (${s.byName})${s.note ? ` — ${s.note}` : ''}${about(s)}`),
    o.explorationPath,
    true,
  )
  section('Open annotations', context.openAnnotations.map((a) => `- ${a.id} on ${a.target} by ${a.authorName}: ${a.text}`), o.openAnnotations)
  section(
    'Decisions',
    context.decisions.map((d) => {
      const status = d.status === 'open' ? 'open' : d.outcome !== undefined ? `${d.status}: ${d.outcome}` : d.status
      const votes = d.tally.map((t) => `${t.option} ${t.votes}`).join(', ') || 'no options'
      return `- ${d.id} [${status}] ${d.question} — votes: ${votes} (quorum ${d.quorum})`
    }),
    o.decisions,
  )
  // Only for a session that has rich text: most have none.
  if (context.richText.length > 0) {
    section('Rich text', context.richText.map((f) => `- ${f.field} (${f.characters} characters): ${f.excerpt}`), o.richText)
  }
  section('Recent memory events', context.recentMemoryEvents.map((e) => `- ${e.line}`), o.recentMemoryEvents, true)
  return `${out.join('\n')}\n`
}
