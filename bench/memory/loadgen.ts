/**
 * The load generator of `npm run bench:memory`, run as its own process so that its CPU is
 * not the server's: `clients` concurrent HTTP clients, each appending one memory event per
 * request to its session, for a warm-up and then a measured window. Prints one JSON line.
 *
 * argv[2]: JSON `{ url, clients, sessions, sessionPrefix, warmupMs, durationMs, mix, seed, batch }`.
 */
import { Agent, request } from 'node:http'
import { clientEvents, seeded, type Mix } from './data.js'

interface Options {
  url: string
  clients: number
  sessions: number
  /** Session ids are this followed by 0 … sessions - 1. */
  sessionPrefix: string
  warmupMs: number
  durationMs: number
  mix: Mix
  seed: number
  /** Events per request (1: every event its own request). */
  batch: number
}

export interface LoadResult {
  requests: number
  events: number
  errors: number
  statuses: Record<string, number>
  elapsedMs: number
  /** Request latencies in the measured window, ms, sorted ascending. */
  latencies: number[]
}

const options = JSON.parse(process.argv[2] ?? '{}') as Options
const target = new URL(options.url)
const agent = new Agent({ keepAlive: true, maxSockets: options.clients })

function post(path: string, body: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request({
      host: target.hostname, port: target.port, path, method: 'POST', agent,
      headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body), 'x-mnemo-id': 'bench', 'x-mnemo-kind': 'agent' },
    }, (res) => {
      res.resume()
      res.once('end', () => resolve(res.statusCode ?? 0))
      res.once('error', reject)
    })
    req.once('error', reject)
    req.end(body)
  })
}

async function runClient(client: number, measureFrom: number, until: number, result: LoadResult): Promise<void> {
  const next = clientEvents(client, seeded(options.seed * 1000 + client), options.mix)
  const path = `/api/sessions/${options.sessionPrefix}${client % options.sessions}/events`
  while (performance.now() < until) {
    const events = Array.from({ length: options.batch }, next)
    const body = JSON.stringify(options.batch === 1 ? events[0] : { events })
    const started = performance.now()
    let status = 0
    try {
      status = await post(path, body)
    } catch {
      status = -1
    }
    const ended = performance.now()
    if (started < measureFrom || ended > until) continue
    result.requests += 1
    result.statuses[status] = (result.statuses[status] ?? 0) + 1
    if (status === 201) result.events += options.batch
    else result.errors += 1
    result.latencies.push(ended - started)
  }
}

const start = performance.now()
const measureFrom = start + options.warmupMs
const until = measureFrom + options.durationMs
const result: LoadResult = { requests: 0, events: 0, errors: 0, statuses: {}, elapsedMs: options.durationMs, latencies: [] }
await Promise.all(Array.from({ length: options.clients }, (_, i) => runClient(i, measureFrom, until, result)))
result.latencies.sort((a, b) => a - b)
agent.destroy()
process.stdout.write(JSON.stringify(result) + '\n')
