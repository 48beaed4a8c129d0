/**
 * Where S1's first seconds go: S1's load (100 sessions × 5 stock clients × 2 updates/s) in
 * phases against one server, latency printed by send time in 0.5 s slices, so that a warm-up
 * shows as slow first slices. A phase is a session prefix, optionally with what to do first:
 *
 *     node --import tsx bench/sync/warmup.ts [mnemo|reference|hocuspocus] [phases]
 *     phases, default a,b,c:fresh-backends,d:restart
 *       b               new sessions on the same (now warm) server
 *       c:fresh-backends the same server after every connection to its database was ended
 *                       (PostgreSQL backends, plans and plpgsql caches start cold; mnemo only)
 *       d:restart       a fresh server process, the load generator (this process) warm
 *
 * Not part of `npm run bench`: a diagnostic whose finding bench/RESULTS.md records.
 */
import { connectClients, destroyClients, now } from './clients.js'
import { terminateBackends } from './database.js'
import type { ServerName } from './scenarios.js'
import { killAllChildren, startServer } from './serverProcess.js'
import { newTally, onRemoteSelections, runRate } from './workloads.js'

const SLICE_MS = 500
const WINDOW_MS = 6_000
const name = (process.argv[2] ?? 'mnemo') as ServerName
const phases = (process.argv[3] ?? 'a,b,c:fresh-backends,d:restart').split(',')
const sleep = async (ms: number): Promise<void> => await new Promise(resolve => setTimeout(resolve, ms))
const quantile = (sorted: number[], q: number): string => sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * q))]!.toFixed(1)

let server = await startServer(name)
try {
  for (const phase of phases) {
    const [prefix, before] = phase.split(':')
    if (before === 'restart') {
      await server.stop()
      server = await startServer(name)
    } else if (before === 'fresh-backends') {
      if (server.database === undefined) throw new Error(`${name} has no database: fresh-backends is for mnemo`)
      process.stderr.write(`warmup: ended ${await terminateBackends(server.database)} connections to ${server.database}\n`)
      await sleep(2_000)
    } else if (before !== undefined) throw new Error(`unknown step "${before}" in phase ${phase}: use restart or fresh-backends`)
    const { clients } = await connectClients(server.target, `warm-${prefix}`, 100, 5, { errors: 0, closes: 0 },
      { batchSize: 50, batchTimeoutMs: 10_000, deadlineMs: 30_000 })
    const samples: Array<[sentAt: number, latency: number]> = []
    for (const client of clients) onRemoteSelections(client, (_key, value, received) => samples.push([value.at, received - value.at]))
    const start = now()
    await runRate(clients, newTally(), 2, WINDOW_MS)
    await sleep(1_500)
    const slices: number[][] = []
    for (const [sentAt, latency] of samples) (slices[Math.floor((sentAt - start) / SLICE_MS)] ??= []).push(latency)
    const line = slices.map(slice => { slice.sort((a, b) => a - b); return `${quantile(slice, 0.5)}/${quantile(slice, 0.99)}` })
    console.log(`${name} ${phase}: p50/p99 ms per ${SLICE_MS / 1000} s sent: ${line.join('  ')}`)
    destroyClients(clients)
    await sleep(1_000)
  }
} finally {
  await server.stop()
  killAllChildren()
}
