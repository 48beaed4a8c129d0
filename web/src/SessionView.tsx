/**
 * One session: its live document and participants, the timeline, time travel (scrubber,
 * replay at 1×/10×/100×, fork, export), the memory graph and the integrity badge. The events
 * come from `GET …/events` pages by version range (a few at once, newest first), then the live
 * `…/stream`; the document from `GET …/:id` (and `…/state?at=` when travelling), refreshed
 * whenever an event says it changed.
 */
import { useEffect, useMemo, useRef, useState } from 'preact/hooks'
import { RUN_REVERTED } from '../../src/memory/retractions.js'
import { lastAtOrBefore } from '../../src/sorted.js'
import type { Change } from '../../src/session/schema.js'
import { api, download, readSse, type Envelope, type GraphJson, type SessionDetail, type StateAt, type Verification } from './api.js'
import { foldParticipants, type Participant } from './describe.js'
import { graphJsonOf } from './graphAt.js'
import { HISTORY_PAGE, loadHistory } from './history.js'
import { DocumentView } from './DocumentView.js'
import { MemoryGraph, type Lit } from './MemoryGraph.js'
import { focusedBy, focusOf, HereNow, usePresence } from './Presence.js'
import type { Rights } from './rights.js'
import { Timeline } from './Timeline.js'

/** Runs `task` now, or once more after the run in flight: never two at once, never a lost call. */
function coalesce(task: () => Promise<void>): () => void {
  let running = false
  let again = false
  const run = async () => {
    running = true
    try {
      await task()
    } catch {
      // The next event or refresh tries again.
    } finally {
      running = false
      if (again) {
        again = false
        void run()
      }
    }
  }
  return () => {
    if (running) again = true
    else void run()
  }
}

const DOC_TYPES = new Set(['doc.update', 'decision.reached', 'session.created', 'session.forked'])
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

function litBy(event: Envelope, serial: number): Lit {
  const d = event.data as { source?: string; cascadeStrength?: number; affected?: { memoryId: string; activation: number; depth: number }[] }
  const activation = new Map<string, { activation: number; depth: number }>()
  if (typeof d.source === 'string') activation.set(d.source, { activation: d.cascadeStrength ?? 1, depth: 0 })
  for (const a of d.affected ?? []) activation.set(a.memoryId, { activation: a.activation, depth: a.depth })
  return { serial, activation }
}

/** The index of the last event at or before `position`. */
function indexAt(events: readonly Envelope[], position: number): number {
  return Math.max(0, lastAtOrBefore(events, position, (e) => e.position))
}

