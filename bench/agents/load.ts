/**
 * The agents benchmark's load: N agents (the SDK, `joinSession`) spread over S sessions in
 * this one process, each doing `rate` operations per second — document edits (select,
 * explore, annotate), stamped with the moment they were made so the humans' process can time
 * them, and memory events over HTTP (formMemory, connect, turn). Runs forked; reports over IPC.
 */
import { monitorEventLoopDelay } from 'node:perf_hooks'
import { joinSession, type AgentSession } from '../../src/agent/index.js'
import { monotonicMs } from './clock.js'

export interface LoadConfig {
  url: string
  sessions: string[]
  agents: number
  rate: number
  seconds: number
  drainSeconds: number
  seed: number
}

export interface LoadResult {
  agents: number
  joinSeconds: number
  windowSeconds: number
  /** Monotonic ms when the window closed. */
  windowEnd: number
  issued: { doc: number; http: number }
  answered: number
  failed: number
  httpMs: number[]
  answeredAt: number[]
  loopDelayP99Ms: number
  errors: string[]
}

type Message = { type: 'start'; config: LoadConfig } | { type: 'go' }

const send = (message: unknown) => process.send!(message)
// Every provider adds a process 'exit' listener (y-websocket); hundreds are expected here.
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
  const errors: string[] = []
  const noteError = (error: unknown) => {
    if (errors.length < 10) errors.push(error instanceof Error ? error.message : String(error))
  }
  const joinStart = monotonicMs()
  const agents: AgentSession[] = []
  await inBatches(Array.from({ length: config.agents }, (_, i) => i), 20, async (i) => {
    agents[i] = await joinSession({
      url: config.url, session: config.sessions[i % config.sessions.length]!, id: `agent-${i}`, name: `Agent ${i}`, run: 'bench', syncTimeoutMs: 60_000,
    })
  })
  const joinSeconds = (monotonicMs() - joinStart) / 1000
  send({ type: 'joined', agents: agents.length, joinSeconds })
  await go

  const issued = { doc: 0, http: 0 }
  const httpMs: number[] = []
  const answeredAt: number[] = []
  let failed = 0
  const inFlight = new Set<Promise<unknown>>()
  const memories: string[][] = agents.map(() => [])
  const random = mulberry32(config.seed)
  const http = (promise: Promise<unknown>, t0: number) => {
    issued.http += 1
    const tracked = promise.then(
      () => {
        const now = monotonicMs()
        httpMs.push(now - t0)
        answeredAt.push(now)
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
    const t0 = monotonicMs()
    const key = `${i}-${seq}`
    // Document edits carry `@<when made>` where the humans look: the key, the step, the text.
    if (r < 0.7) {
      issued.doc += 1
      if (r < 0.3) s.select(`s-${key}@${t0}`).catch(noteError)
      else if (r < 0.55) s.explore(`e-${key}@${t0}`, 'looked here').catch(noteError)
      else s.annotate(mine.at(-1) ?? `s-${key}`, `note ${key}@${t0}`).catch(noteError)
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
  const start = monotonicMs()
  const end = start + config.seconds * 1000
  const next = agents.map(() => start + random() * period)
  const seqs = agents.map(() => 0)
  await new Promise<void>((resolve) => {
    const timer = setInterval(() => {
      const now = monotonicMs()
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

  const drainUntil = monotonicMs() + config.drainSeconds * 1000
  while (inFlight.size > 0 && monotonicMs() < drainUntil) await new Promise((r) => setTimeout(r, 50))
  const result: LoadResult = {
    agents: agents.length,
    joinSeconds,
    windowSeconds: config.seconds,
    windowEnd: end,
    issued,
    answered: httpMs.length,
    failed,
    httpMs,
    answeredAt,
    loopDelayP99Ms: loop.percentile(99) / 1e6,
    errors,
  }
  await inBatches(agents, 50, (s) => s.close())
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
