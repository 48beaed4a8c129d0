/**
 * One export or import in a process of its own, so its resident memory is its own: runs the
 * same code as `mnemo export` / `mnemo import` and samples RSS at 25/50/75/100 % of the work.
 *
 *   node --import tsx bench/replay/worker.ts export <databaseUrl> <session> <file>
 *   node --import tsx bench/replay/worker.ts import <databaseUrl> <file>
 *   node --import tsx bench/replay/worker.ts load <databaseUrl> <session>   (cold: first load in a new process)
 *
 * Prints one JSON line: { count, ms, phases, rss: { start, samples: [{ phase, at, mb }] }, peakMb }.
 */
import { once } from 'node:events'
import { createReadStream, readFileSync } from 'node:fs'
import { open, stat } from 'node:fs/promises'
import { createProjectionHook } from '../../src/memory/projection.js'
import { exportSession } from '../../src/replay/exportEvents.js'
import { importEvents } from '../../src/replay/importEvents.js'
import { stateAt } from '../../src/replay/stateAt.js'
import { openStore } from '../../src/store/openStore.js'

export interface RssSample {
  phase: string
  /** Share of the phase done: 0.25, 0.5, 0.75, 1. */
  at: number
  mb: number
}

export interface WorkerResult {
  count: number
  ms: number
  phases: Record<string, number>
  rss: { start: number; samples: RssSample[] }
  peakMb: number
}

const mb = (bytes: number) => bytes / (1024 * 1024)

/** Samples RSS once per quartile of a phase's progress. */
function quartiles(phase: string, total: number, samples: RssSample[]) {
  let next = 0.25
  return (done: number) => {
    while (next <= 1 && done >= next * total) {
      samples.push({ phase, at: next, mb: mb(process.memoryUsage.rss()) })
      next += 0.25
    }
  }
}

function peakRssMb(): number {
  const match = /VmHWM:\s+(\d+) kB/.exec(readFileSync('/proc/self/status', 'utf8'))
  return match ? Number(match[1]) / 1024 : Number.NaN
}

async function runExport(url: string, session: string, file: string): Promise<WorkerResult> {
  const store = await openStore({ databaseUrl: url, poolSize: 2 })
  try {
    const head = await store.head(session)
    if (!head) throw new Error(`no session ${session}`)
    const start = mb(process.memoryUsage.rss())
    const samples: RssSample[] = []
    const sample = quartiles('export', head.version, samples)
    const out = (await open(file, 'w')).createWriteStream()
    const t0 = performance.now()
    let lines = 0
    for await (const chunk of exportSession(store, session, { until: head.position })) {
      for (let i = chunk.indexOf('\n'); i >= 0; i = chunk.indexOf('\n', i + 1)) lines += 1
      if (!out.write(chunk)) await once(out, 'drain')
      sample(lines)
    }
    out.end()
    await once(out, 'finish')
    const ms = performance.now() - t0
    return { count: lines, ms, phases: { export: ms }, rss: { start, samples }, peakMb: peakRssMb() }
  } finally {
    await store.close()
  }
}

async function runImport(url: string, file: string): Promise<WorkerResult> {
  const store = await openStore({ databaseUrl: url, poolSize: 2, hooks: [createProjectionHook()] })
  try {
    const size = (await stat(file)).size
    const start = mb(process.memoryUsage.rss())
    const samples: RssSample[] = []
    const check = quartiles('check', size, samples)
    let write: ((done: number) => void) | undefined
    const phases: Record<string, number> = {}
    const t0 = performance.now()
    let checkedAt = 0
    const result = await importEvents(store, () => createReadStream(file), {
      onProgress(p) {
        if (p.phase === 'check') {
          checkedAt = performance.now() // the last check report comes when the whole file is checked
          return check(p.bytes)
        }
        write ??= quartiles('write', p.total!, samples)
        write(p.lines)
      },
    })
    const ms = performance.now() - t0
    phases.check = checkedAt - t0
    phases.write = ms - phases.check
    return { count: result.count, ms, phases, rss: { start, samples }, peakMb: peakRssMb() }
  } finally {
    await store.close()
  }
}

/** The newest state in a process that has loaded nothing yet: what a room's first client waits for. */
async function runLoad(url: string, session: string): Promise<WorkerResult> {
  const store = await openStore({ databaseUrl: url, poolSize: 2 })
  try {
    await store.ping() // the connection is not part of the load
    const t0 = performance.now()
    const loaded = await stateAt(store, session)
    const ms = performance.now() - t0
    return { count: loaded.version, ms, phases: {}, rss: { start: 0, samples: [] }, peakMb: peakRssMb() }
  } finally {
    await store.close()
  }
}

const [command, url, ...rest] = process.argv.slice(2)
const result = command === 'export' ? await runExport(url, rest[0], rest[1])
  : command === 'import' ? await runImport(url, rest[0])
  : command === 'load' ? await runLoad(url, rest[0])
  : undefined
if (!result) {
  process.stderr.write('usage: worker.ts export <url> <session> <file> | import <url> <file> | load <url> <session>\n')
  process.exit(2)
}
process.stdout.write(JSON.stringify(result) + '\n')
