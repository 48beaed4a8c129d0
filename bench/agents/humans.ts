/**
 * The agents benchmark's humans: one stock y-websocket client per session, in a process of
 * its own (as a person's browser would be), noting when each agent edit reaches it. Agents
 * write the moment they made an edit into the edit itself (`…@<ms>` in the key or text), on
 * the machine's monotonic clock, which every process on the machine shares.
 */
import WebSocket from 'ws'
import * as Y from 'yjs'
import { WebsocketProvider } from 'y-websocket'
import { monotonicMs } from './clock.js'

export interface HumansConfig {
  url: string
  sessions: string[]
}

export interface HumansResult {
  /** Edit made → seen, ms. */
  visibilityMs: number[]
  /** When each was seen (monotonic ms). */
  seenAt: number[]
}

type Message = { type: 'start'; config: HumansConfig } | { type: 'finish'; expected: number; waitMs: number }

const send = (message: unknown) => process.send!(message)
process.setMaxListeners(0) // each provider adds an 'exit' listener

const visibilityMs: number[] = []
const seenAt: number[] = []
const providers: WebsocketProvider[] = []

function seen(text: string | undefined): void {
  const at = text === undefined ? -1 : text.lastIndexOf('@')
  if (at < 0) return
  const madeAt = Number(text!.slice(at + 1))
  if (!Number.isFinite(madeAt)) return
  const now = monotonicMs()
  visibilityMs.push(now - madeAt)
  seenAt.push(now)
}

async function watch(url: string, session: string): Promise<void> {
  const doc = new Y.Doc()
  doc.getMap('selections').observe((e) => e.changes.keys.forEach((c, key) => c.action === 'add' && seen(key)))
  doc.getArray<{ memoryId: string }>('explorationPath').observe((e) => {
    for (const d of e.changes.delta) if (Array.isArray(d.insert)) for (const step of d.insert) seen(step.memoryId)
  })
  const annotations = doc.getMap<Y.Map<unknown>>('annotations')
  annotations.observe((e) => e.changes.keys.forEach((c, key) => {
    if (c.action === 'add') seen(annotations.get(key)?.get('text')?.toString())
  }))
  const provider = new WebsocketProvider(`${url.replace('http', 'ws')}/sync`, session, doc, {
    WebSocketPolyfill: WebSocket as never, disableBc: true, params: { id: `human-${session}`, name: 'Watcher', kind: 'human' },
  })
  providers.push(provider)
  await new Promise<void>((resolve) => provider.on('sync', (synced: boolean) => synced && resolve()))
}

process.on('message', (message: Message) => {
  if (message.type === 'start') {
    Promise.all(message.config.sessions.map((s) => watch(message.config.url, s))).then(
      () => send({ type: 'joined', humans: providers.length }),
      (error: unknown) => send({ type: 'error', message: String(error) }),
    )
    return
  }
  const deadline = monotonicMs() + message.waitMs
  const finish = () => {
    if (visibilityMs.length < message.expected && monotonicMs() < deadline) return void setTimeout(finish, 50)
    send({ type: 'result', result: { visibilityMs, seenAt } satisfies HumansResult })
    for (const provider of providers) provider.destroy()
    setTimeout(() => process.exit(0), 100)
  }
  finish()
})
