/**
 * Blame of a 10,000-entry document: a session filled through `POST …/doc` (10 operations a
 * request, so 1,000 `doc.update` events — 2,500 selections, 2,500 exploration steps, 2,500
 * annotations, 1,250 decisions with one vote each), then `GET …/blame` timed a few times over
 * HTTP against the running server. The fill's updates are what blame folds (their `changes`;
 * and the payloads of the 250 that name annotations, for the runs of each annotation's text),
 * besides a copy of the document itself.
 */
import { summarize, type Summary } from '../lib/stats.js'

export interface BlameResult {
  entries: number
  /** doc.update events the fill stored. */
  updates: number
  fillSeconds: number
  /** Milliseconds per `GET …/blame`, answered and read. */
  ms: Summary
}

type Op = Record<string, unknown>

export async function measureBlame(
  url: string, { session = 'bench-blame', entries = 10_000, opsPerWrite = 10, repeats = 7 } = {},
): Promise<BlameResult> {
  const headers = { 'content-type': 'application/json', 'x-mnemo-id': 'bench-writer', 'x-mnemo-name': 'bench', 'x-mnemo-kind': 'agent', 'x-mnemo-run': 'fill' }
  const created = await fetch(`${url}/api/sessions`, { method: 'POST', headers, body: JSON.stringify({ id: session, title: 'blame benchmark' }) })
  if (created.status !== 201) throw new Error(`creating ${session}: ${created.status} ${await created.text()}`)
  const quarter = Math.floor(entries / 4)
  const ops: Op[] = []
  for (let i = 0; i < quarter; i++) ops.push({ op: 'select', memoryId: `m-${i}` })
  for (let i = 0; i < quarter; i++) ops.push({ op: 'explore', memoryId: `m-${i}`, note: `step ${i}` })
  for (let i = 0; i < quarter; i++) ops.push({ op: 'annotate', id: `a-${i}`, target: `m-${i}`, text: `note ${i}` })
  for (let i = 0; ops.length < entries; i++) {
    // A decision and its vote: two entries; a quorum no single vote reaches keeps it open.
    ops.push({ op: 'propose', id: `d-${i}`, question: `q ${i}?`, options: ['yes', 'no'], quorum: 2 })
    ops.push({ op: 'vote', decisionId: `d-${i}`, option: 'yes' })
  }
  const started = performance.now()
  let updates = 0
  for (let i = 0; i < ops.length; i += opsPerWrite) {
    const body = JSON.stringify({ ops: ops.slice(i, i + opsPerWrite) })
    let response = await fetch(`${url}/api/sessions/${session}/doc`, { method: 'POST', headers, body })
    // One writer fills faster than the server's per-identity HTTP rate (MNEMO_RATE_HTTP_PER_SEC):
    // it waits as told and sends the same write again (a 429 stored nothing).
    while (response.status === 429) {
      await response.arrayBuffer()
      await new Promise((resolve) => setTimeout(resolve, 1000 * Number(response.headers.get('retry-after') ?? 1)))
      response = await fetch(`${url}/api/sessions/${session}/doc`, { method: 'POST', headers, body })
    }
    if (response.status !== 201) throw new Error(`filling ${session}: ${response.status} ${await response.text()}`)
    updates += 1
  }
  const fillSeconds = (performance.now() - started) / 1000
  const samples: number[] = []
  let count = 0
  for (let r = 0; r < repeats; r++) {
    const t0 = performance.now()
    const response = await fetch(`${url}/api/sessions/${session}/blame`, { headers })
    const body = await response.json() as { entries: unknown[] }
    samples.push(performance.now() - t0)
    if (response.status !== 200) throw new Error(`blame: ${response.status} ${JSON.stringify(body).slice(0, 300)}`)
    count = body.entries.length
  }
  if (count !== entries) throw new Error(`blame listed ${count} entries, not ${entries}`)
  // The room is loaded (by the fill): every answer copies the live document and reads the log.
  return { entries: count, updates, fillSeconds, ms: summarize(samples) }
}
