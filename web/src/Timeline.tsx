/**
 * Every event of the session, newest first, in a virtual list (only the rows in view are in
 * the DOM, so 100,000 events scroll as smoothly as 100), with filters by type, actor, run and
 * free text. A click opens the event's envelope and hash.
 */
import { useEffect, useMemo, useRef, useState } from 'preact/hooks'
import type { Envelope } from './api.js'
import { describeActor, describeWhat, searchText } from './describe.js'

const ROW = 44
const OVERSCAN = 8

interface Props {
  /** In log order (ascending position); the list shows it reversed. */
  events: readonly Envelope[]
  /** Bumped whenever `events` grew (it is appended to in place). */
  revision: number
  /** The time-travel position: later events are dimmed. */
  at: number | null
}

const texts = new WeakMap<Envelope, string>()
const textOf = (e: Envelope) => {
  let t = texts.get(e)
  if (t === undefined) texts.set(e, (t = searchText(e)))
  return t
}

export function Timeline({ events, revision, at }: Props) {
  const [type, setType] = useState('')
  const [actor, setActor] = useState('')
  const [run, setRun] = useState('')
  const [text, setText] = useState('')
  const [selected, setSelected] = useState<Envelope | null>(null)
  const [scrollTop, setScrollTop] = useState(0)
  const [height, setHeight] = useState(480)
  const viewport = useRef<HTMLDivElement>(null)

  // The list's height from a ResizeObserver: reading clientHeight while rendering forced a
  // layout on every render (60 ms of a 10,000-event load, which renders once a frame).
  useEffect(() => {
    const el = viewport.current
    if (!el) return
    const observer = new ResizeObserver(([entry]) => {
      const h = Math.round(entry.contentRect.height)
      if (h) setHeight(h)
    })
    observer.observe(el)
    return () => observer.disconnect()
  }, [])

  const facets = useMemo(() => {
    const types = new Set<string>(), actors = new Map<string, string>(), runs = new Set<string>()
    for (const e of events) {
      types.add(e.type)
      actors.set(e.actor.id, e.actor.name || e.actor.id)
      if (e.actor.run) runs.add(e.actor.run)
    }
    return { types: [...types].sort(), actors: [...actors].sort((a, b) => a[1].localeCompare(b[1])), runs: [...runs].sort() }
  }, [events, revision])

  const shown = useMemo(() => {
    const needle = text.trim().toLowerCase()
    const out: Envelope[] = []
    for (let i = events.length - 1; i >= 0; i--) {
      const e = events[i]
      if (type && e.type !== type) continue
      if (actor && e.actor.id !== actor) continue
      if (run && e.actor.run !== run) continue
      if (needle && !textOf(e).includes(needle)) continue
      out.push(e)
    }
    return out
  }, [events, revision, type, actor, run, text])

  const first = Math.max(0, Math.floor(scrollTop / ROW) - OVERSCAN)
  const last = Math.min(shown.length, Math.ceil((scrollTop + height) / ROW) + OVERSCAN)
  const rows = shown.slice(first, last)

  return (
    <div class="timeline">
      <div class="filters">
        <select aria-label="type" data-filter="type" value={type} onChange={(e) => setType(e.currentTarget.value)}>
          <option value="">all types</option>
          {facets.types.map((t) => <option key={t} value={t}>{t}</option>)}
        </select>
        <select aria-label="actor" data-filter="actor" value={actor} onChange={(e) => setActor(e.currentTarget.value)}>
          <option value="">all actors</option>
          {facets.actors.map(([id, name]) => <option key={id} value={id}>{name}</option>)}
        </select>
        <select aria-label="run" data-filter="run" value={run} onChange={(e) => setRun(e.currentTarget.value)}>
          <option value="">all runs</option>
          {facets.runs.map((r) => <option key={r} value={r}>{r}</option>)}
        </select>
        <input type="search" placeholder="filter text" aria-label="filter text" data-filter="text" value={text} onInput={(e) => setText(e.currentTarget.value)} />
        <span class="muted" data-testid="timeline-count">{shown.length} of {events.length}</span>
      </div>
      <div
        class="rows"
        ref={viewport}
        onScroll={(e) => setScrollTop(e.currentTarget.scrollTop)}
        data-testid="timeline"
      >
        <div style={{ height: `${shown.length * ROW}px`, position: 'relative' }}>
          {rows.map((e, i) => (
            <div
              key={e.position}
              class={`row ${selected?.position === e.position ? 'selected' : ''} ${at !== null && e.position > at ? 'later' : ''}`}
              style={{ top: `${(first + i) * ROW}px` }}
              data-position={e.position}
              data-type={e.type}
              data-run={e.actor.run}
              onClick={() => setSelected(e)}
            >
              <div class="line1">
                <span class={`type t-${e.type.split('.')[0]}`}>{e.type}</span>
                <span class="who">{describeActor(e.actor)}</span>
                <span class="muted when">#{e.position} · {new Date(e.recordedAt).toLocaleTimeString()}</span>
              </div>
              <div class="line2">
                {describeWhat(e)}
                {e.meta?.rationale ? <span class="rationale"> — {e.meta.rationale}</span> : null}
              </div>
            </div>
          ))}
        </div>
      </div>
      {selected ? <EventDetail event={selected} onClose={() => setSelected(null)} /> : null}
    </div>
  )
}

function EventDetail({ event, onClose }: { event: Envelope; onClose: () => void }) {
  const shown = event.type === 'doc.update' && typeof event.data.update === 'string' && event.data.update.length > 200
    ? { ...event, data: { ...event.data, update: `${event.data.update.slice(0, 200)}… (${event.data.update.length} base64 characters)` } }
    : event
  return (
    <div class="detail" data-testid="event-detail">
      <div class="detail-head">
        <strong>#{event.position} · v{event.version} · {event.type}</strong>
        <button type="button" onClick={onClose} aria-label="close">×</button>
      </div>
      <dl>
        <dt>hash</dt><dd><code data-testid="event-hash">{event.hash}</code></dd>
        <dt>prevHash</dt><dd><code>{event.prevHash}</code></dd>
      </dl>
      <pre>{JSON.stringify(shown, null, 2)}</pre>
    </div>
  )
}
