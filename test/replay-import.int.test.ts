/** Export → import into a fresh database gives an identical, verifiable session; bad files write nothing. */
import { randomUUID } from 'node:crypto'
import { createReadStream } from 'node:fs'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { exportSession } from '../src/replay/exportEvents.js'
import { importEvents } from '../src/replay/importEvents.js'
import { stateAt } from '../src/replay/stateAt.js'
import { verifyChain } from '../src/replay/verifyChain.js'
import { chainHash, GENESIS_HASH } from '../src/store/hash.js'
import { toEnvelope } from '../src/store/rows.js'
import type { EventStore } from '../src/store/types.js'
import { backends, freshStore } from './fixtures/db.js'
import { alice, recordMixedSession, type Observation } from './fixtures/recording.js'

let dir: string
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'mnemo-replay-import-'))
})
afterAll(async () => rm(dir, { recursive: true, force: true }))

async function exportText(store: EventStore, session: string): Promise<string> {
  let text = ''
  for await (const chunk of exportSession(store, session, { pageSize: 7 })) text += chunk
  return text
}

async function importText(store: EventStore, text: string) {
  const file = join(dir, `${randomUUID()}.ndjson`)
  await writeFile(file, text)
  return importEvents(store, () => createReadStream(file, { highWaterMark: 97 }), { chunkSize: 5 })
}

async function counts(store: EventStore) {
  const [row] = await store.driver.query<{ events: string; sessions: string; head: string }>(
    'SELECT (SELECT count(*) FROM events) AS events, (SELECT count(*) FROM sessions) AS sessions, (SELECT position FROM log_head) AS head')
  return { events: Number(row.events), sessions: Number(row.sessions), head: Number(row.head) }
}

/** A valid chain of `count` events of `session`, with the ids given (or fresh ones). */
function syntheticExport(session: string, ids: string[]): string {
  let prev = GENESIS_HASH
  return ids.map((id, i) => {
    const fields = {
      id, session, version: i + 1, type: 'x.note', data: { i }, actor: alice,
      meta: { causationId: null, correlationId: null }, recordedAt: new Date(Date.UTC(2026, 0, 1, 0, 0, i)).toISOString(),
    }
    const hash = chainHash(prev, fields)
    const line = JSON.stringify({ ...fields, position: i + 1, hash, prevHash: prev }) + '\n'
    prev = hash
    return line
  }).join('')
}

