/**
 * Reverting one run inside a long session: a session of 100,000 `doc.update` events (three
 * humans selecting, exploring and annotating) holding `runs` agent runs of 1,000 updates each,
 * every run's updates interleaved one for one with the humans' in a window at a random place,
 * the agent also deselecting what the humans selected and resolving their annotations. The
 * log is written straight into the store (the server's feed is not the subject here), with
 * snapshots every 1,000 updates as a live room writes them; then `POST …/runs/:run/revert`
 * is timed over HTTP against the running server: each run reverted once (stored), and dry
 * runs of one more run repeated.
 */
import * as prng from 'lib0/prng'
import * as Y from 'yjs'
import { ensureSnapshots } from '../../src/replay/snapshots.js'
import { deselect, explore, resolveAnnotation, select, annotate } from '../../src/session/write.js'
import { getAnnotations, getSelections } from '../../src/session/roots.js'
import { openStore } from '../../src/store/openStore.js'
import type { NewEvent } from '../../src/store/types.js'
import type { Actor } from '../../src/vocabulary.js'
import { summarize, type Summary } from '../lib/stats.js'

export interface RevertResult {
  updates: number
  runUpdates: number
  fillSeconds: number
  /** Milliseconds per revert stored, and per dry run. */
  ms: Summary
  dryMs: Summary
}

export interface RevertOptions {
  session?: string
  updates?: number
  runUpdates?: number
  /** Runs reverted (stored); one more is dry-run `dryRepeats` times. */
  runs?: number
  dryRepeats?: number
  seed?: number
}

const HUMANS: Actor[] = ['ada', 'bob', 'cy'].map((id) => ({ id, name: id, kind: 'human' }))

export async function measureRevert(url: string, databaseUrl: string, options: RevertOptions = {}): Promise<RevertResult> {
  const { session = 'bench-revert', updates = 100_000, runUpdates = 1_000, runs = 5, dryRepeats = 10, seed = 14 } = options
  const headers = { 'content-type': 'application/json', 'x-mnemo-id': 'reviewer', 'x-mnemo-name': 'Reviewer', 'x-mnemo-kind': 'human' }
  const created = await fetch(`${url}/api/sessions`, { method: 'POST', headers, body: JSON.stringify({ id: session, title: 'revert benchmark' }) })
  if (created.status !== 201) throw new Error(`creating ${session}: ${created.status} ${await created.text()}`)

  const started = performance.now()
  const store = await openStore({ databaseUrl })
  try {
    const plan = planLog(prng.create(seed), updates, runUpdates, runs + 1)
    await writeLog(store, session, plan)
    await ensureSnapshots(store, session, 1_000)
  } finally {
    await store.close()
  }
  const fillSeconds = (performance.now() - started) / 1000

  const revert = async (run: string, dryRun: boolean) => {
    const t0 = performance.now()
    const response = await fetch(`${url}/api/sessions/${session}/runs/${run}/revert`, { method: 'POST', headers, body: JSON.stringify({ dryRun }) })
    const body = await response.json() as { updates?: number }
    const took = performance.now() - t0
    if (response.status !== (dryRun ? 200 : 201) || body.updates !== runUpdates) {
      throw new Error(`revert ${run}: ${response.status} ${JSON.stringify(body).slice(0, 300)}`)
    }
    return took
  }
  const dryMs: number[] = []
  for (let i = 0; i < dryRepeats; i++) dryMs.push(await revert(`r-${runs}`, true))
  const ms: number[] = []
  for (let r = 0; r < runs; r++) ms.push(await revert(`r-${r}`, false))
  return { updates, runUpdates, fillSeconds, ms: summarize(ms), dryMs: summarize(dryMs) }
}

/** Who writes each of the session's updates: a human (index into HUMANS) or a run (its number). */
type Author = { human: number } | { run: number }

function planLog(gen: prng.PRNG, updates: number, runUpdates: number, runs: number): Author[] {
  const humans = updates - runs * runUpdates
  const human = (): Author => ({ human: prng.int32(gen, 0, HUMANS.length - 1) })
  // Run k starts at a random place of the k-th stretch of the humans' updates, so runs never overlap.
  const gap = Math.floor(humans / runs)
  const starts = Array.from({ length: runs }, (_, k) => k * gap + prng.int32(gen, 0, Math.max(0, gap - runUpdates)))
  const authors: Author[] = []
  for (let i = 0, run = 0; i < humans; ) {
    if (run < runs && i === starts[run]) {
      for (let j = 0; j < runUpdates; j++) authors.push({ run }, human())
      i += runUpdates
      run += 1
    } else {
      authors.push(human())
      i += 1
    }
  }
  return authors
}

/** The updates, made on one document by several Yjs clients (one per author), appended in batches. */
async function writeLog(store: Awaited<ReturnType<typeof openStore>>, session: string, plan: Author[]): Promise<void> {
  const doc = new Y.Doc()
  const clients = new Map<string, number>()
  const gen = prng.create(7)
  let batch: NewEvent[] = []
  let n = 0
  for (const author of plan) {
    const actor: Actor = 'human' in author
      ? HUMANS[author.human]!
      : { id: 'bench-agent', name: 'Agent', kind: 'agent', run: `r-${author.run}` }
    const key = actor.run ?? actor.id
    if (!clients.has(key)) clients.set(key, 1_000 + clients.size)
    doc.clientID = clients.get(key)!
    let update: Uint8Array | undefined
    const take = (u: Uint8Array) => void (update = u)
    doc.on('update', take)
    edit(gen, doc, actor, ++n)
    doc.off('update', take)
    if (!update) continue
    batch.push({ type: 'doc.update', data: { bytes: (update as Uint8Array).length, changes: [] }, payload: update, actor })
    if (batch.length === 1_000) {
      await appendAll(store, session, batch)
      batch = []
    }
  }
  if (batch.length > 0) await appendAll(store, session, batch)
  doc.destroy()
}

async function appendAll(store: Awaited<ReturnType<typeof openStore>>, session: string, events: NewEvent[]): Promise<void> {
  const result = await store.append(session, events)
  if (!result.ok) throw new Error(`appending the fill: ${result.reason}`)
}

function edit(gen: prng.PRNG, doc: Y.Doc, actor: Actor, n: number): void {
  const memory = `m-${prng.int32(gen, 1, 500)}`
  const pick = prng.int32(gen, 0, 9)
  if (actor.run !== undefined) {
    // The agent takes some of the humans' work away, too.
    const selected = [...getSelections(doc).keys()]
    if (pick === 0 && selected.length > 0) return deselect(doc, prng.oneOf(gen, selected))
    const open = [...getAnnotations(doc).keys()].slice(-20)
    if (pick === 1 && open.length > 0) return resolveAnnotation(doc, prng.oneOf(gen, open))
  }
  if (pick < 5) return select(doc, memory, actor.id, n)
  if (pick < 8) return explore(doc, { memoryId: memory, by: actor.id, at: n })
  annotate(doc, { target: memory, author: actor.id, text: `note ${n}`, createdAt: n })
}
