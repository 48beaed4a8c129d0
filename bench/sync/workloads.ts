/**
 * What the bench clients do once connected: write `selections` entries at a fixed rate
 * (`rate`), flood one receiver through a bounded window (`flood`), and count, for every
 * receiving client, which updates arrived and how long each took.
 *
 * Every update sets a fresh key `<client>.<seq>` to `{ by, at }`, `at` being the send
 * time on the clock all clients share; so a receiver's latency is `now − at`, and an
 * update is lost for a receiver exactly when its key is missing from that receiver's
 * document after the drain.
 */
import type { BenchClient, SelectionValue } from './clients.js'
import { now } from './clients.js'
import { WARM_UP_MS } from './scenarios.js'

export interface Tally {
  sent: number
  /** Per client, how many updates it sent (its keys are `<index>.0` … `<index>.<n−1>`). */
  sentBy: Map<BenchClient, number>
  delivered: number
  deliveredInWindow: number
  /** Send windows end here (epoch ms); deliveries after it count only as `delivered`. */
  windowEnd: number
  latencies: number[]
  /**
   * Updates sent from here on (epoch ms) also count in `steadyLatencies`: a rate window's first
   * seconds are every server's warm-up (its JIT, each session's first writes), not its steady state.
   */
  steadyFrom: number
  steadyLatencies: number[]
}

export function newTally (): Tally {
  return { sent: 0, sentBy: new Map(), delivered: 0, deliveredInWindow: 0, windowEnd: Infinity, latencies: [], steadyFrom: Infinity, steadyLatencies: [] }
}

/**
 * Calls `onEntry` for every remote `selections` entry `client` receives (its key, its value and
 * when it arrived), then `afterEvent` once per transaction.
 */
export function onRemoteSelections (
  client: BenchClient, onEntry: (key: string, value: SelectionValue, received: number) => void, afterEvent?: () => void
): void {
  client.selections.observe((event) => {
    if (event.transaction.local) return
    const received = now()
    for (const key of event.keysChanged) {
      const value = client.selections.get(key)
      if (value !== undefined) onEntry(key, value, received)
    }
    afterEvent?.()
  })
}

/** Records every remote `selections` entry a client receives; calls `onDelivery` after each. */
export function observeDeliveries (client: BenchClient, tally: Tally, onDelivery?: () => void): void {
  onRemoteSelections(client, (_key, value, received) => {
    tally.latencies.push(received - value.at)
    if (value.at >= tally.steadyFrom) tally.steadyLatencies.push(received - value.at)
    tally.delivered++
    if (received <= tally.windowEnd) tally.deliveredInWindow++
  }, onDelivery)
}

export function sendUpdate (client: BenchClient, tally: Tally): void {
  const seq = tally.sentBy.get(client) ?? 0
  const value: SelectionValue = { by: `c${client.index}`, at: now() }
  client.selections.set(`${client.index}.${seq}`, value)
  tally.sentBy.set(client, seq + 1)
  tally.sent++
}

const sleep = async (ms: number): Promise<void> => await new Promise(resolve => setTimeout(resolve, ms))

/**
 * Every client writes `ratePerClient` times a second for `durationMs`, phases spread at
 * random; one ticker drives them all, catching up if the generator fell behind.
 */
export async function runRate (clients: BenchClient[], tally: Tally, ratePerClient: number, durationMs: number): Promise<void> {
  const period = 1000 / ratePerClient
  const start = now()
  const end = start + durationMs
  tally.windowEnd = end
  tally.steadyFrom = start + WARM_UP_MS
  const due = clients.map(() => start + Math.random() * period)
  await new Promise<void>((resolve) => {
    const ticker = setInterval(() => {
      const t = now()
      for (let i = 0; i < clients.length; i++) {
        while (due[i] <= t && due[i] < end) {
          sendUpdate(clients[i], tally)
          due[i] += period
        }
      }
      if (t >= end) {
        clearInterval(ticker)
        resolve()
      }
    }, 5)
  })
}

/**
 * `sender` writes as fast as it can while fewer than `window` of its updates are still
 * unreceived by `receiver`; it yields to I/O after every burst so sockets keep flowing.
 */
export async function runFlood (sender: BenchClient, receiver: BenchClient, tally: Tally, window: number, durationMs: number): Promise<void> {
  const end = now() + durationMs
  tally.windowEnd = end
  let waiting = false
  let finish: () => void = () => {}
  const finished = new Promise<void>(resolve => { finish = resolve })
  const pump = (): void => {
    waiting = false
    let burst = 0
    while (tally.sent - tally.delivered < window && burst < 200) {
      if (now() >= end) { finish(); return }
      sendUpdate(sender, tally)
      burst++
    }
    if (now() >= end) finish()
    else if (tally.sent - tally.delivered < window) setImmediate(pump)
    else waiting = true
  }
  observeDeliveries(receiver, tally, () => {
    if (waiting) { waiting = false; setImmediate(pump) }
  })
  // A window that never reopens (a stalled server) must not hang the run.
  const timeout = setTimeout(finish, durationMs + 1_000)
  pump()
  await finished
  clearTimeout(timeout)
}

/** Waits until `expected` deliveries arrived or `drainMs` passed, whichever is first. */
export async function drain (tally: Tally, expected: number, drainMs: number): Promise<void> {
  const deadline = now() + drainMs
  while (tally.delivered < expected && now() < deadline) await sleep(20)
}

/** Σ over senders and the other clients of their session of the sender's updates. */
export function expectedDeliveries (clients: BenchClient[], tally: Tally): number {
  let expected = 0
  for (const sender of clients) {
    const sent = tally.sentBy.get(sender) ?? 0
    if (sent === 0) continue
    expected += sent * clients.filter(c => c !== sender && c.session === sender.session).length
  }
  return expected
}

/** Sender-update/receiver pairs whose key the receiver's document does not hold. */
export function countLost (clients: BenchClient[], tally: Tally): number {
  const bySession = new Map<string, BenchClient[]>()
  for (const client of clients) {
    const members = bySession.get(client.session) ?? []
    members.push(client)
    bySession.set(client.session, members)
  }
  let lost = 0
  for (const [sender, sent] of tally.sentBy) {
    for (const receiver of bySession.get(sender.session) ?? []) {
      if (receiver === sender) continue
      for (let seq = 0; seq < sent; seq++) {
        if (!receiver.selections.has(`${sender.index}.${seq}`)) lost++
      }
    }
  }
  return lost
}