export function SessionView({ id, rights, onOpen }: { id: string; rights: Rights; onOpen: (id: string) => void }) {
  const events = useRef<Envelope[]>([]).current
  const [revision, setRevision] = useState(0)
  const [detail, setDetail] = useState<SessionDetail | null>(null)
  const [memories, setMemories] = useState<GraphJson>({ memories: [], connections: [] })
  const [verification, setVerification] = useState<Verification | 'checking' | 'failed'>('checking')
  const [loaded, setLoaded] = useState(false)
  const [error, setError] = useState<string | null>(null)
  const [at, setAt] = useState<number | null>(null)
  const [atState, setAtState] = useState<StateAt | null>(null)
  const [lit, setLit] = useState<Lit | null>(null)
  const [found, setFound] = useState<{ query: string; results: { memoryId: string; score: number }[] } | null>(null)
  const [playing, setPlaying] = useState<number | null>(null)
  const [notice, setNotice] = useState<string | null>(null)
  const litSerial = useRef(0)
  const replay = useRef<AbortController | null>(null)
  const travelling = useRef(false)
  travelling.current = at !== null

  const base = `/api/sessions/${encodeURIComponent(id)}`
  const refreshers = useMemo(() => ({
    detail: coalesce(async () => setDetail(await api<SessionDetail>('GET', base))),
    memories: coalesce(async () => setMemories(await api<GraphJson>('GET', `${base}/memories`))),
    verify: coalesce(async () => {
      try {
        setVerification(await api<Verification>('GET', `${base}/verify`))
      } catch {
        setVerification('failed')
      }
    }),
  }), [base])

  // Catch up by version ranges, then follow the live stream (resuming after a drop).
  useEffect(() => {
    const abort = new AbortController()
    // Live events re-render on the next frame. While catching up, the page re-renders every
    // 250 ms instead: a render of the whole view each frame was over half of a 10,000-event
    // load's main-thread time (33 renders, their style, layout and paint).
    let frame = 0
    let catchingUp = true
    let lastCatchUpRender = 0
    const render = () => {
      frame = 0
      setRevision((r) => r + 1)
    }
    const bump = () => {
      if (frame) return
      if (!catchingUp) frame = requestAnimationFrame(render)
      else if (performance.now() - lastCatchUpRender > 250 || lastCatchUpRender === 0) {
        lastCatchUpRender = performance.now()
        frame = requestAnimationFrame(render)
      }
    }
    let verifyTimer: ReturnType<typeof setTimeout> | undefined
    const take = (event: Envelope, live: boolean) => {
      const lastPosition = events.at(-1)?.position ?? 0
      if (event.position <= lastPosition) return
      events.push(event)
      bump()
      if (!live) return
      if (DOC_TYPES.has(event.type)) refreshers.detail()
      if (event.type.startsWith('memory.') || event.type === RUN_REVERTED) refreshers.memories()
      if (event.type === 'memory.cascade' && !travelling.current) setLit(litBy(event, ++litSerial.current))
      clearTimeout(verifyTimer)
      verifyTimer = setTimeout(refreshers.verify, 1500)
    }
    void (async () => {
      try {
        refreshers.memories()
        // The head version bounds the history (versions 1…head, no gaps): its pages are fetched
        // by version range, a few at once, newest first (history.ts). Position cursors could
        // only be followed one page after another (103 sequential pages at 100,000 events).
        const head = await api<SessionDetail>('GET', base, undefined, abort.signal)
        if (abort.signal.aborted) return
        setDetail(head)
        // The chain check reads the whole session too: it waits until the page has caught up,
        // so the two do not share the server's CPU (on 10,000 events it halved the load's speed).
        await loadHistory<Envelope>({
          version: head.version,
          signal: abort.signal,
          fetchRange: async (after, through) => (await api<{ events: Envelope[] }>(
            'GET', `${base}/events?afterVersion=${after}&throughVersion=${through}&limit=${HISTORY_PAGE}`, undefined, abort.signal,
          )).events,
          // Older ranges go in front: the array stays in log order, the timeline's top stays put.
          onRange: (older) => {
            if (events.length === 0) performance.mark('mnemo:session-newest')
            events.unshift(...older)
            bump()
          },
        })
        if (abort.signal.aborted) return
        // Events appended since the head was read have later versions, and positions after the
        // head's event: the stream below catches up from the last one here, without a gap.
        catchingUp = false
        bump()
        setLoaded(true)
        refreshers.detail()
        refreshers.memories()
        refreshers.verify()
        performance.mark('mnemo:session-loaded')
        while (!abort.signal.aborted) {
          let expired = false
          try {
            await readSse(`${base}/stream?after=${events.at(-1)?.position ?? 0}`, (message) => {
              if (message.event === 'expired') expired = true
              else if (message.event === 'message') take(JSON.parse(message.data) as Envelope, true)
            }, abort.signal)
          } catch (e) {
            if (abort.signal.aborted) return
            if (e instanceof Error && 'status' in e && (e as { status: number }).status !== 429) setError(e.message)
          }
          if (expired) {
            setError('your token expired: paste a fresh one')
            return
          }
          await sleep(1000)
        }
      } catch (e) {
        if (!abort.signal.aborted) setError(e instanceof Error ? e.message : String(e))
      }
    })()
    return () => {
      abort.abort()
      cancelAnimationFrame(frame)
      clearTimeout(verifyTimer)
      replay.current?.abort()
    }
  }, [base])

  // The document as of the scrubbed position: the latest position asked for wins.
  const wanted = useRef<number | null>(null)
  const fetchState = useMemo(() => coalesce(async () => {
    const position = wanted.current
    if (position === null) return
    const state = await api<StateAt>('GET', `${base}/state?at=${position}`)
    if (wanted.current === position) setAtState(state)
  }), [base])
  useEffect(() => {
    wanted.current = at
    if (at === null) setAtState(null)
    else fetchState()
  }, [at])

  const graphShown = useMemo(() => (at === null ? memories : graphJsonOf(events, at)), [at, memories, at === null ? 0 : revision])
  const changedSince = useMemo(() => {
    const keys = new Set<string>()
    if (at === null) return keys
    for (let i = events.length - 1; i >= 0 && events[i].position > at; i--) {
      const changes = events[i].type === 'doc.update' ? events[i].data.changes : undefined
      if (Array.isArray(changes)) for (const c of changes as Change[]) keys.add(`${c.path}\u0000${c.key}`)
    }
    return keys
  }, [at, revision])
  const participants = useMemo(() => foldParticipants(at === null ? events : events.slice(0, indexAt(events, at) + 1)), [revision, at])
  const highlighted = useMemo(() => new Set(found?.results.map((r) => r.memoryId) ?? []), [found])
  const presence = usePresence(id)
  const othersFocus = useMemo(() => focusedBy(presence.present), [presence.present])
  useEffect(() => presence.setAt(at), [at, presence.setAt])

  const head = events.at(-1)?.position ?? 0
  const stopReplay = () => {
    replay.current?.abort()
    replay.current = null
    setPlaying(null)
  }
  const play = (speed: number) => {
    stopReplay()
    if (events.length === 0) return
    const from = at === null || at >= head ? events[0].position : at
    const abort = new AbortController()
    replay.current = abort
    setPlaying(speed)
    setAt(from)
    readSse(`${base}/replay?from=${from}&to=${head}&speed=${speed}`, (message) => {
      if (message.event === 'end') return
      if (message.event !== 'message') return
      const event = JSON.parse(message.data) as Envelope
      setAt(event.position)
      if (event.type === 'memory.cascade') setLit(litBy(event, ++litSerial.current))
    }, abort.signal).catch((e) => {
      if (!abort.signal.aborted) setNotice(e instanceof Error ? e.message : String(e))
    }).finally(() => {
      if (replay.current === abort) {
        replay.current = null
        setPlaying(null)
      }
    })
  }

  const fork = async () => {
    const position = at ?? head
    const name = window.prompt(`Fork ${id} as of #${position} into a new session named:`, `${id}-at-${position}`.slice(0, 128))
    if (!name) return
    try {
      await api('POST', `${base}/fork`, { id: name, at: position })
      onOpen(name)
    } catch (e) {
      setNotice(e instanceof Error ? e.message : String(e))
    }
  }
  const exportLog = async () => {
    try {
      const blob = await download(`${base}/export`)
      const a = document.createElement('a')
      a.href = URL.createObjectURL(blob)
      a.download = `${id}.jsonl`
      a.click()
      setTimeout(() => URL.revokeObjectURL(a.href), 10_000)
    } catch (e) {
      setNotice(e instanceof Error ? e.message : String(e))
    }
  }
  const search = async (query: string) => {
    if (!query.trim()) {
      setFound(null)
      return
    }
    try {
      setFound(await api<{ query: string; results: { memoryId: string; score: number }[] }>('POST', `${base}/memories/search`, { query, limit: 20 }))
    } catch (e) {
      setNotice(e instanceof Error ? e.message : String(e))
    }
  }

  const state = at === null ? detail?.state : atState?.state
  const index = at === null ? Math.max(0, events.length - 1) : indexAt(events, at)
  const atEvent = events[index]

  return (
    <div class="session" data-session={id}>
      <div class="bar">
        <h2 title={id}>{id}</h2>
        <IntegrityBadge verification={verification} onCheck={refreshers.verify} />
        <div class="travel">
          <input
            type="range"
            min={0}
            max={Math.max(0, events.length - 1)}
            value={index}
            aria-label="time travel"
            data-testid="scrubber"
            disabled={events.length === 0}
            onInput={(e) => {
              stopReplay()
              const i = Number(e.currentTarget.value)
              setAt(events[i]?.position ?? null)
            }}
          />
          <span class="position" data-testid="position">
            {at === null ? `live · #${head}` : `#${at} of #${head}`}{atEvent ? ` · ${new Date(atEvent.recordedAt).toLocaleString()}` : ''}
          </span>
          <button type="button" onClick={() => { stopReplay(); setAt(null) }} disabled={at === null} data-testid="live">Live</button>
          {[1, 10, 100].map((speed) => (
            <button type="button" key={speed} class={playing === speed ? 'active' : ''} onClick={() => (playing === speed ? stopReplay() : play(speed))} data-testid={`play-${speed}`}>
              {playing === speed ? '■' : '▶'} {speed}×
            </button>
          ))}
          {rights.admin ? <button type="button" onClick={fork} data-testid="fork">Fork from here</button> : null}
          <button type="button" onClick={exportLog} data-testid="export">Export</button>
        </div>
      </div>
      {error ? <div class="error" role="alert">{error}</div> : null}
      {notice ? <div class="notice" role="status" onClick={() => setNotice(null)}>{notice}</div> : null}
      <div class="panes">
        <div class="pane">
          <People participants={participants} />
          <HereNow present={presence.present} />
          <h3 class="pane-title">Document {at !== null ? <span class="tag travel-tag">as of #{atState?.position ?? at}{changedSince.size ? ` · ${changedSince.size} entries changed since` : ''}</span> : null}</h3>
          <div onMouseOver={(e) => presence.setFocus(focusOf(e.target))} onMouseLeave={() => presence.setFocus(null)}>
            {state ? <DocumentView state={state} changedSince={changedSince} focusedBy={othersFocus} /> : <p class="empty">{loaded ? 'loading…' : 'loading the session…'}</p>}
          </div>
        </div>
        <div class="pane graph-pane">
          <h3 class="pane-title">Memory graph <span class="count">{graphShown.memories.length}</span></h3>
          <form class="search" onSubmit={(e) => { e.preventDefault(); void search(new FormData(e.currentTarget).get('q') as string) }}>
            <input name="q" type="search" placeholder="search memories" aria-label="search memories" data-testid="memory-search" />
            <button type="submit">Search</button>
          </form>
          {found ? <div class="muted found" data-testid="search-results">{found.results.length} results for "{found.query}": {found.results.map((r) => r.memoryId).join(', ')}</div> : null}
          <MemoryGraph graph={graphShown} lit={lit} highlighted={highlighted} />
        </div>
        <div class="pane timeline-pane">
          <h3 class="pane-title">Timeline</h3>
          <Timeline events={events} revision={revision} at={at} />
        </div>
      </div>
    </div>
  )
}

function IntegrityBadge({ verification, onCheck }: { verification: Verification | 'checking' | 'failed'; onCheck: () => void }) {
  const [cls, text] = verification === 'checking' ? ['', 'checking…']
    : verification === 'failed' ? ['bad', 'integrity: could not check']
    : verification.ok ? ['ok', `integrity ok · ${verification.checked} events`]
    : ['bad', `integrity broken at v${verification.firstBad}`]
  return <button type="button" class={`badge ${cls}`} data-testid="integrity" title="check the hash chain again" onClick={onCheck}>{text}</button>
}

function People({ participants }: { participants: Participant[] }) {
  const humans = participants.filter((p) => p.kind !== 'agent')
  const agents = participants.filter((p) => p.kind === 'agent')
  const row = (p: Participant) => (
    <li key={p.id} class={p.online ? 'online' : 'offline'} data-participant={p.id} data-online={String(p.online)}>
      <span class="dot" /> {p.name} <span class="muted">{p.id !== p.name ? p.id : ''}</span>
      {p.model ? <span class="tag">{p.model}</span> : null}
      {p.onBehalfOf ? <span class="muted"> for {p.onBehalfOf}</span> : null}
    </li>
  )
  return (
    <div class="people" data-testid="people">
      <div><h4>Humans <span class="count">{humans.filter((p) => p.online).length} online</span></h4><ul class="plain">{humans.map(row)}</ul></div>
      <div><h4>Agents <span class="count">{agents.filter((p) => p.online).length} online</span></h4><ul class="plain">{agents.map(row)}</ul></div>
    </div>
  )
}
