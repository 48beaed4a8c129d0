/**
 * What the projection hook costs the store, without HTTP in the way: `store.append` in this
 * process by 32 concurrent writers sending the memory mix, with and without the hook, taking
 * turns on a database of their own (events appended without the hook would otherwise be
 * folded late by the server's hook and skew the other measurements).
 */
import { createProjectionHook } from '../../src/memory/projection.js'
import { openStore } from '../../src/store/openStore.js'
import type { Actor } from '../../src/store/types.js'
import { clientEvents, seeded } from './data.js'
import { createDatabase } from './processes.js'
import { latency, type Latency } from './report.js'

export interface HookCost {
  without: { eventsPerSecond: number; latency: Latency }
  with: { eventsPerSecond: number; latency: Latency }
}

const actor: Actor = { id: 'bench', name: 'bench', kind: 'agent' }

export async function measureHookCost(rounds = 2, seconds = 4): Promise<HookCost> {
  const database = await createDatabase()
  const projection = createProjectionHook()
  let hookOn = false
  const store = await openStore({
    databaseUrl: database.url,
    poolSize: 10,
    hooks: [async (tx, events) => {
      if (hookOn) await projection(tx, events)
    }],
  })
  const totals = { without: { events: 0, ms: 0, latencies: [] as number[] }, with: { events: 0, ms: 0, latencies: [] as number[] } }
  try {
    for (let round = 0; round < rounds; round++) {
      for (const on of [false, true]) {
        hookOn = on
        const total = on ? totals.with : totals.without
        const until = performance.now() + seconds * 1000
        await Promise.all(Array.from({ length: 32 }, async (_, client) => {
          const next = clientEvents(client, seeded(100 * round + client), 'plain')
          const session = `hook-${on}-${round}-${client % 8}`
          while (performance.now() < until) {
            const event = next()
            // The route would add `previous`; the store takes data as it is.
            const data = event.type === 'memory.strength_changed' ? { ...event.data, previous: null } : event.data
            const started = performance.now()
            await store.append(session, [{ type: event.type, data, actor }])
            total.latencies.push(performance.now() - started)
            total.events += 1
          }
        }))
        total.ms += seconds * 1000
      }
    }
  } finally {
    await store.close()
    await database.drop()
  }
  const summary = (t: typeof totals.with) => ({ eventsPerSecond: t.events / (t.ms / 1000), latency: latency(t.latencies) })
  return { without: summary(totals.without), with: summary(totals.with) }
}
