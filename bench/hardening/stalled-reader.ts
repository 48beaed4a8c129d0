/**
 * Memory held by a stalled reader: `mnemo serve` in a child process, one writer sending 64 KB
 * updates 50 times a second to a session for 60 s, a healthy reader, and a reader whose socket
 * is paused (it never reads). The server's RSS is sampled throughout; runs with no stalled
 * reader (control), with the default MNEMO_MAX_BUFFERED_BYTES, and with the cap lifted show
 * what the cap holds back. Writes bench/hardening/last-run.md.
 *
 * Run: node --import tsx bench/hardening/stalled-reader.ts   (DATABASE_URL or TEST_DATABASE_URL:
 * real PostgreSQL, in a fresh schema; else PGlite in memory). BENCH_SECONDS shortens the runs.
 */
import type { ChildProcess } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import type WebSocket from 'ws'
import * as Y from 'yjs'
import { encodeUpdate } from '../../src/protocol/messages.js'
import { connect, DATABASE_URL, ROOT, sleep, startServer } from './server.js'

const SECONDS = Number(process.env.BENCH_SECONDS ?? 60)
const UPDATE_BYTES = 64 * 1024
const UPDATES_PER_SEC = 50

interface Run {
  name: string
  stalled: boolean
  env: Record<string, string>
}

interface Result {
  run: Run
  rssStartMb: number
  rssEndMb: number
  rssPeakMb: number
  sentMb: number
  stalledClose: string
  healthyReceivedMb: number
  /** At the end, after a full GC, from /metrics: V8 heap in use, and memory outside it (Buffers: socket writes). */
  heapUsedMb: number
  externalMb: number
}

const mb = (bytes: number) => bytes / (1024 * 1024)

/** The server's memory once a full GC ran (SIGUSR2, see gc-on-signal.ts). */
async function settledMemory(child: ChildProcess, port: number): Promise<{ rss: number; heapUsed: number; external: number }> {
  child.kill('SIGUSR2')
  await sleep(500)
  const metrics = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text()
  const gauge = (name: string) => Number(new RegExp(`^mnemo_process_${name} (\\S+)$`, 'm').exec(metrics)?.[1] ?? NaN)
  return { rss: rssOf(child), heapUsed: gauge('nodejs_heap_size_used_bytes'), external: gauge('nodejs_external_memory_bytes') }
}

function rssOf(child: ChildProcess): number {
  const status = readFileSync(`/proc/${child.pid}/status`, 'utf8')
  return Number(/VmRSS:\s+(\d+) kB/.exec(status)![1]) * 1024
}

