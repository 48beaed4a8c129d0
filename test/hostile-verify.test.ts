/**
 * Hostile defect 5: with the newest event deleted (triggers disabled), verify answered
 * `{ ok: true }` while the head still said version 10. Verify compares the chain's end with
 * the recorded head; an export ends with a head record, so an offline check notices too.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest'
import { createProgram } from '../src/cli/index.js'
import { exportSession } from '../src/replay/exportEvents.js'
import { checkImportFile } from '../src/replay/importEvents.js'
import type { EventStore } from '../src/store/types.js'
import { freshStore, pgliteBackend } from './fixtures/db.js'

const actor = { id: 'alice', name: 'Alice', kind: 'human' as const }
const note = (n: number) => ({ type: 'note.added', data: { n }, actor })

async function exportText(store: EventStore, session: string): Promise<string> {
  let text = ''
  for await (const chunk of exportSession(store, session)) text += chunk
  return text
}

/** Runs `mnemo verify …` in process; its stdout and exit code. */
async function verifyCli(args: string[]): Promise<{ stdout: string; code: number }> {
  const output: string[] = []
  const write = vi.spyOn(process.stdout, 'write').mockImplementation((chunk) => (output.push(String(chunk)), true))
  const before = process.exitCode
  try {
    await createProgram().parseAsync(['node', 'mnemo', 'verify', ...args])
    return { stdout: output.join(''), code: Number(process.exitCode ?? 0) }
  } finally {
    write.mockRestore()
    process.exitCode = before
  }
}

describe('a cut tail', () => {
  let store: EventStore
  let close: () => Promise<void>
  let dir: string
  beforeAll(async () => {
    ;({ store, close } = await freshStore(pgliteBackend))
    dir = await mkdtemp(join(tmpdir(), 'mnemo-verify-'))
  })
  afterAll(async () => {
    await close()
    await rm(dir, { recursive: true, force: true })
  })

  it('verify reports the missing newest event against the head; the export carries the head and an offline check fails', async () => {
    await store.append('s1', Array.from({ length: 10 }, (_, i) => note(i)))
    expect(await store.verify('s1')).toEqual({ ok: true, checked: 10 })
    const intact = await exportText(store, 's1')
    expect(JSON.parse(intact.trimEnd().split('\n').at(-1)!)).toEqual({ head: { session: 's1', version: 10, hash: (await store.head('s1'))!.hash } })

    await store.driver.exec(`ALTER TABLE events DISABLE TRIGGER events_append_only;
      DELETE FROM events WHERE session_id = 's1' AND version = 10;
      ALTER TABLE events ENABLE TRIGGER events_append_only;`)
    const result = await store.verify('s1')
    expect(result).toMatchObject({ ok: false, checked: 9, firstBad: 10 })
    expect(result.reason).toMatch(/ends at version 9 but the head records version 10.*tail was cut/)

    const cut = await exportText(store, 's1')
    const file = join(dir, 'cut.ndjson')
    await writeFile(file, cut)
    await expect(checkImportFile(async function* () { yield cut })).rejects.toThrow(/tail was cut/)
    const offline = await verifyCli(['--file', file])
    expect(offline.code).toBe(1)
    expect(offline.stdout).toMatch(/^BAD .*tail was cut/)

    // The intact export, cut by hand after its last event (head record kept), fails the same way;
    // whole, it passes.
    const lines = intact.trimEnd().split('\n')
    await writeFile(file, [...lines.slice(0, 9), lines.at(-1)].join('\n') + '\n')
    expect((await verifyCli(['--file', file])).code).toBe(1)
    await writeFile(file, intact)
    expect(await verifyCli(['--file', file])).toEqual({ stdout: 'ok  s1: 10 events checked\n', code: 0 })
  })

  it('a changed hash at the head is reported too', async () => {
    await store.append('s2', [note(1), note(2)])
    await store.driver.query(`UPDATE sessions SET hash = repeat('0', 64) WHERE id = 's2'`)
    expect(await store.verify('s2')).toMatchObject({ ok: false, firstBad: 2, reason: expect.stringMatching(/differs from the one the head records/) })
  })
})
