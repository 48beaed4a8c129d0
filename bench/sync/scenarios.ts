/**
 * The sync benchmark's scenarios and the messages the orchestrator and the load
 * generator exchange over IPC; both processes import this file so they agree on both.
 */

/** `mnemo-hocuspocus`: mnemo through its `/hocuspocus` endpoint, driven with Hocuspocus' framing. */
export type ServerName = 'mnemo' | 'mnemo-hocuspocus' | 'hocuspocus' | 'reference'
export const SERVER_NAMES: readonly ServerName[] = ['mnemo', 'mnemo-hocuspocus', 'hocuspocus', 'reference']
/** The columns that are mnemo: ratios compare them with the peers, never with each other. */
export const isMnemo = (name: ServerName): boolean => name === 'mnemo' || name === 'mnemo-hocuspocus'

export type ScenarioId = 'S1' | 'S2' | 'S3' | 'S4'
export const SCENARIO_IDS: readonly ScenarioId[] = ['S1', 'S2', 'S3', 'S4']

/**
 * `rate`: every client writes at a fixed rate, every other client of its session receives.
 * `flood`: client 0 writes as fast as a bounded window allows, client 1 receives.
 * `idle`: clients only connect, sync and sit there.
 */
export type WorkloadKind = 'rate' | 'flood' | 'idle'

export interface ScenarioSpec {
  id: ScenarioId
  title: string
  kind: WorkloadKind
  sessions: number
  clientsPerSession: number
  /** Updates per second per client (`rate` only). */
  ratePerClient: number
  /** How long clients write (`rate`, `flood`), or how long idle clients settle (`idle`). */
  durationMs: number
  /** Sent-but-not-yet-received updates the flood sender allows itself (`flood` only). */
  window: number
  /** Time after the last write for stragglers to arrive before counting losses. */
  drainMs: number
}

const FULL: Record<ScenarioId, ScenarioSpec> = {
  S1: {
    id: 'S1', title: '100 sessions × 5 clients × 2 updates/s', kind: 'rate',
    sessions: 100, clientsPerSession: 5, ratePerClient: 2, durationMs: 20_000, window: 0, drainMs: 5_000
  },
  S2: {
    id: 'S2', title: '1 session × 50 clients × 4 updates/s', kind: 'rate',
    sessions: 1, clientsPerSession: 50, ratePerClient: 4, durationMs: 20_000, window: 0, drainMs: 5_000
  },
  S3: {
    id: 'S3', title: '1 sender → 1 receiver, as fast as a 1,000-update window allows', kind: 'flood',
    sessions: 1, clientsPerSession: 2, ratePerClient: 0, durationMs: 10_000, window: 1_000, drainMs: 5_000
  },
  S4: {
    id: 'S4', title: '2,000 idle connections over 500 sessions', kind: 'idle',
    sessions: 500, clientsPerSession: 4, ratePerClient: 0, durationMs: 5_000, window: 0, drainMs: 0
  }
}

/** `quick` shortens every duration to a quarter (smoke runs); loads stay the same. */
export function scenarioSpec (id: ScenarioId, quick = false): ScenarioSpec {
  const spec = FULL[id]
  if (!quick) return { ...spec }
  return { ...spec, durationMs: spec.durationMs / 4, drainMs: spec.drainMs / 4 }
}

/** How the load generator reaches a server: plain y-websocket, or through the Hocuspocus framing shim. */
export interface Target {
  server: ServerName
  /** y-websocket server URL; the room (session id) is appended by the provider. */
  url: string
  framing: 'y-websocket' | 'hocuspocus'
  /** Query parameters for every connection (mnemo's open-mode identity). */
  withIdentity: boolean
}

/** How long into a rate window the "after the warm-up" latencies (`steadyLatency`) start. */
export const WARM_UP_MS = 2_000

/** What the load generator measured, in its own process. */
export interface LoadResult {
  clients: number
  /** Clients whose provider reached `synced` before the connect deadline. */
  synced: number
  /** Time from the first connect to the last client synced. */
  connectMs: number
  /** Each synced client's time from its provider's creation to its first `synced`, 50 connecting at once. */
  connectToSynced: { n: number, p50: number, p90: number, p99: number, max: number }
  /** Connection-level failures: socket errors and closes seen after the ramp-up began. */
  connectionErrors: number
  connectionCloses: number
  sent: number
  sendWindowMs: number
  /** Sum over updates of the number of clients that should receive it. */
  expectedDeliveries: number
  delivered: number
  deliveredInWindow: number
  lost: number
  latency: { n: number, p50: number, p90: number, p99: number, max: number }
  /** The same, of the updates sent after the window's first WARM_UP_MS; rate scenarios only. */
  steadyLatency?: { n: number, p50: number, p90: number, p99: number, max: number }
  /** The generator's own event-loop delay (p99, ms): high values inflate latencies. */
  loopDelayP99Ms: number
}

/** Orchestrator → load generator. */
export type ToLoadgen =
  | { type: 'run', spec: ScenarioSpec, target: Target }
  | { type: 'ack', name: CheckpointName }

/**
 * Points where the load generator waits for the orchestrator to sample the server:
 * before any client connects, when all are connected, and when writing stops (for
 * `idle`: when the connected clients have sat still for `durationMs`).
 */
export type CheckpointName = 'baseline' | 'measure-start' | 'measure-end'

/** Load generator → orchestrator. */
export type FromLoadgen =
  | { type: 'checkpoint', name: CheckpointName }
  | { type: 'progress', text: string }
  | { type: 'result', result: LoadResult }
  | { type: 'error', message: string }