async function measure(run: Run): Promise<Result> {
  const server = await startServer(run.env)
  const base = `ws://127.0.0.1:${server.port}/sync/stall`
  const writer = await connect(`${base}?id=writer`)
  const healthy = await connect(`${base}?id=healthy`)
  let healthyReceived = 0
  healthy.on('message', (data: Buffer) => (healthyReceived += data.length))
  let stalledClose = 'none (no stalled reader)'
  let stalled: WebSocket | undefined
  if (run.stalled) {
    stalled = await connect(`${base}?id=stalled`)
    stalledClose = 'still open'
    ;(stalled as unknown as { _socket: { pause(): void } })._socket.pause()
  }
  await sleep(2000)
  const before = await settledMemory(server.child, server.port)
  let rssPeak = before.rss
  const doc = new Y.Doc()
  let sent = 0
  const started = Date.now()
  let seq = 0
  const writing = setInterval(() => {
    // One key overwritten: the document stays small, only the traffic is large.
    doc.getMap('selections').set('big', { by: 'writer', at: seq++, pad: randomBytes(UPDATE_BYTES / 2).toString('hex') })
  }, 1000 / UPDATES_PER_SEC)
  doc.on('update', (update: Uint8Array) => {
    writer.send(encodeUpdate(update))
    sent += update.length
  })
  const sampling = setInterval(() => (rssPeak = Math.max(rssPeak, rssOf(server.child))), 500)
  let stalledCode: Promise<number> | undefined
  const watch = setInterval(async () => {
    if (!stalled || stalledClose !== 'still open') return
    const metrics = await (await fetch(`http://127.0.0.1:${server.port}/metrics`)).text()
    if (!/^mnemo_ws_connections 2$/m.test(metrics)) return
    stalledClose = `closed by the server after ${((Date.now() - started) / 1000).toFixed(1)} s (${mb(sent).toFixed(0)} MB sent)`
    // Reading again, it takes in what the kernel held, then the server's close frame.
    stalledCode = new Promise<number>((resolve) => stalled!.once('close', resolve))
    ;(stalled as unknown as { _socket: { resume(): void } })._socket.resume()
  }, 250)
  await sleep(SECONDS * 1000)
  clearInterval(writing)
  clearInterval(sampling)
  clearInterval(watch)
  const after = await settledMemory(server.child, server.port)
  if (stalled) {
    if (stalledCode) stalledClose += `, code ${await Promise.race([stalledCode, sleep(10_000).then(() => 'none within 10 s')])}`
    else stalledClose = 'still open at the end'
    stalled.terminate()
  }
  writer.close()
  healthy.close()
  await server.stop()
  return {
    run, rssStartMb: mb(before.rss), rssEndMb: mb(after.rss), rssPeakMb: mb(rssPeak), sentMb: mb(sent),
    stalledClose, healthyReceivedMb: mb(healthyReceived),
    heapUsedMb: mb(after.heapUsed), externalMb: mb(after.external),
  }
}

const runs: Run[] = [
  { name: 'control: no stalled reader', stalled: false, env: {} },
  { name: 'stalled reader, default cap (MNEMO_MAX_BUFFERED_BYTES = 4 MiB)', stalled: true, env: {} },
  { name: 'stalled reader, cap lifted (MNEMO_MAX_BUFFERED_BYTES = 1 GiB)', stalled: true, env: { MNEMO_MAX_BUFFERED_BYTES: String(1024 ** 3) } },
]
const results: Result[] = []
for (const run of runs) {
  process.stderr.write(`${run.name} …\n`)
  results.push(await measure(run))
}
const control = results[0]!
const lines = [
  `# Memory held by a stalled reader (${new Date().toISOString().slice(0, 10)})`,
  '',
  `One writer sends ${UPDATE_BYTES / 1024} KB updates ${UPDATES_PER_SEC}×/s for ${SECONDS} s; a healthy reader reads; the stalled`,
  `reader's socket is paused. Server: \`mnemo serve\` as a child, ${DATABASE_URL ? 'PostgreSQL' : 'PGlite in memory'}; memory read after a`,
  'full GC (RSS from /proc, heap and external from /metrics); peak RSS sampled every 0.5 s.',
  '',
  '| run | sent | RSS before → after (peak) | RSS growth − control | heap + external after GC | held − control | stalled reader | healthy reader got |',
  '|---|---|---|---|---|---|---|---|',
  ...results.map((r) => [
    r.run.name, `${r.sentMb.toFixed(0)} MB`, `${r.rssStartMb.toFixed(0)} → ${r.rssEndMb.toFixed(0)} MB (${r.rssPeakMb.toFixed(0)})`,
    `${(r.rssEndMb - r.rssStartMb - (control.rssEndMb - control.rssStartMb)).toFixed(1)} MB`,
    `${r.heapUsedMb.toFixed(0)} + ${r.externalMb.toFixed(1)} MB`,
    `${(r.heapUsedMb + r.externalMb - control.heapUsedMb - control.externalMb).toFixed(1)} MB`,
    r.stalledClose, `${r.healthyReceivedMb.toFixed(0)} MB`,
  ].join(' | ')).map((row) => `| ${row} |`),
  '',
]
writeFileSync(join(ROOT, 'bench/hardening/last-run.md'), lines.join('\n'))
console.log(lines.join('\n'))
