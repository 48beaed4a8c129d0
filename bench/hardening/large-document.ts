/**
 * A large document's snapshots and the event loop (hostile defect 10): `mnemo serve` on PGlite
 * in a child process, one editor growing a session's document by 20 KB updates 100 times a
 * second to ~20 MB, while a prober asks `/health` every 50 ms (one request at a time, so a
 * stalled event loop shows as one long answer). Run with snapshots encoded in place
 * (MNEMO_SNAPSHOT_OFF_THREAD_BYTES beyond any document: the behaviour before the worker) and
 * with the default (1 MiB: on the worker), beside a run without snapshots (what PGlite's own writes
 * cost the event loop). BENCH_CPU_PROF=<dir> keeps the servers' CPU profiles. Prints a table and appends it to
 * bench/hardening/last-run.md.
 *
 * Run: node --import tsx bench/hardening/large-document.ts   (BENCH_DOC_MB sets the size, default 20;
 * BENCH_STORAGE=disk or memory runs one of the two)
 */
import { randomBytes } from 'node:crypto'
import { appendFileSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import * as Y from 'yjs'
import { encodeUpdate } from '../../src/protocol/messages.js'
import { percentile } from '../lib/stats.js'
import { connect, ROOT, sleep, startServer } from './server.js'

const DOC_MB = Number(process.env.BENCH_DOC_MB ?? 20)
const UPDATE_BYTES = 20 * 1024
const UPDATES_PER_SEC = 100

interface Run {
  name: string
  env: Record<string, string>
}

interface Result {
  run: Run
  health: number[]
  writeSeconds: number
  docMb: number
  snapshots: Record<string, { count: number; sum: number }>
}

/** Where PGlite keeps its files: a fresh folder on disk (as `npm start` does) or in memory. */
type Storage = 'disk' | 'memory'

async function measure(run: Run, storage: Storage): Promise<Result> {
  const dir = storage === 'disk' ? mkdtempSync(join(tmpdir(), 'mnemo-large-')) : 'memory://'
  const server = await startServer({ MNEMO_SNAPSHOT_EVERY: '100', MNEMO_DATA_DIR: dir, ...run.env }, { pglite: true })
  const base = `ws://127.0.0.1:${server.port}/sync/large-${Date.now()}`
  const editor = await connect(`${base}?id=editor`)
  const doc = new Y.Doc()
  doc.on('update', (update: Uint8Array) => editor.send(encodeUpdate(update)))
  const health: number[] = []
  let probing = true
  const prober = (async () => {
    while (probing) {
      const started = performance.now()
      await (await fetch(`http://127.0.0.1:${server.port}/health`)).arrayBuffer()
      health.push(performance.now() - started)
      await sleep(50)
    }
  })()
  const started = performance.now()
  const total = Math.ceil((DOC_MB * 1024 * 1024) / UPDATE_BYTES)
  for (let i = 0; i < total; i++) {
    doc.getMap('selections').set(`m${i}`, { by: 'editor', at: i, pad: randomBytes(UPDATE_BYTES / 2).toString('hex') })
    await sleep(1000 / UPDATES_PER_SEC)
  }
  const writeSeconds = (performance.now() - started) / 1000
  // The last snapshots and appends settle while the prober goes on.
  await sleep(3000)
  probing = false
  await prober
  const metrics = await (await fetch(`http://127.0.0.1:${server.port}/metrics`)).text()
  const snapshots: Result['snapshots'] = {}
  for (const encoded of ['in_place', 'worker']) {
    const read = (suffix: string) => Number(new RegExp(`^mnemo_snapshot_blocking_seconds_${suffix}\\{encoded="${encoded}"\\} (\\S+)$`, 'm').exec(metrics)?.[1] ?? 0)
    snapshots[encoded] = { count: read('count'), sum: read('sum') }
  }
  editor.close()
  await server.stop()
  if (storage === 'disk') rmSync(dir, { recursive: true, force: true })
  return { run, health, writeSeconds, docMb: Y.encodeStateAsUpdate(doc).length / (1024 * 1024), snapshots }
}

const runs: Run[] = [
  { name: 'no snapshots (MNEMO_SNAPSHOT_EVERY beyond the run: the floor)', env: { MNEMO_SNAPSHOT_EVERY: '1000000' } },
  { name: 'in place (MNEMO_SNAPSHOT_OFF_THREAD_BYTES beyond the document)', env: { MNEMO_SNAPSHOT_OFF_THREAD_BYTES: String(1024 ** 4) } },
  { name: 'on the worker (default, 1 MiB)', env: {} },
]
const ms = (v: number) => v.toFixed(1)
const storages: Storage[] = process.env.BENCH_STORAGE === 'memory' ? ['memory'] : process.env.BENCH_STORAGE === 'disk' ? ['disk'] : ['disk', 'memory']
const lines = [
  `## ${new Date().toISOString().slice(0, 16).replace('T', ' ')} UTC: a ${DOC_MB} MB document's snapshots and /health (hostile defect 10)`,
  '',
  `\`node --import tsx bench/hardening/large-document.ts\`: \`mnemo serve\` on PGlite as a child (its data in a fresh`,
  `folder on disk, as \`npm start\` keeps it, and in memory), MNEMO_SNAPSHOT_EVERY=100; one editor sends ${UPDATE_BYTES / 1024} KB updates`,
  `${UPDATES_PER_SEC}/s to one session; \`/health\` asked every 50 ms, one request at a time, through the writing and 3 s after.`,
  'Snapshots from `/metrics` (`mnemo_snapshot_blocking_seconds`: how long each held the event loop).',
]
for (const storage of storages) {
  const results: Result[] = []
  for (const run of runs) {
    process.stderr.write(`${storage}: ${run.name} …\n`)
    results.push(await measure(run, storage))
  }
  lines.push(
    '',
    `PGlite ${storage === 'disk' ? 'on disk' : 'in memory (`memory://`)'}:`,
    '',
    '| | ' + results.map((r) => r.run.name).join(' | ') + ' |',
    '|---|' + results.map(() => '---:').join('|') + '|',
    '| document at the end (MB) | ' + results.map((r) => r.docMb.toFixed(1)).join(' | ') + ' |',
    '| writing took (s) | ' + results.map((r) => r.writeSeconds.toFixed(1)).join(' | ') + ' |',
    '| `/health` answers | ' + results.map((r) => r.health.length).join(' | ') + ' |',
    '| `/health` p50 / p99 / max (ms) | ' + results.map((r) => {
      const sorted = [...r.health].sort((a, b) => a - b)
      return `${ms(percentile(sorted, 50))} / ${ms(percentile(sorted, 99))} / ${ms(sorted.at(-1) ?? 0)}`
    }).join(' | ') + ' |',
    '| snapshots in place / on the worker | ' + results.map((r) => `${r.snapshots.in_place!.count} / ${r.snapshots.worker!.count}`).join(' | ') + ' |',
    '| event loop held by snapshots, total (ms): in place / worker | ' + results.map((r) => `${ms(r.snapshots.in_place!.sum * 1000)} / ${ms(r.snapshots.worker!.sum * 1000)}`).join(' | ') + ' |',
  )
}
lines.push('')
process.stdout.write(lines.join('\n') + '\n')
appendFileSync(join(ROOT, 'bench/hardening/last-run.md'), '\n' + lines.join('\n'))
