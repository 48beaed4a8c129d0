/**
 * The sync benchmark's load generator, a child process of `index.ts`: it receives one
 * scenario and one target over IPC, runs every client of it in this one process (so all
 * send and receive times come from one clock), stops at checkpoints so the orchestrator
 * can sample the server, and reports a `LoadResult`.
 */
import { monitorEventLoopDelay } from 'node:perf_hooks'
import { connectClients, destroyClients, type ConnectionCounters } from './clients.js'
import type { CheckpointName, FromLoadgen, LoadResult, ScenarioSpec, Target, ToLoadgen } from './scenarios.js'
import { summarizeLatencies } from './stats.js'
import { countLost, drain, expectedDeliveries, newTally, observeDeliveries, runFlood, runRate } from './workloads.js'

// The histogram records whole timer intervals, so an idle loop reads as the resolution.
const LOOP_DELAY_RESOLUTION_MS = 5

// Each provider registers a process 'exit' listener; thousands of them are expected here.
process.setMaxListeners(0)

const acks = new Map<CheckpointName, () => void>()

function send (message: FromLoadgen): void {
  process.send?.(message)
}

/** Tells the orchestrator where we are and waits until it has taken its samples. */
async function checkpoint (name: CheckpointName): Promise<void> {
  await new Promise<void>((resolve) => {
    acks.set(name, resolve)
    send({ type: 'checkpoint', name })
  })
}

async function run (spec: ScenarioSpec, target: Target): Promise<LoadResult> {
  const loopDelay = monitorEventLoopDelay({ resolution: LOOP_DELAY_RESOLUTION_MS })
  const counters: ConnectionCounters = { errors: 0, closes: 0 }
  const tally = newTally()
  await checkpoint('baseline')
  const { clients, connectMs } = await connectClients(
    target, spec.id, spec.sessions, spec.clientsPerSession, counters,
    { batchSize: 50, batchTimeoutMs: 10_000, deadlineMs: 30_000, onProgress: text => send({ type: 'progress', text }) }
  )
  const synced = clients.filter(c => c.synced).length
  send({ type: 'progress', text: `${synced}/${clients.length} clients synced in ${(connectMs / 1000).toFixed(1)} s` })

  if (spec.kind === 'rate') for (const client of clients) observeDeliveries(client, tally)
  await checkpoint('measure-start')
  loopDelay.enable()
  const started = performance.now()
  if (spec.kind === 'rate') await runRate(clients, tally, spec.ratePerClient, spec.durationMs)
  else if (spec.kind === 'flood') await runFlood(clients[0], clients[1], tally, spec.window, spec.durationMs)
  else await new Promise(resolve => setTimeout(resolve, spec.durationMs))
  const sendWindowMs = spec.kind === 'idle' ? 0 : performance.now() - started
  loopDelay.disable()
  await checkpoint('measure-end')

  const expected = expectedDeliveries(clients, tally)
  await drain(tally, expected, spec.drainMs)
  const result: LoadResult = {
    clients: clients.length,
    synced,
    connectMs,
    connectToSynced: summarizeLatencies(clients.filter(c => c.synced).map(c => c.syncedAt - c.createdAt)),
    connectionErrors: counters.errors,
    connectionCloses: counters.closes,
    sent: tally.sent,
    sendWindowMs,
    expectedDeliveries: expected,
    delivered: tally.delivered,
    deliveredInWindow: tally.deliveredInWindow,
    lost: countLost(clients, tally),
    latency: summarizeLatencies(tally.latencies),
    ...(tally.steadyLatencies.length > 0 ? { steadyLatency: summarizeLatencies(tally.steadyLatencies) } : {}),
    loopDelayP99Ms: Math.max(0, loopDelay.percentile(99) / 1e6 - LOOP_DELAY_RESOLUTION_MS)
  }
  destroyClients(clients)
  return result
}

process.on('message', (message: ToLoadgen) => {
  if (message.type === 'ack') {
    acks.get(message.name)?.()
    acks.delete(message.name)
    return
  }
  run(message.spec, message.target).then(
    (result) => send({ type: 'result', result }),
    (error: unknown) => send({ type: 'error', message: error instanceof Error ? error.stack ?? error.message : String(error) })
  ).finally(() => {
    // Let the IPC channel flush, then leave: destroyed providers hold no timers, but be sure.
    setTimeout(() => process.exit(0), 200)
  })
})

// If the orchestrator goes away, so do we.
process.on('disconnect', () => process.exit(0))
