/** State at any position or time equals what was observed live at that moment, with and without snapshots. */
import { setTimeout as sleep } from 'node:timers/promises'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { lastEventAt, positionAtTime } from '../src/replay/positions.js'
import { ensureSnapshots } from '../src/replay/snapshots.js'
import { emptyState, stateAt, stateAtTime } from '../src/replay/stateAt.js'
import { select } from '../src/session/write.js'
import type { EventStore } from '../src/store/types.js'
import { backends, freshStore } from './fixtures/db.js'
import { alice, observedAt, recordMixedSession, startRecording, type Observation } from './fixtures/recording.js'

describe.each(backends)('stateAt on $name', (backend) => {
  let store: EventStore
  let close: () => Promise<void>
  let observations: Observation[]
  let last: number
  beforeAll(async () => {
    ;({ store, close } = await freshStore(backend))
    observations = (await recordMixedSession(store, 's1', 120)).observations
    last = observations.at(-1)!.position
  })
  afterAll(async () => close())

  async function expectEveryPositionMatches(): Promise<void> {
    for (let p = 0; p <= last + 2; p++) {
      const seen = observedAt(observations, p)
      const expected = seen
        ? { position: seen.position, version: seen.version, state: seen.state, skipped: [] }
        : { position: 0, version: 0, state: emptyState(), skipped: [] }
      expect(await stateAt(store, 's1', p), `position ${p}`).toEqual(expected)
    }
  }

  it('records a session with every kind of edit, other events and other sessions in between', () => {
    const types = new Set(observations.map((o) => o.type))
    expect(types).toEqual(new Set(['session.created', 'participant.joined', 'participant.left', 'doc.update', 'conversation.turn']))
    const positions = observations.map((o) => o.position)
    expect(positions.at(-1)! - positions[0] + 1).toBeGreaterThan(positions.length) // gaps: the neighbour's events
    const final = observations.at(-1)!.state
    expect(Object.keys(final.annotations).length).toBeGreaterThan(0)
    expect(Object.keys(final.decisions).length).toBeGreaterThan(0)
    expect(final.explorationPath.length).toBeGreaterThan(0)
  })

  it('equals the live state at every position, from the log alone', expectEveryPositionMatches)

  it('equals it too from snapshots every few updates, and writes missing snapshots only once', async () => {
    const first = await ensureSnapshots(store, 's1', 7)
    expect(first.written).toBe(Math.floor(first.updates / 7))
    expect((await ensureSnapshots(store, 's1', 7)).written).toBe(0)
    await expectEveryPositionMatches()
  })

  it('defaults to the newest state', async () => {
    const newest = observations.at(-1)!
    expect(await stateAt(store, 's1')).toMatchObject({ position: newest.position, version: newest.version, state: newest.state })
    expect(await lastEventAt(store, 'nobody', 10)).toBeUndefined()
  })
})

describe.each(backends)('time lookups on $name', (backend) => {
  let store: EventStore
  let close: () => Promise<void>
  let observations: Observation[]
  beforeAll(async () => {
    ;({ store, close } = await freshStore(backend))
    const rec = startRecording(store, 't1')
    await rec.other({ type: 'session.created', data: {}, actor: alice })
    for (let i = 0; i < 6; i++) {
      await sleep(4) // distinct recordedAt times, at least a millisecond or two apart
      await rec.edit(alice, (d) => select(d, `m${i}`, alice.id, i))
    }
    observations = rec.observations
  })
  afterAll(async () => close())

  const ms = (iso: string) => Date.parse(iso)
  const iso = (t: number) => new Date(t).toISOString()

  it('finds the event recorded at a time, and the last one before a time between events', async () => {
    for (const [i, o] of observations.entries()) {
      expect(await positionAtTime(store, 't1', o.recordedAt)).toEqual({ position: o.position, version: o.version, recordedAt: o.recordedAt })
      const next = observations[i + 1]
      if (next && ms(next.recordedAt) - ms(o.recordedAt) >= 2) {
        const between = iso(ms(o.recordedAt) + 1)
        expect((await positionAtTime(store, 't1', between))?.position).toBe(o.position)
        expect(await stateAtTime(store, 't1', between)).toMatchObject({ position: o.position, state: o.state })
      }
    }
  })

  it('answers "nothing yet" before the first event, and the newest state after the last', async () => {
    const before = iso(ms(observations[0].recordedAt) - 1)
    expect(await positionAtTime(store, 't1', before)).toBeUndefined()
    expect(await stateAtTime(store, 't1', before)).toEqual({ position: 0, version: 0, state: emptyState(), skipped: [] })
    const after = await stateAtTime(store, 't1', iso(ms(observations.at(-1)!.recordedAt) + 60_000))
    expect(after.state).toEqual(observations.at(-1)!.state)
    await expect(positionAtTime(store, 't1', 'not a time')).rejects.toThrow(/not a date-time/)
  })
})