describe.each(backends)('export from $name', (source) => {
  let from: EventStore
  let closeSource: () => Promise<void>
  let observations: Observation[]
  let text: string
  let lines: string[]
  let events: string
  beforeAll(async () => {
    ;({ store: from, close: closeSource } = await freshStore(source))
    observations = (await recordMixedSession(from, 's1', 80)).observations
    text = await exportText(from, 's1')
    // The last line is the head record; `lines` are the events.
    lines = text.split('\n').slice(0, -2)
    events = lines.join('\n') + '\n'
  })
  afterAll(async () => closeSource())

  it('writes one envelope per line in version order, exactly what the event API reads, then the head', async () => {
    const stored = (await from.read('s1', { limit: 10_000 })).map(toEnvelope)
    expect(lines.map((l) => JSON.parse(l))).toEqual(stored)
    const head = (await from.head('s1'))!
    expect(JSON.parse(text.split('\n').at(-2)!)).toEqual({ head: { session: 's1', version: head.version, hash: head.hash } })
  })

  describe.each(backends)('import into $name', (target) => {
    let to: EventStore
    let closeTarget: () => Promise<void>
    beforeAll(async () => {
      ;({ store: to, close: closeTarget } = await freshStore(target))
      // Something already there, so the imported positions differ from the source's.
      await to.append('resident', [{ type: 'x.resident', data: {}, actor: alice }, { type: 'x.resident', data: {}, actor: alice }])
    })
    afterAll(async () => closeTarget())

    it('refuses bad files naming the line of the first problem, and writes nothing', async () => {
      const before = await counts(to)
      const tamper = (i: number, edit: (e: any) => void) => lines.map((l, j) => {
        if (j !== i) return l
        const e = JSON.parse(l)
        edit(e)
        return JSON.stringify(e)
      }).join('\n') + '\n'
      const turn = lines.findIndex((l) => JSON.parse(l).type === 'conversation.turn')
      const update = lines.findIndex((l) => JSON.parse(l).type === 'doc.update')
      const cases: [string, string, RegExp][] = [
        ['tampered data', tamper(turn, (e) => { e.data.content = 'rewritten' }), new RegExp(`^line ${turn + 1}: hash does not match its content$`)],
        ['tampered update', tamper(update, (e) => { e.data.update = Buffer.from('AAA=', 'base64').toString('base64') }), new RegExp(`^line ${update + 1}: hash does not match`)],
        ['tampered time', tamper(3, (e) => { e.recordedAt = '2020-01-01T00:00:00.000Z' }), /^line 4: hash does not match/],
        ['truncated mid-line', events.slice(0, events.length - 40), new RegExp(`^line ${lines.length}: not valid JSON \\(the file ends in the middle of a line: it looks truncated\\)`)],
        ['a line missing', [...lines.slice(0, 5), ...lines.slice(6)].join('\n') + '\n', /^line 6: version 6 is missing \(found 7\)$/],
        ['not from version 1', lines.slice(1).join('\n') + '\n', /^line 1: the file must start at version 1/],
        ['a broken line', [...lines.slice(0, 2), '{"id":', ...lines.slice(2)].join('\n') + '\n', /^line 3: not valid JSON: /],
        ['an empty line', [...lines.slice(0, 2), '', ...lines.slice(2)].join('\n') + '\n', /^line 3: empty line/],
        ['not an envelope', [...lines.slice(0, 2), '{"hello":1}'].join('\n') + '\n', /^line 3: not an event envelope: /],
        ['two sessions', events + syntheticExport('s9', [randomUUID()]), new RegExp(`^line ${lines.length + 1}: session "s9" differs from line 1's "s1"`)],
        ['an empty file', '', /^line 1: the file holds no events$/],
      ]
      for (const [name, file, message] of cases) {
        await expect(importText(to, file), name).rejects.toThrow(message)
      }
      expect(await counts(to)).toEqual(before)
    })

    it('imports an identical session: same events and hashes, same state everywhere, verify ok', async () => {
      const result = await importText(to, text)
      expect(result).toMatchObject({ session: 's1', count: lines.length, version: lines.length })
      const imported = (await to.read('s1', { limit: 10_000 })).map(toEnvelope)
      const original = lines.map((l) => JSON.parse(l))
      const withoutPosition = ({ position, ...rest }: any) => rest
      expect(imported.map(withoutPosition)).toEqual(original.map(withoutPosition))
      expect(imported[0].position).not.toBe(original[0].position)
      expect(await to.verify('s1')).toEqual({ ok: true, checked: lines.length })
      const progress: number[] = []
      expect(await verifyChain(to, 's1', { pageSize: 10, onProgress: (n) => progress.push(n) })).toEqual({ ok: true, checked: lines.length })
      expect(progress.at(-1)).toBe(lines.length)
      expect((await to.head('s1'))).toMatchObject({ version: lines.length, hash: original.at(-1).hash, position: result.lastPosition })
      // The state after each imported event is the state observed live after the original one.
      const byVersion = new Map(imported.map((e) => [e.version, e.position]))
      for (const o of observations) expect((await stateAt(to, 's1', byVersion.get(o.version)!)).state).toEqual(o.state)
      // Appending after an import continues the chain.
      expect((await to.append('s1', [{ type: 'x.after', data: {}, actor: alice }])).ok).toBe(true)
      expect(await to.verify('s1')).toMatchObject({ ok: true, checked: lines.length + 1 })
    })

    it('refuses a session that exists, and event ids already recorded, writing nothing', async () => {
      const before = await counts(to)
      await expect(importText(to, text)).rejects.toThrow(/^line 1: session "s1" already exists here; nothing was imported/)
      const known = JSON.parse(lines[2]).id
      const reuse = syntheticExport('s2', [randomUUID(), randomUUID(), randomUUID(), randomUUID(), randomUUID(), randomUUID(), known])
      await expect(importText(to, reuse)).rejects.toThrow(new RegExp(`^line 7: event id ${known} is already recorded here, in session "s1"`))
      const twice = randomUUID()
      const repeated = syntheticExport('s3', [twice, randomUUID(), randomUUID(), randomUUID(), randomUUID(), randomUUID(), twice])
      await expect(importText(to, repeated)).rejects.toThrow(/^line 7: event id .* is already recorded at version 1 of this file/)
      expect(await counts(to)).toEqual(before)
    })
  })
})
