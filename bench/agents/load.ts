/**
 * The agents benchmark's load: N agents (the SDK, `joinSession`) spread over S sessions, each
 * doing `rate` operations per second — document edits (select, explore, annotate) and memory
 * events over HTTP (formMemory, connect, turn) — while one stock y-websocket client per session
 * (the "human") notes when each agent edit reaches it. Runs as a forked child; reports over IPC.
 */
import { monitorEventLoopDelay, performance } from 'node:perf_hooks'
import WebSocket from 'ws'
import * as Y from 'yjs'
import { WebsocketProvider } from 'y-websocket'
import { joinSession, type AgentSession } from '../../src/agent/index.js'

export interface LoadConfig {
  url: string
  agents: number
  sessions: number
  rate: number
  seconds: number
  drainSeconds: number
  seed: number
}

export interface LoadResult {
  agents: number
  humans: number
  joinSeconds: number
  windowSeconds: number
  issued: { doc: number; http: number }
  completedInWindow: number
  seen: number
  unseen: number
  answered: number
  failed: number
  visibilityMs: number[]
  httpMs: number[]
  loopDelayP99Ms: number
  errors: string[]
}

type Message = { type: 'start'; config: LoadConfig } | { type: 'go' }

const send = (message: unknown) => process.send!(message)
// Every provider adds a process 'exit' listener (y-websocket); 220 of them are expected here.
process.setMaxListeners(0)

function mulberry32(seed: number): () => number {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

/** Runs `work` over `items`, `width` at a time. */
async function inBatches<T>(items: T[], width: number, work: (item: T) => Promise<void>): Promise<void> {
  for (let i = 0; i < items.length; i += width) await Promise.all(items.slice(i, i + width).map(work))
}

async function run(config: LoadConfig, go: Promise<void>): Promise<LoadResult> {
  const sessionIds = Array.from({ length: config.sessions }, (_, i) => `bench-agents-${i}`)
  const sent = new Map<string, number>()
  const visibilityMs: number[] = []
  const httpMs: number[] = []
  const completions: number[] = []
  const errors: string[] = []
  const noteError = (error: unknown) => {
    if (errors.length < 10) errors.push(error instanceof Error ? error.message : String(error))
  }
  const seen = (key: string) => {
    const t0 = sent.get(key)
    if (t0 === undefined) return
    const now = performance.now()
    sent.delete(key)
    visibilityMs.push(now - t0)
    completions.push(now)
  }

  const joinStart = performance.now()
  const humans: WebsocketProvider[] = []
  await inBatches(sessionIds, 10, async (session) => {
    const doc = new Y.Doc()
    doc.getMap('selections').observe((e) => e.changes.keys.forEach((c, key) => c.action === 'add' && seen(key)))
    doc.getMap('annotations').observe((e) => e.changes.keys.forEach((c, key) => c.action === 'add' && seen(key)))
    doc.getArray<{ memoryId: string }>('explorationPath').observe((e) => {
      for (const d of e.changes.delta) if (Array.isArray(d.insert)) for (const step of d.insert) seen(step.memoryId)
    })
    const provider = new WebsocketProvider(`${config.url.replace('http', 'ws')}/sync`, session, doc, {
      WebSocketPolyfill: WebSocket as never, disableBc: true, params: { id: `human-${session}`, name: 'Watcher', kind: 'human' },
    })
    humans.push(provider)
    await new Promise<void>((resolve) => provider.on('sync', (synced: boolean) => synced && resolve()))
  })
  const agents: AgentSession[] = []
  await inBatches(Array.from({ length: config.agents }, (_, i) => i), 20, async (i) => {
    agents[i] = await joinSession({
      url: config.url, session: sessionIds[i % config.sessions]!, id: `agent-${i}`, name: `Agent ${i}`, run: 'bench', syncTimeoutMs: 60_000,
    })
  })
  const joinSeconds = (performance.now() - joinStart) / 1000
  send({ type: 'joined', agents: agents.length, humans: humans.length, joinSeconds })
  await go

  const issued = { doc: 0, http: 0 }
  let answered = 0
  let failed = 0
  const inFlight = new Set<Promise<unknown>>()
  const memories: string[][] = agents.map(() => [])
  const random = mulberry32(config.seed)
  const http = (promise: Promise<unknown>, t0: number) => {
    issued.http += 1
    const tracked = promise.then(
      () => {
        const now = performance.now()
        answered += 1
        httpMs.push(now - t0)
        completions.push(now)
      },
      (error: unknown) => {
        failed += 1
        noteError(error)
      },
    )
    inFlight.add(tracked)
    void tracked.finally(() => inFlight.delete(tracked))
  }

  function operate(i: number, seq: number): void {
    const s = agents[i]!
    const mine = memories[i]!
    const r = random()
    const t0 = performance.now()
    const key = `${i}-${seq}`
    if (r < 0.7) {
      issued.doc += 1
      if (r < 0.3) {
        sent.set(`s-${key}`, t0)
        s.select(`s-${key}`).catch(noteError)
      } else if (r < 0.55) {
        sent.set(`e-${key}`, t0)
        s.explore(`e-${key}`, 'looked here').catch(noteError)
      } else {
        s.annotate(mine.at(-1) ?? `s-${key}`, `note ${key}`).then((id) => sent.set(id, t0), noteError)
      }
    } else if (r < 0.85 || mine.length < 2) {
      const memoryId = `m-${key}`
      const connections = mine.length > 0 ? [{ to: mine.at(-1)!, strength: 0.5 }] : undefined
      mine.push(memoryId)
      http(s.formMemory({ memoryId, content: `observation ${key} about cache latency`, importance: 0.2 + 0.6 * random(), connections }), t0)
    } else if (r < 0.95) {
      // Two different memories of this agent's: the newest and one before it.
      http(s.connect(mine[Math.floor(random() * (mine.length - 1))]!, mine.at(-1)!, Math.round(random() * 100) / 100), t0)
    } else {
      http(s.turn('agent', `thinking about ${key}`), t0)
    }
  }

  const loop = monitorEventLoopDelay({ resolution: 10 })
  loop.enable()
  const period = 1000 / config.rate
  const start = performance.now()
  const end = start + config.seconds * 1000
  const next = agents.map(() => start + random() * period)
  const seqs = agents.map(() => 0)
  await new Promise<void>((resolve) => {
    const timer = setInterval(() => {
      const now = performance.now()
      if (now >= end) {
        clearInterval(timer)
        return resolve()
      }
      for (let i = 0; i < agents.length; i++) {
        // Catch up on missed ticks one at a time: a stalled generator does not burst.
        if (next[i]! <= now && next[i]! < end) {
          operate(i, seqs[i]!++)
          next[i] = Math.max(next[i]! + period, now - period)
        }
      }
    }, 2)
  })
  loop.disable()

  const drainUntil = performance.now() + config.drainSeconds * 1000
  while ((sent.size > 0 || inFlight.size > 0) && performance.now() < drainUntil) await new Promise((r) => setTimeout(r, 50))
  const result: LoadResult = {
    agents: agents.length,
    humans: humans.length,
    joinSeconds,
    windowSeconds: config.seconds,
    issued,
    completedInWindow: completions.filter((t) => t <= end).length,
    seen: visibilityMs.length,
    unseen: sent.size,
    answered,
    failed,
    visibilityMs,
    httpMs,
    loopDelayP99Ms: loop.percentile(99) / 1e6,
    errors,
  }
  await inBatches(agents, 50, (s) => s.close())
  for (const provider of humans) provider.destroy()
  return result
}

let release: () => void = () => {}
const go = new Promise<void>((resolve) => (release = resolve))
process.on('message', (message: Message) => {
  if (message.type === 'go') return release()
  run(message.config, go).then(
    (result) => send({ type: 'result', result }),
    (error: unknown) => send({ type: 'error', message: error instanceof Error ? error.stack ?? error.message : String(error) }),
  ).finally(() => setTimeout(() => process.exit(0), 100))
})
